"""tau2-bench's retail tools (`tau2/domains/retail/tools.py`, MIT, Sierra Research) over the JSON state.

Each tool does what tau2's does, check for check and in the same order, with the same error messages,
so replaying a task's actions leaves the database tau2 would leave (same `tau2_retail_db.db_hash`) and
returns what tau2 returns (records as tau2's `model_dump()`). Descriptions are tau2's docstrings.

tau2 quirks reproduced on purpose (tau2's task gold databases depend on them):
- `modify_pending_order_items` records the UNROUNDED price difference in the payment history
  (e.g. 0.04999999999999716, not 0.05) and subtracts it unrounded from a gift card before rounding
  the balance; `exchange_delivered_order_items` rounds it.
- `modify_pending_order_items` gives every swapped item the price and options of the LAST new item
  (tau2 reuses the loop variable `variant`); each item still gets its own new item id.
- only status "pending" can be cancelled or have its items modified; "pending (item modified)" orders
  can still change address and payment ("pending" in status).
- swapping an item for itself is refused when modifying, not when exchanging.
Deliberate difference: `calculate` evaluates its expression with a parser instead of `eval` (the same
results and error messages for the characters tau2 allows), and refuses exponents that would run for
minutes. Errors reach the assistant as envsim's "ValueError: <message>" where tau2 writes
"Error: <message>"; the message is tau2's.

The environment state reaches the tools as `db` (tau2's address tools have an argument called `state`).
"""

from __future__ import annotations

import ast
import json
import operator
import warnings
from collections.abc import Callable
from typing import Any

from tau2_retail_db import dump_order, dump_product, dump_user, dump_variant

from envsim.environments import tool

State = dict[str, Any]
Record = dict[str, Any]

# --------------------------------------------------------------------------- lookups (tau2's _get_*)


def _get_order(db: State, order_id: str) -> Record:
    if order_id not in db["orders"]:
        raise ValueError("Order not found")
    return db["orders"][order_id]


def _get_user(db: State, user_id: str) -> Record:
    if user_id not in db["users"]:
        raise ValueError("User not found")
    return db["users"][user_id]


def _get_product(db: State, product_id: str) -> Record:
    if product_id not in db["products"]:
        raise ValueError("Product not found")
    return db["products"][product_id]


def _get_item(db: State, item_id: str) -> Record:
    for product in db["products"].values():
        if item_id in product["variants"]:
            return product["variants"][item_id]
    raise ValueError("Item not found")


def _get_variant(db: State, product_id: str, variant_id: str) -> Record:
    product = _get_product(db, product_id)
    if variant_id not in product["variants"]:
        raise ValueError("Variant not found")
    return product["variants"][variant_id]


def _get_payment_method(db: State, user_id: str, payment_method_id: str) -> Record:
    user = _get_user(db, user_id)
    if payment_method_id not in user["payment_methods"]:
        raise ValueError("Payment method not found")
    return user["payment_methods"][payment_method_id]


def _is_pending_order(order: Record) -> bool:
    # tau2: "not a strict check": "pending (item modified)" counts as pending here.
    return "pending" in order["status"]


def _is_gift_card(method: Record) -> bool:
    return method["source"] == "gift_card"


def _find_item(order: Record, item_id: str) -> Record | None:
    return next((item for item in order["items"] if item["item_id"] == item_id), None)


def _payment(transaction_type: str, amount: float, payment_method_id: str) -> Record:
    # float(): tau2's OrderPayment.amount is a float field, so an int amount (0) is stored as 0.0.
    return {"transaction_type": transaction_type, "amount": float(amount), "payment_method_id": payment_method_id}


def _address(address1: str, address2: str, city: str, state: str, country: str, zip: str) -> Record:
    return {"address1": address1, "address2": address2, "city": city, "country": country, "state": state, "zip": zip}


# --------------------------------------------------------------------------- calculate

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_MAX_POWER_BITS = 10_000_000  # integer powers beyond this run for seconds to hours (tau2's eval would hang)


