"""The one source of "now", so tests can move time without patching datetime."""

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
