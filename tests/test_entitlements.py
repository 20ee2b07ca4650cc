"""Entitlements: each package registers the grants it gives. A new kind of grant is one
registration in one module, and the member's access, the account page, the staff member page,
the dashboard and /metrics all follow it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from paywall import access, clock, entitlements
from paywall.accounts.models import User
from paywall.entitlements import Kind, refresh_access
from paywall.extensions import db
from tests.helpers import make_user, sign_in

GIFT = Kind("gift", rank=0, label="gift membership")

GiveGift = Callable[[User, datetime], None]


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test last for that test only."""
    monkeypatch.setattr(entitlements, "SOURCES", dict(entitlements.SOURCES))
    monkeypatch.setattr(entitlements, "KINDS", dict(entitlements.KINDS))


@pytest.fixture
def give_gift(app: Flask, registry: None) -> GiveGift:
    """A kind of grant registered as a gifts package would register it, in its own module and
    nowhere else: a gifted member has access until the gift ends."""
    gifts: dict[int, datetime] = {}

    @entitlements.grants(GIFT)
    def gift_grants(user: User) -> list[access.Grant]:
        until = gifts.get(user.id) if user.id is not None else None
        return [access.Grant(source="gift", until=until)] if until else []

    def give(user: User, until: datetime) -> None:
        gifts[user.id] = until
        refresh_access(user)
        db.session.commit()

    return give


def test_a_new_kind_of_grant_gives_access_and_the_account_page_names_it(
    app: Flask, client: FlaskClient, give_gift: GiveGift
) -> None:
    member = make_user(email="gifted@example.com")
    until = clock.now() + timedelta(days=30)
    give_gift(member, until)
    assert member.access == access.Access(premium=True, source="gift", until=until)
    sign_in(client, "gifted@example.com")
    page = client.get("/account").get_data(as_text=True)
    assert f"PRO (gift membership) until {until.strftime('%-d %B %Y')}" in page


def test_staff_see_a_new_kind_on_the_member_page_the_dashboard_and_metrics(
    app: Flask, client: FlaskClient, give_gift: GiveGift
) -> None:
    member = make_user(email="gifted@example.com")
    give_gift(member, clock.now() + timedelta(days=30))
    staff = app.test_client()
    make_user(email="staff@example.com", role="admin")
    sign_in(staff, "staff@example.com")
    profile = staff.get(f"/admin/members/{member.id}").get_data(as_text=True)
    assert "<strong>PRO</strong> by gift" in profile
    assert re.search(r"<td>gift</td><td>[^<]+</td><td>running</td>", profile)
    dashboard = staff.get("/admin/").get_data(as_text=True)
    assert re.search(r'… gift membership</th><td id="premium-gift">1</td>', dashboard)
    assert re.search(r'… staff</th><td id="premium-staff">1</td>', dashboard)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert re.search(r'^paywall_premium_members\{source="gift"\} 1\.0$', metrics, re.MULTILINE)


def test_a_member_whose_gift_ends_is_lapsed_and_offered_to_renew(
    app: Flask, give_gift: GiveGift, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = make_user()
    give_gift(member, clock.now() + timedelta(days=1))
    later = clock.now() + timedelta(days=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert not member.access.premium and member.is_lapsed


def test_grants_lasting_equally_long_are_named_by_the_higher_ranked_kind(app: Flask) -> None:
    until = clock.now() + timedelta(days=10)
    comp, team = access.Grant("comp", until), access.Grant("team", until)
    assert entitlements.decide([comp, team], clock.now()).source == "team"
    staff, gift = access.Grant("staff", None), access.Grant("gift", None)
    # A kind nobody registered ranks below every registered one.
    assert entitlements.decide([gift, staff], clock.now()).source == "staff"


def test_a_source_giving_a_kind_it_did_not_register_is_refused(app: Flask, registry: None) -> None:
    reader = make_user()

    @entitlements.grants(GIFT)
    def claims_to_be_staff(user: User) -> list[access.Grant]:
        return [access.Grant(source="staff", until=None)]

    with pytest.raises(ValueError, match="'staff' grant it did not register"):
        refresh_access(reader)


def test_one_kind_cannot_be_registered_twice_with_different_rules(registry: None) -> None:
    def more_comps(user: User) -> list[access.Grant]:
        return []

    with pytest.raises(ValueError, match="'comp' is registered already"):
        entitlements.grants(Kind("comp", rank=9, label="complimentary"))(more_comps)
