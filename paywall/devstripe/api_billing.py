"""`/v1` endpoints for subscriptions, subscription items and invoices."""

from __future__ import annotations

from typing import Any

from paywall.devstripe import billing
from paywall.devstripe.api import LIST, merge_metadata, paginate, route, timestamp
from paywall.devstripe.errors import InvalidRequest
from paywall.devstripe.params import ANY, Params, Spec
from paywall.devstripe.store import Store

NEW_ITEM = {"price": None, "quantity": None, "metadata": ANY, "tax_rates": [None], "discounts": ANY}
COMMON = {
    "metadata": ANY,
    "default_payment_method": None,
    "description": None,
    "days_until_due": None,
    "payment_behavior": None,
    "proration_behavior": None,
    "cancel_at_period_end": None,
    "cancel_at": None,
    "trial_end": None,
    "off_session": None,
    "payment_settings": ANY,
    "automatic_tax": ANY,
    "trial_settings": ANY,
    "collection_method": None,
}


def _price(store: Store, price_id: Any, param: str) -> dict[str, Any]:
    price = store.get("price", price_id, param)
    if not price["active"]:
        raise InvalidRequest(
            "The price specified is inactive. This field only accepts active prices.", param=param
        )
    if not price["recurring"]:
        raise InvalidRequest(
            "The price specified is set to `type=one_time` but this field only accepts prices "
            "with `type=recurring`.",
            param=param,
        )
    return price


@route(
    "POST",
    "/v1/subscriptions",
    customer=None,
    trial_period_days=None,
    items=[Spec(**NEW_ITEM)],
    **COMMON,
)
def create_subscription(store: Store, p: Params) -> dict[str, Any]:
    customer = store.get("customer", p.text("customer", required=True), "customer")
    lines = []
    for i, item in enumerate(p.array("items")):
        entry = Params(item)
        price = _price(store, entry.text("price", required=True), f"items[{i}][price]")
        lines.append((price, entry.integer("quantity", 1)))
    now = store.now_for(customer)
    trial_end = timestamp(p, "trial_end", store, customer.get("test_clock"))
    if p.integer("trial_period_days"):
        trial_end = now + billing.DAY * p.integer("trial_period_days")
    if trial_end is not None and trial_end <= now:
        trial_end = None
    method = p.text("collection_method", "charge_automatically")
    if method not in ("charge_automatically", "send_invoice"):
        raise InvalidRequest(f"Invalid collection_method: {method}", param="collection_method")
    if p.text("default_payment_method"):
        store.get("payment_method", p.text("default_payment_method"), "default_payment_method")
    return billing.create_subscription(
        store,
        customer,
        lines,
        trial_end=trial_end,
        collection_method=method,
        days_until_due=p.integer("days_until_due"),
        metadata=merge_metadata({}, p.data.get("metadata")),
        default_payment_method=p.text("default_payment_method"),
        cancel_at_period_end=bool(p.flag("cancel_at_period_end", False)),
        description=p.text("description"),
    )


@route("GET", "/v1/subscriptions/<id>")
def get_subscription(store: Store, p: Params, id: str) -> dict[str, Any]:
    return store.get("subscription", id)


# An item's `deleted` is Stripe's, but the emulator would ignore it: refused, not pretended.
@route(
    "POST",
    "/v1/subscriptions/<id>",
    cancellation_details=ANY,
    items=[Spec(id=None, **NEW_ITEM)],
    **COMMON,
)
def update_subscription(store: Store, p: Params, id: str) -> dict[str, Any]:
    sub = store.get("subscription", id)
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise InvalidRequest(
            "A canceled subscription can only update its cancellation_details and metadata.",
            param="id",
        )
    changes: dict[str, Any] = {}
    if "cancel_at_period_end" in p:
        changes["cancel_at_period_end"] = p.flag("cancel_at_period_end")
        if changes["cancel_at_period_end"]:
            changes["cancel_at"] = billing.period_of(store, sub)[1]
        else:
            changes["cancel_at"] = None
        changes["canceled_at"] = store.now_for(sub) if changes["cancel_at_period_end"] else None
    if "cancel_at" in p:
        changes["cancel_at"] = timestamp(p, "cancel_at", store, store.clock_of(sub))
    if "metadata" in p:
        changes["metadata"] = merge_metadata(sub["metadata"], p.data["metadata"])
    for field in ("description", "default_payment_method"):
        if field in p:
            changes[field] = p.text(field) or None
    if "days_until_due" in p:
        changes["days_until_due"] = p.integer("days_until_due")
    previous = store.update(sub, **changes)
    store.emit("customer.subscription.updated", sub, previous)
    proration = p.text("proration_behavior", "create_prorations")
    for i, entry in enumerate(Params(item) for item in p.array("items")):
        item_id = entry.text("id")
        item = store.get("subscription_item", item_id, f"items[{i}][id]") if item_id else None
        if item is None or item["subscription"] != sub["id"]:
            raise InvalidRequest(
                "Changing items needs the id of one of this subscription's items.",
                param=f"items[{i}][id]",
            )
        price = (
            _price(store, entry.text("price"), f"items[{i}][price]") if "price" in entry else None
        )
        quantity = entry.integer("quantity", item["quantity"])
        billing.change_quantity(store, sub, item, quantity, proration, price)
    if p.text("trial_end") == "now":
        billing.end_trial_now(store, sub)
    elif "trial_end" in p and sub["status"] == "trialing":
        new_end = p.integer("trial_end")
        for item_id in sub["_items"]:
            store.objects[item_id]["current_period_end"] = new_end
        billing.refresh(store, sub)
        store.emit("customer.subscription.updated", sub, store.update(sub, trial_end=new_end))
    return sub


