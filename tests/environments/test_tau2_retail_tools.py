"""The tau2_retail tools behave exactly like tau2-bench's retail tools.

Against tau2's own results: every gold action of all 114 tasks, called directly on a fresh copy of
tau2's database, returns tau2's tool message (or tau2's error) and leaves tau2's database (same
`get_db_hash()`); the fingerprints come from running tau2-bench's code (generate_fingerprints.py).
Against tau2's documented quirks, on a small hand-made database through a real EnvironmentSet (runs
without the shared data): the unrounded price difference, the last new item's price and options, and
tau2's refusals.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from tau2_retail_data import (
    CATALOG,
    DATA_ENV,
    db_module,
    fingerprints,
    gold_actions,
    output_digest,
    raw_db,
    requires_tau2_data,
    reset_db,
    tasks,
    tools_module,
)

from envsim.config.loader import load_environment_catalog
from envsim.environments.catalog import EnvironmentSet
from envsim.environments.python_tools import registered_tools
from envsim.environments.signature import function_signature
from envsim.messages import ToolCall

# ------------------------------------------------------------------ all 114 tasks against tau2's own code


def _call(name: str, arguments: dict[str, Any], db: dict[str, Any]) -> tuple[str, str | None]:
    """One tool call as tau2 reports it: (tool message content, error message or None)."""
    fn = registered_tools(tools_module().__name__)[name].fn
    signature = function_signature(fn)
    kwargs = signature.bind(arguments)
    if signature.wants_state:
        kwargs[signature.state_parameter] = db
    try:
        return db_module().message_content(fn(**kwargs)), None
    except Exception as exc:
        return f"Error: {exc}", str(exc)


@requires_tau2_data
def test_every_gold_action_returns_and_leaves_what_tau2_does() -> None:
    initial = json.loads(raw_db())
    hasher = db_module().DbHasher(initial)
    db = json.loads(raw_db())
    mismatches = []
    for task_id, expected in fingerprints().items():
        reset_db(db, initial)  # every task starts from tau2's database, as tau2's evaluator builds one
        for action, want in zip(gold_actions(task_id), expected.actions, strict=True):
            content, error = _call(action["name"], action["arguments"], db)
            if error != want.error or output_digest(content) != want.output:
                mismatches.append(f"action {want.id} ({want.name}): got {error or content[:200]!r}")
        if hasher.hash(db) != expected.db_hash:
            mismatches.append(f"task {task_id}: database differs from tau2's")
    assert mismatches == []
    assert len(fingerprints()) == len(tasks()) == 114


@requires_tau2_data
def test_fast_hash_is_tau2s_hash() -> None:
    db_lib = db_module()
    db = json.loads(raw_db())
    hasher = db_lib.DbHasher(json.loads(raw_db()))
    assert hasher.hash(db) == db_lib.db_hash(db)
    db["orders"]["#W2378156"]["status"] = "cancelled"
    db["users"]["yusuf_rossi_9620"]["address"]["zip"] = "00000"
    assert hasher.hash(db) == db_lib.db_hash(db) != hasher.hash(json.loads(raw_db()))


# ------------------------------------------------------------------ tau2's behaviour on a small database


def _small_db() -> dict[str, Any]:
    def variant(item_id: str, color: str, price: float, available: bool = True) -> dict[str, Any]:
        return {"item_id": item_id, "options": {"color": color}, "available": available, "price": price}

    address = {
        "address1": "1 Main St",
        "address2": "",
        "city": "Austin",
        "country": "USA",
        "state": "TX",
        "zip": "73301",
    }

    def item(item_id: str) -> dict[str, Any]:
        return {"name": "T-Shirt", "product_id": "p1", "item_id": item_id, "price": 10.0, "options": {"color": "red"}}

    return {
        "products": {
            "p1": {
                "name": "T-Shirt",
                "product_id": "p1",
                "variants": {
                    "i1": variant("i1", "red", 10.0),
                    "i2": variant("i2", "blue", 10.05),
                    "i3": variant("i3", "green", 12.5),
                    "i4": variant("i4", "black", 9.0, available=False),
                },
            },
            "p2": {"name": "Mug", "product_id": "p2", "variants": {"m1": variant("m1", "white", 5.0)}},
        },
        "users": {
            "ann_lee_1": {
                "user_id": "ann_lee_1",
                "name": {"first_name": "Ann", "last_name": "Lee"},
                "address": address,
                "email": "ann@example.com",
                "payment_methods": {
                    "credit_card_1": {
                        "source": "credit_card",
                        "id": "credit_card_1",
                        "brand": "visa",
                        "last_four": "1234",
                    },
                    "gift_card_1": {"source": "gift_card", "id": "gift_card_1", "balance": 100.0},
                    "paypal_1": {"source": "paypal", "id": "paypal_1"},
                },
                "orders": ["#W1", "#W2"],
            }
        },
        "orders": {
            "#W1": {
                "order_id": "#W1",
                "user_id": "ann_lee_1",
                "address": address,
                "items": [item("i1"), item("i1")],
                "status": "pending",
                "fulfillments": [],
                "payment_history": [
                    {"transaction_type": "payment", "amount": 20.0, "payment_method_id": "credit_card_1"}
                ],
            },
            "#W2": {
                "order_id": "#W2",
                "user_id": "ann_lee_1",
                "address": address,
                "items": [item("i1")],
                "status": "delivered",
                "fulfillments": [{"tracking_id": ["T1"], "item_ids": ["i1"]}],
                "payment_history": [
                    {"transaction_type": "payment", "amount": 10.0, "payment_method_id": "gift_card_1"}
                ],
            },
        },
    }


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EnvironmentSet:
    """The shipped catalog over the small database, found the way users point it at tau2's."""
    (tmp_path / "db.json").write_text(json.dumps(_small_db()), encoding="utf-8")
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    catalog = load_environment_catalog(CATALOG)
    return EnvironmentSet.build(catalog.environments, base_dir=CATALOG.parent)


