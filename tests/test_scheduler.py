"""The worker's scheduler: periods, the once-per-period claim, catch-up, failures, pruning."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, text

from paywall import clock, create_app, pruning, scheduler
from paywall.accounts.models import EmailToken
from paywall.extensions import db
from paywall.jobs import Job
from paywall.mail import worker
from paywall.mail.models import OutboxMail
from paywall.scheduler import (
    DAILY,
    HOURLY,
    LEASE,
    MINUTELY,
    WEEKLY_REVIEW,
    Entry,
    ScheduledRun,
    Scheduler,
)
from paywall.settings import ConfigError

THREADS = 4
PG_POOL = THREADS + 2  # pg_app: a connection for each racing thread


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


class Clock:
    """clock.now() as a value a test sets and moves."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: datetime) -> None:
        self.value = start
        monkeypatch.setattr(clock, "now", lambda: self.value)

    def move(self, **delta: float) -> None:
        self.value += timedelta(**delta)


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch, utc(2026, 3, 2, 8, 0))  # a Monday, ISO week 10


class Counting:
    """A periodic task that counts its runs (thread-safe), failing while `failing` is set."""

    def __init__(self) -> None:
        self.runs = 0
        self.failing = False
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            self.runs += 1
        if self.failing:
            raise RuntimeError("boom")


def tasks(**periods: Any) -> tuple[dict[str, Entry], dict[str, Counting]]:
    counters = {name: Counting() for name in periods}
    return {n: Entry(n, p, counters[n]) for n, p in periods.items()}, counters


def runs() -> list[tuple[str, str, str | None]]:
    db.session.expire_all()
    rows = db.session.scalars(select(ScheduledRun).order_by(ScheduledRun.id))
    return [(r.task, r.period, r.error) for r in rows]


# Periods


def window(period: Any, when: datetime, **config: str) -> tuple[str, datetime, datetime]:
    found = period.window(when, {"TIMEZONE": "UTC", "WEEKLY_REVIEW_AT": "mon 07:00", **config})
    return found.key, found.start, found.end


def test_hourly_periods_are_utc_hours() -> None:
    assert window(HOURLY, utc(2026, 3, 2, 7, 59, 59)) == (
        "2026-03-02T07:00Z", utc(2026, 3, 2, 7), utc(2026, 3, 2, 8))  # fmt: skip
    assert window(HOURLY, utc(2026, 3, 2, 8))[0] == "2026-03-02T08:00Z"


def test_minutely_periods_are_utc_minutes() -> None:
    assert window(MINUTELY, utc(2026, 3, 2, 7, 59, 59)) == (
        "2026-03-02T07:59Z", utc(2026, 3, 2, 7, 59), utc(2026, 3, 2, 8))  # fmt: skip
    assert window(MINUTELY, utc(2026, 3, 2, 8))[0] == "2026-03-02T08:00Z"


def test_daily_periods_are_days_in_the_time_zone() -> None:
    # 23:30 UTC on 1 March is 00:30 on 2 March in Paris (UTC+1 in winter).
    assert window(DAILY, utc(2026, 3, 1, 23, 30), TIMEZONE="Europe/Paris") == (
        "2026-03-02", utc(2026, 3, 1, 23), utc(2026, 3, 2, 23))  # fmt: skip
    assert window(DAILY, utc(2026, 3, 1, 23, 30))[0] == "2026-03-01"
    # The day DST starts in Paris (29 March) is 23 hours long.
    key, start, end = window(DAILY, utc(2026, 3, 29, 12), TIMEZONE="Europe/Paris")
    assert (key, end - start) == ("2026-03-29", timedelta(hours=23))


def test_weekly_periods_start_at_the_configured_weekday_and_time() -> None:
    assert window(WEEKLY_REVIEW, utc(2026, 3, 2, 6, 59))[0] == "2026-W09"
    assert window(WEEKLY_REVIEW, utc(2026, 3, 2, 7, 0)) == (
        "2026-W10", utc(2026, 3, 2, 7), utc(2026, 3, 9, 7))  # fmt: skip
    assert window(WEEKLY_REVIEW, utc(2026, 3, 8, 23))[0] == "2026-W10"
    # Sunday evening in New York (UTC-5 in early March, before DST on 8 March).
    sunday = {"WEEKLY_REVIEW_AT": "sunday 20:30", "TIMEZONE": "America/New_York"}
    assert window(WEEKLY_REVIEW, utc(2026, 3, 2, 1, 29), **sunday)[1] == utc(2026, 2, 23, 1, 30)
    assert window(WEEKLY_REVIEW, utc(2026, 3, 2, 1, 30), **sunday)[1] == utc(2026, 3, 2, 1, 30)