@route("DELETE", "/v1/subscriptions/<id>", invoice_now=None, prorate=None, cancellation_details=ANY)
def cancel_subscription(store: Store, p: Params, id: str) -> dict[str, Any]:
    sub = store.get("subscription", id)
    billing.cancel(store, sub)
    return sub


@route(
    "GET",
    "/v1/subscriptions",
    customer=None,
    status=None,
    price=None,
    test_clock=None,
    collection_method=None,
    created=ANY,
    current_period_end=ANY,
    **LIST,
)
def list_subscriptions(store: Store, p: Params) -> dict[str, Any]:
    where = {k: p.text(k) for k in ("customer", "test_clock", "collection_method") if p.text(k)}
    found = list(store.find("subscription", **where))
    status = p.text("status")
    if status and status != "all":
        found = [s for s in found if s["status"] == status]
    elif not status:
        found = [s for s in found if s["status"] not in ("canceled", "incomplete_expired")]
    if p.text("price"):
        found = [
            s
            for s in found
            if any(store.objects[i]["price"]["id"] == p.text("price") for i in s["_items"])
        ]
    return paginate(found, p, "/v1/subscriptions")


# --- subscription items --------------------------------------------------------------------


@route("GET", "/v1/subscription_items", subscription=None, **LIST)
def list_items(store: Store, p: Params) -> dict[str, Any]:
    sub = store.get("subscription", p.text("subscription", required=True), "subscription")
    items = [store.objects[i] for i in reversed(sub["_items"])]
    return paginate(items, p, "/v1/subscription_items")


@route("GET", "/v1/subscription_items/<id>")
def get_item(store: Store, p: Params, id: str) -> dict[str, Any]:
    return store.get("subscription_item", id)


@route(
    "POST",
    "/v1/subscription_items/<id>",
    quantity=None,
    price=None,
    metadata=ANY,
    proration_behavior=None,
    payment_behavior=None,
    off_session=None,
)
def update_item(store: Store, p: Params, id: str) -> dict[str, Any]:
    item = store.get("subscription_item", id)
    sub = store.objects[item["subscription"]]
    if sub["status"] == "canceled":
        raise InvalidRequest("This subscription is canceled.", param="id")
    price = _price(store, p.text("price"), "price") if "price" in p else None
    if "metadata" in p:
        item["metadata"] = merge_metadata(item["metadata"], p.data["metadata"])
    billing.change_quantity(
        store,
        sub,
        item,
        p.integer("quantity", item["quantity"]),
        p.text("proration_behavior", "create_prorations"),
        price,
    )
    return item


# --- invoices ------------------------------------------------------------------------------


@route(
    "GET",
    "/v1/invoices",
    customer=None,
    subscription=None,
    status=None,
    collection_method=None,
    created=ANY,
    due_date=ANY,
    **LIST,
)
def list_invoices(store: Store, p: Params) -> dict[str, Any]:
    where = {k: p.text(k) for k in ("customer", "status", "collection_method") if p.text(k)}
    if p.text("subscription"):
        where["_subscription"] = p.text("subscription")
    return paginate(store.find("invoice", **where), p, "/v1/invoices")


@route("GET", "/v1/invoices/<id>")
def get_invoice(store: Store, p: Params, id: str) -> dict[str, Any]:
    return store.get("invoice", id)


@route("GET", "/v1/invoices/<id>/lines", **LIST)
def invoice_lines(store: Store, p: Params, id: str) -> dict[str, Any]:
    invoice = store.get("invoice", id)
    return paginate(invoice["lines"]["data"], p, f"/v1/invoices/{id}/lines")


@route("POST", "/v1/invoices/<id>/finalize", auto_advance=None)
def finalize_invoice(store: Store, p: Params, id: str) -> dict[str, Any]:
    invoice = store.get("invoice", id)
    if "auto_advance" in p:
        invoice["auto_advance"] = p.flag("auto_advance")
    billing.finalize(store, invoice)
    open_and_free = invoice["status"] == "open" and invoice["amount_due"] == 0
    if invoice["collection_method"] == "charge_automatically" and open_and_free:
        billing.mark_paid(store, invoice)
    return invoice


@route(
    "POST",
    "/v1/invoices/<id>/pay",
    paid_out_of_band=None,
    payment_method=None,
    off_session=None,
    forgive=None,
    source=None,
)
def pay_invoice(store: Store, p: Params, id: str) -> dict[str, Any]:
    invoice = store.get("invoice", id)
    method = p.text("payment_method")
    if method:
        store.get("payment_method", method, "payment_method")
    billing.pay(
        store, invoice, out_of_band=bool(p.flag("paid_out_of_band", False)), payment_method=method
    )
    return invoice


@route("POST", "/v1/invoices/<id>/send")
def send_invoice(store: Store, p: Params, id: str) -> dict[str, Any]:
    invoice = store.get("invoice", id)
    billing.send(store, invoice)
    return invoice


@route("POST", "/v1/invoices/<id>/void")
def void_invoice(store: Store, p: Params, id: str) -> dict[str, Any]:
    invoice = store.get("invoice", id)
    billing.void(store, invoice)
    return invoice
