"""Tools of the `retail` python environment: an online shop's customer-service back office.

Semantics follow the tau2-bench retail domain (same state layout, same tool names and arguments, same
business rules), so its public database loads as this environment's initial state and its gold actions
replay here. Each tool gets its arguments as keyword arguments and `state` (a mutable deep copy of the
environment state); envsim diffs the state into a JSON Patch. A rule violation raises `ValueError`, which
envsim turns into an error result for the assistant (and no state change).

State layout: `{"products": {product_id: product}, "users": {user_id: user}, "orders": {order_id: order}}`.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

State = dict[str, Any]

CANCEL_REASONS = ("no longer needed", "ordered by mistake")


# --------------------------------------------------------------------------- lookups


def _order(state: State, order_id: str) -> dict[str, Any]:
    order = state["orders"].get(order_id)
    if order is None:
        raise ValueError(f"Order {order_id} not found")
    return order


def _user(state: State, user_id: str) -> dict[str, Any]:
    user = state["users"].get(user_id)
    if user is None:
        raise ValueError(f"User {user_id} not found")
    return user


def _product(state: State, product_id: str) -> dict[str, Any]:
    product = state["products"].get(product_id)
    if product is None:
        raise ValueError(f"Product {product_id} not found")
    return product


def _variant(state: State, product_id: str, item_id: str) -> dict[str, Any]:
    variant = _product(state, product_id)["variants"].get(item_id)
    if variant is None:
        raise ValueError(f"Item {item_id} is not a variant of product {product_id}; exchanges keep the same product")
    return variant


def _payment_method(state: State, user_id: str, payment_method_id: str) -> dict[str, Any]:
    method = _user(state, user_id)["payment_methods"].get(payment_method_id)
    if method is None:
        raise ValueError(f"Payment method {payment_method_id} not found for user {user_id}")
    return method


def _is_gift_card(method: dict[str, Any]) -> bool:
    return method.get("source") == "gift_card"


def _require_gift_card_balance(method: dict[str, Any], amount: float, what: str) -> None:
    if _is_gift_card(method) and method["balance"] < amount:
        raise ValueError(f"Insufficient gift card balance ({method['balance']}) to pay for {what} ({amount})")


def _item_swap(
    state: State,
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
    *,
    status: str,
    action: str,
) -> tuple[dict[str, Any], float, dict[str, Any]]:
    """The checks shared by modifying and exchanging items: order status, same products, and a payment
    method able to cover the price difference. Returns (order, price difference, payment method)."""
    order = _order(state, order_id)
    if order["status"] != status:
        raise ValueError(f"Non-{status} order cannot be {action} (order {order_id} is {order['status']})")
    difference = _price_difference(state, order, item_ids, new_item_ids)
    method = _payment_method(state, order["user_id"], payment_method_id)
    _require_gift_card_balance(method, difference, "the price difference")
    return order, difference, method


def _require_pending(order: dict[str, Any], action: str) -> None:
    # "pending (item modified)" is still pending: it can be cancelled or re-addressed, not re-itemized.
    if not order["status"].startswith("pending"):
        raise ValueError(f"Non-pending order cannot be {action} (order {order['order_id']} is {order['status']})")


def _check_items_in_order(order: dict[str, Any], item_ids: list[str]) -> None:
    in_order = [item["item_id"] for item in order["items"]]
    for item_id in set(item_ids):
        if item_ids.count(item_id) > in_order.count(item_id):
            raise ValueError(f"Item {item_id} not found in order {order['order_id']} (or listed too many times)")


def _price_difference(state: State, order: dict[str, Any], item_ids: list[str], new_item_ids: list[str]) -> float:
    """Validate a one-for-one item swap (same product, new variant available) and return new - old prices."""
    if len(item_ids) != len(new_item_ids):
        raise ValueError("The number of items to be exchanged should match the number of new items")
    _check_items_in_order(order, item_ids)
    difference = 0.0
    for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
        item = next(i for i in order["items"] if i["item_id"] == item_id)
        variant = _variant(state, item["product_id"], new_item_id)
        if not variant["available"]:
            raise ValueError(f"New item {new_item_id} is not available")
        difference += variant["price"] - item["price"]
    return round(difference, 2)


# --------------------------------------------------------------------------- read tools


def find_user_id_by_email(email: str, state: State) -> str:
    """Find a user id by email address (case-insensitive)."""
    for user_id, user in state["users"].items():
        if user["email"].lower() == email.lower():
            return user_id
    raise ValueError("User not found")


def find_user_id_by_name_zip(first_name: str, last_name: str, zip: str, state: State) -> str:
    """Find a user id by first name, last name (case-insensitive) and zip code."""
    for user_id, user in state["users"].items():
        name = user["name"]
        if (
            name["first_name"].lower() == first_name.lower()
            and name["last_name"].lower() == last_name.lower()
            and user["address"]["zip"] == zip
        ):
            return user_id
    raise ValueError("User not found")


def get_user_details(user_id: str, state: State) -> dict[str, Any]:
    return _user(state, user_id)


def get_order_details(order_id: str, state: State) -> dict[str, Any]:
    return _order(state, order_id)


def get_product_details(product_id: str, state: State) -> dict[str, Any]:
    return _product(state, product_id)


def get_item_details(item_id: str, state: State) -> dict[str, Any]:
    for product in state["products"].values():
        if item_id in product["variants"]:
            return product["variants"][item_id]
    raise ValueError(f"Item {item_id} not found")


def list_all_product_types(state: State) -> dict[str, str]:
    """Product name -> product id, sorted by name."""
    return dict(sorted((p["name"], product_id) for product_id, p in state["products"].items()))


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    raise ValueError("Only numbers, + - * / and parentheses are allowed")


def calculate(expression: str) -> str:
    """Evaluate arithmetic safely (parsed, never eval'd); the result is rounded to 2 decimals."""
    if len(expression) > 500 or not all(c in "0123456789+-*/(). " for c in expression):
        raise ValueError("Invalid characters in expression: only numbers, + - * / and parentheses are allowed")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"Invalid expression: {exc.msg}") from exc
    try:
        value = _evaluate(tree)
    except ZeroDivisionError as exc:
        raise ValueError("Division by zero") from exc
    return str(round(value, 2))


