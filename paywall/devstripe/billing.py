"""Subscriptions and invoices, and what moving time does to them, as Stripe does it.

Stripe's behaviour, in short (https://docs.stripe.com/billing/subscriptions/overview):
- a trial ends in an invoice that is charged to the default card; success makes the subscription
  `active`, failure `past_due`, and failed charges are retried (here: 3, 5 and 7 days after the
  first failure) before the subscription is canceled;
- `trial_will_end` is sent 3 days before a trial ends, or at once when a trial is ended early;
- `send_invoice` subscriptions are `active` from the start; their invoices are due
  `days_until_due` days after finalizing, and an unpaid one past its due date is overdue
  (`invoice.overdue`, the subscription turns `past_due`);
- `cancel_at_period_end` ends the subscription when its period ends.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any

from paywall.devstripe import cards, defaults, payment_intents
from paywall.devstripe.errors import InvalidRequest
from paywall.devstripe.store import Store, public

DAY = 86400
RETRY_DAYS = (3, 5, 7)  # after the first failed charge; then the subscription is canceled
FINALIZE_AFTER = 3600  # drafts with auto_advance are finalized about an hour after creation
LIVE = ("trialing", "active", "past_due")


def add_interval(start: int, interval: str, count: int = 1) -> int:
    moment = datetime.fromtimestamp(start, UTC)
    if interval in ("day", "week"):
        return start + count * DAY * (7 if interval == "week" else 1)
    months = count * (12 if interval == "year" else 1)
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def money(cents: int, currency: str = "usd") -> str:
    symbol = "$" if currency == "usd" else currency.upper() + " "
    return f"{symbol}{cents / 100:,.2f}"


# --- subscriptions -------------------------------------------------------------------------


def item_for(
    store: Store, subscription_id: str, price: dict[str, Any], quantity: int, start: int, end: int
) -> dict[str, Any]:
    return store.add(
        "subscription_item",
        {
            "subscription": subscription_id,
            "price": public(price),
            "plan": plan_of(price),
            "quantity": quantity,
            "current_period_start": start,
            "current_period_end": end,
            "metadata": {},
            "discounts": [],
            "tax_rates": [],
        },
        created=start,
    )


def plan_of(price: dict[str, Any]) -> dict[str, Any]:
    """The price as the older Plan object, which Stripe still puts on each subscription item."""
    recurring = price["recurring"]
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": str(price["unit_amount"]),
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring["interval"],
        "interval_count": recurring["interval_count"],
        "livemode": False,
        "metadata": dict(price["metadata"]),
        "meter": None,
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": recurring["trial_period_days"],
        "usage_type": recurring["usage_type"],
    }


def items_list(store: Store, sub: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [public(store.objects[i]) for i in sub["_items"]],
        "has_more": False,
        "url": f"/v1/subscription_items?subscription={sub['id']}",
    }


def refresh(store: Store, sub: dict[str, Any]) -> None:
    """Rebuild the embedded item list after an item changed."""
    sub["items"] = items_list(store, sub)


def period_of(store: Store, sub: dict[str, Any]) -> tuple[int, int]:
    first = store.objects[sub["_items"][0]]
    return int(first["current_period_start"]), int(first["current_period_end"])


def create_subscription(
    store: Store,
    customer: dict[str, Any],
    lines: list[tuple[dict[str, Any], int]],
    *,
    trial_end: int | None = None,
    collection_method: str = "charge_automatically",
    days_until_due: int | None = None,
    metadata: dict[str, Any] | None = None,
    default_payment_method: str | None = None,
    cancel_at_period_end: bool = False,
    description: str | None = None,
    authenticated: bool = False,
) -> dict[str, Any]:
    """`authenticated`: the cardholder has just passed 3-D Secure for the first charge."""
    if not lines:
        raise InvalidRequest("Missing required param: items.", param="items")
    if collection_method == "send_invoice" and days_until_due is None:
        raise InvalidRequest(
            "Missing required param: days_until_due (needed with collection_method=send_invoice).",
            param="days_until_due",
        )
    now = store.now_for(customer)
    interval = lines[0][0]["recurring"]
    start, end = (
        now,
        (trial_end or add_interval(now, interval["interval"], interval["interval_count"])),
    )
    sub = store.add(
        "subscription",
        {
            "customer": customer["id"],
            "status": "trialing" if trial_end else "active",
            "billing_cycle_anchor": end if trial_end else now,
            "cancel_at": None,
            "cancel_at_period_end": cancel_at_period_end,
            "canceled_at": None,
            "ended_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": collection_method,
            "days_until_due": days_until_due,
            "currency": lines[0][0]["currency"],
            "default_payment_method": default_payment_method,
            "description": description,
            "latest_invoice": None,
            "metadata": metadata or {},
            "start_date": now,
            "trial_start": now if trial_end else None,
            "trial_end": trial_end,
            "test_clock": customer.get("test_clock"),
            "pause_collection": None,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
            "_items": [],
            "_trial_will_end_sent": False,
        },
        created=now,
    )
    for price, quantity in lines:
        sub["_items"].append(item_for(store, sub["id"], price, quantity, start, end)["id"])
    refresh(store, sub)
    amount = 0 if trial_end else sum(p["unit_amount"] * q for p, q in lines)
    invoice = new_invoice(store, sub, "subscription_create", start, end, amount=amount)
    if collection_method == "send_invoice":
        store.emit("customer.subscription.created", sub)
        store.emit("invoice.created", invoice)  # a draft, finalized about an hour later
        return sub
    finalize(store, invoice, emit_event=False)
    declined = None
    if amount:
        method = payment_method_of(store, sub, invoice)
        declined = cards.charge(store, method, authenticated=authenticated)
        payment_intents.record_attempt(store, invoice, method, declined)
    if declined:
        sub["status"] = "incomplete"  # Stripe's default payment_behavior: allow_incomplete
    store.emit("customer.subscription.created", sub)
    store.emit("invoice.created", invoice)
    store.emit("invoice.finalized", invoice)
    if declined:
        invoice.update(attempt_count=1, attempted=True)
        store.emit("invoice.payment_failed", invoice)
        if declined == cards.AUTHENTICATION_REQUIRED:
            store.emit("invoice.payment_action_required", invoice)
    else:
        invoice.update(attempt_count=1 if amount else 0, attempted=bool(amount))
        mark_paid(store, invoice)
    return sub


def payment_method_of(
    store: Store, sub: dict[str, Any], invoice: dict[str, Any] | None = None
) -> str | None:
    if invoice and invoice.get("default_payment_method"):
        return str(invoice["default_payment_method"])
    if sub.get("default_payment_method"):
        return str(sub["default_payment_method"])
    customer = store.objects.get(sub["customer"], {})
    found = (customer.get("invoice_settings") or {}).get("default_payment_method")
    return str(found) if found else None


def set_status(store: Store, sub: dict[str, Any], status: str, **more: Any) -> None:
    previous = store.update(sub, status=status, **more)
    store.emit("customer.subscription.updated", sub, previous)


def cancel(store: Store, sub: dict[str, Any], reason: str = "cancellation_requested") -> None:
    if sub["status"] == "canceled":
        raise InvalidRequest(
            f"A canceled subscription can only update its cancellation_details and metadata. "
            f"No such subscription: '{sub['id']}'",
            param="id",
        )
    now = store.now_for(sub)
    store.update(
        sub,
        status="canceled",
        canceled_at=now,
        ended_at=now,
        cancellation_details={"comment": None, "feedback": None, "reason": reason},
    )
    for invoice in store.find("invoice", _subscription=sub["id"], status="open"):
        invoice["next_payment_attempt"] = None
    store.emit("customer.subscription.deleted", sub)


def renew(store: Store, sub: dict[str, Any]) -> None:
    """The period (or trial) has ended: start the next one and invoice it."""
    _, end = period_of(store, sub)
    if sub["cancel_at_period_end"] or (sub.get("cancel_at") and sub["cancel_at"] <= end):
        cancel(store, sub)
        return
    first_price = store.objects[sub["_items"][0]]["price"]["recurring"]
    new_end = add_interval(end, first_price["interval"], first_price["interval_count"])
    before = public(sub["items"])
    for item_id in sub["_items"]:
        store.update(store.objects[item_id], current_period_start=end, current_period_end=new_end)
    refresh(store, sub)
    changes: dict[str, Any] = {}
    if sub["status"] == "trialing":
        changes["status"] = "active"
    previous = store.update(sub, **changes)
    previous["items"] = before
    amount = sum(
        store.objects[i]["price"]["unit_amount"] * store.objects[i]["quantity"]
        for i in sub["_items"]
    )
    amount += sub.pop("_pending_proration", 0)
    invoice = new_invoice(store, sub, "subscription_cycle", end, new_end, amount=amount)
    store.emit("customer.subscription.updated", sub, previous)
    store.emit("invoice.created", invoice)
    finalize(store, invoice)
    if sub["collection_method"] == "send_invoice":
        send(store, invoice)
    elif amount == 0:
        mark_paid(store, invoice)
    else:
        attempt(store, invoice, automatic=True)


def end_trial_now(store: Store, sub: dict[str, Any]) -> dict[str, Any]:
    """`trial_end=now`: Stripe ends the trial at once, sends trial_will_end, and invoices."""
    if sub["status"] != "trialing":
        raise InvalidRequest("This subscription is not trialing.", param="trial_end")
    now = store.now_for(sub)
    for item_id in sub["_items"]:
        store.objects[item_id]["current_period_end"] = now
    sub["trial_end"] = now
    refresh(store, sub)
    sub["_trial_will_end_sent"] = True
    store.emit("customer.subscription.trial_will_end", sub)
    renew(store, sub)
    return sub


def change_quantity(
    store: Store,
    sub: dict[str, Any],
    item: dict[str, Any],
    quantity: int,
    proration_behavior: str,
    price: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Change an item's quantity (and price); bill the difference as Stripe's proration says."""
    if quantity < 0:
        raise InvalidRequest("This value must be greater than or equal to 0.", param="quantity")
    if proration_behavior not in ("create_prorations", "always_invoice", "none"):
        raise InvalidRequest(
            f"Invalid proration_behavior: {proration_behavior}", param="proration_behavior"
        )
    before = public(sub["items"])
    old_amount = item["price"]["unit_amount"] * item["quantity"]
    item["quantity"] = quantity
    if price is not None:
        item["price"], item["plan"] = public(price), plan_of(price)
    refresh(store, sub)
    store.emit("customer.subscription.updated", sub, {"items": before})
    start, end = period_of(store, sub)
    now = store.now_for(sub)
    if proration_behavior == "none" or sub["status"] == "trialing" or end <= now:
        return sub
    difference = item["price"]["unit_amount"] * quantity - old_amount
    prorated = round(difference * (end - now) / max(end - start, 1))
    if proration_behavior == "create_prorations":
        sub["_pending_proration"] = sub.get("_pending_proration", 0) + prorated
        return sub
    if prorated > 0:  # always_invoice: bill it now
        invoice = new_invoice(
            store,
            sub,
            "subscription_update",
            now,
            end,
            amount=prorated,
            description=f"Remaining time on {quantity} x {item['price'].get('nickname') or 'plan'}",
        )
        store.emit("invoice.created", invoice)
        finalize(store, invoice)
        if sub["collection_method"] == "send_invoice":
            send(store, invoice)
        else:
            attempt(store, invoice, automatic=True)
    elif prorated < 0:
        customer = store.objects[sub["customer"]]
        previous = store.update(customer, balance=customer.get("balance", 0) + prorated)
        store.emit("customer.updated", customer, previous)
    return sub


