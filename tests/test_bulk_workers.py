"""Bulk mail on production's parts: real `paywall worker` processes on PostgreSQL sending to a
real SMTP server (aiosmtpd), side by side, and killed (SIGKILL) mid-fan-out and mid-send.

Each worker gets its own MAIL_FROM, so the envelope sender at the server says which worker sent
each mail, and its own PostgreSQL application_name (PGAPPNAME), so pg_stat_activity says when
it is connected and what it waits for. Leases are shortened by settings (WORKER_LEASE_SECONDS,
BULK_SENDING_LEASE_SECONDS) in the same ratio as the defaults, not slept through.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from paywall import clock
from paywall.extensions import db
from paywall.mail import bulk
from paywall.mail.models import Delivery, Mailing
from paywall.scheduler import ScheduledRun
from tests.helpers import make_item, make_member
from tests.mailserver import Server, free_port, running
from tests.test_industry_mail import choose, publish_issue

pytestmark = pytest.mark.postgres

PG_URL = os.environ.get("PAYWALL_TEST_DATABASE_URL", "")
PAYWALL = str(Path(sys.executable).with_name("paywall"))
BASE_URL = "https://news.example.com"
WAIT_SECONDS = 120
# The defaults hold a job 5 minutes and a claimed group 10: a job comes back before the group's
# lease is over. Here 1 and 3 seconds.
SHORT_LEASES = {"WORKER_LEASE_SECONDS": "1", "BULK_SENDING_LEASE_SECONDS": "3"}


def sender(name: str) -> str:
    return f"{name}@news.example.com"


class Processes:
    """`paywall` commands run as their own processes against the test's database and SMTP
    server; every one still running at the end is killed."""

    def __init__(self, tmp_path: Path, smtp_port: int) -> None:
        self.tmp_path, self.smtp_port = tmp_path, smtp_port
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def env(self, name: str, settings: dict[str, str]) -> dict[str, str]:
        values = {"CONFIG": "testing", "DATABASE_URL": PG_URL, "BASE_URL": BASE_URL,
                  "MAIL_URL": f"smtp://127.0.0.1:{self.smtp_port}",
                  "MAIL_FROM": f"PRO Desk <{sender(name)}>", **settings}  # fmt: skip
        return {**os.environ, "PGAPPNAME": name,
                **{f"PAYWALL_{key}": value for key, value in values.items()}}  # fmt: skip

    def start(self, name: str, *args: str, **settings: str) -> subprocess.Popen[bytes]:
        with (self.tmp_path / f"{name}.log").open("wb") as log:
            process = subprocess.Popen([PAYWALL, *args], env=self.env(name, settings),
                                       stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        self.running[name] = process
        return process

    def worker(self, name: str, **settings: str) -> subprocess.Popen[bytes]:
        return self.start(name, "worker", **settings)

    def kill(self, name: str) -> None:
        process = self.running.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def output(self, name: str) -> str:
        process = self.running.get(name)
        if process is not None and process.poll() is not None:
            self.running.pop(name)
        return (self.tmp_path / f"{name}.log").read_text()

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}"
                         for log in sorted(self.tmp_path.glob("*.log")))  # fmt: skip

    def stop_all(self) -> None:
        for process in self.running.values():
            process.terminate()
        for process in self.running.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.running.clear()


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def processes(pg_app: Flask, tmp_path: Path, smtp_port: int) -> Iterator[Processes]:
    """Stopped before pg_app drops the tables they use."""
    started = Processes(tmp_path, smtp_port)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def app(pg_app: Flask) -> Iterator[Flask]:
    """The test's own side: an app context on the same PostgreSQL database."""
    with pg_app.app_context():
        yield pg_app
        db.session.remove()


def wait_for(what: str, check: Callable[[], Any], processes: Processes) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = check()
        db.session.rollback()  # each look in a transaction of its own
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}\n{processes.logs()}")


