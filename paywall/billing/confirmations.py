"""Payments the member's bank asks them to confirm (3-D Secure, "strong customer authentication").

A renewal charged without the member may need them: Stripe then leaves the invoice open with
its PaymentIntent in `requires_action`, sends `invoice.payment_action_required` (with
`invoice.payment_failed`), does not retry it, and the member confirms it on Stripe's hosted
invoice page (https://docs.stripe.com/billing/subscriptions/overview). The subscription is
`past_due` meanwhile, so the past-due grace policy decides access; paying restores `active`.
Since API 2025-03-31 an invoice names its PaymentIntent only in `payments`, included on request.
"""

from __future__ import annotations

from typing import Any

from paywall.billing import gateway
from paywall.billing.models import Invoice
from paywall.extensions import db

EXPAND_PAYMENTS = ["payments.data.payment.payment_intent"]
REQUIRES_ACTION = "requires_action"


def refresh_payment_status(row: Invoice) -> str | None:
    """Read from Stripe the status of the PaymentIntent behind an invoice, onto its row."""
    invoice = gateway.call(
        lambda: gateway.client().v1.invoices.retrieve(
            row.stripe_invoice_id, {"expand": EXPAND_PAYMENTS}
        ),
        "reading an invoice's payment",
    )
    row.payment_intent_status = default_payment_status(invoice)
    db.session.flush()
    return row.payment_intent_status


def default_payment_status(invoice: Any) -> str | None:
    """The status of the invoice's default payment's PaymentIntent (None when it has none)."""
    for payment in invoice.payments.data if invoice.payments else []:
        intent = payment.payment.payment_intent
        if payment.is_default and intent is not None and not isinstance(intent, str):
            return str(intent.status)
    return None


def awaits_confirmation(row: Invoice) -> bool:
    """Open, and waiting for the member to confirm the payment with their bank."""
    return row.status == "open" and row.payment_intent_status == REQUIRES_ACTION