def test_a_weekly_period_follows_the_wall_clock_across_a_dst_change() -> None:
    paris = {"TIMEZONE": "Europe/Paris"}
    # Monday 23 March 07:00 CET is 06:00 UTC; Monday 30 March 07:00 CEST is 05:00 UTC.
    key, start, end = window(WEEKLY_REVIEW, utc(2026, 3, 25), **paris)
    assert (key, start, end) == ("2026-W13", utc(2026, 3, 23, 6), utc(2026, 3, 30, 5))
    assert window(WEEKLY_REVIEW, utc(2026, 3, 30, 4, 59), **paris)[0] == "2026-W13"
    assert window(WEEKLY_REVIEW, utc(2026, 3, 30, 5, 0), **paris)[0] == "2026-W14"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("WEEKLY_REVIEW_AT", "monday 7am"),
        ("WEEKLY_REVIEW_AT", "mon 24:00"),
        ("WEEKLY_REVIEW_AT", "funday 07:00"),
        ("WEEKLY_REVIEW_AT", ""),
        ("TIMEZONE", "Mars/Olympus_Mons"),
        ("TIMEZONE", "../etc/passwd"),
        ("PRUNE_AFTER_DAYS", 0),
    ],
)
def test_a_bad_schedule_setting_refuses_to_start_naming_it(setting: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=setting):
        create_app({"ENV_NAME": "testing", setting: value})


def test_a_bad_setting_from_the_environment_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYWALL_TIMEZONE", "Europe/Nowhere")
    with pytest.raises(ConfigError, match="TIMEZONE must be an IANA time zone"):
        create_app({"ENV_NAME": "testing"})


# The claim


