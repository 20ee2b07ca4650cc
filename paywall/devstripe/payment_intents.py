"""The PaymentIntent behind an invoice's card charges, and the invoice's `payments` list.

Stripe pays a `charge_automatically` invoice through one PaymentIntent and records each attempt
on it (https://docs.stripe.com/payments/paymentintents/lifecycle): `succeeded`;
`requires_payment_method` after a decline (with `last_payment_error`); `requires_action` when
the bank wants the cardholder to authenticate (3-D Secure), which the cardholder does on the
hosted invoice page. Since API 2025-03-31 the invoice names it only in `payments`, a list of
invoice_payment objects included on request (`expand[]=payments`).
"""

from __future__ import annotations

import secrets
from typing import Any

from paywall.devstripe import cards
from paywall.devstripe.store import Store, public

AUTHENTICATION_FAILED = (
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data "
    "or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
)


def of_invoice(store: Store, invoice: dict[str, Any]) -> dict[str, Any] | None:
    return store.objects.get(invoice.get("_payment_intent") or "")


def _create(store: Store, invoice: dict[str, Any]) -> dict[str, Any]:
    now = store.now_for(invoice)
    intent_id = store.new_id("payment_intent")
    intent = store.add(
        "payment_intent",
        {
            "amount": invoice["amount_due"],
            "amount_capturable": 0,
            "amount_received": 0,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "confirmation_method": "automatic",
            "currency": invoice["currency"],
            "customer": invoice["customer"],
            "description": "Subscription creation"
            if invoice["billing_reason"] == "subscription_create"
            else "Subscription update",
            "last_payment_error": None,
            "latest_charge": None,
            "metadata": {},
            "next_action": None,
            "payment_method": None,
            "payment_method_types": ["card"],
            "receipt_email": None,
            "setup_future_usage": None,
            "statement_descriptor": None,
            "status": "requires_payment_method",
        },
        object_id=intent_id,
        created=now,
    )
    payment = store.add(
        "invoice_payment",
        {
            "invoice": invoice["id"],
            "amount_paid": None,
            "amount_requested": invoice["amount_due"],
            "currency": invoice["currency"],
            "is_default": True,
            "payment": {"type": "payment_intent", "payment_intent": intent_id},
            "status": "open",
            "status_transitions": {"canceled_at": None, "paid_at": None},
        },
        created=now,
    )
    invoice["_payment_intent"], invoice["_payments"] = intent_id, [payment["id"]]
    return intent


def record_attempt(
    store: Store, invoice: dict[str, Any], method_id: str | None, decline_code: str | None
) -> dict[str, Any]:
    """Note one charge of the invoice on its PaymentIntent (made at the first attempt)."""
    intent = of_invoice(store, invoice) or _create(store, invoice)
    intent["payment_method"] = method_id
    if decline_code is None:
        intent.update(next_action=None, last_payment_error=None)  # settle() marks it succeeded
    elif decline_code == cards.AUTHENTICATION_REQUIRED:
        intent.update(
            status="requires_action",
            last_payment_error=None,
            next_action={
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {
                    "type": "three_d_secure_redirect",
                    "stripe_js": f"{store.base_url}/invoice/{invoice['id']}/authenticate",
                },
            },
        )
    else:
        error = cards.decline(decline_code)
        intent.update(
            status="requires_payment_method",
            next_action=None,
            last_payment_error={
                "type": "card_error",
                "code": error.code,
                "decline_code": decline_code,
                "message": error.message,
                "payment_method": public_method(store, method_id),
            },
        )
    return intent


def authentication_failed(store: Store, invoice: dict[str, Any]) -> None:
    """The cardholder failed 3-D Secure on the hosted page: the intent wants another card."""
    intent = of_invoice(store, invoice)
    if intent is None:
        return
    intent.update(
        status="requires_payment_method",
        next_action=None,
        last_payment_error={
            "type": "invalid_request_error",
            "code": "payment_intent_authentication_failure",
            "message": AUTHENTICATION_FAILED,
            "payment_method": public_method(store, intent.get("payment_method")),
        },
    )


def settle(store: Store, invoice: dict[str, Any]) -> None:
    """The invoice is paid: its intent succeeded and its payment is paid."""
    intent = of_invoice(store, invoice)
    if intent is None:
        return
    intent.update(
        status="succeeded",
        amount_received=intent["amount"],
        next_action=None,
        last_payment_error=None,
    )
    for payment_id in invoice.get("_payments") or []:
        payment = store.objects[payment_id]
        payment.update(status="paid", amount_paid=payment["amount_requested"])
        payment["status_transitions"]["paid_at"] = store.now_for(invoice)


def payments_list(store: Store, invoice: dict[str, Any]) -> dict[str, Any]:
    """The invoice's `payments`, as `expand[]=payments` includes them."""
    data = [public(store.objects[i]) for i in invoice.get("_payments") or []]
    return {
        "object": "list",
        "data": data,
        "has_more": False,
        "url": f"/v1/invoice_payments?invoice={invoice['id']}",
    }


def public_method(store: Store, method_id: str | None) -> dict[str, Any] | None:
    found = store.objects.get(method_id or "")
    return public(found) if found else None


def awaits_authentication(store: Store, invoice: dict[str, Any]) -> dict[str, Any] | None:
    """The card an open invoice's payment waits to have authenticated, if it does."""
    intent = of_invoice(store, invoice)
    if invoice["status"] != "open" or intent is None or not intent.get("payment_method"):
        return None
    last_error = intent.get("last_payment_error") or {}
    waiting = intent["status"] == "requires_action" or (
        last_error.get("code") == "payment_intent_authentication_failure"
    )
    return store.objects.get(intent["payment_method"]) if waiting else None