def _step(shop: EnvironmentSet, name: str, **arguments: Any) -> Any:
    result = asyncio.run(shop.step(ToolCall.make(name, arguments)))
    if result.error is not None:
        return result.error
    return json.loads(result.output) if name == "list_all_product_types" else result.output


def _state(shop: EnvironmentSet) -> dict[str, Any]:
    return shop.states()["tau2_retail"]


def test_modify_items_records_the_unrounded_difference_and_gives_every_item_the_last_new_item(
    shop: EnvironmentSet,
) -> None:
    order = _step(
        shop,
        "modify_pending_order_items",
        order_id="#W1",
        item_ids=["i1", "i1"],
        new_item_ids=["i2", "i3"],
        payment_method_id="gift_card_1",
    )
    difference = (10.05 - 10.0) + (12.5 - 10.0)
    assert difference != round(difference, 2)  # the case where rounding would show
    assert order["payment_history"][-1] == {
        "transaction_type": "payment",
        "amount": difference,
        "payment_method_id": "gift_card_1",
    }
    assert [i["item_id"] for i in order["items"]] == ["i2", "i3"]
    assert [(i["price"], i["options"]) for i in order["items"]] == [(12.5, {"color": "green"})] * 2
    assert order["status"] == "pending (item modified)"
    assert _state(shop)["users"]["ann_lee_1"]["payment_methods"]["gift_card_1"]["balance"] == round(
        100.0 - difference, 2
    )


def test_a_modified_order_cannot_be_cancelled_or_modified_again_but_can_change_address(shop: EnvironmentSet) -> None:
    _step(
        shop,
        "modify_pending_order_items",
        order_id="#W1",
        item_ids=["i1"],
        new_item_ids=["i2"],
        payment_method_id="paypal_1",
    )
    before = _state(shop)
    assert _step(shop, "cancel_pending_order", order_id="#W1", reason="no longer needed") == (
        "ValueError: Non-pending order cannot be cancelled"
    )
    assert _step(
        shop,
        "modify_pending_order_items",
        order_id="#W1",
        item_ids=["i1"],
        new_item_ids=["i3"],
        payment_method_id="paypal_1",
    ) == ("ValueError: Non-pending order cannot be modified")
    assert _state(shop) == before
    # tau2's "pending" in status: address (argument `state`, like tau2's) and payment can still change.
    order = _step(
        shop,
        "modify_pending_order_address",
        order_id="#W1",
        address1="2 Oak Ave",
        address2="Apt 4",
        city="Reno",
        state="NV",
        country="USA",
        zip="89501",
    )
    assert order["address"]["state"] == "NV" and order["status"] == "pending (item modified)"


