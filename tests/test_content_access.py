"""The gating matrix: every kind at every access level, read by every kind of reader."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from paywall import clock
from paywall.accounts.comp import end_comps, grant_comp
from paywall.content.kinds import KINDS
from paywall.extensions import db
from tests.helpers import make_item, make_member, make_user, sign_in

SENTINEL = "Sentinel-7Q: only entitled readers may ever see this sentence."
READERS = ("visitor", "free", "member", "lapsed", "staff")
# Who reads the whole text, by access level.
ENTITLED = {
    "public": set(READERS),
    "registered": {"free", "member", "lapsed", "staff"},
    "premium": {"member", "staff"},
}


def reader_client(app, kind_of_reader: str) -> FlaskClient:  # type: ignore[no-untyped-def]
    client = app.test_client()
    if kind_of_reader == "visitor":
        return client
    if kind_of_reader == "free":
        user = make_user()
    elif kind_of_reader == "member":
        user = make_member()
    elif kind_of_reader == "staff":
        user = make_user(role="admin")
    else:  # lapsed: had complimentary access, which has ended
        user = make_member()
        end_comps(user, staff=None)
        db.session.commit()
    sign_in(client, user.email)
    return client


@pytest.mark.parametrize(
    ("kind", "level", "reader"), list(itertools.product(KINDS, ENTITLED, READERS))
)
def test_gating_matrix(app, kind, level, reader) -> None:  # type: ignore[no-untyped-def]
    item = make_item(kind=kind, access=level, body=SENTINEL)
    page = reader_client(app, reader).get(item.url_path())
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert item.teaser in html, "everyone gets the title and teaser"
    if reader in ENTITLED[level]:
        assert SENTINEL in html
        assert 'id="paywall"' not in html
    else:
        assert SENTINEL not in html
        assert 'id="paywall"' in html


def test_the_wall_fits_who_is_reading(app) -> None:  # type: ignore[no-untyped-def]
    memo = make_item(kind="memo", access="premium")
    walls = {r: reader_client(app, r).get(memo.url_path()).get_data(as_text=True) for r in
             ("visitor", "free", "lapsed")}  # fmt: skip
    assert "Try PRO free for 1 week" in walls["visitor"]
    assert "Already a member?" in walls["visitor"] and "team plans" in walls["visitor"]
    assert "Try PRO free for 1 week" in walls["free"] and "Already a member?" not in walls["free"]
    assert "Your PRO membership has ended" in walls["lapsed"]
    assert "Renew PRO" in walls["lapsed"]


def test_a_reader_who_used_their_trial_is_offered_a_plain_subscription(app) -> None:  # type: ignore[no-untyped-def]
    memo = make_item(kind="memo")
    user = make_user()
    user.trial_used_at = clock.now()
    db.session.commit()
    client = app.test_client()
    sign_in(client, user.email)
    html = client.get(memo.url_path()).get_data(as_text=True)
    assert "Subscribe to PRO" in html and "free for 1 week" not in html


def test_registered_items_wall_only_visitors_with_a_sign_up(app) -> None:  # type: ignore[no-untyped-def]
    article = make_item(kind="article", access="registered", body=SENTINEL)
    html = app.test_client().get(article.url_path()).get_data(as_text=True)
    assert "Create a free account to keep reading" in html and SENTINEL not in html


def test_complimentary_access_ends_on_its_date(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    memo = make_item(kind="memo", body=SENTINEL)
    user = make_user()
    grant_comp(user.email, until=clock.now() + timedelta(days=2), reason="press", staff=None)
    db.session.commit()
    client = app.test_client()
    sign_in(client, user.email)
    assert SENTINEL in client.get(memo.url_path()).get_data(as_text=True)
    later = clock.now() + timedelta(days=3)
    monkeypatch.setattr(clock, "now", lambda: later)
    html = client.get(memo.url_path()).get_data(as_text=True)
    assert SENTINEL not in html and "Your PRO membership has ended" in html


def test_drafts_and_scheduled_items_are_not_found(app, client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    draft = make_item(kind="memo", published=False)
    scheduled = make_item(kind="article", access="public", published_at="2030-01-01T00:00:00Z")
    assert client.get(draft.url_path()).status_code == 404
    assert client.get(scheduled.url_path()).status_code == 404
    assert scheduled.title not in client.get("/articles").get_data(as_text=True)
    later = scheduled.published_at + timedelta(minutes=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert client.get(scheduled.url_path()).status_code == 200