def connected(*names: str) -> Callable[[], bool]:
    """Every one of these processes holds a connection to the database (it is up)."""

    def check() -> bool:
        found = db.session.scalars(text(
            "SELECT DISTINCT application_name FROM pg_stat_activity "
            "WHERE datname = current_database()"
        ))  # fmt: skip
        return set(names) <= set(found)

    return check


def waiting_on_a_lock(name: str) -> Callable[[], bool]:
    def check() -> bool:
        return bool(db.session.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
            "AND wait_event_type = 'Lock'"
        ), {"name": name}))  # fmt: skip

    return check


def mailing_done(key: str) -> Callable[[], bool]:
    return lambda: db.session.scalar(select(Mailing.status).where(Mailing.key == key)) == "done"


def statuses(mailing_key: str) -> dict[str, tuple[str, str | None]]:
    rows = db.session.execute(
        select(Delivery.email, Delivery.status, Delivery.last_error)
        .join(Mailing, Mailing.id == Delivery.mailing_id).where(Mailing.key == mailing_key)
    )  # fmt: skip
    return {email: (status, error) for email, status, error in rows}


def industry_members(count: int) -> list[str]:
    emails = [f"member{n:03d}@example.com" for n in range(count)]
    for email in emails:
        choose(make_member(email=email, password=None), ["oil-gas"], "each")
    return emails


# Side by side


def test_two_workers_mail_an_issue_to_every_member_exactly_once(
    app: Flask, processes: Processes, smtp_port: int
) -> None:
    emails = industry_members(300)
    with running(smtp_port, Server(delay=0.005)) as server:
        for name in ("worker-a", "worker-b"):
            processes.worker(name, BULK_PAGE_SIZE="25")
        wait_for("both workers", connected("worker-a", "worker-b"), processes)
        item = publish_issue()
        key = f"issue:{item.id}"
        wait_for("the mailing to be done", mailing_done(key), processes)
    assert server.counted() == dict.fromkeys(emails, 1)
    assert set(statuses(key).values()) == {("sent", None)}
    # Both sent: the pages went to whichever worker was free.
    assert set(server.senders) == {sender("worker-a"), sender("worker-b")}


def week_of_issues() -> None:
    """Issues published three days ago (archive for their own mailing, in the review)."""
    for industry in ("oil-gas", "banking"):
        make_item(kind="industry_newsletter", industry=industry, title=f"{industry} this week",
                  published_at=(clock.now() - timedelta(days=3)).isoformat())  # fmt: skip


def the_weekly_review() -> Mailing:
    (mailing,) = db.session.scalars(select(Mailing).where(Mailing.kind == "weekly_review"))
    return mailing


def weekly_runs() -> list[tuple[str, str | None]]:
    rows = db.session.execute(select(ScheduledRun.worker, ScheduledRun.error)
                              .where(ScheduledRun.task == "weekly-review"))  # fmt: skip
    return [(worker, error) for worker, error in rows]


def test_two_weekly_review_commands_at_once_send_the_period_once(
    app: Flask, processes: Processes, smtp_port: int
) -> None:
    emails = [make_member(email=f"reader{n:03d}@example.com", password=None).email
              for n in range(200)]  # fmt: skip
    week_of_issues()
    # Both commands meet at the claim: each waits for this lock, then they go together.
    gate = db.engine.connect()
    gate.execute(text("LOCK TABLE scheduled_runs IN EXCLUSIVE MODE"))
    for name in ("review-a", "review-b"):
        processes.start(name, "newsletters", "weekly-review", "--now")
    for name in ("review-a", "review-b"):
        wait_for(f"{name} at the claim", waiting_on_a_lock(name), processes)
    gate.rollback()
    gate.close()
    for name in ("review-a", "review-b"):
        assert processes.running[name].wait(timeout=60) == 0, processes.logs()
    said = sorted(processes.output(name) for name in ("review-a", "review-b"))
    assert said[0].startswith("Already sent: the weekly review of"), said
    assert said[1].startswith("Queued the weekly review of"), said

    with running(smtp_port, Server(delay=0.002)) as server:
        for name in ("worker-a", "worker-b"):
            processes.worker(name, BULK_PAGE_SIZE="40")
        key = the_weekly_review().key
        wait_for("the review to be done", mailing_done(key), processes)
    assert server.counted() == dict.fromkeys(emails, 1)
    assert set(statuses(key).values()) == {("sent", None)}
    assert len(weekly_runs()) == 1


