"""Strong customer authentication end to end: the app, the emulator over HTTP, signed webhooks
and a real SMTP server. A renewal the member's bank wants confirmed (3-D Secure) leaves them
past due: they are mailed Stripe's hosted invoice link once, /account says so with the link,
access follows the past-due grace, and confirming the payment restores the membership."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from paywall import clock
from paywall.billing import webhooks
from paywall.billing.models import Invoice
from paywall.devstripe.webhooks import DEFAULT_SECRET, signature_header
from paywall.extensions import db
from tests.billing import GOOD, Shop, path
from tests.helpers import make_item
from tests.mailserver import Inbox

ALWAYS = {**GOOD, "card_number": "4000002760003184"}  # 3-D Secure on every charge
CONFIRM_SUBJECT = "Confirm your PRO payment"
FAILED_SUBJECT = "Your PRO payment failed"
SENTINEL = "Members-only sentence for the SCA tests."


def join_with(shop: Shop, email: str, card: dict[str, str]) -> Any:
    """A reader starts the free week with a card their bank checks (completing its challenge
    on the emulator's page) and comes back to the success page; their signed-in client."""
    reader = shop.reader(email)
    checkout_url = shop.start_checkout(reader).headers["Location"]
    challenge = shop.stripe_pages.post(path(checkout_url), data=card)
    assert challenge.status_code == 303 and challenge.headers["Location"].endswith("/authenticate")
    done = shop.stripe_pages.post(challenge.headers["Location"], data={"outcome": "complete"})
    assert done.status_code == 303, done.get_data(as_text=True)
    assert "Your free week has started" in reader.get(path(done.headers["Location"])).get_data(
        as_text=True
    )
    shop.settle()
    return reader


def open_invoice(shop: Shop, email: str) -> Invoice:
    customer = shop.user(email).stripe_customer_id
    return shop.site.run(lambda: db.session.scalars(select(Invoice).where(
        Invoice.stripe_customer_id == customer, Invoice.status == "open")).one())  # fmt: skip


def confirm_on_the_invoice_page(shop: Shop, hosted_url: str) -> None:
    """The member confirms the payment on Stripe's hosted invoice page, with their bank."""
    challenge = shop.stripe_pages.post(path(hosted_url), data={"confirm": "1"})
    assert challenge.status_code == 303
    paid = shop.stripe_pages.post(challenge.headers["Location"], data={"outcome": "complete"})
    assert "the invoice is paid" in paid.get_data(as_text=True)
    shop.settle()


def test_a_renewal_the_bank_wants_confirmed(smtp_shop: tuple[Shop, Inbox]) -> None:
    shop, inbox = smtp_shop
    memo = shop.site.run(lambda: make_item(kind="memo", body=SENTINEL).url_path())
    reader = join_with(shop, "sca@example.com", ALWAYS)
    shop.advance(days=7.1)  # the trial ends; the first year's charge needs the member

    premium, source, until = shop.access("sca@example.com")
    assert premium and source == "subscription"  # past due: inside the grace period
    assert until < clock.now() + timedelta(days=3)
    invoice = open_invoice(shop, "sca@example.com")
    assert invoice.payment_intent_status == "requires_action" and invoice.hosted_invoice_url
    assert shop.mails_to("sca@example.com").count(CONFIRM_SUBJECT) == 1
    assert FAILED_SUBJECT not in shop.mails_to("sca@example.com")  # not a failed card
    account = reader.get("/account").get_data(as_text=True)
    assert "Your bank asks you to confirm your payment of $300.00." in account
    assert f'href="{invoice.hosted_invoice_url}">Confirm your payment</a>' in account

    shop.site.drain()  # the worker sends it to a real SMTP server
    (raw,) = [r for r in inbox.raw_to("sca@example.com") if CONFIRM_SUBJECT.encode() in r]
    (mail,) = [m for m in inbox.to("sca@example.com") if m["Subject"] == CONFIRM_SUBJECT]
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert f"\n{invoice.hosted_invoice_url}\n" in text and "$300.00" in text
    assert "You keep PRO for 3 days" in text and b"Confirm your payment" in raw

    shop.advance(days=3.5)  # past the 3 grace days, still not confirmed: no reading
    assert shop.access("sca@example.com")[0] is False
    assert SENTINEL not in reader.get(memo).get_data(as_text=True)
    assert "Confirm your payment</a>" in reader.get("/account").get_data(as_text=True)

    confirm_on_the_invoice_page(shop, str(invoice.hosted_invoice_url))
    premium, source, until = shop.access("sca@example.com")
    assert premium and source == "subscription" and until > clock.now() + timedelta(days=350)
    assert SENTINEL in reader.get(memo).get_data(as_text=True)
    account = reader.get("/account").get_data(as_text=True)
    assert "Renews on" in account and "Confirm your payment</a>" not in account
    assert any(
        s.startswith("Receipt for your PRO payment") for s in shop.mails_to("sca@example.com")
    )
    assert shop.mails_to("sca@example.com").count(CONFIRM_SUBJECT) == 1


def test_confirming_within_the_grace_days_keeps_reading_uninterrupted(shop: Shop) -> None:
    reader = join_with(shop, "quick@example.com", ALWAYS)
    shop.advance(days=7.1)
    invoice = open_invoice(shop, "quick@example.com")
    shop.advance(days=1)
    assert shop.access("quick@example.com")[0] is True
    confirm_on_the_invoice_page(shop, str(invoice.hosted_invoice_url))
    premium, source, until = shop.access("quick@example.com")
    assert premium and source == "subscription" and until > clock.now() + timedelta(days=350)
    assert "Renews on" in reader.get("/account").get_data(as_text=True)


def test_a_card_authenticated_at_checkout_renews_without_asking_again(shop: Shop) -> None:
    once = {**GOOD, "card_number": "4000002500003155"}  # asks the bank once, when saved
    join_with(shop, "once@example.com", once)
    shop.advance(days=7.1)
    premium, source, _ = shop.access("once@example.com")
    assert premium and source == "subscription"
    assert CONFIRM_SUBJECT not in shop.mails_to("once@example.com")
    assert any(
        s.startswith("Receipt for your PRO payment") for s in shop.mails_to("once@example.com")
    )


def test_the_action_required_event_mails_once_whatever_the_order_and_repeats(shop: Shop) -> None:
    join_with(shop, "twice@example.com", ALWAYS)
    shop.hold_webhooks()
    shop.advance(days=7.1)
    held = shop.emulator.events(start=shop.held_from)
    assert "invoice.payment_action_required" in [e["type"] for e in held]
    endpoint = shop.app.test_client()

    def deliver(event: dict[str, Any]) -> str:
        body = json.dumps(event, separators=(",", ":"))
        signed = {"Stripe-Signature": signature_header(body, DEFAULT_SECRET)}
        answer = endpoint.post(
            "/webhooks/stripe", data=body, content_type="application/json", headers=signed
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.get_data(as_text=True)

    for event in reversed(held):  # newest first: Stripe does not promise an order
        deliver(event)
    (action,) = [e for e in held if e["type"] == "invoice.payment_action_required"]
    assert [deliver(action), deliver(action)] == ["duplicate", "duplicate"]  # at least once
    outcomes = shop.site.run(webhooks.replay)  # staff replay every stored event
    assert outcomes and all(not outcome.startswith("failed") for _, outcome in outcomes)
    mails = shop.mails_to("twice@example.com")
    assert mails.count(CONFIRM_SUBJECT) == 1 and FAILED_SUBJECT not in mails
    assert open_invoice(shop, "twice@example.com").payment_intent_status == "requires_action"
