"""Migrations build, from nothing, exactly the schema the models describe; and unbuild it again.

Runs on a SQLite file always, and on PostgreSQL when PAYWALL_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
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
