"""What our code relies on Stripe doing, as checks over a `stripe.StripeClient`.

tests/test_devstripe_api.py runs every check against the offline emulator;
tests/test_stripe_live.py runs the same checks against Stripe test mode when a key is set,
so the emulator cannot drift from Stripe unnoticed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
import stripe

Check = Callable[[stripe.StripeClient, str], None]
CHECKS: list[Check] = []


def check(function: Check) -> Check:
    CHECKS.append(function)
    return function


def tag() -> str:
    return secrets.token_hex(4)


def make_price(client: stripe.StripeClient, tag: str, amount: int = 30000) -> stripe.Price:
    product = client.v1.products.create({"name": f"PRO {tag}", "metadata": {"tag": tag}})
    return client.v1.prices.create({
        "product": product.id, "currency": "usd", "unit_amount": amount,
        "recurring": {"interval": "year"}, "lookup_key": f"pro_annual_{tag}",
        "nickname": "PRO annual",
    })  # fmt: skip


def make_customer(client: stripe.StripeClient, tag: str, card: str | None = "pm_card_visa",
                  **extra: Any) -> stripe.Customer:  # fmt: skip
    customer = client.v1.customers.create({"email": f"reader-{tag}@example.com", **extra})
    if card:
        method = client.v1.payment_methods.attach(card, {"customer": customer.id})
        customer = client.v1.customers.update(
            customer.id, {"invoice_settings": {"default_payment_method": method.id}}
        )
    return customer


@check
def catalog_by_lookup_key(client: stripe.StripeClient, tag: str) -> None:
    price = make_price(client, tag)
    assert price.id.startswith("price_") and price.recurring and price.recurring.interval == "year"
    assert price.unit_amount == 30000 and price.lookup_key == f"pro_annual_{tag}"
    found = client.v1.prices.list({"lookup_keys": [f"pro_annual_{tag}"], "active": True})
    assert [p.id for p in found.data] == [price.id] and found.has_more is False
    updated = client.v1.prices.update(price.id, {"nickname": "PRO yearly", "metadata": {"v": "2"}})
    assert updated.nickname == "PRO yearly" and updated.metadata["v"] == "2"
    product = client.v1.products.update(str(price.product), {"description": "Analysis"})
    assert product.description == "Analysis"
    assert client.v1.products.retrieve(product.id).description == "Analysis"
    # A lookup key is unique: taking it needs transfer_lookup_key, which moves it.
    with pytest.raises(stripe.InvalidRequestError) as refused:
        make_price(client, tag)
    assert refused.value.param == "lookup_key"
    newer = client.v1.prices.create({
        "product": product.id, "currency": "usd", "unit_amount": 32000,
        "recurring": {"interval": "year"}, "lookup_key": f"pro_annual_{tag}",
        "transfer_lookup_key": True,
    })  # fmt: skip
    found = client.v1.prices.list({"lookup_keys": [f"pro_annual_{tag}"]})
    assert [p.id for p in found.data] == [newer.id]
    assert client.v1.prices.retrieve(price.id).lookup_key is None


@check
def customers(client: stripe.StripeClient, tag: str) -> None:
    customer = client.v1.customers.create({
        "email": f"c-{tag}@example.com", "name": "Dana", "metadata": {"user_id": "7", "x": "1"},
    })  # fmt: skip
    assert customer.id.startswith("cus_") and customer.object == "customer"
    assert client.v1.customers.retrieve(customer.id).email == f"c-{tag}@example.com"
    updated = client.v1.customers.update(customer.id, {"name": "Dana K", "metadata": {"x": ""}})
    assert updated.name == "Dana K" and updated.metadata.to_dict() == {"user_id": "7"}
    listed = client.v1.customers.list({"email": f"c-{tag}@example.com", "limit": 3})
    assert [c.id for c in listed.data] == [customer.id]


@check
def payment_methods(client: stripe.StripeClient, tag: str) -> None:
    customer = make_customer(client, tag, card=None)
    method = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    assert method.id.startswith("pm_") and method.customer == customer.id
    assert method.card and method.card.brand == "visa" and method.card.last4 == "4242"
    assert method.card.fingerprint
    again = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    assert again.card and again.card.fingerprint == method.card.fingerprint  # same card
    listed = client.v1.payment_methods.list({"customer": customer.id, "type": "card"})
    assert {m.id for m in listed.data} == {method.id, again.id}
    assert client.v1.payment_methods.retrieve(method.id).card.last4 == "4242"  # type: ignore[union-attr]
    detached = client.v1.payment_methods.detach(again.id)
    assert detached.customer is None


@check
def checkout_sessions(client: stripe.StripeClient, tag: str) -> None:
    price = make_price(client, tag)
    customer = make_customer(client, tag, card=None)
    session = client.v1.checkout.sessions.create({
        "mode": "subscription", "customer": customer.id, "client_reference_id": "42",
        "line_items": [{"price": price.id, "quantity": 3,
                        "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 50}}],
        "subscription_data": {"trial_period_days": 7, "metadata": {"user_id": "42"}},
        "success_url": "https://example.com/billing/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://example.com/pro", "allow_promotion_codes": True,
        "metadata": {"plan": "pro_annual"},
    })  # fmt: skip
    assert session.id.startswith("cs_test_") and session.status == "open" and session.url
    assert session.mode == "subscription" and session.customer == customer.id
    assert session.client_reference_id == "42" and session.success_url
    assert session.success_url.endswith(f"session_id={session.id}")
    fetched = client.v1.checkout.sessions.retrieve(session.id, {"expand": ["line_items"]})
    assert fetched.line_items and fetched.line_items.data[0].quantity == 3
    assert fetched.line_items.data[0].price and fetched.line_items.data[0].price.id == price.id
    expired = client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired"
    setup = client.v1.checkout.sessions.create({
        "mode": "setup", "customer": customer.id, "currency": "usd",
        "success_url": "https://example.com/ok", "cancel_url": "https://example.com/no",
    })  # fmt: skip
    assert setup.mode == "setup" and setup.status == "open"


@check
def subscription_lifecycle(client: stripe.StripeClient, tag: str) -> None:
    price = make_price(client, tag)
    customer = make_customer(client, tag)
    sub = client.v1.subscriptions.create({
        "customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 7,
        "metadata": {"user_id": "9"},
    })  # fmt: skip
    assert sub.id.startswith("sub_") and sub.status == "trialing" and sub.trial_end
    item = sub["items"].data[0]
    assert item.current_period_end == sub.trial_end  # periods live on items
    invoice = client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert invoice.amount_due == 0 and invoice.status == "paid"
    assert invoice.parent and invoice.parent.subscription_details
    assert invoice.parent.subscription_details.subscription == sub.id
    expanded = client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice"]})
    assert isinstance(expanded.latest_invoice, stripe.Invoice)
    updated = client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    assert updated.cancel_at_period_end is True and updated.status == "trialing"
    resumed = client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": False})
    assert resumed.cancel_at_period_end is False
    ended_trial = client.v1.subscriptions.update(sub.id, {"trial_end": "now"})
    assert ended_trial.status == "active"
    paid = client.v1.invoices.retrieve(str(ended_trial.latest_invoice))
    assert paid.amount_paid == 30000 and paid.status == "paid"
    listed = client.v1.subscriptions.list({"customer": customer.id, "status": "active"})
    assert [s.id for s in listed.data] == [sub.id]
    items = client.v1.subscription_items.list({"subscription": sub.id})
    assert [i.id for i in items.data] == [item.id]
    assert client.v1.subscription_items.retrieve(item.id).quantity == 1
    canceled = client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled" and canceled.ended_at
    assert client.v1.subscriptions.list({"customer": customer.id}).data == []
    every = client.v1.subscriptions.list({"customer": customer.id, "status": "all"})
    assert [s.id for s in every.data] == [sub.id]


@check
def team_invoicing(client: stripe.StripeClient, tag: str) -> None:
    price = make_price(client, tag)
    org = client.v1.customers.create({"email": f"finance-{tag}@example.com", "name": "Acme"})
    sub = client.v1.subscriptions.create({
        "customer": org.id, "items": [{"price": price.id, "quantity": 5}],
        "collection_method": "send_invoice", "days_until_due": 30, "metadata": {"team_id": "3"},
    })  # fmt: skip
    assert sub.status == "active" and sub.collection_method == "send_invoice"
    assert sub.days_until_due == 30 and sub["items"].data[0].quantity == 5
    invoice = client.v1.invoices.finalize_invoice(str(sub.latest_invoice))
    assert invoice.status == "open" and invoice.amount_due == 150000
    assert invoice.due_date and invoice.hosted_invoice_url
    assert invoice.collection_method == "send_invoice"
    sent = client.v1.invoices.send_invoice(invoice.id)
    assert sent.status == "open"
    paid = client.v1.invoices.pay(invoice.id, {"paid_out_of_band": True})
    assert paid.status == "paid"
    # More seats, billed now for the rest of the year.
    item = sub["items"].data[0]
    raised = client.v1.subscription_items.update(
        item.id, {"quantity": 7, "proration_behavior": "always_invoice"}
    )
    assert raised.quantity == 7
    invoices = client.v1.invoices.list({"subscription": sub.id, "limit": 10})
    proration = invoices.data[0]
    assert proration.id != invoice.id and 0 < proration.amount_due <= 60000
    if proration.status == "draft":
        proration = client.v1.invoices.finalize_invoice(proration.id)
    voided = client.v1.invoices.void_invoice(proration.id)
    assert voided.status == "void"
    updated = client.v1.subscriptions.update(sub.id, {
        "items": [{"id": item.id, "quantity": 4}], "proration_behavior": "none",
    })  # fmt: skip
    assert updated["items"].data[0].quantity == 4


@check
def portal(client: stripe.StripeClient, tag: str) -> None:
    price = make_price(client, tag)
    customer = make_customer(client, tag)
    config = client.v1.billing_portal.configurations.create({
        "business_profile": {"headline": "PRO Desk"},
        "features": {
            "invoice_history": {"enabled": True},
            "payment_method_update": {"enabled": True},
            "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
            "subscription_update": {
                "enabled": True, "default_allowed_updates": ["quantity"],
                "proration_behavior": "always_invoice",
                "products": [{"product": str(price.product), "prices": [price.id],
                              "adjustable_quantity": {"enabled": True, "minimum": 1,
                                                      "maximum": 100}}],
            },
        },
    })  # fmt: skip
    assert config.id.startswith("bpc_") and config.features.subscription_update.enabled
    updated = client.v1.billing_portal.configurations.update(
        config.id, {"default_return_url": "https://example.com/team"}
    )
    assert updated.default_return_url == "https://example.com/team"
    session = client.v1.billing_portal.sessions.create({
        "customer": customer.id, "return_url": "https://example.com/account",
        "configuration": config.id,
    })  # fmt: skip
    assert session.url and session.customer == customer.id and session.configuration == config.id


@check
def errors(client: stripe.StripeClient, tag: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.create({"emial": "x@example.com"})  # type: ignore[typeddict-unknown-key]
    assert unknown.value.param == "emial" and unknown.value.http_status == 400
    assert "unknown parameter" in str(unknown.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.retrieve(f"cus_missing{tag}")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    price = make_price(client, tag)
    customer = make_customer(client, tag, card="pm_card_chargeCustomerFail")
    org_sub = client.v1.subscriptions.create({
        "customer": customer.id, "items": [{"price": price.id}],
        "collection_method": "send_invoice", "days_until_due": 30,
    })  # fmt: skip
    invoice = client.v1.invoices.finalize_invoice(str(org_sub.latest_invoice))
    method = customer.invoice_settings.default_payment_method  # type: ignore[union-attr]
    with pytest.raises(stripe.CardError) as declined:
        client.v1.invoices.pay(invoice.id, {"payment_method": str(method)})
    assert declined.value.http_status == 402 and declined.value.code == "card_declined"
    assert declined.value.error and declined.value.error.decline_code


@check
def idempotency(client: stripe.StripeClient, tag: str) -> None:
    key = f"create-customer-{tag}"
    first = client.v1.customers.create({"email": f"i-{tag}@example.com"}, {"idempotency_key": key})
    again = client.v1.customers.create({"email": f"i-{tag}@example.com"}, {"idempotency_key": key})
    assert first.id == again.id
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create({"email": f"other-{tag}@example.com"}, {"idempotency_key": key})
    assert len(client.v1.customers.list({"email": f"i-{tag}@example.com"}).data) == 1


@check
def events(client: stripe.StripeClient, tag: str) -> None:
    customer = client.v1.customers.create({"email": f"e-{tag}@example.com"})
    found = None
    for _ in range(20):  # Stripe may take a moment to list a new event
        listed = client.v1.events.list({"type": "customer.created", "limit": 20})
        found = next((e for e in listed.data if e.data.object["id"] == customer.id), None)
        if found:
            break
        time.sleep(0.5)
    assert found is not None and found.id.startswith("evt_")
    assert client.v1.events.retrieve(found.id).type == "customer.created"


@check
def test_clocks(client: stripe.StripeClient, tag: str) -> None:
    start = int(time.time())
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": start, "name": tag})
    assert clock.status == "ready" and clock.frozen_time == start
    price = make_price(client, tag)
    customer = make_customer(client, tag, test_clock=clock.id)
    sub = client.v1.subscriptions.create({
        "customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 7,
    })  # fmt: skip
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": start + 8 * 86400})
    for _ in range(60):  # Stripe advances asynchronously; the emulator at once
        clock = client.v1.test_helpers.test_clocks.retrieve(clock.id)
        if clock.status == "ready":
            break
        time.sleep(1)
    assert clock.frozen_time == start + 8 * 86400
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    client.v1.test_helpers.test_clocks.delete(clock.id)


@check
def payment_needing_authentication(client: stripe.StripeClient, tag: str) -> None:
    """A trial's end charged to a card whose bank always wants 3-D Secure: the invoice stays
    open with its PaymentIntent in requires_action, and the subscription is past_due."""
    start = int(time.time())
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": start, "name": tag})
    price = make_price(client, tag)
    customer = make_customer(client, tag, card="pm_card_authenticationRequired",
                             test_clock=clock.id)  # fmt: skip
    sub = client.v1.subscriptions.create({
        "customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 7,
    })  # fmt: skip
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": start + 8 * 86400})
    for _ in range(60):  # Stripe advances asynchronously; the emulator at once
        if client.v1.test_helpers.test_clocks.retrieve(clock.id).status == "ready":
            break
        time.sleep(1)
    waiting = client.v1.subscriptions.retrieve(sub.id)
    assert waiting.status == "past_due"
    invoice = client.v1.invoices.retrieve(
        str(waiting.latest_invoice), {"expand": ["payments.data.payment.payment_intent"]}
    )
    assert invoice.status == "open" and invoice.payments
    intent = invoice.payments.data[0].payment.payment_intent
    assert isinstance(intent, stripe.PaymentIntent) and intent.status == "requires_action"
    client.v1.test_helpers.test_clocks.delete(clock.id)
