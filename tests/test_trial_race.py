"""One trial per person when two accounts race: `jane+a@` and `jane+b@` (one address by the
email rule) both open Checkout while neither has a trial yet, so both are offered the free
week, and both pay, with different cards. The claim is checked again when each trial is
recorded, by the success page or the webhook, whichever comes first: the first keeps its
trial, the second is ended at once in Stripe and its member is told."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from paywall.billing.models import StripeEvent
from paywall.extensions import db
from paywall.mail.models import OutboxMail
from tests.billing import GOOD, path

OTHER_CARD = {**GOOD, "card_number": "5555555555554444"}
FIRST, SECOND = "jane+a@example.com", "jane+b@example.com"


def both_pay(shop: Any) -> tuple[Any, str, Any, str]:
    """Both readers open Checkout (each offered the free week), then both pay."""
    shop.hold_webhooks()
    readers, checkouts = [], []
    for email in (FIRST, SECOND):
        reader = shop.reader(email)
        answer = shop.start_checkout(reader)
        offer = shop.stripe_pages.get(path(answer.headers["Location"])).get_data(as_text=True)
        assert "7 days free" in offer, f"{email} should be offered the free week"
        readers.append(reader)
        checkouts.append(answer.headers["Location"])
    first_back = shop.pay(checkouts[0], GOOD)
    second_back = shop.pay(checkouts[1], OTHER_CARD)
    return readers[0], path(first_back), readers[1], path(second_back)


@pytest.mark.parametrize("order", ["success pages first", "webhooks first", "one of each"])
def test_two_accounts_of_one_address_get_one_trial(shop, order: str) -> None:  # type: ignore[no-untyped-def]
    first, first_back, second, second_back = both_pay(shop)
    statuses: list[int] = []
    if order == "success pages first":
        pages = [first.get(first_back), second.get(second_back)]
        statuses += shop.deliver_held()
    elif order == "webhooks first":
        statuses += shop.deliver_held()
        pages = [first.get(first_back), second.get(second_back)]
    else:
        pages = [first.get(first_back)]
        statuses += shop.deliver_held()
        pages.append(second.get(second_back))
    statuses += shop.deliver_held()  # what the pages made happen in Stripe
    assert [page.status_code for page in pages] == [200, 200]
    assert set(statuses) == {200}, statuses

    assert_one_trial_and_one_refusal(shop)
    assert "Your free week has started" in pages[0].get_data(as_text=True)


def assert_one_trial_and_one_refusal(shop: Any) -> None:
    """The first reader is on trial; the second paid at once, in Stripe as on the site, and
    was told why by mail. Nothing failed on the way."""
    kept = stripe_subscription(shop, FIRST)
    ended = stripe_subscription(shop, SECOND)
    assert kept["status"] == "trialing"
    assert ended["status"] == "active" and ended["trial_end"] <= shop.emulator.now()
    assert shop.access(FIRST)[:2] == (True, "trial")
    assert shop.access(SECOND)[:2] == (True, "subscription")

    refused = mails(shop, "billing_trial_refused")
    assert [to for to, _ in refused] == [SECOND]
    assert "This email address" in refused[0][1] and "another account" in refused[0][1]
    assert [to for to, _ in mails(shop, "billing_trial_started")] == [FIRST]
    failed = shop.site.run(lambda: db.session.scalars(
        select(StripeEvent.type).where(StripeEvent.status == "failed")).all())  # fmt: skip
    assert failed == []


def stripe_subscription(shop: Any, email: str) -> dict[str, Any]:
    customer = shop.user(email).stripe_customer_id
    (found,) = shop.emulator.store.find("subscription", customer=customer)
    return dict(found)


def mails(shop: Any, template: str) -> list[tuple[str, str]]:
    return shop.site.run(lambda: [tuple(row) for row in db.session.execute(
        select(OutboxMail.to_address, OutboxMail.text_body)
        .where(OutboxMail.template == template).order_by(OutboxMail.id))])  # fmt: skip
