"""A database fault at each statement of a webhook handler: the delivery answers 500, nothing
is half-written, and the next delivery converges."""

from __future__ import annotations

import json
from typing import Any

import stripe
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from paywall.accounts.models import User
from paywall.billing.models import Invoice, StripeEvent, Subscription, TrialClaim
from paywall.devstripe.webhooks import DEFAULT_SECRET
from paywall.extensions import db
from paywall.mail.models import OutboxMail
from tests.helpers import make_user


def test_a_fault_at_any_statement_leaves_nothing_half_written(shop) -> None:  # type: ignore[no-untyped-def]
    shop.emulator.point_at(None)  # this test delivers by hand
    client = stripe.StripeClient(shop.emulator.api_key, base_addresses={"api": shop.emulator.url})
    user_id = shop.site.run(lambda: make_user(email="fragile@example.com").id)
    customer = client.v1.customers.create(
        {"email": "fragile@example.com", "metadata": {"user_id": str(user_id)}}
    )
    client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    price = next(shop.emulator.store.find("price", lookup_key="pro_annual"))["id"]
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price}],
                                          "trial_period_days": 7, "metadata": {"user_id": str(user_id)}})  # fmt: skip
    created = next(e for e in shop.emulator.events("customer.subscription.created")
                   if e["data"]["object"]["id"] == sub.id)  # fmt: skip
    body = json.dumps(created)
    endpoint = shop.app.test_client()

    def footprint() -> tuple[Any, ...]:
        def read() -> tuple[Any, ...]:
            count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
            user = db.session.get(User, user_id)
            return (count(Subscription), count(Invoice), count(TrialClaim), count(OutboxMail),
                    user.access_premium, user.trial_used_at, user.stripe_customer_id)  # fmt: skip

        return shop.site.run(read)  # type: ignore[no-any-return]

    def deliver_with_fault_at(statement: int | None) -> int:
        seen = {"n": 0}

        def fault(conn, cursor, sql, params, context, executemany):  # type: ignore[no-untyped-def]
            seen["n"] += 1
            if seen["n"] == statement:
                raise OperationalError(sql, params, Exception("injected fault"))

        engine = shop.site.run(lambda: db.engine)
        sa_event.listen(engine, "before_cursor_execute", fault)
        try:
            signature = stripe.WebhookSignature.generate_signature_header(body, DEFAULT_SECRET)
            answer = endpoint.post("/webhooks/stripe", data=body, content_type="application/json",
                                   headers={"Stripe-Signature": signature})  # fmt: skip
            return int(answer.status_code)
        finally:
            sa_event.remove(engine, "before_cursor_execute", fault)

    clean = footprint()
    statement, faults = 1, 0
    while deliver_with_fault_at(statement) == 500:
        faults += 1
        assert footprint() == clean, f"a fault at statement {statement} left something behind"
        statement += 1
        assert statement < 200
    assert faults >= 5, "the handler should have run several statements"
    # The delivery that finally got through applied everything, once.
    subs, _invoices, claims, mails, premium, trial_used, customer_id = footprint()
    assert (subs, claims, mails, premium) == (1, 1, 1, True)
    assert trial_used is not None and customer_id == customer.id
    stored = shop.site.run(lambda: db.session.get(StripeEvent, created["id"]))
    assert stored.status == "processed" and stored.error is None and stored.attempts >= 1
