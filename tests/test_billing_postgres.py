"""Parallel checkout posts on PostgreSQL: one Stripe customer, one Checkout Session, and never
more than one subscription."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from paywall.billing.models import Subscription
from paywall.extensions import db
from tests.billing import GOOD, path
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