def transfer_to_human_agents(summary: str) -> str:
    """Hand the conversation to a human; the summary goes with it."""
    return "Transfer successful"


# --------------------------------------------------------------------------- write tools


def cancel_pending_order(order_id: str, reason: str, state: State) -> dict[str, Any]:
    order = _order(state, order_id)
    _require_pending(order, "cancelled")
    if reason not in CANCEL_REASONS:
        raise ValueError(f"Invalid reason {reason!r}: must be 'no longer needed' or 'ordered by mistake'")
    refunds = []
    for payment in order["payment_history"]:
        refunds.append(
            {
                "transaction_type": "refund",
                "amount": payment["amount"],
                "payment_method_id": payment["payment_method_id"],
            }
        )
        method = _payment_method(state, order["user_id"], payment["payment_method_id"])
        if _is_gift_card(method):  # gift card refunds are immediate
            method["balance"] = round(method["balance"] + payment["amount"], 2)
    order["status"] = "cancelled"
    order["cancel_reason"] = reason
    order["payment_history"].extend(refunds)
    return order


def _address(address1: str, address2: str, city: str, state_code: str, country: str, zip: str) -> dict[str, str]:
    return {
        "address1": address1,
        "address2": address2,
        "city": city,
        "country": country,
        "state": state_code,
        "zip": zip,
    }


