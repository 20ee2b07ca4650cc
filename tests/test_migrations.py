"""Migrations build, from nothing, exactly the schema the models describe; and unbuild it again.

Runs on a SQLite file always, and on PostgreSQL when PAYWALL_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask import Flask

from paywall import create_app
from paywall.extensions import db

PG_URL = os.environ.get("PAYWALL_TEST_DATABASE_URL")


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """migrations/env.py runs logging.config.fileConfig(), which disables every logger that
    exists (and replaces the root handlers). Put logging back as it was for later tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    loggers = {
        name: (lg.disabled, lg.level)
        for name, lg in logging.Logger.manager.loggerDict.items()
        if isinstance(lg, logging.Logger)
    }
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lg in logging.Logger.manager.loggerDict.items():
        if isinstance(lg, logging.Logger):
            lg.disabled, lg.level = loggers.get(name, (False, logging.NOTSET))


def _app(url: str) -> Flask:
    return create_app({"ENV_NAME": "testing", "DATABASE_URL": url})


def _differences(app: Flask) -> list[Any]:
    with db.engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect expression indexes (users' lower(name)), so Alembic skips
        # comparing them there and says so; PostgreSQL compares them.
        warnings.filterwarnings("ignore", message=".*expression-based index")
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, db.metadata))