# --- invoices ------------------------------------------------------------------------------


def new_invoice(
    store: Store,
    sub: dict[str, Any],
    reason: str,
    start: int,
    end: int,
    *,
    amount: int,
    description: str | None = None,
) -> dict[str, Any]:
    customer = store.objects[sub["customer"]]
    now = store.now_for(sub)
    invoice_id = store.new_id("invoice")
    lines = []
    for item_id in sub["_items"]:
        item = store.objects[item_id]
        price = item["price"]
        line_amount = (
            price["unit_amount"] * item["quantity"] if reason != "subscription_update" else amount
        )
        if reason == "subscription_create" and sub["status"] == "trialing":
            line_amount = 0
        lines.append(
            {
                "id": store.new_id("line_item"),
                "object": "line_item",
                "amount": line_amount,
                "subtotal": line_amount,
                **defaults.INVOICE_LINE,
                "currency": price["currency"],
                "invoice": invoice_id,
                "description": description
                or f"{item['quantity']} x {price.get('nickname') or 'subscription'} "
                f"(at {money(price['unit_amount'])} / {price['recurring']['interval']})",
                "quantity": item["quantity"],
                "period": {"start": start, "end": end},
                "pricing": {
                    "type": "price_details",
                    "unit_amount_decimal": str(price["unit_amount"]),
                    "price_details": {"price": price["id"], "product": price["product"]},
                },
                "parent": {
                    "type": "subscription_item_details",
                    "invoice_item_details": None,
                    "subscription_item_details": {
                        "subscription": sub["id"],
                        "subscription_item": item_id,
                        "proration": reason == "subscription_update",
                    },
                },
                "metadata": {},
                "livemode": False,
            }
        )
        if reason == "subscription_update":
            break
    invoice = store.add(
        "invoice",
        {
            "customer": customer["id"],
            "customer_email": customer.get("email"),
            "customer_name": customer.get("name"),
            "status": "draft",
            "currency": sub["currency"],
            "collection_method": sub["collection_method"],
            "billing_reason": reason,
            "amount_due": amount,
            "amount_paid": 0,
            "amount_remaining": amount,
            "subtotal": amount,
            "total": amount,
            "description": None,
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
            "parent": {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {
                    "subscription": sub["id"],
                    "metadata": dict(sub.get("metadata") or {}),
                },
            },
            "period_start": start,
            "period_end": end,
            "due_date": None,
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "number": None,
            "attempt_count": 0,
            "attempted": False,
            "next_payment_attempt": None,
            "auto_advance": True,
            "default_payment_method": None,
            "test_clock": sub.get("test_clock"),
            "status_transitions": {
                "finalized_at": None,
                "paid_at": None,
                "voided_at": None,
                "marked_uncollectible_at": None,
            },
            "effective_at": None,
            "last_finalization_error": None,
            "_subscription": sub["id"],  # the public link is parent.subscription_details
            "_first_failure": None,
        },
        object_id=invoice_id,
        created=now,
    )
    sub["latest_invoice"] = invoice["id"]
    return invoice


