"""`/v1` endpoints for the PaymentIntents behind invoices and the invoices' payments."""

from __future__ import annotations

from typing import Any

from paywall.devstripe.api import LIST, paginate, route
from paywall.devstripe.params import ANY, Params
from paywall.devstripe.store import Store


@route("GET", "/v1/payment_intents/<id>", client_secret=None)
def get_payment_intent(store: Store, p: Params, id: str) -> dict[str, Any]:
    return store.get("payment_intent", id)


@route("GET", "/v1/invoice_payments", invoice=None, payment=ANY, status=None, created=ANY, **LIST)
def list_invoice_payments(store: Store, p: Params) -> dict[str, Any]:
    where = {k: p.text(k) for k in ("invoice", "status") if p.text(k)}
    return paginate(store.find("invoice_payment", **where), p, "/v1/invoice_payments")


@route("GET", "/v1/invoice_payments/<id>")
def get_invoice_payment(store: Store, p: Params, id: str) -> dict[str, Any]:
    return store.get("invoice_payment", id)
