"""Billing races on PostgreSQL: parallel checkout posts make one Stripe customer, one Checkout
Session and one subscription; and, with the app served by two gunicorn workers, success pages
and webhooks about the same checkout arriving together never fail, and two accounts of one
address racing through checkout get one trial between them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from paywall.accounts.models import User
from paywall.billing.models import StripeEvent, Subscription, TrialClaim
from paywall.extensions import db
from paywall.mail.models import OutboxMail
from tests.billing import GOOD, path, pay, race
from tests.helpers import csrf_token, make_user, sign_in

pytestmark = pytest.mark.postgres


def test_twenty_parallel_checkout_posts_make_one_customer_and_one_subscription(pg_shop) -> None:  # type: ignore[no-untyped-def]
    shop = pg_shop
    shop.site.run(make_user, email="eager@example.com")
    clients = []
    for _ in range(20):
        client = shop.app.test_client()
        sign_in(client, "eager@example.com")
        clients.append((client, csrf_token(client, "/account")))

    def post(pair):  # type: ignore[no-untyped-def]
        client, token = pair
        return client.post("/billing/checkout", data={"csrf_token": token, "plan": "pro_annual"})

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(post, clients))
    assert {a.status_code for a in answers} == {303}
    locations = {a.headers["Location"] for a in answers}
    assert len(locations) == 1  # one Checkout Session for all of them
    assert len(list(shop.emulator.store.find("customer", email="eager@example.com"))) == 1
    for location in locations:
        shop.stripe_pages.post(path(location), data=GOOD)
    shop.settle()
    count = shop.site.run(lambda: db.session.scalar(select(func.count()).select_from(Subscription)))
    assert count == 1
    assert len(list(shop.emulator.store.find("subscription"))) == 1


ROUNDS = 12


def forget_cards() -> None:
    """The emulator has few test cards: each round's readers pay with cards new to the ledger."""
    db.session.execute(delete(TrialClaim).where(TrialClaim.kind == "card"))
    db.session.commit()


def test_success_pages_and_webhooks_race_without_a_failure(served_shop) -> None:  # type: ignore[no-untyped-def]
    """Two gunicorn workers: each reader's success page and all of Stripe's events about their
    checkout arrive at once. Nobody gets a 5xx, no event is stored as failed, and each reader
    has one subscription, on trial, and one "trial started" mail."""
    shop = served_shop
    answers: list[int] = []
    for n in range(ROUNDS):
        shop.run(forget_cards)
        cookie, success = shop.paid_checkout(f"racer{n}@example.com")
        deliveries = [partial(shop.deliver, body) for body in shop.new_events()]
        answers += race(partial(shop.visit, cookie, success), *deliveries)
    assert set(answers) == {200}, answers

    def outcome() -> tuple[Any, ...]:
        failed = db.session.execute(
            select(StripeEvent.type, StripeEvent.error).where(
                StripeEvent.status.not_in(("processed", "ignored"))
            )
        ).all()
        trials = db.session.scalars(select(Subscription.status)).all()
        started = db.session.scalars(
            select(OutboxMail.to_address).where(OutboxMail.template == "billing_trial_started")
        ).all()
        return failed, sorted(trials), sorted(started)

    failed, trials, started = shop.run(outcome)
    assert failed == [], failed
    assert trials == ["trialing"] * ROUNDS
    assert started == sorted(f"racer{n}@example.com" for n in range(ROUNDS))


PAIRS = 6
OTHER_CARD = {**GOOD, "card_number": "5555555555554444"}


def test_two_accounts_of_one_address_racing_on_two_workers_get_one_trial(served_shop) -> None:  # type: ignore[no-untyped-def]
    """`pairN+a@` and `pairN+b@` (one address by the email rule) both open Checkout before
    either pays, then pay with different cards; both success pages and every event arrive
    together at two gunicorn workers. One trial stands; the other is ended at once in Stripe,
    its member told once; no 5xx and no failed event."""
    shop = served_shop
    answers: list[int] = []
    for n in range(PAIRS):
        shop.run(forget_cards)
        pair = [f"pair{n}+a@example.com", f"pair{n}+b@example.com"]
        opened = [shop.open_checkout(email) for email in pair]
        visits = [
            partial(shop.visit, cookie, pay(shop.stripe_pages, url, card))
            for (cookie, url), card in zip(opened, (GOOD, OTHER_CARD), strict=True)
        ]
        answers += race(*visits, *[partial(shop.deliver, body) for body in shop.new_events()])
        while followups := shop.new_events():  # what ending a trial made happen in Stripe
            answers += race(*[partial(shop.deliver, body) for body in followups])
        assert outcome_of(shop, pair) in (("trialing", "ended"), ("ended", "trialing")), n
    assert set(answers) == {200}, answers
    failed = shop.run(lambda: db.session.scalars(
        select(StripeEvent.type).where(StripeEvent.status == "failed")).all())  # fmt: skip
    assert failed == []


def outcome_of(shop: Any, pair: list[str]) -> tuple[str, ...]:
    """For each reader: "trialing" (in Stripe and on the site, and told the trial started) or
    "ended" (charged at once in Stripe, a paying member on the site, told why once, and sent
    the receipt)."""

    def read(email: str) -> str:
        user = db.session.scalar(select(User).where(User.email == email))
        (sub,) = shop.emulator.store.find("subscription", customer=user.stripe_customer_id)
        told = db.session.scalars(
            select(OutboxMail.template).where(OutboxMail.to_address == email)
        ).all()
        if sub["status"] == "trialing" and user.access.source == "trial":
            return "trialing" if told == ["billing_trial_started"] else f"trialing, told {told}"
        ended = sub["status"] == "active" and sub["trial_end"] <= shop.emulator.now()
        if ended and user.access.source == "subscription":
            why = told.count("billing_trial_refused") == 1 and "billing_receipt" in told
            return "ended" if why and "billing_trial_started" not in told else f"ended, told {told}"
        return f"{sub['status']} in Stripe, {user.access.source} on the site"

    return tuple(shop.run(lambda: [read(email) for email in pair]))