def test_refusals_carry_tau2s_messages_and_change_nothing(shop: EnvironmentSet) -> None:
    before = _state(shop)
    swap = {"order_id": "#W1", "payment_method_id": "credit_card_1"}
    refusals = {
        "The new item id should be different from the old item id": (
            "modify_pending_order_items",
            swap | {"item_ids": ["i1"], "new_item_ids": ["i1"]},
        ),
        "New item i4 not found or available": (
            "modify_pending_order_items",
            swap | {"item_ids": ["i1"], "new_item_ids": ["i4"]},
        ),
        "Variant not found": ("modify_pending_order_items", swap | {"item_ids": ["i1"], "new_item_ids": ["m1"]}),
        "i9 not found": ("modify_pending_order_items", swap | {"item_ids": ["i9"], "new_item_ids": ["i2"]}),
        "The number of items to be exchanged should match": (
            "modify_pending_order_items",
            swap | {"item_ids": ["i1"], "new_item_ids": ["i2", "i3"]},
        ),
        "Non-delivered order cannot be exchanged": (
            "exchange_delivered_order_items",
            swap | {"item_ids": ["i1"], "new_item_ids": ["i2"]},
        ),
        "Non-delivered order cannot be returned": (
            "return_delivered_order_items",
            {"order_id": "#W1", "item_ids": ["i1"], "payment_method_id": "credit_card_1"},
        ),
        "Payment method should be the original payment method": (
            "return_delivered_order_items",
            {"order_id": "#W2", "item_ids": ["i1"], "payment_method_id": "paypal_1"},
        ),
        "Some item not found": (
            "return_delivered_order_items",
            {"order_id": "#W2", "item_ids": ["i1", "i1"], "payment_method_id": "gift_card_1"},
        ),
        "Number of i1 not found.": (
            "exchange_delivered_order_items",
            {
                "order_id": "#W2",
                "item_ids": ["i1", "i1"],
                "new_item_ids": ["i2", "i3"],
                "payment_method_id": "gift_card_1",
            },
        ),
        "Invalid reason": ("cancel_pending_order", {"order_id": "#W1", "reason": "changed my mind"}),
        "Order not found": ("get_order_details", {"order_id": "W1"}),
        "Payment method not found": (
            "modify_pending_order_payment",
            {"order_id": "#W1", "payment_method_id": "gift_card_9"},
        ),
        "The new payment method should be different from the current one": (
            "modify_pending_order_payment",
            {"order_id": "#W1", "payment_method_id": "credit_card_1"},
        ),
        "User not found": ("find_user_id_by_email", {"email": "bob@example.com"}),
        "Item not found": ("get_item_details", {"item_id": "p1"}),
        "Product not found": ("get_product_details", {"product_id": "i1"}),
    }
    for message, (name, arguments) in refusals.items():
        assert _step(shop, name, **arguments) == f"ValueError: {message}", name
    assert _state(shop) == before


def test_a_gift_card_must_cover_a_positive_difference(shop: EnvironmentSet) -> None:
    # Exchanges compare the rounded difference, item modifications the unrounded one; both refuse here.
    poor = _small_db()
    poor["users"]["ann_lee_1"]["payment_methods"]["gift_card_1"]["balance"] = 0.04
    small = EnvironmentSet.build(
        load_environment_catalog(CATALOG).environments, base_dir=CATALOG.parent, initial_states={"tau2_retail": poor}
    )
    assert (
        _step(
            small,
            "exchange_delivered_order_items",
            order_id="#W2",
            item_ids=["i1"],
            new_item_ids=["i2"],
            payment_method_id="gift_card_1",
        )
        == "ValueError: Insufficient gift card balance to pay for the price difference"
    )
    assert (
        _step(
            small,
            "modify_pending_order_items",
            order_id="#W1",
            item_ids=["i1"],
            new_item_ids=["i2"],
            payment_method_id="gift_card_1",
        )
        == "ValueError: Insufficient gift card balance to pay for the new item"
    )


