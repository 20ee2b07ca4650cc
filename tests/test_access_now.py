"""Access is decided at each request: a member who lapses loses every premium text, file,
stream and replay address at once, even where an earlier grant left a registration behind.

The walk requests every GET route of the URL map (tests/urlmap.py: nothing is listed by hand),
filling each route's arguments from sample items whose members-only parts carry sentinel
strings, so a route added later is walked as soon as it exists.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from paywall import clock
from paywall.accounts.comp import end_comps, grant_comp
from paywall.accounts.models import User
from paywall.billing.models import Subscription
from paywall.content.models import ContentItem
from paywall.entitlements import refresh_access
from paywall.extensions import db
from tests.helpers import csrf_token, make_user
from tests.urlmap import REPLAY, STREAM, leaks_in, paths, sample_items, signed_in


def walk(app: Flask, client: FlaskClient, items: list[ContentItem]) -> dict[str, set[str]]:
    """GET every route for every item; returns the sentinels seen, by endpoint."""
    seen: dict[str, set[str]] = {}
    for rule, path in paths(app, items):
        response = client.get(path)
        assert response.status_code < 500, (path, response.status_code)
        found = leaks_in(response.get_data(as_text=True) + str(response.headers))
        if found:
            seen.setdefault(rule.endpoint, set()).update(found)
    return seen


def _comp_ended(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    end_comps(user, staff=None)


def _comp_ran_out(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    later = clock.now() + timedelta(days=31)
    monkeypatch.setattr(clock, "now", lambda: later)


def _subscription_canceled(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    row = db.session.query(Subscription).filter_by(user_id=user.id).one()
    row.status, row.ended_at = "canceled", clock.now()  # as customer.subscription.deleted does
    refresh_access(user)


def _subscription_ran_out(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    later = clock.now() + timedelta(days=31)  # past the period end; no webhook came (yet)
    monkeypatch.setattr(clock, "now", lambda: later)


def _by_comp(user: User) -> None:
    grant_comp(user.email, until=clock.now() + timedelta(days=30), reason="test", staff=None)


def _by_subscription(user: User) -> None:
    db.session.add(Subscription(stripe_subscription_id="sub_lapse", stripe_customer_id="cus_lapse",
                                user_id=user.id, plan="pro_annual", status="active",
                                current_period_end=clock.now() + timedelta(days=30)))  # fmt: skip
    db.session.flush()
    refresh_access(user)


Step = Callable[..., None]
LAPSES: dict[str, tuple[Step, Step]] = {
    "comp ended by staff": (_by_comp, _comp_ended),
    "comp ran out": (_by_comp, _comp_ran_out),
    "subscription canceled": (_by_subscription, _subscription_canceled),
    "subscription period ended": (_by_subscription, _subscription_ran_out),
}


@pytest.mark.parametrize("lapse", LAPSES)
def test_a_lapsed_member_gets_no_premium_text_stream_or_replay_on_any_route(
    app: Flask, monkeypatch: pytest.MonkeyPatch, lapse: str
) -> None:
    items = sample_items()
    user = make_user(email="member@example.com")
    grant, end = LAPSES[lapse]
    grant(user)
    db.session.commit()
    client = signed_in(app, user.email)
    token = csrf_token(client, "/account")
    for session in (items[3], items[4]):
        answer = client.post(session.url_path("/register"), data={"csrf_token": token})
        assert answer.status_code == 303, answer.get_data(as_text=True)[:300]

    # While entitled, the walk does see every sentinel where it belongs: it can find a leak.
    entitled = walk(app, client, items)
    for endpoint in ("content.item", "content.item_print", "content.industry_item", "api.item",
                     "content.attachment", "registrations.calendar_file"):  # fmt: skip
        assert endpoint in entitled, (endpoint, entitled)
    assert STREAM in entitled["registrations.calendar_file"]
    assert {STREAM, REPLAY} <= entitled["content.item"]

    end(db.session.get(User, user.id), monkeypatch)
    db.session.commit()
    assert walk(app, client, items) == {}
    for session in (items[3], items[4]):
        page = client.get(session.url_path()).get_data(as_text=True)
        assert 'id="stream"' not in page and "calendar.ics" not in page
        assert client.get(session.url_path("/calendar.ics")).status_code == 404


def test_a_registered_member_still_gets_the_calendar_file_with_the_stream(app: Flask) -> None:
    items = sample_items()
    user = make_user(email="member@example.com")
    _by_comp(user)
    db.session.commit()
    client = signed_in(app, user.email)
    event = items[4]
    client.post(event.url_path("/register"), data={"csrf_token": csrf_token(client, "/account")})
    answer = client.get(event.url_path("/calendar.ics"))
    assert answer.status_code == 200 and answer.mimetype == "text/calendar"
    assert STREAM in answer.get_data(as_text=True).replace("\r\n ", "")