def _tables(app: Flask) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def _drop_everything(url: str) -> None:
    """Every table in the database (alembic_version included), whatever created it."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            found = sa.MetaData()
            found.reflect(conn)
            found.drop_all(conn)
            if conn.dialect.name == "postgresql":
                # Enum types outlive their tables on PostgreSQL.
                for (name,) in conn.execute(
                    sa.text(
                        "SELECT t.typname FROM pg_type t "
                        "JOIN pg_namespace n ON n.oid = t.typnamespace "
                        "WHERE t.typtype = 'e' AND n.nspname = current_schema()"
                    )
                ):
                    conn.execute(sa.text(f'DROP TYPE IF EXISTS "{name}" CASCADE'))
    finally:
        engine.dispose()


def check_round_trip(url: str) -> None:
    app = _app(url)
    with app.app_context():
        try:
            assert _tables(app) == set(), "the database should start empty"

            flask_migrate.upgrade()
            model_tables = set(db.metadata.tables)
            assert model_tables, "no models are registered"
            assert _tables(app) == model_tables | {"alembic_version"}
            assert _differences(app) == [], "migrations and models disagree (flask db migrate)"

            flask_migrate.downgrade(revision="base")
            assert _tables(app) == {"alembic_version"}
            with db.engine.connect() as conn:
                assert MigrationContext.configure(conn).get_current_revision() is None

            flask_migrate.upgrade()
            assert _differences(app) == []
            with db.engine.connect() as conn:
                current = MigrationContext.configure(conn).get_current_heads()
            assert len(current) == 1, f"expected one head, found {current}"
        finally:
            db.session.remove()
            db.engine.dispose()


def test_migrations_match_models_on_sqlite(tmp_path: Path) -> None:
    check_round_trip(f"sqlite:///{tmp_path / 'migrations.db'}")


def test_migrations_have_a_single_head(tmp_path: Path) -> None:
    app = _app(f"sqlite:///{tmp_path / 'heads.db'}")
    with app.app_context():
        from alembic.script import ScriptDirectory

        config = app.extensions["migrate"].migrate.get_config()
        heads = ScriptDirectory.from_config(config).get_heads()
        db.engine.dispose()
    assert len(heads) == 1, f"migrations have {len(heads)} heads: {heads} (flask db merge)"


@pytest.mark.postgres
def test_migrations_match_models_on_postgres() -> None:
    assert PG_URL
    _drop_everything(PG_URL)
    try:
        check_round_trip(PG_URL)
    finally:
        _drop_everything(PG_URL)


def test_0009_fills_in_the_surname_of_existing_members(tmp_path: Path) -> None:
    app = _app(f"sqlite:///{tmp_path / 'surnames.db'}")
    with app.app_context():
        try:
            flask_migrate.upgrade(revision="0008")
            with db.engine.begin() as conn:
                for n, name in enumerate(["Alice Quinn", "Cher", None, "  Jean  Émile  "]):
                    conn.execute(
                        sa.text(
                            "INSERT INTO users (email, name, role, session_version, created_at, "
                            "access_premium) VALUES (:email, :name, 'reader', 1, "
                            "'2026-01-01 00:00:00', 0)"
                        ),
                        {"email": f"m{n}@example.com", "name": name},
                    )
            flask_migrate.upgrade()
            with db.engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT email, name_last FROM users ORDER BY email"))
                assert list(rows) == [
                    ("m0@example.com", "quinn"),
                    ("m1@example.com", None),
                    ("m2@example.com", None),
                    ("m3@example.com", "émile"),
                ]
        finally:
            db.session.remove()
            db.engine.dispose()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname} {record.getMessage()}")


def _insert(conn: sa.Connection, table: str, **values: Any) -> int:
    columns = ", ".join(values)
    params = ", ".join(f":{name}" for name in values)
    found = conn.execute(
        sa.text(f"INSERT INTO {table} ({columns}) VALUES ({params}) RETURNING id"),
        values,
    )
    return int(found.scalar_one())


def _user(conn: sa.Connection, email: str) -> int:
    return _insert(conn, "users", email=email, role="reader", session_version=1,
                   created_at=WHEN, access_premium=False)  # fmt: skip


WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def _fill_0009(conn: sa.Connection) -> dict[str, int]:
    """Rows as the lower-casing code stored them, look-alikes included."""
    ids = {
        "reader": _user(conn, "reader@example.com"),
        "reader-look-alike": _user(conn, "\uff52eader@example.com"),  # full-width r
        "jane": _user(conn, "jane@b\u00fccher.de"),
        "strasse": _user(conn, "stra\u00dfe@example.com"),
        "mary-wide": _user(conn, "\uff4d\uff41\uff52\uff59@example.com"),
        "mary-bold": _user(conn, "\U0001d426\U0001d41a\U0001d42b\U0001d432@example.com"),
    }
    for key, email, slug in [
        ("one", "\uff4fne@example.com", "takeaway"),  # full-width o
        ("two gulf", "two@example.com", "gulf"),
        ("wide two gulf", "\uff54wo@example.com", "gulf"),  # full-width t
        ("wide two iraq", "\uff54wo@example.com", "iraq"),
    ]:
        ids[key] = _insert(conn, "newsletter_subscriptions", email=email, list_slug=slug,
                           status="confirmed", created_at=WHEN)  # fmt: skip
    ids["confirmation"] = _insert(conn, "newsletter_confirmations", email="\uff4fne@example.com",
                                  lists='["takeaway"]', token_hash="c" * 64, created_at=WHEN,
                                  expires_at=WHEN)  # fmt: skip
    ids["token"] = _insert(conn, "email_tokens", user_id=ids["jane"], purpose="signin",
                           email="jane@b\u00fccher.de", token_hash="t" * 64, code_attempts=0,
                           created_at=WHEN, expires_at=WHEN)  # fmt: skip
    for kind, value in [("email", "\uff4aane@gmail.com"), ("card", "\uff21BC")]:
        ids[f"claim {kind}"] = _insert(conn, "trial_claims", kind=kind, value=value,
                                       created_at=WHEN)  # fmt: skip
    return ids


def _column(conn: sa.Connection, table: str, column: str) -> dict[int, str]:
    rows = conn.execute(sa.text(f"SELECT id, {column} FROM {table}"))
    return {int(row_id): value for row_id, value in rows}


def check_0010(url: str) -> None:
    app = _app(url)
    collect = _Collect()
    logging.getLogger("paywall.migrations").addHandler(collect)
    with app.app_context():
        try:
            flask_migrate.upgrade(revision="0009")
            with db.engine.begin() as conn:
                ids = _fill_0009(conn)
            flask_migrate.upgrade()
            with db.engine.connect() as conn:
                users = _column(conn, "users", "email")
                subs = _column(conn, "newsletter_subscriptions", "email")
                confirmations = _column(conn, "newsletter_confirmations", "email")
                tokens = _column(conn, "email_tokens", "email")
                claims = _column(conn, "trial_claims", "value")
        finally:
            logging.getLogger("paywall.migrations").removeHandler(collect)
            db.session.remove()
            db.engine.dispose()
    assert users == {
        ids["reader"]: "reader@example.com",
        # Its canonical spelling is another account's: kept as it was, and logged.
        ids["reader-look-alike"]: "\uff52eader@example.com",
        ids["jane"]: "jane@xn--bcher-kva.de",
        ids["strasse"]: "strasse@example.com",
        # Both would become mary@example.com: neither is changed.
        ids["mary-wide"]: "\uff4d\uff41\uff52\uff59@example.com",
        ids["mary-bold"]: "\U0001d426\U0001d41a\U0001d42b\U0001d432@example.com",
    }
    assert subs == {
        ids["one"]: "one@example.com",
        ids["two gulf"]: "two@example.com",
        ids["wide two gulf"]: "\uff54wo@example.com",  # two@example.com is on gulf already
        ids["wide two iraq"]: "two@example.com",  # but not on iraq
    }
    assert confirmations == {ids["confirmation"]: "one@example.com"}
    assert tokens == {ids["token"]: "jane@xn--bcher-kva.de"}
    assert claims == {ids["claim email"]: "jane@gmail.com", ids["claim card"]: "\uff21BC"}
    warnings_ = [m for m in collect.messages if m.startswith("WARNING")]
    assert sorted(warnings_) == sorted(
        [
            f"WARNING users rows {ids['reader-look-alike']}, {ids['reader']} spell one address: "
            "left unchanged, merge them by hand",
            f"WARNING users rows {ids['mary-wide']}, {ids['mary-bold']} spell one address: "
            "left unchanged, merge them by hand",
            f"WARNING newsletter_subscriptions rows {ids['wide two gulf']}, {ids['two gulf']} "
            "spell one address: "
            "left unchanged, merge them by hand",
        ]
    )


def test_0010_stores_addresses_in_their_canonical_spelling_on_sqlite(tmp_path: Path) -> None:
    check_0010(f"sqlite:///{tmp_path / 'canonical.db'}")


@pytest.mark.postgres
def test_0010_stores_addresses_in_their_canonical_spelling_on_postgres() -> None:
    assert PG_URL
    _drop_everything(PG_URL)
    try:
        check_0010(PG_URL)
    finally:
        _drop_everything(PG_URL)


def check_0011(url: str) -> None:
    app = _app(url)
    with app.app_context():
        try:
            flask_migrate.upgrade(revision="0010")
            assert "scheduled_runs" not in _tables(app)
            flask_migrate.upgrade()
            run = {"task": "prune", "period": "2026-03-02", "worker": "w", "attempts": 1,
                   "claimed_at": WHEN}  # fmt: skip
            with db.engine.begin() as conn:
                _insert(conn, "scheduled_runs", **run)
            # The unique (task, period) key is the scheduler's claim.
            with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
                _insert(conn, "scheduled_runs", **{**run, "worker": "another"})
            flask_migrate.downgrade(revision="0010")
            assert "scheduled_runs" not in _tables(app)
        finally:
            db.session.remove()
            db.engine.dispose()


def test_0011_adds_the_scheduler_claims_on_sqlite(tmp_path: Path) -> None:
    check_0011(f"sqlite:///{tmp_path / 'scheduled.db'}")


@pytest.mark.postgres
def test_0011_adds_the_scheduler_claims_on_postgres() -> None:
    assert PG_URL
    _drop_everything(PG_URL)
    try:
        check_0011(PG_URL)
    finally:
        _drop_everything(PG_URL)
