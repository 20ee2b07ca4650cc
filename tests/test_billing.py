"""Billing against the emulator over HTTP with the real stripe client: trials, one trial per
person, renewals, failed payments and grace, cancelling, and what the reader sees."""

from __future__ import annotations

import re
from datetime import timedelta

import stripe
from sqlalchemy import select

from paywall import clock
from paywall.extensions import db
from paywall.mail.models import OutboxMail
from tests.billing import DECLINED, FAILS_LATER, GOOD, path
from tests.helpers import csrf_token, make_item

SENTINEL = "Members-only sentence for the billing tests."


def test_the_trial_journey(smtp_shop) -> None:  # type: ignore[no-untyped-def]
    shop, inbox = smtp_shop
    memo = shop.site.run(lambda: make_item(kind="memo", body=SENTINEL).url_path())
    reader = shop.reader("trial@example.com")
    assert SENTINEL not in reader.get(memo).get_data(as_text=True)
    page = shop.checkout(reader).get_data(as_text=True)
    trial_end = (clock.now() + timedelta(days=7)).strftime("%-d %B %Y")
    assert f"Your free week has started. It ends on {trial_end}" in page
    premium, source, until = shop.access("trial@example.com")
    assert premium and source == "trial" and until.strftime("%-d %B %Y") == trial_end
    assert SENTINEL in reader.get(memo).get_data(as_text=True)  # at once, before any webhook
    account = reader.get("/account").get_data(as_text=True)
    assert f"Your trial ends on {trial_end}; then $300.00 a year." in account
    shop.settle()
    assert shop.mails_to("trial@example.com").count("Your free week of PRO has started") == 1
    shop.site.drain()  # the worker sends it, to a real SMTP server
    (welcome,) = [m for m in inbox.to("trial@example.com")
                  if m["Subject"] == "Your free week of PRO has started"]  # fmt: skip
    picker = f"{shop.site.url}/account/industries"
    text = welcome.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "\nPick your industries\n" in text and f"\n{picker}\n" in text
    html = welcome.get_body(("html",)).get_content()
    assert re.search(rf'<a href="{re.escape(picker)}"[^>]*>Pick your industries</a>', html)
    # The link opens the page for the new member.
    page = reader.get(path(picker)).get_data(as_text=True)
    assert "Industries you receive, first priority first" in page
    # A member who clicks again is sent to their account, never into a second subscription.
    again = shop.start_checkout(reader)
    assert again.status_code == 303 and again.headers["Location"].endswith("/account")


def test_double_clicks_share_one_checkout(shop) -> None:  # type: ignore[no-untyped-def]
    reader = shop.reader("double@example.com")
    first, second = shop.start_checkout(reader), shop.start_checkout(reader)
    assert first.headers["Location"] == second.headers["Location"]
    customers = shop.emulator.store.find("customer", email="double@example.com")
    assert len(list(customers)) == 1


def test_bad_plan_and_visitors(shop) -> None:  # type: ignore[no-untyped-def]
    reader = shop.reader("plans@example.com")
    assert shop.start_checkout(reader, plan="team_annual").status_code == 400
    assert shop.start_checkout(reader, plan="gold").status_code == 400
    visitor = shop.app.test_client()
    answer = visitor.get("/billing/checkout?plan=pro_annual")
    assert answer.status_code in (302, 303) and "/signin" in answer.headers["Location"]


def test_a_declined_card_stays_on_checkout_and_grants_nothing(shop) -> None:  # type: ignore[no-untyped-def]
    reader = shop.reader("declined@example.com")
    answer = shop.start_checkout(reader)
    page = shop.stripe_pages.post(path(answer.headers["Location"]), data=DECLINED)
    assert page.status_code == 402 and "insufficient funds" in page.get_data(as_text=True)
    assert shop.access("declined@example.com")[0] is False


def test_one_trial_per_email_variant(shop) -> None:  # type: ignore[no-untyped-def]
    shop.checkout(shop.reader("janedoe@gmail.com"))
    other = shop.reader("jane.doe+pro@googlemail.com")
    answer = shop.start_checkout(other)
    offer = shop.stripe_pages.get(path(answer.headers["Location"])).get_data(as_text=True)
    assert "days free" not in offer and "$300.00 per year" in offer
    shop.stripe_pages.post(path(answer.headers["Location"]), data=GOOD)
    shop.settle()
    premium, source, _ = shop.access("jane.doe+pro@googlemail.com")
    assert premium and source == "subscription"


