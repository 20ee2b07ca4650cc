"""The outbox and the job queue: rows written with the change that causes them; and the
scheduler's claims on periodic runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from paywall import clock
from paywall.dbtypes import UTCDateTime
from paywall.extensions import db


class OutboxMail(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "outbox_mails"
    __table_args__ = (Index("ix_outbox_mails_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    template: Mapped[str] = mapped_column(String(100))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    # queued -> sent, or failed once MAIL_MAX_ATTEMPTS attempts have failed
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    # A worker holds a mail while it sends it, so two workers never send the same one.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


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


class ScheduledRun(db.Model):  # type: ignore[name-defined,misc]
    """One period of one periodic task (paywall.scheduler), claimed by the worker that runs it.

    The unique (task, period) key is the claim: workers INSERT the row for the current period
    and only the one whose INSERT made it runs the task, so each period runs once however many
    workers tick at the same moment.
    """

    __tablename__ = "scheduled_runs"
    __table_args__ = (UniqueConstraint("task", "period", name="uq_scheduled_runs_task_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(100))
    # Which period: "2026-03-02T07:00Z" (an hour, UTC), "2026-03-02" (a day in TIMEZONE),
    # "2026-W10" (the ISO week of a weekly period's start).
    period: Mapped[str] = mapped_column(String(40))
    worker: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(default=1)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why the last attempt failed; a later tick of the same period retries it after the lease.
    error: Mapped[str | None] = mapped_column(Text)