def test_two_workers_at_the_weekly_time_send_the_review_once(
    app: Flask, processes: Processes, smtp_port: int
) -> None:
    emails = [make_member(email=f"reader{n:03d}@example.com", password=None).email
              for n in range(200)]  # fmt: skip
    week_of_issues()
    now = datetime.now(UTC)
    weekly_at = now.strftime("%a %H:%M").lower()  # this minute: the period starts now
    gate = db.engine.connect()
    gate.execute(text("LOCK TABLE scheduled_runs IN EXCLUSIVE MODE"))
    with running(smtp_port, Server(delay=0.002)) as server:
        for name in ("worker-a", "worker-b"):
            processes.worker(name, BULK_PAGE_SIZE="40", WEEKLY_REVIEW_AT=weekly_at,
                             TIMEZONE="UTC")  # fmt: skip
        for name in ("worker-a", "worker-b"):
            wait_for(f"{name} at its first claim", waiting_on_a_lock(name), processes)
        gate.rollback()
        gate.close()
        key = wait_for("the review", lambda: db.session.scalar(
            select(Mailing.key).where(Mailing.kind == "weekly_review")), processes)  # fmt: skip
        wait_for("the review to be done", mailing_done(key), processes)
    assert server.counted() == dict.fromkeys(emails, 1)
    assert set(statuses(key).values()) == {("sent", None)}
    (run,) = weekly_runs()
    assert run[1] is None
    review = the_weekly_review()
    assert review.covers_until == now.replace(second=0, microsecond=0)


# Killed


def test_a_worker_killed_mid_fan_out_is_taken_over_and_each_member_mailed_once(
    app: Flask, processes: Processes, smtp_port: int
) -> None:
    """Pages of 50: the worker sends the first two, then is killed while inserting the third
    page's deliveries (a delivery's foreign key takes a share lock on its member's row, and this
    test holds the 120th member's row locked). The second worker takes the fan-out over from
    the third page once the job's lease is over."""
    emails = industry_members(300)
    item = publish_issue()
    key = f"issue:{item.id}"
    held = db.engine.connect()
    held.execute(text("SELECT id FROM users WHERE email = :email FOR UPDATE"),
                 {"email": emails[119]})  # fmt: skip
    with running(smtp_port, Server()) as server:
        processes.worker("worker-a", BULK_PAGE_SIZE="50", **SHORT_LEASES)
        wait_for("the third page", waiting_on_a_lock("worker-a"), processes)
        processes.kill("worker-a")
        held.rollback()
        held.close()
        assert server.counted() == dict.fromkeys(emails[:100], 1)
        processes.worker("worker-b", BULK_PAGE_SIZE="50", **SHORT_LEASES)
        wait_for("the mailing to be done", mailing_done(key), processes)
    assert server.counted() == dict.fromkeys(emails, 1)
    assert set(statuses(key).values()) == {("sent", None)}
    by_sender = dict(zip(server.recipients, server.senders, strict=True))
    assert {by_sender[email] for email in emails[:100]} == {sender("worker-a")}
    assert {by_sender[email] for email in emails[100:]} == {sender("worker-b")}