def test_one_trial_per_card(shop) -> None:  # type: ignore[no-untyped-def]
    shop.checkout(shop.reader("first@example.com"))
    shop.checkout(shop.reader("second@example.com"))  # a new address, the same card
    shop.settle()
    premium, source, until = shop.access("second@example.com")
    assert premium and source == "subscription" and until > clock.now() + timedelta(days=300)
    assert "About your PRO trial" in shop.mails_to("second@example.com")
    told = shop.site.run(lambda: db.session.scalar(select(OutboxMail.text_body).where(
        OutboxMail.to_address == "second@example.com", OutboxMail.template == "billing_trial_refused")))  # fmt: skip
    assert told.startswith("The card you used has already had a free PRO trial")
    assert shop.access("first@example.com")[1] == "trial"


def test_the_trial_turns_into_a_paid_year(shop) -> None:  # type: ignore[no-untyped-def]
    shop.checkout(shop.reader("year@example.com"))
    shop.settle()
    shop.advance(days=4.5)  # three days before the end: the reminder
    assert "Your PRO trial ends soon" in shop.mails_to("year@example.com")
    shop.advance(days=3.5)
    premium, source, until = shop.access("year@example.com")
    assert premium and source == "subscription"
    assert until > clock.now() + timedelta(days=350)
    assert any(
        s.startswith("Receipt for your PRO payment") for s in shop.mails_to("year@example.com")
    )


def test_a_failing_card_gets_grace_then_loses_access_then_recovers(shop) -> None:  # type: ignore[no-untyped-def]
    reader = shop.reader("failing@example.com")
    shop.checkout(reader, card=FAILS_LATER)
    shop.settle()
    shop.advance(days=7.1)
    premium, source, _ = shop.access("failing@example.com")
    assert premium and source == "subscription"  # past due: inside the grace period
    assert "Your PRO payment failed" in shop.mails_to("failing@example.com")
    assert "Your last payment failed" in reader.get("/account").get_data(as_text=True)
    shop.advance(days=3.5)  # past the 3 grace days (and a failed retry)
    assert shop.access("failing@example.com")[0] is False
    # The member updates the card in the portal: the open invoice is paid, access returns.
    portal = reader.post("/billing/portal", data={"csrf_token": csrf_token(reader, "/account")})
    assert portal.status_code == 303
    shop.stripe_pages.post(path(portal.headers["Location"]) + "/card", data=GOOD)
    shop.settle()
    premium, source, _ = shop.access("failing@example.com")
    assert premium and source == "subscription"


def test_cancel_at_period_end_keeps_access_to_the_end(shop) -> None:  # type: ignore[no-untyped-def]
    reader = shop.reader("leaving@example.com")
    shop.checkout(reader)
    shop.advance(days=8)
    portal = reader.post("/billing/portal", data={"csrf_token": csrf_token(reader, "/account")})
    sub_id = shop.subscription_id("leaving@example.com")
    shop.stripe_pages.post(
        path(portal.headers["Location"]) + "/cancel", data={"subscription": sub_id}
    )
    shop.settle()
    premium, _, until = shop.access("leaving@example.com")
    assert premium and until > clock.now() + timedelta(days=350)
    assert "— you cancelled." in reader.get("/account").get_data(as_text=True)
    shop.advance(days=366)
    assert shop.access("leaving@example.com")[0] is False
    assert "Your PRO membership has ended" in shop.mails_to("leaving@example.com")
    assert "Ended on" in reader.get("/account").get_data(as_text=True)


def test_one_trial_per_account_even_after_cancelling(shop) -> None:  # type: ignore[no-untyped-def]
    reader = shop.reader("again@example.com")
    shop.checkout(reader)
    shop.settle()
    sub_id = shop.subscription_id("again@example.com")
    client = stripe.StripeClient(shop.emulator.api_key, base_addresses={"api": shop.emulator.url})
    client.v1.subscriptions.cancel(sub_id)
    shop.settle()
    assert shop.access("again@example.com")[0] is False
    answer = shop.start_checkout(reader)
    offer = shop.stripe_pages.get(path(answer.headers["Location"])).get_data(as_text=True)
    assert "days free" not in offer and "$300.00 per year" in offer
    assert "Subscribe" in reader.get("/pro").get_data(as_text=True)  # no second free week offered
