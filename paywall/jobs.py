"""Queued jobs: a request records what to do, the worker (paywall.mail.worker) does it in its
own transaction. The registry and the table live here, below every package that queues a job
and the worker that runs them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from paywall import clock
from paywall.dbtypes import UTCDateTime
from paywall.extensions import db

JobHandler = Callable[[dict[str, Any]], None]
HANDLERS: dict[str, JobHandler] = {}


class Job(db.Model):  # type: ignore[name-defined,misc]
    """Work a request hands to the worker: slow, or better done away from the request."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # queued -> done, or failed once MAIL_MAX_ATTEMPTS attempts have failed
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def job(name: str) -> Callable[[JobHandler], JobHandler]:
    """Register a function as the handler of jobs called `name`."""

    def register(handler: JobHandler) -> JobHandler:
        HANDLERS[name] = handler
        return handler

    return register


def enqueue(name: str, **payload: Any) -> Job:
    """Queue a job in the current transaction; it runs only if that transaction commits."""
    if name not in HANDLERS:
        raise KeyError(f"no job handler called {name!r}")
    queued = Job(name=name, payload=payload)
    db.session.add(queued)
    db.session.flush()
    return queued
