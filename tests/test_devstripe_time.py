"""Moving time in the emulator does what Stripe does: trials end, renewals are charged, failed
charges are retried then the subscription is canceled, invoices fall overdue; test clocks and
the emulator's own clock move separately."""

from __future__ import annotations

import json
import urllib.request

import pytest
import stripe

from tests.stripe_contract import make_customer, make_price, tag

DAY = 86400


def start_trial(client, card: str, **customer):  # type: ignore[no-untyped-def]
    price = make_price(client, tag())
    buyer = make_customer(client, tag(), card=card, **customer)
    sub = client.v1.subscriptions.create({"customer": buyer.id, "items": [{"price": price.id}],
                                          "trial_period_days": 7})  # fmt: skip
    return sub


def types_for(emulator, sub_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Event types about one subscription (or its invoices), oldest first."""
    found = []
    for event in emulator.events():
        obj = event["data"]["object"]
        parent = (obj.get("parent") or {}).get("subscription_details") or {}
        if obj.get("id") == sub_id or parent.get("subscription") == sub_id:
            found.append(event["type"])
    return found


def test_a_good_card_through_trial_end_and_renewal(emulator, stripe_client) -> None:  # type: ignore[no-untyped-def]
    sub = start_trial(stripe_client, "pm_card_visa")
    emulator.advance(days=4.5)
    assert types_for(emulator, sub.id)[-1] == "customer.subscription.trial_will_end"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "trialing"
    emulator.advance(days=3)
    active = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert active.status == "active"
    first_year_end = active["items"].data[0].current_period_end
    assert first_year_end - active["items"].data[0].current_period_start in (365 * DAY, 366 * DAY)
    invoice = stripe_client.v1.invoices.retrieve(str(active.latest_invoice))
    assert invoice.status == "paid" and invoice.amount_paid == 30000
    assert invoice.billing_reason == "subscription_cycle"
    emulator.advance(to=first_year_end + 60)
    renewed = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert renewed.status == "active"
    assert renewed["items"].data[0].current_period_start == first_year_end
    paid = stripe_client.v1.invoices.list({"subscription": sub.id, "status": "paid"}).data
    assert [i.amount_paid for i in paid] == [30000, 30000, 0]
    events = types_for(emulator, sub.id)
    assert events.count("invoice.paid") == 3 and "invoice.payment_failed" not in events


def test_a_failing_card_is_retried_three_times_then_canceled(emulator, stripe_client) -> None:  # type: ignore[no-untyped-def]
    sub = start_trial(stripe_client, "pm_card_chargeCustomerFail")
    emulator.advance(days=7.01)
    past_due = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert past_due.status == "past_due"
    invoice = stripe_client.v1.invoices.retrieve(str(past_due.latest_invoice))
    assert invoice.status == "open" and invoice.attempt_count == 1
    assert invoice.next_payment_attempt and invoice.next_payment_attempt - emulator.now() > 2 * DAY
    for attempts, days in ((2, 3), (3, 2), (4, 2)):  # retries 3, 5 and 7 days after the first
        emulator.advance(days=days)
        invoice = stripe_client.v1.invoices.retrieve(invoice.id)
        assert invoice.attempt_count == attempts
    canceled = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert canceled.status == "canceled"
    assert (
        canceled.cancellation_details and canceled.cancellation_details.reason == "payment_failed"
    )
    events = types_for(emulator, sub.id)
    assert events.count("invoice.payment_failed") == 4
    assert events[-1] == "customer.subscription.deleted"


def test_a_new_card_before_the_retry_recovers_the_subscription(emulator, stripe_client) -> None:  # type: ignore[no-untyped-def]
    sub = start_trial(stripe_client, "pm_card_chargeCustomerFail")
    emulator.advance(days=7.01)
    customer = str(sub.customer)
    card = stripe_client.v1.payment_methods.attach("pm_card_visa", {"customer": customer})
    stripe_client.v1.customers.update(
        customer, {"invoice_settings": {"default_payment_method": card.id}}
    )
    emulator.advance(days=3)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    assert types_for(emulator, sub.id)[-1] == "customer.subscription.updated"


def test_a_declined_card_is_refused_with_its_decline_code(stripe_client) -> None:  # type: ignore[no-untyped-def]
    customer = stripe_client.v1.customers.create({"email": "d@example.com"})
    with pytest.raises(stripe.CardError) as declined:
        stripe_client.v1.payment_methods.attach(
            "pm_card_visa_chargeDeclinedInsufficientFunds", {"customer": customer.id}
        )
    assert declined.value.http_status == 402
    assert declined.value.error and declined.value.error.decline_code == "insufficient_funds"


def test_cancel_at_period_end_ends_the_subscription_then(emulator, stripe_client) -> None:  # type: ignore[no-untyped-def]
    sub = start_trial(stripe_client, "pm_card_visa")
    stripe_client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    emulator.advance(days=8)
    ended = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert ended.status == "canceled"
    assert types_for(emulator, sub.id)[-1] == "customer.subscription.deleted"
    assert not stripe_client.v1.invoices.list({"subscription": sub.id, "status": "open"}).data


def test_an_unpaid_invoice_falls_overdue_then_payment_restores(emulator, stripe_client) -> None:  # type: ignore[no-untyped-def]
    price = make_price(stripe_client, "team")
    org = stripe_client.v1.customers.create({"email": "ap@acme.example"})
    sub = stripe_client.v1.subscriptions.create({
        "customer": org.id, "items": [{"price": price.id, "quantity": 10}],
        "collection_method": "send_invoice", "days_until_due": 30,
    })  # fmt: skip
    emulator.advance(days=0.1)  # drafts finalize about an hour after creation, and are sent
    invoice = stripe_client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert invoice.status == "open" and invoice.amount_due == 300000
    assert "invoice.sent" in types_for(emulator, sub.id)
    emulator.advance(days=29)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    emulator.advance(days=1.5)
    assert types_for(emulator, sub.id)[-2:] == ["invoice.overdue", "customer.subscription.updated"]
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    stripe_client.v1.invoices.pay(invoice.id, {"paid_out_of_band": True})
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_test_clocks_and_the_emulator_clock_move_separately(emulator, stripe_client) -> None:  # type: ignore[no-untyped-def]
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": emulator.now()})
    on_clock = start_trial(stripe_client, "pm_card_visa", test_clock=clock.id)
    on_global = start_trial(stripe_client, "pm_card_visa")
    emulator.advance(days=8)
    assert stripe_client.v1.subscriptions.retrieve(on_global.id).status == "active"
    assert stripe_client.v1.subscriptions.retrieve(on_clock.id).status == "trialing"
    later = emulator.now() + 365 * DAY
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, {"frozen_time": clock.frozen_time + 8 * DAY}
    )
    assert stripe_client.v1.subscriptions.retrieve(on_clock.id).status == "active"
    assert emulator.now() < later  # the test clock did not move the emulator's clock
    with pytest.raises(stripe.InvalidRequestError):  # time only moves forward
        stripe_client.v1.test_helpers.test_clocks.advance(
            clock.id, {"frozen_time": clock.frozen_time}
        )


def test_the_emulator_clock_moves_over_http(emulator, stripe_client) -> None:  # type: ignore[no-untyped-def]
    sub = start_trial(stripe_client, "pm_card_visa")
    before = emulator.now()
    request = urllib.request.Request(f"{emulator.url}/_emulator/clock/advance", data=b"days=8")
    with urllib.request.urlopen(request) as response:
        body = json.loads(response.read())
    assert body["now"] >= before + 8 * DAY
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
