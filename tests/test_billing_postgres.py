"""Parallel checkout posts on PostgreSQL: one Stripe customer, one Checkout Session, and never
more than one subscription."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from paywall.billing.models import StripeEvent, Subscription, TrialClaim
from paywall.extensions import db
from paywall.mail.models import OutboxMail
from tests.billing import GOOD, path, race
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