def finalize(store: Store, invoice: dict[str, Any], *, emit_event: bool = True) -> None:
    if invoice["status"] != "draft":
        raise InvalidRequest(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            param="invoice",
        )
    now = store.now_for(invoice)
    number = sum(1 for i in store.find("invoice") if i.get("number")) + 1
    invoice.update(
        status="open",
        number=f"DEV-{number:05d}",
        effective_at=now,
        hosted_invoice_url=f"{store.base_url}/invoice/{invoice['id']}",
        invoice_pdf=f"{store.base_url}/invoice/{invoice['id']}",
    )
    invoice["status_transitions"]["finalized_at"] = now
    if invoice["collection_method"] == "send_invoice":
        sub = store.objects.get(invoice["_subscription"] or "", {})
        invoice["due_date"] = now + DAY * int(sub.get("days_until_due") or 30)
    if emit_event:
        store.emit("invoice.finalized", invoice)
    if invoice["amount_due"] == 0 and invoice["collection_method"] == "send_invoice":
        mark_paid(store, invoice)


def send(store: Store, invoice: dict[str, Any]) -> None:
    if invoice["collection_method"] != "send_invoice":
        raise InvalidRequest(
            "You can only manually send an invoice if its collection method is 'send_invoice'.",
            param="invoice",
        )
    if invoice["status"] == "draft":
        finalize(store, invoice)
    if invoice["status"] == "open":
        store.emit("invoice.sent", invoice)


