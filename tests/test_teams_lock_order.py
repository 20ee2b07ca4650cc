"""Seat changes and Stripe's webhooks about the same team subscription, meeting on PostgreSQL
in two gunicorn workers: no deadlock, so no 5xx, no failed event, and the seats end equal to
what Stripe bills.

Both take the subscription's mirror row and the team row. A webhook's sync locks the
subscription row, reads Stripe, then updates the team; a seat change used to update the team
first and lock the subscription row after (its own sync), so the two could each hold one row
and wait for the other until PostgreSQL aborted one. Here each change is posted at the moment
the events of the previous change arrive (Stripe delivers when it delivers), and Stripe takes a
while to answer the sync's read (as the real one may, a few hundred milliseconds): the webhook
then holds the subscription row while the change is made, which is where the two used to meet.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from sqlalchemy import select

from paywall.billing import sync
from paywall.billing.models import StripeEvent
from paywall.extensions import db
from paywall.teams import joining, onboarding
from paywall.teams.models import Team
from tests.billing import ServedShop, pay, race
from tests.helpers import csrf_token, make_user, sign_in

pytestmark = pytest.mark.postgres
ROUNDS = 6
MANAGER, STAFF = "boss@acme.example", "staff@example.com"
MIRROR_READ_SECONDS = 0.3


@pytest.fixture
def shop(served_shop: ServedShop) -> Iterator[ServedShop]:
    """The served shop, its Stripe slow to answer the sync's read of a subscription (the one
    with `expand`, made while the mirror row is locked)."""
    server = served_shop.emulator.server
    fast = server.app

    def slow_mirror_reads(environ: dict[str, Any], start_response: Any) -> Any:
        if (
            environ["REQUEST_METHOD"] == "GET"
            and environ["PATH_INFO"].startswith("/v1/subscriptions/")
            and "expand" in environ.get("QUERY_STRING", "")
        ):
            time.sleep(MIRROR_READ_SECONDS)
        return fast(environ, start_response)

    server.app = slow_mirror_reads
    yield served_shop


def onboard(shop: ServedShop, billing: str, seats: int) -> int:
    """A team with its manager as a member; a card team has paid its Checkout. Its id."""

    def create() -> int:
        spec = onboarding.Onboarding("Acme", seats, MANAGER, billing)
        team = onboarding.create_team(spec, None)
        db.session.commit()
        return int(team.id)

    team_id = int(shop.run(create))
    if billing == "card":
        checkout = shop.run(lambda: db.session.get(Team, team_id).checkout_url)
        pay(shop.stripe_pages, checkout)
        customer = shop.run(lambda: db.session.get(Team, team_id).stripe_customer_id)
        (paid,) = shop.emulator.store.find("subscription", customer=customer)
        shop.run(lambda: (sync.sync_subscription(paid["id"]), db.session.commit()))

    def manager_joins() -> None:
        user = make_user(email=MANAGER)
        joining.join(db.session.get(Team, team_id), user, role="manager")
        db.session.commit()

    shop.run(manager_joins)
    return team_id


def signed_in(shop: ServedShop, email: str, form_page: str) -> tuple[str, str]:
    """A session cookie and a CSRF token for a user who signs in (in-process)."""
    client = shop.app.test_client()
    sign_in(client, email)
    token = csrf_token(client, form_page)
    return client.get_cookie(shop.app.config["SESSION_COOKIE_NAME"]).value, token


def change_seats_racing_webhooks(shop: ServedShop, posts: list[partial[int]]) -> list[int]:
    """Each post released together with the deliveries of every event Stripe made since the
    last one; then the rest delivered. The post's status codes; every delivery must be 200."""
    answered, delivered = [], []
    for post in posts:
        held = [partial(shop.deliver, body) for body in shop.new_events()]
        first, *rest = race(post, *held)
        answered.append(first)
        delivered += rest
    while bodies := shop.new_events():
        delivered += race(*[partial(shop.deliver, body) for body in bodies])
    assert set(delivered) == {200}, delivered
    return answered


def billed_and_held(shop: ServedShop, team_id: int) -> tuple[int, int, list[str]]:
    """Seats Stripe bills, seats the team has, and events stored as failed."""
    team = shop.run(lambda: db.session.get(Team, team_id))
    objects = shop.emulator.store.objects
    billed = int(objects[objects[team.stripe_subscription_id]["_items"][0]]["quantity"])
    failed = shop.run(lambda: db.session.scalars(select(StripeEvent.error).where(
        StripeEvent.status == "failed")).all())  # fmt: skip
    return billed, team.seats, failed


@pytest.mark.parametrize("billing", ["invoice", "card"])
def test_a_manager_adds_seats_while_the_webhooks_arrive(shop: ServedShop, billing: str) -> None:
    team_id = onboard(shop, billing, seats=3)
    cookie, token = signed_in(shop, MANAGER, "/team")
    add_one = partial(shop.post, cookie, "/team/seats", {"csrf_token": token, "seats": "1"})
    answered = change_seats_racing_webhooks(shop, [add_one] * ROUNDS)
    assert answered == [303] * ROUNDS
    assert billed_and_held(shop, team_id) == (3 + ROUNDS, 3 + ROUNDS, [])


def test_staff_set_seats_up_and_down_while_the_webhooks_arrive(shop: ServedShop) -> None:
    """Up goes through add_seats (billed now); down is set_seats' own path (from renewal)."""
    team_id = onboard(shop, "invoice", seats=3)
    shop.run(lambda: make_user(email=STAFF, role="admin"))
    home = f"/admin/teams/{team_id}"
    cookie, token = signed_in(shop, STAFF, home)
    wanted = [5, 4, 6, 5, 7, 6][:ROUNDS]
    posts = [
        partial(shop.post, cookie, f"{home}/seats", {"csrf_token": token, "seats": str(n)})
        for n in wanted
    ]
    assert change_seats_racing_webhooks(shop, posts) == [303] * len(wanted)
    assert billed_and_held(shop, team_id) == (wanted[-1], wanted[-1], [])
