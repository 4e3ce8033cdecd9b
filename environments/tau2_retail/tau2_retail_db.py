"""tau2-bench's retail data model (`tau2/domains/retail/data_model.py`) over the plain-JSON state.

The environment state is tau2's `db.json` as it is on disk: optional order fields (`cancel_reason`,
`return_items`, ...) are absent until a tool sets them. tau2 holds the same data as pydantic models, so
what it shows and hashes is `model_dump()`: every field in the model's order, optional ones as `None`,
`float` fields as floats, unknown keys dropped. `dump_*` reproduce that for one record (tool outputs
are these dumps, like tau2's tool messages), and `db_hash` is tau2's `get_db_hash()`:

    sha256(json.dumps(RetailDB.model_dump(), sort_keys=True, default=str))

so a state and a tau2 database with the same hash are the same database, as tau2's evaluator sees it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

Record = dict[str, Any]

ORDER_OPTIONAL_FIELDS = (
    "cancel_reason",
    "exchange_items",
    "exchange_new_items",
    "exchange_payment_method_id",
    "exchange_price_difference",
    "return_items",
    "return_payment_method_id",
)
# Optional order fields typed `float` in tau2 (coerced like pydantic does on load).
_ORDER_FLOAT_FIELDS = {"exchange_price_difference"}


def _float(value: Any) -> Any:
    # pydantic's lax mode turns an int into a float for a `float` field (100 -> 100.0 in the dump).
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _address(address: Record) -> Record:
    return {key: address[key] for key in ("address1", "address2", "city", "country", "state", "zip")}


def dump_variant(variant: Record) -> Record:
    return {
        "item_id": variant["item_id"],
        "options": dict(variant["options"]),
        "available": variant["available"],
        "price": _float(variant["price"]),
    }


def dump_product(product: Record) -> Record:
    return {
        "name": product["name"],
        "product_id": product["product_id"],
        "variants": {key: dump_variant(v) for key, v in product["variants"].items()},
    }


def dump_payment_method(method: Record) -> Record:
    """tau2's `Union[CreditCard, GiftCard, Paypal]`, told apart by `source`."""
    dumped: Record = {"source": method["source"], "id": method["id"]}
    if method["source"] == "credit_card":
        dumped.update(brand=method["brand"], last_four=method["last_four"])
    elif method["source"] == "gift_card":
        dumped["balance"] = _float(method["balance"])
    return dumped


def dump_user(user: Record) -> Record:
    return {
        "user_id": user["user_id"],
        "name": {"first_name": user["name"]["first_name"], "last_name": user["name"]["last_name"]},
        "address": _address(user["address"]),
        "email": user["email"],
        "payment_methods": {key: dump_payment_method(m) for key, m in user["payment_methods"].items()},
        "orders": list(user["orders"]),
    }


def dump_order(order: Record) -> Record:
    dumped: Record = {
        "order_id": order["order_id"],
        "user_id": order["user_id"],
        "address": _address(order["address"]),
        "items": [
            {
                "name": item["name"],
                "product_id": item["product_id"],
                "item_id": item["item_id"],
                "price": _float(item["price"]),
                "options": dict(item["options"]),
            }
            for item in order["items"]
        ],
        "status": order["status"],
        "fulfillments": [
            {"tracking_id": list(f["tracking_id"]), "item_ids": list(f["item_ids"])} for f in order["fulfillments"]
        ],
        "payment_history": [
            {
                "transaction_type": p["transaction_type"],
                "amount": _float(p["amount"]),
                "payment_method_id": p["payment_method_id"],
            }
            for p in order["payment_history"]
        ],
    }
    for key in ORDER_OPTIONAL_FIELDS:
        value = order.get(key)
        dumped[key] = _float(value) if key in _ORDER_FLOAT_FIELDS else value
    return dumped


def db_dump(state: Record) -> Record:
    """The whole state as tau2's `RetailDB.model_dump()`."""
    return {
        "products": {key: dump_product(p) for key, p in state["products"].items()},
        "users": {key: dump_user(u) for key, u in state["users"].items()},
        "orders": {key: dump_order(o) for key, o in state["orders"].items()},
    }


def db_hash(state: Record) -> str:
    """tau2's `RetailTools.get_db_hash()` of this state (tau2's `get_dict_hash` of the dump)."""
    text = json.dumps(db_dump(state), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_DUMPERS = {"products": dump_product, "users": dump_user, "orders": dump_order}


class DbHasher:
    """`db_hash` for many states derived from one initial state, re-serializing only changed records.

    `json.dumps(..., sort_keys=True)` of the dump is, byte for byte, the tables in key order, each the
    records in key order, joined with json's default separators; records equal to the initial ones
    reuse their initial text. The result is exactly `db_hash(state)`. `initial` must not change while
    the hasher is in use (pass a copy no tool sees, or an immutable base such as the shared initial
    state envsim's environments overlay: records a state shares with it, the same objects, are not even
    compared)."""

    def __init__(self, initial: Record) -> None:
        self._initial = initial
        self._entries = {
            table: {key: self._entry(table, key, record) for key, record in initial[table].items()}
            for table in _DUMPERS
        }
        self._sorted_keys = {table: sorted(initial[table]) for table in _DUMPERS}
        self._unchanged = {table: self._table(table, initial[table]) for table in _DUMPERS}

    @staticmethod
    def _entry(table: str, key: str, record: Record) -> str:
        return f"{json.dumps(key)}: {json.dumps(_DUMPERS[table](record), sort_keys=True, default=str)}"

    def _table(self, table: str, current: Record) -> str:
        before, entries = self._initial[table], self._entries[table]
        keys = self._sorted_keys[table] if current.keys() == before.keys() else sorted(current)
        parts = [
            entries[key]
            if key in before and _same(current[key], before[key])
            else self._entry(table, key, current[key])
            for key in keys
        ]
        return f'"{table}": {{{", ".join(parts)}}}'

    def hash(self, state: Record) -> str:
        tables = [
            self._unchanged[table] if state[table] is self._initial[table] else self._table(table, state[table])
            for table in sorted(_DUMPERS)
        ]
        text = "{" + ", ".join(tables) + "}"
        return hashlib.sha256(text.encode()).hexdigest()


def _same(record: Record, initial: Record) -> bool:
    return record is initial or record == initial


def message_content(output: Any) -> str:
    """A tool output as the content of tau2's tool message (`Environment.to_json_str`): strings as
    they are, records as `json.dumps` in field order."""
    return output if isinstance(output, str) else json.dumps(output, default=str)