def mark_paid(store: Store, invoice: dict[str, Any], *, out_of_band: bool = False) -> None:
    now = store.now_for(invoice)
    invoice.update(
        status="paid",
        amount_paid=invoice["amount_due"],
        amount_remaining=0,
        next_payment_attempt=None,
        _paid_out_of_band=out_of_band,  # no field of Stripe's any more: payments say how
    )
    invoice["status_transitions"]["paid_at"] = now
    if not out_of_band:
        payment_intents.settle(store, invoice)
    store.emit("invoice.paid", invoice)
    if not out_of_band and invoice["amount_due"] > 0:
        store.emit("invoice.payment_succeeded", invoice)
    sub = store.objects.get(invoice.get("_subscription") or "")
    if sub and sub["status"] in ("past_due", "incomplete", "unpaid"):
        set_status(store, sub, "active")


def attempt(
    store: Store,
    invoice: dict[str, Any],
    *,
    automatic: bool,
    payment_method: str | None = None,
    authenticated: bool = False,
) -> str | None:
    """Charge an open invoice; returns the decline code when the charge fails. Automatic
    attempts schedule Stripe's retries, and cancel the subscription after the last one.
    `authenticated`: the cardholder has just passed 3-D Secure (on the hosted invoice page)."""
    sub = store.objects.get(invoice.get("_subscription") or "")
    method = payment_method or (payment_method_of(store, sub, invoice) if sub else None)
    invoice["attempt_count"] += 1
    invoice["attempted"] = True
    decline_code = cards.charge(store, method, authenticated=authenticated)
    payment_intents.record_attempt(store, invoice, method, decline_code)
    if decline_code is None:
        mark_paid(store, invoice)
        return None
    if decline_code == cards.AUTHENTICATION_REQUIRED:
        await_authentication(store, invoice, sub, automatic=automatic)
        return decline_code
    now = store.now_for(invoice)
    if automatic:
        first = invoice["_first_failure"] = invoice["_first_failure"] or now
        later = [first + d * DAY for d in RETRY_DAYS if first + d * DAY > now]
        invoice["next_payment_attempt"] = later[0] if later else None
    store.emit("invoice.payment_failed", invoice)
    if sub and sub["status"] in ("active", "trialing"):
        set_status(store, sub, "past_due")
    if (
        automatic
        and sub
        and sub["status"] == "past_due"
        and invoice["next_payment_attempt"] is None
    ):
        cancel(store, sub, reason="payment_failed")
    return decline_code