def test_a_worker_killed_mid_send_leaves_one_group_failed_and_no_one_mailed_twice(
    app: Flask, processes: Processes, smtp_port: int
) -> None:
    """The server kills the worker while taking its 145th message (in the second page of 100,
    at 20 ms a message): that message arrived, the worker never heard so. Its group stays
    `sending` until its lease ends; the second worker sends everyone else and then fails the
    group, saying why, without sending any of it again."""
    emails = industry_members(300)
    victim: dict[str, int] = {}

    def kill_at_145(count: int) -> None:
        if count == 145:
            os.kill(victim["pid"], signal.SIGKILL)

    with running(smtp_port, Server(delay=0.02, on_message=kill_at_145)) as server:
        victim["pid"] = processes.worker("worker-a", BULK_PAGE_SIZE="100", **SHORT_LEASES).pid
        item = publish_issue()
        key = f"issue:{item.id}"
        assert processes.running["worker-a"].wait(timeout=WAIT_SECONDS) == -signal.SIGKILL
        processes.running.pop("worker-a")
        in_flight = {e for e, (status, _) in statuses(key).items() if status == "sending"}
        db.session.rollback()
        assert server.recipients[144] in in_flight
        assert 1 <= len(in_flight) <= bulk.SEND_GROUP
        processes.worker("worker-b", BULK_PAGE_SIZE="100", **SHORT_LEASES)
        wait_for("the mailing to be done", mailing_done(key), processes)
    received = server.counted()
    assert set(received.values()) == {1}  # no one twice
    assert set(emails) - in_flight <= set(received)  # everyone outside the group
    found = statuses(key)
    assert {found.pop(email) for email in in_flight} == {("failed", bulk.DIED_MID_SEND)}
    assert set(found.values()) == {("sent", None)}


# The end of a mailing, raced in threads


def test_the_last_page_sent_as_the_fan_out_ends_still_finishes_the_mailing(
    app: Flask, monkeypatch: pytest.MonkeyPatch, smtp_port: int
) -> None:
    """The fan-out's last (empty) page counts the page's rows still open and commits after
    the page's send has read the mailing as still fanning out: the send must look again when it
    finishes, or the mailing stays `sending` with every row sent."""
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    industry_members(3)
    item = publish_issue()
    mailing_id = bulk.find(f"issue:{item.id}").id  # type: ignore[union-attr]
    bulk.fan_out({"mailing_id": mailing_id})  # the one page: deliveries, its send queued
    db.session.commit()
    first, last = db.session.execute(select(func.min(Delivery.id), func.max(Delivery.id))).one()
    db.session.remove()
    counted, send_at_its_end, fan_out_committed = (threading.Event() for _ in range(3))
    finish = bulk._finish_if_sent
    errors: list[BaseException] = []

    def finish_after_the_fan_out(mailing: Mailing) -> None:
        if threading.current_thread().name == "send":
            send_at_its_end.set()
            assert fan_out_committed.wait(30)
        finish(mailing)

    monkeypatch.setattr(bulk, "_finish_if_sent", finish_after_the_fan_out)

    def last_fan_out_page() -> None:
        bulk.fan_out({"mailing_id": mailing_id})  # nothing left: `sending`, rows still open
        counted.set()
        assert send_at_its_end.wait(30)
        db.session.commit()
        fan_out_committed.set()

    def the_page_send() -> None:
        assert counted.wait(30)
        bulk.send_page({"mailing_id": mailing_id, "first": first, "last": last})
        db.session.commit()

    def run(job: Callable[[], None]) -> None:
        with app.app_context():
            try:
                job()
            except BaseException as error:  # reported by the test, not lost in the thread
                errors.append(error)
                for event in (counted, send_at_its_end, fan_out_committed):
                    event.set()  # so the other thread does not wait for it

    with running(smtp_port, Server()) as server:
        threads = [threading.Thread(target=run, args=(last_fan_out_page,), name="fan-out"),
                   threading.Thread(target=run, args=(the_page_send,), name="send")]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == []
    assert len(server.recipients) == 3
    assert db.session.get(Mailing, mailing_id).status == "done"  # type: ignore[union-attr]
