"""On PostgreSQL, members racing for an event's last places never overfill it."""

from __future__ import annotations

import threading

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from paywall.accounts.models import User
from paywall.content.models import ContentItem
from paywall.content.registrations import Registration, register
from paywall.errors import Conflict
from paywall.extensions import db
from tests.helpers import make_item, make_member

pytestmark = pytest.mark.postgres

THREADS = 20
PG_POOL = THREADS + 2  # one connection per racing thread
CAPACITY = 5


def test_twenty_members_racing_for_five_places_get_exactly_five(pg_app: Flask) -> None:
    with pg_app.app_context():
        event_id = make_item(kind="event", capacity=CAPACITY).id
        member_ids = [make_member().id for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(user_id: int) -> None:
        with pg_app.app_context():
            db.session.execute(text("SELECT 1"))  # hold a connection so all start together
            item, user = db.session.get(ContentItem, event_id), db.session.get(User, user_id)
            barrier.wait()
            try:
                register(item, user)
                db.session.commit()
                outcome = "registered"
            except Conflict:
                db.session.rollback()
                outcome = "full"
            except BaseException as error:  # reported by the test, not lost in the thread
                outcome = f"error: {error!r}"
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(uid,)) for uid in member_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["full"] * (THREADS - CAPACITY) + ["registered"] * CAPACITY
    with pg_app.app_context():
        assert db.session.get(ContentItem, event_id).registered_count == CAPACITY
        assert db.session.scalar(select(func.count(Registration.id))) == CAPACITY
