"""Column types shared by every domain, and what an id column can hold."""

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    SQLite has no timezone type and hands back naive datetimes; this puts UTC back on them,
    and refuses naive datetimes on the way in so local times never slip into the database.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


# Every id column is SQLAlchemy's Integer: 32-bit on PostgreSQL (SQLite's are 64-bit).
MAX_ID = 2**31 - 1
ID_DIGITS = re.compile(r"[0-9]{1,10}")  # ASCII only: "²".isdigit() is true, int("²") fails


def parse_id(value: object) -> int | None:
    """An id from outside (a query string, Stripe metadata, a cookie), or None for anything
    an id column cannot hold."""
    text = str(value) if value is not None else ""
    number = int(text) if ID_DIGITS.fullmatch(text) else None
    return number if number is not None and 0 < number <= MAX_ID else None
