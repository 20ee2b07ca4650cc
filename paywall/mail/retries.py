"""When the worker tries failed work again: the outbox, queued jobs and bulk deliveries alike."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

MAX_BACKOFF = timedelta(hours=6)


def backoff(attempts: int) -> timedelta:
    """How long to wait after the n-th failed attempt: doubling, capped at six hours."""
    base = current_app.config["MAIL_RETRY_BASE_SECONDS"]
    return min(timedelta(seconds=base * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)