def _power(base: Any, exponent: Any) -> Any:
    growing = isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 0
    if growing and exponent * base.bit_length() > _MAX_POWER_BITS:
        raise ValueError("Exponent too large")
    return operator.pow(base, exponent)


def _evaluate(node: ast.AST) -> Any:
    """Python's own semantics for what tau2's character set can spell: numbers, + - * / // **, unary
    signs and parentheses; `...`, `()` and calls fail the way eval fails."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant):
        return node.value  # int, float or Ellipsis; float() below rejects the Ellipsis like tau2
    if isinstance(node, ast.Tuple):
        return tuple(_evaluate(element) for element in node.elts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        return _power(_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.Call):
        callee = _evaluate(node.func)
        for argument in node.args:
            _evaluate(argument)  # eval evaluates the arguments before failing the call
        raise TypeError(f"{type(callee).__name__!r} object is not callable")
    raise ValueError("Invalid expression")


@tool(read_only=True)
def calculate(expression: str) -> str:
    """Calculate the result of a mathematical expression.

    Args:
        expression: The mathematical expression to calculate, such as '2 + 2'. The expression can contain numbers, operators (+, -, *, /), parentheses, and spaces.
    """  # noqa: E501  (tau2's text, kept verbatim)
    if not all(char in "0123456789+-*/(). " for char in expression):
        raise ValueError("Invalid characters in expression")
    # eval() ignores leading spaces; "<string>" makes syntax errors read exactly like eval's.
    tree = ast.parse(expression.lstrip(" "), filename="<string>", mode="eval")
    with warnings.catch_warnings():  # compile warns about "(1)(2)"; the call fails below anyway
        warnings.simplefilter("ignore", SyntaxWarning)
        compile(tree, "<string>", "eval")  # compiling (never running) raises eval's compile-time SyntaxErrors
    return str(round(float(_evaluate(tree)), 2))


# --------------------------------------------------------------------------- read tools


@tool(read_only=True, state_parameter="db")
def find_user_id_by_name_zip(first_name: str, last_name: str, zip: str, db: State) -> str:
    """Find user id by first name, last name, and zip code. If the user is not found, the function will return an error message. By default, find user id by email, and only call this function if the user is not found by email or cannot remember email.

    Args:
        first_name: The first name of the customer, such as 'John'.
        last_name: The last name of the customer, such as 'Doe'.
        zip: The zip code of the customer, such as '12345'.
    """  # noqa: E501
    for user_id, user in db["users"].items():
        if (
            user["name"]["first_name"].lower() == first_name.lower()
            and user["name"]["last_name"].lower() == last_name.lower()
            and user["address"]["zip"] == zip
        ):
            return user_id
    raise ValueError("User not found")


@tool(read_only=True, state_parameter="db")
def find_user_id_by_email(email: str, db: State) -> str:
    """Find user id by email. If the user is not found, the function will return an error message.

    Args:
        email: The email of the user, such as 'something@example.com'.
    """
    for user_id, user in db["users"].items():
        if user["email"].lower() == email.lower():
            return user_id
    raise ValueError("User not found")


@tool(read_only=True, state_parameter="db")
def get_order_details(order_id: str, db: State) -> Record:
    """Get the status and details of an order.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
    """
    return dump_order(_get_order(db, order_id))


@tool(read_only=True, state_parameter="db")
def get_product_details(product_id: str, db: State) -> Record:
    """Get the inventory details of a product.

    Args:
        product_id: The product id, such as '6086499569'. Be careful the product id is different from the item id.
    """
    return dump_product(_get_product(db, product_id))


@tool(read_only=True, state_parameter="db")
def get_item_details(item_id: str, db: State) -> Record:
    """Get the inventory details of an item.

    Args:
        item_id: The item id, such as '6086499569'. Be careful the item id is different from the product id.
    """
    return dump_variant(_get_item(db, item_id))


@tool(read_only=True, state_parameter="db")
def get_user_details(user_id: str, db: State) -> Record:
    """Get the details of a user, including their orders.

    Args:
        user_id: The user id, such as 'sara_doe_496'.
    """
    return dump_user(_get_user(db, user_id))


@tool(read_only=True, state_parameter="db")
def list_all_product_types(db: State) -> str:
    """List the name and product id of all product types.
    Each product type has a variety of different items with unique item ids and options.
    There are only 50 product types in the store.
    """
    product_dict = {product["name"]: product["product_id"] for product in db["products"].values()}
    return json.dumps(product_dict, sort_keys=True)  # tau2 returns this JSON text, not an object


@tool(read_only=True)
def transfer_to_human_agents(summary: str) -> str:
    """Transfer the user to a human agent, with a summary of the user's issue.
    Only transfer if
     -  the user explicitly asks for a human agent
     -  given the policy and the available tools, you cannot solve the user's issue.

    Args:
        summary: A summary of the user's issue.
    """
    return "Transfer successful"


# --------------------------------------------------------------------------- write tools


@tool(state_parameter="db")
def cancel_pending_order(order_id: str, reason: str, db: State) -> Record:
    """Cancel a pending order. If the order is already processed or delivered,
    it cannot be cancelled. The agent needs to explain the cancellation detail
    and ask for explicit user confirmation (yes/no) to proceed. If the user confirms,
    the order status will be changed to 'cancelled' and the payment will be refunded.
    The refund will be added to the user's gift card balance immediately if the payment
    was made using a gift card, otherwise the refund would take 5-7 business days to process.
    The function returns the order details after the cancellation.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
        reason: The reason for cancellation, which should be either 'no longer needed' or 'ordered by mistake'.
    """
    order = _get_order(db, order_id)
    if order["status"] != "pending":  # strict: a modified order cannot be cancelled
        raise ValueError("Non-pending order cannot be cancelled")
    if reason not in {"no longer needed", "ordered by mistake"}:
        raise ValueError("Invalid reason")
    refunds = []
    for payment in order["payment_history"]:
        payment_id = payment["payment_method_id"]
        refunds.append(_payment("refund", payment["amount"], payment_id))
        user = _get_user(db, order["user_id"])
        payment_method = _get_payment_method(db, user["user_id"], payment_id)
        if _is_gift_card(payment_method):  # refund to gift card immediately
            payment_method["balance"] = round(payment_method["balance"] + payment["amount"], 2)
    order["status"] = "cancelled"
    order["cancel_reason"] = reason
    order["payment_history"].extend(refunds)
    return dump_order(order)


@tool(state_parameter="db")
def exchange_delivered_order_items(
    order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str, db: State
) -> Record:
    """Exchange items in a delivered order to new items of the same product type.
    For a delivered order, return or exchange can be only done once by the agent.
    The agent needs to explain the exchange detail and ask for explicit user confirmation (yes/no) to proceed.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
        item_ids: The item ids to be exchanged, each such as '1008292230'. There could be duplicate items in the list.
        new_item_ids: The item ids to be exchanged for, each such as '1008292230'. There could be duplicate items in the list. Each new item id should match the item id in the same position and be of the same product.
        payment_method_id: The payment method id to pay or receive refund for the item price difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be looked up from the user or order details.
    """  # noqa: E501
    order = _get_order(db, order_id)
    if order["status"] != "delivered":
        raise ValueError("Non-delivered order cannot be exchanged")
    all_item_ids = [item["item_id"] for item in order["items"]]
    for item_id in item_ids:
        if item_ids.count(item_id) > all_item_ids.count(item_id):
            raise ValueError(f"Number of {item_id} not found.")
    if len(item_ids) != len(new_item_ids):
        raise ValueError("The number of items to be exchanged should match.")
    diff_price: float = 0
    for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
        item = _find_item(order, item_id)
        if item is None:
            raise ValueError(f"Item {item_id} not found")
        variant = _get_variant(db, item["product_id"], new_item_id)
        if not variant["available"]:
            raise ValueError(f"New item {new_item_id} not found or available")
        diff_price += variant["price"] - item["price"]
    diff_price = round(diff_price, 2)
    payment_method = _get_payment_method(db, order["user_id"], payment_method_id)
    if _is_gift_card(payment_method) and payment_method["balance"] < diff_price:
        raise ValueError("Insufficient gift card balance to pay for the price difference")
    order["status"] = "exchange requested"
    order["exchange_items"] = sorted(item_ids)
    order["exchange_new_items"] = sorted(new_item_ids)
    order["exchange_payment_method_id"] = payment_method_id
    order["exchange_price_difference"] = float(diff_price)
    return dump_order(order)


@tool(state_parameter="db")
def modify_pending_order_address(
    order_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str, db: State
) -> Record:
    """Modify the shipping address of a pending order. The agent needs to explain the modification detail and ask for explicit user confirmation (yes/no) to proceed.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
        address1: The first line of the address, such as '123 Main St'.
        address2: The second line of the address, such as 'Apt 1' or ''.
        city: The city, such as 'San Francisco'.
        state: The state, such as 'CA'.
        country: The country, such as 'USA'.
        zip: The zip code, such as '12345'.
    """  # noqa: E501
    order = _get_order(db, order_id)
    if not _is_pending_order(order):
        raise ValueError("Non-pending order cannot be modified")
    order["address"] = _address(address1, address2, city, state, country, zip)
    return dump_order(order)


@tool(state_parameter="db")
def modify_pending_order_items(
    order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str, db: State
) -> Record:
    """Modify items in a pending order to new items of the same product type. For a pending order, this function can only be called once. The agent needs to explain the exchange detail and ask for explicit user confirmation (yes/no) to proceed.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
        item_ids: The item ids to be modified, each such as '1008292230'. There could be duplicate items in the list.
        new_item_ids: The item ids to be modified for, each such as '1008292230'. There could be duplicate items in the list. Each new item id should match the item id in the same position and be of the same product.
        payment_method_id: The payment method id to pay or receive refund for the item price difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be looked up from the user or order details.
    """  # noqa: E501
    order = _get_order(db, order_id)
    if order["status"] != "pending":  # strict: items can be modified once
        raise ValueError("Non-pending order cannot be modified")
    all_item_ids = [item["item_id"] for item in order["items"]]
    for item_id in item_ids:
        if item_ids.count(item_id) > all_item_ids.count(item_id):
            raise ValueError(f"{item_id} not found")
    if len(item_ids) != len(new_item_ids):
        raise ValueError("The number of items to be exchanged should match")
    diff_price: float = 0
    variant: Record | None = None
    for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
        if item_id == new_item_id:
            raise ValueError("The new item id should be different from the old item id")
        item = _find_item(order, item_id)
        if item is None:
            raise ValueError(f"Item {item_id} not found")
        variant = _get_variant(db, item["product_id"], new_item_id)
        if not variant["available"]:
            raise ValueError(f"New item {new_item_id} not found or available")
        diff_price += variant["price"] - item["price"]
    # tau2 does not round diff_price here: the payment and the gift card see e.g. 0.04999999999999716.
    payment_method = _get_payment_method(db, order["user_id"], payment_method_id)
    if _is_gift_card(payment_method) and payment_method["balance"] < diff_price:
        raise ValueError("Insufficient gift card balance to pay for the new item")
    order["payment_history"].append(
        _payment("payment" if diff_price > 0 else "refund", abs(diff_price), payment_method_id)
    )
    if _is_gift_card(payment_method):
        payment_method["balance"] = round(payment_method["balance"] - diff_price, 2)
    for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
        item = _find_item(order, item_id)
        if item is None:
            raise ValueError(f"Item {item_id} not found")
        item["item_id"] = new_item_id
        # tau2 reuses `variant` from the loop above: every item gets the LAST new item's price and options.
        assert variant is not None  # item_ids is non-empty whenever this loop runs
        item["price"] = variant["price"]
        item["options"] = dict(variant["options"])
    order["status"] = "pending (item modified)"
    return dump_order(order)


@tool(state_parameter="db")
def modify_pending_order_payment(order_id: str, payment_method_id: str, db: State) -> Record:
    """Modify the payment method of a pending order. The agent needs to explain the modification detail and ask for explicit user confirmation (yes/no) to proceed.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
        payment_method_id: The payment method id to pay or receive refund for the item price difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be looked up from the user or order details.
    """  # noqa: E501
    order = _get_order(db, order_id)
    if not _is_pending_order(order):
        raise ValueError("Non-pending order cannot be modified")
    payment_method = _get_payment_method(db, order["user_id"], payment_method_id)
    history = order["payment_history"]
    if len(history) != 1 or history[0]["transaction_type"] != "payment":
        raise ValueError("There should be exactly one payment for a pending order")
    if history[0]["payment_method_id"] == payment_method_id:
        raise ValueError("The new payment method should be different from the current one")
    amount = history[0]["amount"]
    if _is_gift_card(payment_method) and payment_method["balance"] < amount:
        raise ValueError("Insufficient gift card balance to pay for the order")
    history.extend(
        [_payment("payment", amount, payment_method_id), _payment("refund", amount, history[0]["payment_method_id"])]
    )
    if _is_gift_card(payment_method):
        payment_method["balance"] = round(payment_method["balance"] - amount, 2)
    old_payment_method = _get_payment_method(db, order["user_id"], history[0]["payment_method_id"])
    if _is_gift_card(old_payment_method):
        old_payment_method["balance"] = round(old_payment_method["balance"] + amount, 2)
    return dump_order(order)


@tool(state_parameter="db")
def modify_user_address(
    user_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str, db: State
) -> Record:
    """Modify the default address of a user. The agent needs to explain the modification detail and ask for explicit user confirmation (yes/no) to proceed.

    Args:
        user_id: The user id, such as 'sara_doe_496'.
        address1: The first line of the address, such as '123 Main St'.
        address2: The second line of the address, such as 'Apt 1' or ''.
        city: The city, such as 'San Francisco'.
        state: The state, such as 'CA'.
        country: The country, such as 'USA'.
        zip: The zip code, such as '12345'.
    """  # noqa: E501
    user = _get_user(db, user_id)
    user["address"] = _address(address1, address2, city, state, country, zip)
    return dump_user(user)


@tool(state_parameter="db")
def return_delivered_order_items(order_id: str, item_ids: list[str], payment_method_id: str, db: State) -> Record:
    """Return some items of a delivered order.
    The order status will be changed to 'return requested'.
    The agent needs to explain the return detail and ask for explicit user confirmation (yes/no) to proceed.
    The user will receive follow-up email for how and where to return the item.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
        item_ids: The item ids to be returned, each such as '1008292230'. There could be duplicate items in the list.
        payment_method_id: The payment method id to pay or receive refund for the item price difference, such as 'gift_card_0000000' or 'credit_card_0000000'. These can be looked up from the user or order details.
    """  # noqa: E501
    order = _get_order(db, order_id)
    if order["status"] != "delivered":
        raise ValueError("Non-delivered order cannot be returned")
    user = _get_user(db, order["user_id"])
    payment_method = _get_payment_method(db, user["user_id"], payment_method_id)
    if not _is_gift_card(payment_method) and payment_method_id != order["payment_history"][0]["payment_method_id"]:
        raise ValueError("Payment method should be the original payment method")
    all_item_ids = [item["item_id"] for item in order["items"]]
    for item_id in item_ids:
        if item_ids.count(item_id) > all_item_ids.count(item_id):
            raise ValueError("Some item not found")
    order["status"] = "return requested"
    order["return_items"] = sorted(item_ids)
    order["return_payment_method_id"] = payment_method_id
    return dump_order(order)