@pytest.mark.postgres
def test_workers_ticking_at_once_run_each_period_exactly_once(
    pg_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    moment = Clock(monkeypatch, utc(2026, 3, 2, 8, 0))
    entries, counters = tasks(hourly=HOURLY, weekly=WEEKLY_REVIEW)
    workers = [Scheduler(entries, worker=f"worker-{i}") for i in range(THREADS)]
    errors: list[BaseException] = []

    def tick(sched: Scheduler, barrier: threading.Barrier) -> None:
        with pg_app.app_context():
            try:
                db.session.execute(text("SELECT 1"))  # hold a connection: all start together
                db.session.commit()
                barrier.wait()
                sched.run_due()
            except BaseException as error:  # reported by the test, not lost in the thread
                errors.append(error)

    for _ in range(2):  # two hours: the hourly task runs twice, the weekly one once
        barrier = threading.Barrier(THREADS, timeout=30)
        threads = [threading.Thread(target=tick, args=(w, barrier)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        moment.move(hours=1)
    assert errors == []
    assert (counters["hourly"].runs, counters["weekly"].runs) == (2, 1)
    with pg_app.app_context():
        assert sorted(runs()) == [
            ("hourly", "2026-03-02T08:00Z", None),
            ("hourly", "2026-03-02T09:00Z", None),
            ("weekly", "2026-W10", None),
        ]


@pytest.mark.parametrize("restarted", [True, False], ids=["restarted", "suspended"])
def test_a_worker_down_for_three_weeks_runs_the_weekly_task_once(
    app: Flask, now: Clock, restarted: bool
) -> None:
    entries, counters = tasks(weekly=WEEKLY_REVIEW)
    sched = Scheduler(entries)
    assert sched.run_due() == 1
    now.move(days=23)  # Wednesday, three weeks and two days later
    if restarted:
        sched = Scheduler(entries)  # a new process; else the same one, its machine resumed
    assert sched.run_due() == 1
    for _ in range(5):
        now.move(hours=6)
        sched.run_due()
    assert counters["weekly"].runs == 2
    assert runs() == [("weekly", "2026-W10", None), ("weekly", "2026-W13", None)]


def test_a_tick_inside_a_period_already_run_asks_the_database_nothing(
    app: Flask, now: Clock
) -> None:
    entries, counters = tasks(daily=DAILY, weekly=WEEKLY_REVIEW)
    sched = Scheduler(entries)
    sched.run_due()
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        for _ in range(100):
            now.move(minutes=1)
            sched.run_due()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert statements == []
    now.move(days=1)
    sched.run_due()
    assert (counters["daily"].runs, counters["weekly"].runs) == (2, 1)


def test_a_failing_task_records_its_error_and_the_worker_loop_goes_on(
    app: Flask, now: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries, counters = tasks(boom=DAILY, fine=DAILY)
    counters["boom"].failing = True
    sleeps: list[float] = []

    class Stop(Exception):
        pass

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now.move(seconds=seconds)
        if len(sleeps) == 3:
            raise Stop

    monkeypatch.setattr(worker.time, "sleep", sleep)
    with pytest.raises(Stop):
        worker.run_forever(Scheduler(entries))
    assert len(sleeps) == 3  # the loop kept going after the failure
    assert (counters["boom"].runs, counters["fine"].runs) == (1, 1)
    assert runs() == [("boom", "2026-03-02", "RuntimeError: boom"), ("fine", "2026-03-02", None)]
    failed = db.session.scalars(select(ScheduledRun).where(ScheduledRun.task == "boom")).one()
    assert failed.finished_at is None

    # Within the lease nobody retries it (nor another worker); after it, one worker does.
    assert Scheduler(entries).run_due() == 0
    counters["boom"].failing = False
    now.move(seconds=LEASE.total_seconds())
    assert Scheduler(entries).run_due() == 1
    assert counters["boom"].runs == 2 and counters["fine"].runs == 1
    db.session.expire_all()
    retried = db.session.get(ScheduledRun, failed.id)
    assert (retried.error, retried.attempts) == (None, 2)
    assert retried.finished_at is not None


def test_a_failed_period_is_not_retried_once_the_period_is_over(app: Flask, now: Clock) -> None:
    entries, counters = tasks(boom=DAILY)
    counters["boom"].failing = True
    Scheduler(entries).run_due()
    now.move(days=1)  # the next day is a new period: run once, not the missed one as well
    counters["boom"].failing = False
    assert Scheduler(entries).run_due() == 1
    assert counters["boom"].runs == 2
    assert runs() == [("boom", "2026-03-02", "RuntimeError: boom"), ("boom", "2026-03-03", None)]


# Pruning


@pytest.fixture
def old_and_new(app: Flask, now: Clock, make_user: Callable[..., Any]) -> Iterator[dict[str, Any]]:
    """Rows either side of the 30-day line, by kind; each name says whether it should go."""
    user = make_user()
    old, recent, later = now.value - timedelta(days=31), now.value - timedelta(days=29), now.value
    rows: dict[str, Any] = {}

    def mail(name: str, status: str, sent_at: datetime | None) -> None:
        rows[name] = OutboxMail(to_address="a@example.com", subject="s", template="t",
                                text_body="x", html_body="x", message_id=f"<{name}@x>",
                                status=status, sent_at=sent_at, created_at=old)  # fmt: skip

    def job(name: str, status: str, finished_at: datetime | None) -> None:
        rows[name] = Job(name="x", payload={}, status=status, finished_at=finished_at,
                         created_at=old)  # fmt: skip

    def token(name: str, expires_at: datetime, used_at: datetime | None) -> None:
        rows[name] = EmailToken(user_id=user.id, purpose="signin", email=user.email,
                                token_hash=name.ljust(64, "x"), created_at=old,
                                expires_at=expires_at, used_at=used_at)  # fmt: skip

    def run(name: str, claimed_at: datetime) -> None:
        rows[name] = ScheduledRun(task="t", period=name, worker="w", claimed_at=claimed_at,
                                  finished_at=claimed_at)  # fmt: skip

    for n in range(3):
        mail(f"gone: sent mail {n}", "sent", old)
        job(f"gone: done job {n}", "done", old)
    mail("kept: recent mail", "sent", recent)
    mail("kept: failed mail", "failed", None)
    mail("kept: queued mail", "queued", None)
    job("kept: recent job", "done", recent)
    job("kept: failed job", "failed", None)
    job("kept: queued job", "queued", None)
    token("gone: expired token", old, None)
    token("gone: used token", later, old)
    token("kept: recently expired token", recent, None)
    token("kept: recently used token", later, recent)
    token("kept: live token", later, None)
    run("gone: old run", old)
    run("kept: recent run", recent)
    db.session.add_all(rows.values())
    db.session.commit()
    yield rows


def test_pruning_deletes_what_is_old_and_done_and_nothing_else(
    old_and_new: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pruning, "BATCH", 2)  # several batches
    ids = {name: (type(row), row.id) for name, row in old_and_new.items()}
    assert pruning.prune() == {"outbox_mails": 3, "jobs": 3, "scheduled_runs": 1, "email_tokens": 2}
    db.session.expire_all()
    left = {name for name, (model, row_id) in ids.items() if db.session.get(model, row_id)}
    assert left == {name for name in ids if name.startswith("kept")}


def test_scheduler_runs_are_kept_a_week_whatever_the_setting(
    app: Flask, now: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "PRUNE_AFTER_DAYS", 1)
    for days in (2, 7, 9):
        db.session.add(ScheduledRun(task="t", period=f"{days}", worker="w",
                                    claimed_at=now.value - timedelta(days=days)))  # fmt: skip
    db.session.commit()
    pruning.prune()
    assert [key for _, key, _ in runs()] == ["2", "7"]


def test_pruning_is_a_daily_task_of_the_worker(app: Flask, now: Clock) -> None:
    assert scheduler.TASKS["prune"].period is DAILY

    def prunes() -> list[str]:
        return [key for task, key, _ in runs() if task == "prune"]

    worker.run_once()  # paywall worker --once (the other periodic tasks run too)
    worker.run_once()  # the same day: already run
    assert prunes() == ["2026-03-02"]
    now.move(days=1)
    worker.run_once()
    assert prunes() == ["2026-03-02", "2026-03-03"]
