"""Race-safe rows: make a row if it is missing, then hold it until commit.

Used for Stripe mirror rows, trial claims and scheduler runs (one per task and period).

Two requests often mirror the same Stripe object at once: the success page and a webhook in
two gunicorn workers, or `invoice.created` and `invoice.finalized`. A look-up followed by an
INSERT lets both insert, and the second fails on the unique Stripe id. Instead each one makes
the row with INSERT … ON CONFLICT DO NOTHING (PostgreSQL waits for a concurrent insert of the
same key to commit, then does nothing) and locks it with SELECT … FOR UPDATE, so they take
turns. SQLite has no row locks and ignores FOR UPDATE; it lets one writer in at a time anyway.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute

from paywall.extensions import db

Row = TypeVar("Row")


def skipping_existing(model: type[Any], key: list[str]) -> Insert:
    """INSERT … ON CONFLICT (key) DO NOTHING into model's table; executed with a list of
    rows it is one executemany (bulk mail's fan-out inserts a page of deliveries so)."""
    table, dialect = model.__table__, db.session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=key)
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=key)
    raise RuntimeError(f"race-safe inserts need PostgreSQL or SQLite, not {dialect}")


def insert_missing(model: type[Any], key: list[str], values: dict[str, Any]) -> bool:
    """INSERT the row unless one with the same `key` columns exists; True when this call
    made it. Column defaults apply as for any insert."""
    statement = skipping_existing(model, key).values(**values)
    # RETURNING tells whether a row was made (rowcount does not: -1 with RETURNING, which
    # SQLAlchemy adds for the primary key).
    made = db.session.execute(statement.returning(*model.__table__.primary_key))
    return made.first() is not None


def locked(model: type[Row], column: InstrumentedAttribute[Any], value: Any) -> Row | None:
    """The row whose `column` is `value`, locked until commit, and read from the database
    (not the session's copy, which another transaction may have made stale)."""
    query = select(model).where(column == value).with_for_update()
    found: Row | None = db.session.scalar(query.execution_options(populate_existing=True))
    return found