def test_exchange_rounds_the_difference_and_allows_the_same_item(shop: EnvironmentSet) -> None:
    order = _step(
        shop,
        "exchange_delivered_order_items",
        order_id="#W2",
        item_ids=["i1"],
        new_item_ids=["i1"],
        payment_method_id="gift_card_1",
    )
    assert order["status"] == "exchange requested"
    assert order["exchange_price_difference"] == 0.0 and order["exchange_new_items"] == ["i1"]


def test_outputs_are_tau2s_model_dumps(shop: EnvironmentSet) -> None:
    order = _step(shop, "get_order_details", order_id="#W1")
    assert list(order)[-7:] == [
        "cancel_reason",
        "exchange_items",
        "exchange_new_items",
        "exchange_payment_method_id",
        "exchange_price_difference",
        "return_items",
        "return_payment_method_id",
    ]
    assert order["cancel_reason"] is None
    cancelled = _step(shop, "cancel_pending_order", order_id="#W1", reason="ordered by mistake")
    assert cancelled["cancel_reason"] == "ordered by mistake"
    assert cancelled["payment_history"][-1] == {
        "transaction_type": "refund",
        "amount": 20.0,
        "payment_method_id": "credit_card_1",
    }
    assert _step(shop, "list_all_product_types") == {"Mug": "p2", "T-Shirt": "p1"}
    assert _step(shop, "find_user_id_by_name_zip", first_name="ANN", last_name="lee", zip="73301") == "ann_lee_1"
    assert _step(shop, "transfer_to_human_agents", summary="wants a human") == "Transfer successful"


def test_cancelling_refunds_gift_cards_at_once(shop: EnvironmentSet) -> None:
    _step(shop, "modify_pending_order_payment", order_id="#W1", payment_method_id="gift_card_1")
    assert _state(shop)["users"]["ann_lee_1"]["payment_methods"]["gift_card_1"]["balance"] == 80.0
    # tau2 checks for exactly one payment, so a re-paid order cannot change payment again.
    assert _step(shop, "modify_pending_order_payment", order_id="#W1", payment_method_id="paypal_1") == (
        "ValueError: There should be exactly one payment for a pending order"
    )
    _step(shop, "cancel_pending_order", order_id="#W1", reason="no longer needed")
    assert _state(shop)["users"]["ann_lee_1"]["payment_methods"]["gift_card_1"]["balance"] == 100.0


@pytest.mark.parametrize(
    "expression",
    [
        "2 + 2",
        " 1+1",
        "10 / 4",
        "7 // 2",
        "2 ** 3 ** 2",
        "-(3.5 * 2)",
        "(1)(2)",
        "(1)(1 / 0)",
        "1 / 0",
        "...",
        "()",
        "1 2",
        "(",
        "",
        "10 ** 400",
        "10.0 ** 400",
        "0 ** -1",
        "1 .5",
        "*()",
    ],
)
def test_calculate_answers_like_tau2s_eval(expression: str) -> None:
    def outcome(fn: Any) -> str:
        try:
            return str(fn())
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"

    with warnings.catch_warnings():  # the compiler warns about "(1)(2)"
        warnings.simplefilter("ignore", SyntaxWarning)
        tau2 = outcome(lambda: round(float(eval(expression, {"__builtins__": None}, {})), 2))  # tau2's own line
    assert outcome(lambda: tools_module().calculate(expression)) == tau2


def test_calculate_refuses_what_tau2_allows_not() -> None:
    calculate = tools_module().calculate
    with pytest.raises(ValueError, match="Invalid characters in expression"):
        calculate("__import__('os')")
    with pytest.raises(ValueError, match="Exponent too large"):
        calculate("9 ** 9 ** 9")  # tau2's eval would compute for hours
