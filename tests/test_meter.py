"""The meter: with FREE_ARTICLES_PER_MONTH > 0, non-members read a few premium items a month."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from paywall import clock
from paywall.content.models import MeterRead
from paywall.content.reading import METER_COOKIE
from paywall.extensions import db
from tests.helpers import make_item, make_member, make_user, sign_in

SENTINEL = "Metered-body-sentinel"


@pytest.fixture
def app_config():  # type: ignore[no-untyped-def]
    return {"FREE_ARTICLES_PER_MONTH": 2}


@pytest.fixture
def memos(app):  # type: ignore[no-untyped-def]
    return [make_item(kind="memo", body=f"{SENTINEL} {n}") for n in range(4)]


def body_shown(response) -> bool:  # type: ignore[no-untyped-def]
    return SENTINEL in response.get_data(as_text=True)


def test_a_visitor_reads_two_premium_items_then_meets_the_wall(client, memos) -> None:  # type: ignore[no-untyped-def]
    first = client.get(memos[0].url_path())
    assert body_shown(first) and "1 left this month" in first.get_data(as_text=True)
    assert body_shown(client.get(memos[1].url_path()))
    third = client.get(memos[2].url_path())
    assert not body_shown(third)
    assert "You have read your 2 free PRO items this month" in third.get_data(as_text=True)
    # Going back to an item already read costs nothing and still shows it.
    assert body_shown(client.get(memos[0].url_path()))


def test_a_visitor_meter_writes_nothing_to_the_database(client, memos) -> None:  # type: ignore[no-untyped-def]
    client.get(memos[0].url_path())
    assert db.session.scalar(select(func.count(MeterRead.id))) == 0


def test_a_forged_meter_cookie_is_ignored_and_replaced_by_a_signed_one(app, client, memos) -> None:  # type: ignore[no-untyped-def]
    client.get(memos[0].url_path())
    client.get(memos[1].url_path())
    client.set_cookie(METER_COOKIE, "eyJtIjoiMjAyNi0xMSIsImlkcyI6W119.forged", domain="localhost")
    # An unsigned cookie is ignored: the visitor starts over rather than gaining anything.
    response = client.get(memos[2].url_path())
    assert body_shown(response)
    signed = response.headers["Set-Cookie"]
    assert signed.startswith(METER_COOKIE) and "HttpOnly" in signed


def test_the_meter_starts_again_each_calendar_month(client, memos, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    november = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: november)
    for memo in memos[:2]:
        client.get(memo.url_path())
    assert not body_shown(client.get(memos[2].url_path()))
    december = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: december)
    assert body_shown(client.get(memos[2].url_path()))


def test_a_signed_in_free_reader_is_counted_on_the_account(app, memos) -> None:  # type: ignore[no-untyped-def]
    user = make_user()
    phone, laptop = app.test_client(), app.test_client()
    sign_in(phone, user.email)
    sign_in(laptop, user.email)
    assert body_shown(phone.get(memos[0].url_path()))
    assert body_shown(laptop.get(memos[1].url_path()))
    # The account's two reads are spent, whichever device reads next.
    assert not body_shown(phone.get(memos[2].url_path()))
    assert db.session.scalar(select(func.count(MeterRead.id))) == 2


def test_members_never_touch_the_meter(app, memos) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    sign_in(client, make_member().email)
    for memo in memos:
        response = client.get(memo.url_path())
        assert body_shown(response) and "left this month" not in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(MeterRead.id))) == 0


def test_the_meter_never_opens_files_or_the_api(client, memos) -> None:  # type: ignore[no-untyped-def]
    answer = client.get(f"/api/v1/items/memo/{memos[0].slug}").get_json()
    assert answer["entitled"] is False and answer["item"]["body_html"] is None


def test_without_a_meter_nothing_is_free(app) -> None:  # type: ignore[no-untyped-def]
    app.config["FREE_ARTICLES_PER_MONTH"] = 0
    memo = make_item(kind="memo", body=SENTINEL)
    response = app.test_client().get(memo.url_path())
    assert not body_shown(response) and "free PRO item" not in response.get_data(as_text=True)
