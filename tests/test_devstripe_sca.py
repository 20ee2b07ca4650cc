"""Strong customer authentication in the emulator, as Stripe's regulatory test cards behave
(https://docs.stripe.com/testing#regulatory-cards): 4000 0025 0000 3155 asks for 3-D Secure
when it is saved and not again; 4000 0027 6000 3184 asks on every charge, so its renewals wait
for the cardholder (`requires_action`, `invoice.payment_action_required`) until they confirm the
payment on the hosted invoice page."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from flask.testing import FlaskClient

from paywall.devstripe.server import RunningEmulator
from tests.stripe_contract import make_customer, make_price, tag
from tests.test_devstripe_pages import GOOD, path, trial_session
from tests.test_devstripe_time import start_trial, types_for

ONCE = {**GOOD, "card_number": "4000 0025 0000 3155"}  # authenticate unless set up
ALWAYS = {**GOOD, "card_number": "4000 0027 6000 3184"}  # authenticate every charge
FAILED = "We are unable to authenticate your payment method."
PAYMENTS = ["payments.data.payment.payment_intent"]


@pytest.fixture
def browser(emulator: RunningEmulator) -> FlaskClient:
    return emulator.server.app.test_client()


def intent_of(client: stripe.StripeClient, invoice_id: str) -> Any:
    """The PaymentIntent of an invoice's default payment (what Stripe's API now shows)."""
    invoice = client.v1.invoices.retrieve(invoice_id, {"expand": PAYMENTS})
    (payment,) = invoice.payments.data
    assert payment.is_default and payment.payment.type == "payment_intent"
    return payment.payment.payment_intent


def test_checkout_asks_the_bank_before_the_trial_starts(
    browser: FlaskClient, stripe_client: stripe.StripeClient
) -> None:
    session = trial_session(stripe_client, customer_email="eu@example.com")
    typed = browser.post(path(session.url), data={"email": "eu@example.com", **ONCE})
    assert typed.status_code == 303
    assert typed.headers["Location"] == f"/checkout/{session.id}/authenticate"
    challenge = browser.get(typed.headers["Location"]).get_data(as_text=True)
    assert "Save your card for future payments" in challenge and "•••• 3155" in challenge
    assert "Complete authentication" in challenge and "Fail authentication" in challenge
    assert stripe_client.v1.subscriptions.list({"status": "all"}).data == []  # nothing yet

    failed = browser.post(typed.headers["Location"], data={"outcome": "fail"})
    assert failed.headers["Location"] == f"/checkout/{session.id}"
    page = browser.get(failed.headers["Location"])
    assert page.status_code == 402 and FAILED in page.get_data(as_text=True)
    assert browser.get(failed.headers["Location"]).status_code == 200  # the message shows once
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert stripe_client.v1.subscriptions.list({"status": "all"}).data == []

    again = browser.post(path(session.url), data={"email": "eu@example.com", **ONCE})
    done = browser.post(again.headers["Location"], data={"outcome": "complete"})
    assert done.status_code == 303
    assert done.headers["Location"].endswith(f"/billing/success?session_id={session.id}")
    finished = stripe_client.v1.checkout.sessions.retrieve(session.id, {"expand": ["subscription"]})
    assert finished.status == "complete" and finished.subscription.status == "trialing"
    # The challenge page is gone with the session's need for it.
    assert browser.get(again.headers["Location"]).status_code == 303


def test_a_card_authenticated_at_checkout_renews_without_the_cardholder(
    emulator: RunningEmulator, browser: FlaskClient, stripe_client: stripe.StripeClient
) -> None:
    session = trial_session(stripe_client, customer_email="set-up@example.com")
    typed = browser.post(path(session.url), data={"email": "set-up@example.com", **ONCE})
    browser.post(typed.headers["Location"], data={"outcome": "complete"})
    sub_id = str(stripe_client.v1.checkout.sessions.retrieve(session.id).subscription)
    emulator.advance(days=7.01)
    active = stripe_client.v1.subscriptions.retrieve(sub_id)
    assert active.status == "active"
    invoice = stripe_client.v1.invoices.retrieve(str(active.latest_invoice))
    assert invoice.status == "paid" and invoice.amount_paid == 30000
    assert intent_of(stripe_client, invoice.id).status == "succeeded"
    assert "invoice.payment_action_required" not in types_for(emulator, sub_id)


def test_a_card_never_set_up_waits_for_the_cardholder_at_renewal(
    emulator: RunningEmulator, stripe_client: stripe.StripeClient
) -> None:
    sub = start_trial(stripe_client, "pm_card_authenticationRequiredOnSetup")
    emulator.advance(days=7.01)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    assert types_for(emulator, sub.id)[-3:] == [
        "invoice.payment_failed",
        "invoice.payment_action_required",
        "customer.subscription.updated",
    ]


def test_a_renewal_that_needs_the_cardholder_is_confirmed_on_the_invoice_page(
    emulator: RunningEmulator, browser: FlaskClient, stripe_client: stripe.StripeClient
) -> None:
    sub = start_trial(stripe_client, "pm_card_authenticationRequired")
    emulator.advance(days=7.01)
    past_due = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert past_due.status == "past_due"
    invoice = stripe_client.v1.invoices.retrieve(str(past_due.latest_invoice))
    assert invoice.status == "open" and invoice.attempt_count == 1
    assert invoice.next_payment_attempt is None  # Stripe does not retry it: the cardholder must
    intent = intent_of(stripe_client, invoice.id)
    assert intent.status == "requires_action" and intent.next_action
    assert intent.amount == 30000 and intent.payment_method
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == "requires_action"

    page = browser.get(path(str(invoice.hosted_invoice_url))).get_data(as_text=True)
    assert "Your bank asks you to confirm this payment with Visa •••• 3184" in page
    confirm = browser.post(path(str(invoice.hosted_invoice_url)), data={"confirm": "1"})
    assert confirm.headers["Location"] == f"/invoice/{invoice.id}/authenticate"
    assert "Pay <strong>$300.00</strong>" in browser.get(confirm.headers["Location"]).get_data(
        as_text=True
    )
    failed = browser.post(confirm.headers["Location"], data={"outcome": "fail"})
    shown = browser.get(failed.headers["Location"])
    assert shown.status_code == 402 and FAILED in shown.get_data(as_text=True)
    assert intent_of(stripe_client, invoice.id).status == "requires_payment_method"
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "open"

    confirm = browser.post(path(str(invoice.hosted_invoice_url)), data={"confirm": "1"})
    paid = browser.post(confirm.headers["Location"], data={"outcome": "complete"})
    assert paid.status_code == 200 and "the invoice is paid" in paid.get_data(as_text=True)
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"
    assert intent_of(stripe_client, invoice.id).status == "succeeded"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    assert types_for(emulator, sub.id)[-3:] == [
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ]


def test_an_unconfirmed_payment_is_not_retried_and_ends_the_subscription(
    emulator: RunningEmulator, stripe_client: stripe.StripeClient
) -> None:
    sub = start_trial(stripe_client, "pm_card_authenticationRequired")
    emulator.advance(days=7.01)
    emulator.advance(days=6.9)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    emulator.advance(days=0.2)
    ended = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert ended.status == "canceled" and ended.cancellation_details
    assert ended.cancellation_details.reason == "payment_failed"
    invoice = stripe_client.v1.invoices.retrieve(str(ended.latest_invoice))
    assert invoice.attempt_count == 1  # never retried without the cardholder
    assert types_for(emulator, sub.id).count("invoice.payment_action_required") == 1


def test_another_card_on_the_invoice_page_is_authenticated_too(
    emulator: RunningEmulator, browser: FlaskClient, stripe_client: stripe.StripeClient
) -> None:
    sub = start_trial(stripe_client, "pm_card_authenticationRequired")
    emulator.advance(days=7.01)
    latest = stripe_client.v1.subscriptions.retrieve(sub.id).latest_invoice
    invoice = stripe_client.v1.invoices.retrieve(str(latest))
    typed = browser.post(path(str(invoice.hosted_invoice_url)), data=ONCE)
    assert typed.headers["Location"] == f"/invoice/{invoice.id}/authenticate"
    assert "•••• 3155" in browser.get(typed.headers["Location"]).get_data(as_text=True)
    paid = browser.post(typed.headers["Location"], data={"outcome": "complete"})
    assert "the invoice is paid" in paid.get_data(as_text=True)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_a_subscription_made_by_the_api_waits_incomplete(
    emulator: RunningEmulator, stripe_client: stripe.StripeClient
) -> None:
    price = make_price(stripe_client, tag())
    buyer = make_customer(stripe_client, tag(), card="pm_card_authenticationRequired")
    sub = stripe_client.v1.subscriptions.create(
        {"customer": buyer.id, "items": [{"price": price.id}]}
    )
    assert sub.status == "incomplete"
    invoice_id = str(sub.latest_invoice)
    assert intent_of(stripe_client, invoice_id).status == "requires_action"
    assert "invoice.payment_action_required" in types_for(emulator, sub.id)
    with pytest.raises(stripe.CardError) as refused:  # paying it without the cardholder
        stripe_client.v1.invoices.pay(invoice_id)
    assert refused.value.code == "authentication_required"


def test_a_paid_checkout_charges_once_the_bank_agrees(
    browser: FlaskClient, stripe_client: stripe.StripeClient
) -> None:
    price = make_price(stripe_client, tag())
    session = stripe_client.v1.checkout.sessions.create({
        "mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}],
        "success_url": "http://127.0.0.1:5000/billing/success?session_id={CHECKOUT_SESSION_ID}",
    })  # fmt: skip
    typed = browser.post(path(session.url), data={"email": "pays@example.com", **ALWAYS})
    assert "Pay <strong>$300.00</strong>" in browser.get(typed.headers["Location"]).get_data(
        as_text=True
    )
    browser.post(typed.headers["Location"], data={"outcome": "complete"})
    finished = stripe_client.v1.checkout.sessions.retrieve(session.id, {"expand": ["subscription"]})
    assert finished.payment_status == "paid" and finished.subscription.status == "active"
    invoice = stripe_client.v1.invoices.retrieve(str(finished.subscription.latest_invoice))
    assert invoice.status == "paid" and intent_of(stripe_client, invoice.id).status == "succeeded"