def await_authentication(
    store: Store, invoice: dict[str, Any], sub: dict[str, Any] | None, *, automatic: bool
) -> None:
    """The bank wants the cardholder to authenticate (3-D Secure) a charge made without them.
    Stripe does not retry such a payment: it sends `invoice.payment_action_required` (with
    `invoice.payment_failed`) and waits for the customer to confirm it on the hosted invoice
    page (https://support.stripe.com/questions/subscription-retries-for-failed-3d-secure-
    authorizations). Unconfirmed when the retries would have ended, the subscription ends as
    a failed payment's would (the emulator's stand-in for that Billing setting)."""
    invoice["next_payment_attempt"] = None
    if automatic:
        first = invoice["_first_failure"] = invoice["_first_failure"] or store.now_for(invoice)
        invoice["_confirm_by"] = first + RETRY_DAYS[-1] * DAY
    store.emit("invoice.payment_failed", invoice)
    store.emit("invoice.payment_action_required", invoice)
    if sub and sub["status"] in ("active", "trialing"):
        set_status(store, sub, "past_due")


def pay(
    store: Store,
    invoice: dict[str, Any],
    *,
    out_of_band: bool = False,
    payment_method: str | None = None,
    authenticated: bool = False,
) -> None:
    if invoice["status"] == "paid":
        raise InvalidRequest(
            "Invoice is already paid", param="invoice", code="invoice_already_paid"
        )
    if invoice["status"] in ("void", "uncollectible"):
        raise InvalidRequest(
            f"This invoice can't be paid: it is {invoice['status']}.", param="invoice"
        )
    if invoice["status"] == "draft":
        finalize(store, invoice)
        if invoice["status"] == "paid":
            return
    if out_of_band:
        mark_paid(store, invoice, out_of_band=True)
        return
    declined = attempt(
        store, invoice, automatic=False, payment_method=payment_method, authenticated=authenticated
    )
    if declined:
        raise cards.decline(declined if declined != "no_payment_method" else "generic_decline")


