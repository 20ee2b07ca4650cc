"""The bank's 3-D Secure challenge on the hosted pages, as Stripe's test page offers it: the
tester completes or fails it (https://docs.stripe.com/testing#regulatory-cards).

Checkout sends a card that needs it here before the session completes: completed, the card is
saved as authenticated for later off-session charges (what Checkout's SetupIntent does) and
the session completes; failed, Checkout shows Stripe's message and nothing is made. The hosted
invoice page sends here the card on file whose payment waits for the cardholder
(`requires_action`), or a new card that needs it: completed, the invoice is paid.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request

from paywall.devstripe import billing, checkout, hosted, payment_intents
from paywall.devstripe.errors import StripeError
from paywall.devstripe.store import Store

bp = Blueprint("authentication", __name__, template_folder="templates")

# What Stripe's hosted pages say when the cardholder fails the challenge.
FAILED = (
    "We are unable to authenticate your payment method. Please choose a different payment "
    "method and try again."
)


def _challenge(method: dict[str, Any], amount: int, currency: str, purpose: str) -> str:
    return render_template(
        "devstripe/authenticate.html", card=method["card"], amount=amount, currency=currency,
        purpose=purpose,
    )  # fmt: skip


def _store() -> Store:
    store: Store = current_app.config["STORE"]
    return store


def _completed() -> bool:
    return request.form.get("outcome") == "complete"


@bp.route("/checkout/<session_id>/authenticate", methods=["GET", "POST"])
def checkout_challenge(session_id: str) -> hosted.Page:
    store = _store()
    back = redirect(f"/checkout/{session_id}", code=303)
    with store.lock:
        session = store.objects.get(session_id)
        if not session or session["object"] != "checkout.session":
            return back
        held = session.get("_authentication")
        if not held or checkout.expire_if_due(store, session)["status"] != "open":
            return back
        method = store.objects[held["payment_method"]]
        if request.method == "GET":
            purpose = "Save your card for future payments" if not session["amount_total"] else "Pay"
            return _challenge(method, session["amount_total"], session["currency"], purpose)
        del session["_authentication"]
        if not _completed():
            session["_authentication_error"] = FAILED
            store.save()
            return back
        method["_set_up"] = True  # authenticated as Checkout saves it: later charges go through
        try:
            checkout.complete(
                store, session, method, held["email"], held["quantity"], authenticated=True
            )
        except StripeError as error:
            session["_authentication_error"] = error.message
            store.save()
            return back
        store.save()
        return redirect(session["success_url"], code=303)


@bp.route("/invoice/<invoice_id>/authenticate", methods=["GET", "POST"])
def invoice_challenge(invoice_id: str) -> hosted.Page:
    store = _store()
    back = redirect(f"/invoice/{invoice_id}", code=303)
    with store.lock:
        invoice = store.objects.get(invoice_id)
        if not invoice or invoice["object"] != "invoice" or invoice["status"] != "open":
            return back
        method = _card_to_authenticate(store, invoice)
        if method is None:
            return back
        if request.method == "GET":
            return _challenge(method, invoice["amount_remaining"], invoice["currency"], "Pay")
        invoice.pop("_authentication", None)
        if not _completed():
            payment_intents.authentication_failed(store, invoice)
            invoice["_authentication_error"] = FAILED
            store.save()
            return back
        try:
            billing.pay(store, invoice, payment_method=method["id"], authenticated=True)
        except StripeError as error:
            store.save()
            return hosted.invoice_view(store, invoice, error=error.message)
        store.save()
        return hosted.invoice_view(store, invoice, paid_now=True)


def _card_to_authenticate(store: Store, invoice: dict[str, Any]) -> dict[str, Any] | None:
    """A new card typed on the invoice page, else the card on file the payment waits on."""
    typed = store.objects.get(invoice.get("_authentication") or "")
    return typed or payment_intents.awaits_authentication(store, invoice)