def modify_pending_order_address(
    order_id: str,
    address1: str,
    address2: str,
    city: str,
    state_code: str,
    country: str,
    zip: str,
    state: State,
) -> dict[str, Any]:
    # envsim passes the environment state as `state`, so the address's state is `state_code` here
    # (tau2 calls that argument `state`; it is stored under the address's `state` key all the same).
    order = _order(state, order_id)
    _require_pending(order, "modified")
    order["address"] = _address(address1, address2, city, state_code, country, zip)
    return order


def modify_user_address(
    user_id: str,
    address1: str,
    address2: str,
    city: str,
    state_code: str,
    country: str,
    zip: str,
    state: State,
) -> dict[str, Any]:
    user = _user(state, user_id)
    user["address"] = _address(address1, address2, city, state_code, country, zip)
    return user


def modify_pending_order_payment(order_id: str, payment_method_id: str, state: State) -> dict[str, Any]:
    order = _order(state, order_id)
    _require_pending(order, "modified")
    method = _payment_method(state, order["user_id"], payment_method_id)
    history = order["payment_history"]
    if len(history) != 1 or history[0]["transaction_type"] != "payment":
        raise ValueError("There should be exactly one payment for a pending order")
    old_method_id = history[0]["payment_method_id"]
    if payment_method_id == old_method_id:
        raise ValueError("The new payment method should be different from the current one")
    amount = history[0]["amount"]
    _require_gift_card_balance(method, amount, "the order")
    history.append({"transaction_type": "payment", "amount": amount, "payment_method_id": payment_method_id})
    history.append({"transaction_type": "refund", "amount": amount, "payment_method_id": old_method_id})
    if _is_gift_card(method):
        method["balance"] = round(method["balance"] - amount, 2)
    old_method = _payment_method(state, order["user_id"], old_method_id)
    if _is_gift_card(old_method):
        old_method["balance"] = round(old_method["balance"] + amount, 2)
    return order


def modify_pending_order_items(
    order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str, state: State
) -> dict[str, Any]:
    """Swap items of a pending order for other variants of the same products (once per order)."""
    order, difference, method = _item_swap(
        state, order_id, item_ids, new_item_ids, payment_method_id, status="pending", action="modified"
    )
    order["payment_history"].append(
        {
            "transaction_type": "payment" if difference > 0 else "refund",
            "amount": abs(difference),
            "payment_method_id": payment_method_id,
        }
    )
    if _is_gift_card(method):
        method["balance"] = round(method["balance"] - difference, 2)
    for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
        item = next(i for i in order["items"] if i["item_id"] == item_id)
        variant = _variant(state, item["product_id"], new_item_id)
        item.update(item_id=new_item_id, price=variant["price"], options=variant["options"])
    order["status"] = "pending (item modified)"
    return order


def return_delivered_order_items(
    order_id: str, item_ids: list[str], payment_method_id: str, state: State
) -> dict[str, Any]:
    """Request a return; the refund goes to the original payment method or a gift card."""
    order = _order(state, order_id)
    if order["status"] != "delivered":
        raise ValueError(f"Non-delivered order cannot be returned (order {order_id} is {order['status']})")
    method = _payment_method(state, order["user_id"], payment_method_id)
    if not _is_gift_card(method) and payment_method_id != order["payment_history"][0]["payment_method_id"]:
        raise ValueError("Payment method should be either the original payment method or a gift card")
    _check_items_in_order(order, item_ids)
    order["status"] = "return requested"
    order["return_items"] = sorted(item_ids)
    order["return_payment_method_id"] = payment_method_id
    return order


def exchange_delivered_order_items(
    order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str, state: State
) -> dict[str, Any]:
    """Request an exchange for other variants of the same products; the price difference is settled later."""
    order, difference, _ = _item_swap(
        state, order_id, item_ids, new_item_ids, payment_method_id, status="delivered", action="exchanged"
    )
    order["status"] = "exchange requested"
    order["exchange_items"] = sorted(item_ids)
    order["exchange_new_items"] = sorted(new_item_ids)
    order["exchange_payment_method_id"] = payment_method_id
    order["exchange_price_difference"] = difference
    return order