def void(store: Store, invoice: dict[str, Any]) -> None:
    if invoice["status"] != "open":
        raise InvalidRequest("You can only void an open invoice.", param="invoice")
    invoice.update(status="void", next_payment_attempt=None, amount_remaining=0)
    invoice["status_transitions"]["voided_at"] = store.now_for(invoice)
    store.emit("invoice.voided", invoice)


# --- time ----------------------------------------------------------------------------------


def due_actions(store: Store, clock_id: str | None) -> list[tuple[int, int, str, str]]:
    """(when, order, action, object id) of everything waiting on this clock."""
    actions: list[tuple[int, int, str, str]] = []
    for sub in store.find("subscription"):
        if store.clock_of(sub) != clock_id or sub["status"] not in LIVE:
            continue
        _, end = period_of(store, sub)
        if sub["status"] == "trialing" and not sub["_trial_will_end_sent"] and sub["trial_end"]:
            actions.append((sub["trial_end"] - 3 * DAY, 0, "trial_will_end", sub["id"]))
        if sub.get("cancel_at") and sub["cancel_at"] < end:
            actions.append((sub["cancel_at"], 2, "cancel", sub["id"]))
        actions.append((end, 3, "renew", sub["id"]))
    for invoice in store.find("invoice"):
        if store.clock_of(invoice) != clock_id:
            continue
        if invoice["status"] == "draft" and invoice["auto_advance"]:
            actions.append((invoice["created"] + FINALIZE_AFTER, 1, "finalize", invoice["id"]))
        elif invoice["status"] == "open":
            if invoice["next_payment_attempt"]:
                actions.append((invoice["next_payment_attempt"], 4, "retry", invoice["id"]))
            if invoice.get("_confirm_by") and not invoice["next_payment_attempt"]:
                actions.append((invoice["_confirm_by"], 4, "confirm_expired", invoice["id"]))
            if invoice["due_date"] and not invoice.get("_overdue_sent"):
                actions.append((invoice["due_date"], 5, "overdue", invoice["id"]))
    return sorted(actions)


def run_action(store: Store, action: str, object_id: str) -> None:
    obj = store.objects[object_id]
    if action == "trial_will_end":
        obj["_trial_will_end_sent"] = True
        store.emit("customer.subscription.trial_will_end", obj)
    elif action == "cancel":
        cancel(store, obj)
    elif action == "renew":
        renew(store, obj)
    elif action == "finalize":
        finalize(store, obj)
        if obj["collection_method"] == "send_invoice":
            send(store, obj)
        elif obj["status"] == "open":
            attempt(store, obj, automatic=True)
    elif action == "retry":
        attempt(store, obj, automatic=True)
    elif action == "confirm_expired":  # nobody authenticated the payment in time
        obj["_confirm_by"] = None
        sub = store.objects.get(obj.get("_subscription") or "")
        if sub and sub["status"] == "past_due":
            cancel(store, sub, reason="payment_failed")
    elif action == "overdue":
        obj["_overdue_sent"] = True
        store.emit("invoice.overdue", obj)
        sub = store.objects.get(obj.get("_subscription") or "")
        if sub and sub["status"] == "active":
            set_status(store, sub, "past_due")


def advance(store: Store, clock_id: str | None, to: int) -> int:
    """Move a clock to `to`, doing everything that falls due on the way, in order."""
    for _ in range(10_000):
        actions = [a for a in due_actions(store, clock_id) if a[0] <= to]
        if not actions:
            break
        when, _, action, object_id = actions[0]
        store.pin(clock_id, max(when, store.now(clock_id)))
        run_action(store, action, object_id)
    store.pin(clock_id, to)
    return to
