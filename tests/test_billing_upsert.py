"""The race-safe insert behind every mirror row: the first insert of a key makes the row, a
second one makes nothing and says so (sync_subscription then reads Stripe again), on SQLite
and on PostgreSQL alike."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from paywall import upsert
from paywall.billing.models import Subscription, TrialClaim
from paywall.extensions import db

ROW = {"stripe_subscription_id": "sub_once", "stripe_customer_id": "cus_1",
       "plan": "pro_annual", "status": "trialing"}  # fmt: skip


def second_insert_makes_nothing() -> None:
    key = ["stripe_subscription_id"]
    assert upsert.insert_missing(Subscription, key, ROW) is True
    assert upsert.insert_missing(Subscription, key, {**ROW, "status": "active"}) is False
    row = upsert.locked(Subscription, Subscription.stripe_subscription_id, "sub_once")
    assert row is not None and row.status == "trialing"  # the first one's, defaults filled
    assert row.created_at is not None and row.metadata_json == {}
    claim: dict[str, Any] = {"kind": "email", "value": "jane@example.com", "user_id": None}
    assert upsert.insert_missing(TrialClaim, ["kind", "value"], claim) is True
    assert upsert.insert_missing(TrialClaim, ["kind", "value"], claim) is False
    assert db.session.scalar(select(func.count()).select_from(TrialClaim)) == 1


def test_a_second_insert_of_one_key_makes_nothing_on_sqlite(app: Flask) -> None:
    second_insert_makes_nothing()


@pytest.mark.postgres
def test_a_second_insert_of_one_key_makes_nothing_on_postgresql(pg_app: Flask) -> None:
    with pg_app.app_context():
        second_insert_makes_nothing()
        db.session.rollback()
