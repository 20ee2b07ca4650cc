"""Races on PostgreSQL: many requests spending one emailed token at the same moment.

Each thread has its own app context, so its own Flask-SQLAlchemy session and connection, as
concurrent requests would. A barrier releases them together once each holds an open transaction.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from paywall.accounts import service, tokens
from paywall.accounts.models import EmailToken, User
from paywall.accounts.passwords import verify_password
from paywall.errors import TokenInvalid
from paywall.extensions import db
from paywall.mail.models import OutboxMail
from tests.helpers import PASSWORD, make_user

pytestmark = pytest.mark.postgres

PG_URL = os.environ.get("PAYWALL_TEST_DATABASE_URL", "")
THREADS = 20
PG_POOL = THREADS + 2  # one connection per racing thread
NEW_PASSWORD = "a brand new passphrase 42"


def race(app: Flask, attempt: Callable[[], Any]) -> list[str]:
    """Run `attempt` in THREADS threads released together; each commits on success."""
    barrier = threading.Barrier(THREADS, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        outcome: str
        try:
            with app.app_context():
                # Hold a connection and a transaction before the start, so all start at once.
                db.session.execute(text("SELECT 1"))
                barrier.wait()
                try:
                    attempt()
                    db.session.commit()
                    outcome = "ok"
                except TokenInvalid:
                    db.session.rollback()
                    outcome = "invalid"
        except BaseException as error:  # reported by the test, not lost in the thread
            outcome = f"error: {error!r}"
            barrier.abort()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=worker, name=f"racer-{n}") for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a racer never finished"
    return outcomes


def test_database_is_postgresql(pg_app: Flask) -> None:
    with pg_app.app_context():
        assert db.engine.dialect.name == "postgresql"
        assert db.engine.dialect.driver == "psycopg"


def test_one_signin_link_signs_in_once(pg_app: Flask) -> None:
    with pg_app.app_context():
        user = make_user(verified=False)
        user_id = user.id
        issued = tokens.issue(user, "signin", lifetime=timedelta(minutes=15), with_code=True)
        token_id = issued.token.id
        db.session.commit()
        db.session.remove()

    outcomes = race(pg_app, lambda: service.signin_with_link(issued.raw))

    assert sorted(outcomes) == ["invalid"] * (THREADS - 1) + ["ok"], outcomes
    with pg_app.app_context():
        token = db.session.get(EmailToken, token_id)
        assert token is not None and token.used_at is not None
        signed_in = db.session.get(User, user_id)
        assert signed_in is not None
        assert signed_in.last_signin_at is not None
        assert signed_in.email_verified_at is not None
        with pytest.raises(TokenInvalid):
            service.signin_with_link(issued.raw)


def test_one_reset_link_resets_once(pg_app: Flask) -> None:
    with pg_app.app_context():
        user = make_user()
        user_id, email, version = user.id, user.email, user.session_version
        issued = tokens.issue(user, "reset", lifetime=timedelta(minutes=60))
        token_id = issued.token.id
        db.session.commit()
        db.session.remove()

    outcomes = race(pg_app, lambda: service.reset_password(issued.raw, NEW_PASSWORD))

    assert sorted(outcomes) == ["invalid"] * (THREADS - 1) + ["ok"], outcomes
    with pg_app.app_context():
        token = db.session.get(EmailToken, token_id)
        assert token is not None and token.used_at is not None
        reset = db.session.get(User, user_id)
        assert reset is not None
        assert verify_password(reset.password_hash, NEW_PASSWORD)
        assert not verify_password(reset.password_hash, PASSWORD)
        # Exactly one reset happened: one session bump, one "password changed" mail.
        assert reset.session_version == version + 1
        changed = db.session.scalar(
            select(func.count(OutboxMail.id)).where(
                OutboxMail.to_address == email, OutboxMail.template == "password_changed"
            )
        )
        assert changed == 1
