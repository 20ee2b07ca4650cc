"""The emulator's hosted pages: Checkout, the customer portal and the invoice page, driven as
a browser would (form posts), with the API showing the outcome."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from tests.stripe_contract import make_customer, make_price, tag

GOOD = {"card_number": "4242 4242 4242 4242", "card_exp": "12/34", "card_cvc": "123"}
FAILS_LATER = {**GOOD, "card_number": "4000000000000341"}
DECLINED = {**GOOD, "card_number": "4000000000009995"}


@pytest.fixture
def browser(emulator):  # type: ignore[no-untyped-def]
    return emulator.server.app.test_client()


def path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def trial_session(client, **extra):  # type: ignore[no-untyped-def]
    price = make_price(client, tag())
    return client.v1.checkout.sessions.create({
        "mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}],
        "subscription_data": {"trial_period_days": 7, "metadata": {"user_id": "5"}},
        "success_url": "http://127.0.0.1:5000/billing/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://127.0.0.1:5000/pro", **extra,
    })  # fmt: skip


def test_checkout_starts_a_trial_and_returns_to_the_site(browser, stripe_client) -> None:  # type: ignore[no-untyped-def]
    session = trial_session(stripe_client, customer_email="new@example.com")
    page = browser.get(path(session.url)).get_data(as_text=True)
    assert "7 days free</strong>, then $300.00 per year" in page
    for name in ("email", "card_number", "card_exp", "card_cvc"):
        assert f'name="{name}"' in page and f'for="{name}"' in page
    declined = browser.post(path(session.url), data={"email": "new@example.com", **DECLINED})
    assert declined.status_code == 402
    assert "Your card has insufficient funds." in declined.get_data(as_text=True)
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert stripe_client.v1.subscriptions.list({"status": "all"}).data == []
    done = browser.post(path(session.url), data={"email": "new@example.com", **GOOD})
    assert done.status_code == 303
    assert (
        done.headers["Location"] == f"http://127.0.0.1:5000/billing/success?session_id={session.id}"
    )
    finished = stripe_client.v1.checkout.sessions.retrieve(session.id, {"expand": ["subscription"]})
    assert finished.status == "complete" and finished.payment_status == "no_payment_required"
    sub = finished.subscription
    assert sub.status == "trialing" and sub.metadata["user_id"] == "5"
    customer = stripe_client.v1.customers.retrieve(str(finished.customer))
    assert customer.email == "new@example.com"
    method = stripe_client.v1.payment_methods.retrieve(
        str(customer.invoice_settings.default_payment_method)
    )
    assert method.card.last4 == "4242"
    # A finished session cannot be used again.
    assert (
        browser.post(path(session.url), data={"email": "x@example.com", **GOOD}).status_code == 410
    )


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ({**GOOD, "card_number": "4242 4242 4242 4241"}, "Your card number is incorrect."),
        ({**GOOD, "card_exp": "01/20"}, "expiration year is in the past"),
        ({**GOOD, "card_cvc": "1"}, "security code is incomplete"),
        ({**GOOD, "card_number": "4111 1111 1111 1111"}, "non test card"),
    ],
)
def test_checkout_shows_card_errors_inline(browser, stripe_client, card, message) -> None:  # type: ignore[no-untyped-def]
    session = trial_session(stripe_client)
    answer = browser.post(path(session.url), data={"email": "a@example.com", **card})
    assert answer.status_code == 402 and message in answer.get_data(as_text=True)
    assert 'value="a@example.com"' in answer.get_data(as_text=True)  # what was typed stays


def test_team_checkout_with_adjustable_seats(browser, stripe_client) -> None:  # type: ignore[no-untyped-def]
    price = make_price(stripe_client, tag())
    org = stripe_client.v1.customers.create({"email": "boss@acme.example"})
    session = stripe_client.v1.checkout.sessions.create({
        "mode": "subscription", "customer": org.id,
        "line_items": [{"price": price.id, "quantity": 10,
                        "adjustable_quantity": {"enabled": True, "minimum": 5, "maximum": 50}}],
        "success_url": "http://127.0.0.1:5000/team", "cancel_url": "http://127.0.0.1:5000/teams",
    })  # fmt: skip
    page = browser.get(path(session.url)).get_data(as_text=True)
    assert "$300.00 per seat per year × 10 seats" in page and "$3,000.00 per year" in page
    too_many = browser.post(path(session.url), data={**GOOD, "quantity": "60"})
    assert too_many.status_code == 400 and "within the limits" in too_many.get_data(as_text=True)
    failing = browser.post(path(session.url), data={**FAILS_LATER, "quantity": "12"})
    assert failing.status_code == 402  # money is due now: a card that cannot pay is refused
    assert stripe_client.v1.subscriptions.list({"customer": org.id, "status": "all"}).data == []
    assert browser.post(path(session.url), data={**GOOD, "quantity": "12"}).status_code == 303
    [sub] = stripe_client.v1.subscriptions.list({"customer": org.id}).data
    assert sub.status == "active" and sub["items"].data[0].quantity == 12
    invoice = stripe_client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert invoice.status == "paid" and invoice.amount_paid == 360000


def portal_for(client, customer_id: str, **features):  # type: ignore[no-untyped-def]
    # Stripe requires `features`; the ones not named keep the portal's defaults.
    config = client.v1.billing_portal.configurations.create(
        {"features": features or {"invoice_history": {"enabled": True}}}
    )
    return client.v1.billing_portal.sessions.create({
        "customer": customer_id, "return_url": "http://127.0.0.1:5000/account",
        "configuration": config.id,
    })  # fmt: skip


def test_portal_cancels_resumes_and_changes_the_card(emulator, browser, stripe_client) -> None:  # type: ignore[no-untyped-def]
    price = make_price(stripe_client, tag())
    customer = make_customer(stripe_client, tag(), card="pm_card_chargeCustomerFail")
    sub = stripe_client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}],
                                                 "trial_period_days": 7})  # fmt: skip
    portal = portal_for(stripe_client, customer.id)
    page = browser.get(path(portal.url)).get_data(as_text=True)
    assert "Trial ends on" in page and "Visa ending in 0341" in page
    browser.post(path(portal.url) + "/cancel", data={"subscription": sub.id})
    assert stripe_client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is True
    assert "You cancelled" in browser.get(path(portal.url)).get_data(as_text=True)
    browser.post(path(portal.url) + "/resume", data={"subscription": sub.id})
    assert stripe_client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is False
    emulator.advance(days=7.01)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    assert "Your last payment failed" in browser.get(path(portal.url)).get_data(as_text=True)
    answer = browser.post(path(portal.url) + "/card", data=GOOD)
    assert answer.status_code == 303 and "card was updated" in unquote(answer.headers["Location"])
    assert (
        stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    )  # the open invoice was paid
    page = browser.get(path(portal.url)).get_data(as_text=True)
    assert "Visa ending in 4242" in page and "Renews on" in page and "paid" in page


def test_portal_changes_team_seats_within_limits(browser, stripe_client) -> None:  # type: ignore[no-untyped-def]
    price = make_price(stripe_client, tag())
    org = make_customer(stripe_client, tag())
    sub = stripe_client.v1.subscriptions.create({"customer": org.id,
                                                 "items": [{"price": price.id, "quantity": 5}]})  # fmt: skip
    portal = portal_for(stripe_client, org.id, subscription_update={
        "enabled": True, "default_allowed_updates": ["quantity"], "proration_behavior": "always_invoice",
        "products": [{"product": str(price.product), "prices": [price.id],
                      "adjustable_quantity": {"enabled": True, "minimum": 2, "maximum": 20}}],
    })  # fmt: skip
    assert "Seats (2–20)" in browser.get(path(portal.url)).get_data(as_text=True)
    refused = browser.post(
        path(portal.url) + "/quantity", data={"subscription": sub.id, "quantity": "30"}
    )
    assert "within the limits" in unquote(refused.headers["Location"])
    browser.post(path(portal.url) + "/quantity", data={"subscription": sub.id, "quantity": "8"})
    updated = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert updated["items"].data[0].quantity == 8
    proration = stripe_client.v1.invoices.retrieve(str(updated.latest_invoice))
    assert proration.billing_reason == "subscription_update" and proration.status == "paid"


def test_the_hosted_invoice_page_takes_a_card(browser, stripe_client) -> None:  # type: ignore[no-untyped-def]
    price = make_price(stripe_client, tag())
    org = stripe_client.v1.customers.create({"email": "ap@acme.example"})
    sub = stripe_client.v1.subscriptions.create({
        "customer": org.id, "items": [{"price": price.id, "quantity": 3}],
        "collection_method": "send_invoice", "days_until_due": 30,
    })  # fmt: skip
    invoice = stripe_client.v1.invoices.finalize_invoice(str(sub.latest_invoice))
    page = browser.get(path(invoice.hosted_invoice_url)).get_data(as_text=True)
    assert "Pay $900.00" in page and "due" in page
    failed = browser.post(path(invoice.hosted_invoice_url), data=FAILS_LATER)
    assert failed.status_code == 402 and "declined" in failed.get_data(as_text=True)
    paid = browser.post(path(invoice.hosted_invoice_url), data=GOOD)
    assert paid.status_code == 200 and "the invoice is paid" in paid.get_data(as_text=True)
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"
