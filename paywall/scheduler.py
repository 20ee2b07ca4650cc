"""Periodic work inside `paywall worker`: each period of each task runs once, on one worker.

A task is registered with `@every(name, period=...)`. Every worker keeps, in memory, when each
task is next worth looking at (the end of the period it last ran, so a tick costs no query), and
when it is, claims the *current* period in the database: an INSERT of (task, period) into
`scheduled_runs` that does nothing when the row exists (the unique key). Only the worker whose
INSERT made the row runs the task, so any number of workers can tick at once. Only the current
period is ever claimed: a worker that was down for three weeks runs a weekly task once on
return, not three times.

A run that fails keeps its row, with the error and no `finished_at`; after LEASE any worker may
take it again (a guarded UPDATE, so again one worker), until the period ends. A worker that died
mid-run leaves the same unfinished row and is retried the same way. A run lasting longer than
LEASE could be started a second time, so tasks should be short or safe to repeat.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import String, Text, UniqueConstraint, update
from sqlalchemy.orm import Mapped, mapped_column

from paywall import clock
from paywall.dbtypes import UTCDateTime
from paywall.extensions import db
from paywall.settings import time_zone, weekly_at
from paywall.upsert import insert_missing

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=15)


class ScheduledRun(db.Model):  # type: ignore[name-defined,misc]
    """One period of one periodic task, claimed by the worker that runs it.

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


@dataclass(frozen=True)
class Window:
    """One period: its key in `scheduled_runs`, and when it starts and ends (UTC)."""

    key: str
    start: datetime
    end: datetime


class Period(Protocol):
    def window(self, now: datetime, config: Mapping[str, Any]) -> Window:
        """The period that `now` falls in."""


def _at(day: date, at: time, zone: ZoneInfo) -> datetime:
    """That wall-clock time on that day in `zone`, in UTC (a time skipped by a DST change
    resolves with the offset before the change, as zoneinfo does)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


class Minutely:
    """Minutes of UTC: for work that must follow a clock closely (a scheduled publish)."""

    def window(self, now: datetime, config: Mapping[str, Any]) -> Window:
        start = now.astimezone(UTC).replace(second=0, microsecond=0)
        return Window(start.strftime("%Y-%m-%dT%H:%MZ"), start, start + timedelta(minutes=1))


class Hourly:
    """Hours of UTC (every zone's hours start on a UTC hour, save a few half-hour zones)."""

    def window(self, now: datetime, config: Mapping[str, Any]) -> Window:
        start = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return Window(start.strftime("%Y-%m-%dT%H:00Z"), start, start + timedelta(hours=1))


class Daily:
    """Calendar days in TIMEZONE (23 or 25 hours long on the days DST changes)."""

    def window(self, now: datetime, config: Mapping[str, Any]) -> Window:
        zone = time_zone(config)
        day = now.astimezone(zone).date()
        midnight = time(0, 0)
        return Window(
            day.isoformat(), _at(day, midnight, zone), _at(day + timedelta(1), midnight, zone)
        )


@dataclass(frozen=True)
class Weekly:
    """Weeks starting at the weekday and time a setting names ("mon 07:00"), in TIMEZONE.
    The key is the ISO week of the start, so moving the time within a week does not run the
    task a second time that week."""

    setting: str

    def window(self, now: datetime, config: Mapping[str, Any]) -> Window:
        zone = time_zone(config)
        weekday, at = weekly_at(config, self.setting)
        local = now.astimezone(zone)
        day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
        if _at(day, at, zone) > now:  # that weekday today, but before the time
            day -= timedelta(days=7)
        year, week, _ = day.isocalendar()
        return Window(f"{year}-W{week:02d}", _at(day, at, zone), _at(day + timedelta(7), at, zone))


MINUTELY = Minutely()
HOURLY = Hourly()
DAILY = Daily()
WEEKLY_REVIEW = Weekly("WEEKLY_REVIEW_AT")

# What a task returns (a count, a summary) is logged.
Task = Callable[[], object]


@dataclass(frozen=True)
class Entry:
    name: str
    period: Period
    task: Task


TASKS: dict[str, Entry] = {}


def every(name: str, period: Period) -> Callable[[Task], Task]:
    """Register `task` to run once per `period`, on one of the running workers."""

    def register(task: Task) -> Task:
        TASKS[name] = Entry(name, period, task)
        return task

    return register


def claim(name: str, window: Window, worker: str) -> bool:
    """Take this period of this task; True for exactly one caller (per LEASE, when a run
    failed or its worker died before finishing)."""
    now = clock.now()
    made = insert_missing(
        ScheduledRun,
        ["task", "period"],
        {"task": name, "period": window.key, "worker": worker, "claimed_at": now},
    )
    if not made:
        retaken = db.session.execute(
            update(ScheduledRun)
            .where(
                ScheduledRun.task == name,
                ScheduledRun.period == window.key,
                ScheduledRun.finished_at.is_(None),
                ScheduledRun.claimed_at < now - LEASE,
            )
            .values(claimed_at=now, worker=worker, attempts=ScheduledRun.attempts + 1)
        )
        made = retaken.rowcount == 1  # type: ignore[attr-defined]
    db.session.commit()
    return made


def run_claimed(entry: Entry, window: Window) -> bool:
    """Run a claimed task and record how it went on its row; True when it succeeded. The task
    commits its own work (the worker is the boundary); a failure is logged, never raised."""
    where = (ScheduledRun.task == entry.name, ScheduledRun.period == window.key)
    try:
        outcome = entry.task()
        db.session.commit()
    except Exception as error:  # any failure is recorded on the run and retried after LEASE
        db.session.rollback()
        log.exception("periodic task %s (%s) failed", entry.name, window.key)
        message = f"{type(error).__name__}: {error}"[:2000]
        db.session.execute(update(ScheduledRun).where(*where).values(error=message))
        db.session.commit()
        return False
    db.session.execute(
        update(ScheduledRun).where(*where).values(finished_at=clock.now(), error=None)
    )
    db.session.commit()
    log.info("periodic task %s (%s) done: %s", entry.name, window.key, outcome)
    return True


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


class Scheduler:
    """One worker's view of the periodic tasks: when each is next worth a claim."""

    def __init__(self, tasks: Mapping[str, Entry] | None = None, worker: str | None = None):
        self.tasks = TASKS if tasks is None else tasks
        self.worker = worker or worker_name()
        self.next_check: dict[str, datetime] = {}

    def run_due(self) -> int:
        """Claim and run every task whose current period this worker has not seen done;
        returns how many runs succeeded here."""
        succeeded = 0
        for entry in list(self.tasks.values()):
            now = clock.now()
            if self.next_check.get(entry.name, now) > now:
                continue
            window = entry.period.window(now, current_app.config)
            if claim(entry.name, window, self.worker) and run_claimed(entry, window):
                succeeded += 1
                self.next_check[entry.name] = window.end
            else:
                # Ran elsewhere, running elsewhere, or failed: look again after a lease.
                self.next_check[entry.name] = min(window.end, now + LEASE)
        return succeeded
