"""Completing a Checkout Session from the hosted page, as Stripe Checkout does.

In `subscription` mode: the customer is reused (or created from the typed email), the card is
attached and made the default, and the subscription starts (with its trial); a card that cannot
pay a first invoice due now is refused on the page. In `setup` mode the card is only saved.
"""

from __future__ import annotations

from typing import Any

from paywall.devstripe import billing, cards, defaults
from paywall.devstripe.api import attach
from paywall.devstripe.errors import InvalidRequest
from paywall.devstripe.store import Store

DAY = billing.DAY


def expire_if_due(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    """An open session past its `expires_at` (24 hours by default) is expired, as Stripe
    expires it, with its `checkout.session.expired` event; looked at whenever it is read."""
    if session["status"] == "open" and session["expires_at"] <= store.now_for(session):
        session["status"] = "expired"
        store.emit("checkout.session.expired", session)
    return session


def line_items(store: Store, session: dict[str, Any]) -> list[dict[str, Any]]:
    """The session's line items in Stripe's `item` shape (for `expand[]=line_items`)."""
    rows = []
    for i, line in enumerate(session["_line_items"]):
        price = store.objects[line["price"]]
        amount = price["unit_amount"] * line["quantity"]
        rows.append(
            {
                "id": f"li_{session['id'][8:20]}{i}",
                "object": "item",
                "amount_subtotal": amount,
                "amount_total": amount,
                **defaults.CHECKOUT_LINE,
                "currency": price["currency"],
                "quantity": line["quantity"],
                "description": store.objects[price["product"]]["name"],
                "price": price,
                "adjustable_quantity": line.get("adjustable_quantity"),
            }
        )
    return rows


def quantity_limits(line: dict[str, Any]) -> tuple[int, int] | None:
    adjustable = line.get("adjustable_quantity") or {}
    if adjustable.get("enabled") not in (True, "true"):
        return None
    return int(adjustable.get("minimum") or 1), int(adjustable.get("maximum") or 99)


def check_open(session: dict[str, Any]) -> None:
    if session["status"] != "open":
        raise InvalidRequest("This Checkout Session is no longer active.", param="session")


def check_quantity(session: dict[str, Any], quantity: int) -> None:
    limits = quantity_limits(session["_line_items"][0])
    if limits is None or not limits[0] <= quantity <= limits[1]:
        raise InvalidRequest("Choose a quantity within the limits shown.", param="quantity")


def hold_for_authentication(
    session: dict[str, Any], method: dict[str, Any], email: str, quantity: int | None
) -> None:
    """Keep what the customer typed while their bank checks them (3-D Secure, on
    `/checkout/<id>/authenticate`); `authentication.py` completes the session afterwards."""
    check_open(session)
    if quantity is not None:
        check_quantity(session, quantity)
    session["_authentication"] = {
        "payment_method": method["id"],
        "email": email,
        "quantity": quantity,
    }


def complete(
    store: Store,
    session: dict[str, Any],
    method: dict[str, Any],
    email: str,
    quantity: int | None = None,
    *,
    authenticated: bool = False,
) -> None:
    """`authenticated`: the cardholder passed 3-D Secure for this card on the page."""
    check_open(session)
    if quantity is not None:
        check_quantity(session, quantity)
        session["_line_items"][0]["quantity"] = quantity
    lines = [(store.objects[line["price"]], line["quantity"]) for line in session["_line_items"]]
    data = session["_subscription_data"]
    trial = bool(data.get("trial_period_days") or data.get("trial_end"))
    if (
        session["mode"] == "subscription"
        and not trial
        and sum(p["unit_amount"] * q for p, q in lines)
    ):
        # Refused here, before anything is made.
        declined = cards.charge(store, method["id"], authenticated=authenticated)
        if declined:
            raise cards.decline(declined)
    customer = store.objects.get(session.get("customer") or "")
    if customer is None:
        from paywall.devstripe.api import create_customer
        from paywall.devstripe.params import Params

        customer = create_customer(store, Params({"email": email}))
        session["customer"] = customer["id"]
    attach(store, method["id"], customer)
    previous = {"invoice_settings": dict(customer["invoice_settings"])}
    customer["invoice_settings"]["default_payment_method"] = method["id"]
    store.emit("customer.updated", customer, previous)
    now = store.now_for(customer)
    changes: dict[str, Any] = {
        "status": "complete",
        "customer_details": {"email": email or customer.get("email"), "name": None},
    }
    if session["mode"] == "setup":
        intent = store.add(
            "setup_intent",
            {
                "customer": customer["id"],
                "payment_method": method["id"],
                "status": "succeeded",
                "usage": "off_session",
                "metadata": dict(session["metadata"]),
            },
            created=now,
        )
        changes.update(setup_intent=intent["id"], payment_status="no_payment_required")
    else:
        trial_days = data.get("trial_period_days")
        trial_end = now + DAY * int(trial_days) if trial_days else data.get("trial_end")
        sub = billing.create_subscription(
            store,
            customer,
            lines,
            trial_end=int(trial_end) if trial_end else None,
            metadata=dict(data.get("metadata") or {}),
            description=data.get("description"),
            authenticated=authenticated,
        )
        total = sum(p["unit_amount"] * q for p, q in lines)
        changes.update(
            subscription=sub["id"],
            invoice=sub["latest_invoice"],
            payment_status="no_payment_required" if trial else "paid",
            amount_total=0 if trial else total,
            amount_subtotal=0 if trial else total,
        )
    session.update(changes)
    store.emit("checkout.session.completed", session)
