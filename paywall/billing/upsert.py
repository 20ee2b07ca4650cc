"""Race-safe mirror rows: make a row if it is missing, then hold it until commit.

Two requests often mirror the same Stripe object at once: the success page and a webhook in
two gunicorn workers, or `invoice.created` and `invoice.finalized`. A look-up followed by an
INSERT lets both insert, and the second fails on the unique Stripe id. Instead each one makes
the row with INSERT … ON CONFLICT DO NOTHING (PostgreSQL waits for a concurrent insert of the
same key to commit, then does nothing) and locks it with SELECT … FOR UPDATE, so they take
turns. SQLite has no row locks and ignores FOR UPDATE; it lets one writer in at a time anyway.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.expression import Executable

from paywall.extensions import db

Row = TypeVar("Row")


def insert_missing(model: type[Any], key: list[str], values: dict[str, Any]) -> bool:
    """INSERT the row unless one with the same `key` columns exists; True when this call
    made it. Column defaults apply as for any insert."""
    table, dialect = model.__table__, db.session.get_bind().dialect.name
    statement: Executable
    if dialect == "postgresql":
        statement = (
            postgresql.insert(table).values(**values).on_conflict_do_nothing(index_elements=key)
        )
    elif dialect == "sqlite":
        statement = sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=key)
    else:
        raise RuntimeError(f"race-safe inserts need PostgreSQL or SQLite, not {dialect}")
    return bool(cast(CursorResult[Any], db.session.execute(statement)).rowcount)


def locked(model: type[Row], column: InstrumentedAttribute[Any], value: Any) -> Row | None:
    """The row whose `column` is `value`, locked until commit, and read from the database
    (not the session's copy, which another transaction may have made stale)."""
    query = select(model).where(column == value).with_for_update()
    found: Row | None = db.session.scalar(query.execution_options(populate_existing=True))
    return found
