"""Stripe's hosted pages, plain: Checkout, the customer portal and the invoice payment page.

They exist so a person (or Chromium in a test) can walk the whole journey offline. Forms post
back here; the outcome is the same API state and webhooks Stripe would produce.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request
from werkzeug.wrappers import Response

from paywall.devstripe import billing, cards, checkout, payment_intents
from paywall.devstripe.errors import CardError, StripeError
from paywall.devstripe.store import Store

bp = Blueprint("hosted", __name__, template_folder="templates")

Page = Response | str | tuple[str, int]


def _store() -> Store:
    store: Store = current_app.config["STORE"]
    return store


@bp.app_template_filter("date")
def date(moment: int | None) -> str:
    if not moment:
        return ""
    return datetime.fromtimestamp(moment, UTC).strftime("%-d %B %Y")


@bp.app_template_filter("money")
def money(cents: int, currency: str = "usd") -> str:
    return billing.money(cents, currency)


def _not_found(what: str) -> tuple[str, int]:
    page = render_template(
        "devstripe/message.html", title="Not found", message=f"This {what} link is not valid."
    )
    return page, 404


def _card_from_form(store: Store, obj: dict[str, Any], email: str | None) -> dict[str, Any]:
    now = datetime.fromtimestamp(store.now_for(obj), UTC)
    number, month, year = cards.check_card(
        request.form.get("card_number", ""),
        request.form.get("card_exp", ""),
        request.form.get("card_cvc", ""),
        now.year,
        now.month,
    )
    return cards.create_payment_method(store, number, month, year, email)


def _offer(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    line = session["_line_items"][0] if session["_line_items"] else None
    price = store.objects[line["price"]] if line else None
    data = session["_subscription_data"]
    return {
        "product": store.objects[price["product"]]["name"] if price else "Save a card",
        "price": price,
        "line": line,
        "limits": checkout.quantity_limits(line) if line else None,
        "trial_days": data.get("trial_period_days"),
    }


@bp.route("/checkout/<session_id>", methods=["GET", "POST"])
def checkout_page(session_id: str) -> Page:
    store = _store()
    with store.lock:
        session = store.objects.get(session_id)
        if not session or session["object"] != "checkout.session":
            return _not_found("checkout")
        customer = store.objects.get(session.get("customer") or "")
        email = (customer or {}).get("email") or session.get("customer_email") or ""
        offer = _offer(store, session)
        checkout.expire_if_due(store, session)
        if session["status"] != "open":
            return render_template(
                "devstripe/message.html",
                title="Checkout closed",
                message=f"This checkout session is {session['status']}.",
            ), 410
        if request.method == "GET":
            error = session.pop("_authentication_error", None)  # shown once, after 3-D Secure
            if error:
                store.save()
            return render_template(
                "devstripe/checkout.html",
                session=session,
                offer=offer,
                email=email,
                error=error,
                form={},
            ), 402 if error else 200
        typed_email = request.form.get("email", "").strip() or email
        try:
            quantity = None
            if offer["limits"]:
                quantity = int(request.form.get("quantity") or offer["line"]["quantity"])
            method = _card_from_form(store, customer or session, typed_email)
            if cards.needs_authentication(method):  # the bank's challenge first (3-D Secure)
                checkout.hold_for_authentication(session, method, typed_email, quantity)
                store.save()
                return redirect(f"/checkout/{session_id}/authenticate", code=303)
            checkout.complete(store, session, method, typed_email, quantity)
            store.save()
        except (StripeError, ValueError) as error:
            message = error.message if isinstance(error, StripeError) else "Enter a whole number."
            page = render_template(
                "devstripe/checkout.html",
                session=session,
                offer=offer,
                email=typed_email,
                error=message,
                form=request.form,
            )
            return page, 402 if isinstance(error, CardError) else 400
        return redirect(session["success_url"], code=303)


# --- the customer portal -------------------------------------------------------------------


def _portal(session_id: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
    store = _store()
    session = store.objects.get(session_id)
    if not session or session["object"] != "billing_portal.session":
        return None
    return session, store.objects[session["customer"]], store.objects[session["configuration"]]


def _adjustable(
    config: dict[str, Any], sub: dict[str, Any], store: Store
) -> tuple[int, int] | None:
    update = config["features"]["subscription_update"]
    if not update.get("enabled") or "quantity" not in (update.get("default_allowed_updates") or []):
        return None
    price = store.objects[sub["_items"][0]]["price"]
    for product in update.get("products") or []:
        if product.get("product") == price["product"]:
            adjustable = product.get("adjustable_quantity") or {}
            if adjustable.get("enabled") in (True, "true"):
                return int(adjustable.get("minimum") or 1), int(adjustable.get("maximum") or 99)
    return None


@bp.get("/portal/<session_id>")
def portal_page(session_id: str) -> Page:
    store = _store()
    with store.lock:
        found = _portal(session_id)
        if not found:
            return _not_found("portal")
        session, customer, config = found
        subs = [
            s
            for s in store.find("subscription", customer=customer["id"])
            if s["status"] != "incomplete"
        ]
        rows = []
        for sub in subs:
            item = store.objects[sub["_items"][0]]
            rows.append(
                {
                    "sub": sub,
                    "item": item,
                    "product": store.objects[item["price"]["product"]]["name"],
                    "period_end": item["current_period_end"],
                    "limits": _adjustable(config, sub, store),
                }
            )
        method = store.objects.get(customer["invoice_settings"].get("default_payment_method") or "")
        invoices = [
            i for i in store.find("invoice", customer=customer["id"]) if i["status"] != "draft"
        ]
        return render_template(
            "devstripe/portal.html",
            session=session,
            customer=customer,
            rows=rows,
            method=method,
            invoices=invoices,
            config=config,
            notice=request.args.get("notice"),
            error=request.args.get("error"),
        )


@bp.post("/portal/<session_id>/<action>")
def portal_action(session_id: str, action: str) -> Page:
    store = _store()
    with store.lock:
        found = _portal(session_id)
        if not found:
            return _not_found("portal")
        _, customer, config = found
        back = f"/portal/{session_id}"
        try:
            notice = _portal_change(store, action, customer, config)
        except (StripeError, ValueError) as error:
            message = error.message if isinstance(error, StripeError) else "Enter a whole number."
            return redirect(f"{back}?error={message}", code=303)
        store.save()
        return redirect(f"{back}?notice={notice}", code=303)


def _portal_change(
    store: Store, action: str, customer: dict[str, Any], config: dict[str, Any]
) -> str:
    if action == "card":
        method = _card_from_form(store, customer, customer.get("email"))
        from paywall.devstripe.api import attach

        attach(store, method["id"], customer)
        previous = {"invoice_settings": dict(customer["invoice_settings"])}
        customer["invoice_settings"]["default_payment_method"] = method["id"]
        store.emit("customer.updated", customer, previous)
        for sub in store.find("subscription", customer=customer["id"], status="past_due"):
            for invoice in store.find("invoice", _subscription=sub["id"], status="open"):
                billing.attempt(store, invoice, automatic=False)
        return "Your card was updated."
    sub = store.get("subscription", request.form.get("subscription"))
    if sub["customer"] != customer["id"]:
        raise StripeError("This subscription belongs to another customer.")
    if action == "cancel":
        end = billing.period_of(store, sub)[1]
        previous = store.update(
            sub, cancel_at_period_end=True, cancel_at=end, canceled_at=store.now_for(sub)
        )
        store.emit("customer.subscription.updated", sub, previous)
        return "Your plan will end at the end of the period."
    if action == "resume":
        previous = store.update(sub, cancel_at_period_end=False, cancel_at=None, canceled_at=None)
        store.emit("customer.subscription.updated", sub, previous)
        return "Your plan will renew."
    if action == "quantity":
        limits = _adjustable(config, sub, store)
        quantity = int(request.form.get("quantity", ""))
        if not limits or not limits[0] <= quantity <= limits[1]:
            raise StripeError("Choose a quantity within the limits shown.", param="quantity")
        item = store.objects[sub["_items"][0]]
        proration = config["features"]["subscription_update"].get("proration_behavior")
        billing.change_quantity(store, sub, item, quantity, proration or "create_prorations")
        return "Your seats were updated."
    raise StripeError("Unknown action.")


# --- hosted invoice page -------------------------------------------------------------------


@bp.route("/invoice/<invoice_id>", methods=["GET", "POST"])
def invoice_page(invoice_id: str) -> Page:
    store = _store()
    with store.lock:
        invoice = store.objects.get(invoice_id)
        if not invoice or invoice["object"] != "invoice" or invoice["status"] == "draft":
            return _not_found("invoice")
        if request.method == "GET" or invoice["status"] != "open":
            error = invoice.pop("_authentication_error", None)  # shown once, after 3-D Secure
            if error:
                store.save()
            return invoice_view(store, invoice, error=error)
        try:
            challenge = redirect(f"/invoice/{invoice_id}/authenticate", code=303)
            if request.form.get("confirm"):  # the card on file, which the bank wants confirmed
                invoice.pop("_authentication", None)
                return challenge
            method = _card_from_form(store, invoice, invoice.get("customer_email"))
            if cards.needs_authentication(method):  # a new card: the bank's challenge first
                invoice["_authentication"] = method["id"]
                store.save()
                return challenge
            billing.pay(store, invoice, payment_method=method["id"])
            store.save()
        except StripeError as error:
            store.save()
            return invoice_view(store, invoice, error=error.message)
        return invoice_view(store, invoice, paid_now=True)


def invoice_view(
    store: Store, invoice: dict[str, Any], *, error: str | None = None, paid_now: bool = False
) -> Page:
    """The hosted invoice page: 402 with a card error, and a confirm button when the bank
    waits for the cardholder to authenticate the card on file."""
    page = render_template(
        "devstripe/invoice.html",
        invoice=invoice,
        error=error,
        paid_now=paid_now,
        confirm_card=payment_intents.awaits_authentication(store, invoice),
    )
    return (page, 402) if error else page
