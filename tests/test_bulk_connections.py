"""Bulk mail's SMTP sessions, counted at a real server (aiosmtpd): one connection per page of
recipients, and servers that end sessions after a few messages still get every mail once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from paywall import clock
from paywall.extensions import db
from paywall.jobs import Job
from paywall.mail import bulk, worker
from paywall.mail.models import Delivery, Mailing
from tests.helpers import make_member
from tests.mailserver import Server, running
from tests.test_industry_mail import choose, publish_issue
from tests.test_mail_smtp import free_port


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def app_config(smtp_port: int) -> dict[str, Any]:
    # Retries an hour away: anything not sent in one drain was not sent at all.
    return {"MAIL_URL": f"smtp://127.0.0.1:{smtp_port}", "MAIL_MAX_ATTEMPTS": 3,
            "MAIL_RETRY_BASE_SECONDS": 3600, "BASE_URL": "https://news.example.com"}  # fmt: skip


def members(count: int) -> list[str]:
    """Members who receive each oil and gas issue; their addresses, in fan-out order."""
    emails = [f"member{n:03d}@example.com" for n in range(count)]
    for email in emails:
        choose(make_member(email=email, password=None), ["oil-gas"], "each")
    return emails


def deliveries() -> dict[str, tuple[str, int, str | None]]:
    db.session.expire_all()
    rows = db.session.execute(select(Delivery.email, Delivery.status, Delivery.attempts,
                                     Delivery.last_error))  # fmt: skip
    return {email: (status, attempts, error) for email, status, attempts, error in rows}


@pytest.fixture
def server(smtp_port: int) -> Iterator[Server]:
    with running(smtp_port, Server()) as started:
        yield started


def test_one_page_of_recipients_goes_over_one_connection(app: Flask, server: Server) -> None:
    emails = members(40)
    publish_issue()
    worker.drain()
    assert server.counted() == dict.fromkeys(emails, 1)
    assert server.sessions == 1


def test_each_page_has_its_own_connection(app: Flask, server: Server) -> None:
    app.config["BULK_PAGE_SIZE"] = 15
    emails = members(40)
    publish_issue()
    worker.drain()
    assert server.counted() == dict.fromkeys(emails, 1)
    assert server.sessions == 3  # pages of 15, 15 and 10


@pytest.mark.parametrize("ending", ["close", "421"])
def test_a_server_that_ends_sessions_every_few_messages_still_gets_each_mail_once(
    app: Flask, smtp_port: int, ending: str
) -> None:
    emails = members(30)
    with running(smtp_port, Server(per_session=7, ending=ending)) as server:
        publish_issue()
        worker.drain()
    assert server.counted() == dict.fromkeys(emails, 1)
    assert server.sessions == 5  # 7 + 7 + 7 + 7 + 2: one reconnect each time, at once
    assert set(deliveries().values()) == {("sent", 1, None)}
    assert {job.status for job in db.session.scalars(select(Job))} == {"done"}


def test_a_server_that_hangs_up_before_answering_does_not_get_that_mail_twice(
    app: Flask, smtp_port: int
) -> None:
    """It took the 5th message in and hung up without a reply: it may deliver it or not, and
    the sender cannot tell. Sending it again could mail that member twice, so it is given up
    with why; the others go on a new session."""
    emails = members(12)
    with running(smtp_port, Server(per_session=5, ending="hang-up")) as server:
        publish_issue()
        worker.drain()
        worker.drain()
    assert server.counted() == dict.fromkeys(emails, 1)
    unanswered = {server.recipients[4], server.recipients[9]}
    found = deliveries()
    for email in unanswered:
        assert found.pop(email) == ("failed", 1, bulk.UNANSWERED)
    assert set(found.values()) == {("sent", 1, None)}
    assert server.sessions == 3


def test_a_group_left_sending_by_a_dead_worker_is_failed_once_its_lease_is_over(
    app: Flask, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker claimed a group and died (its job comes back after the job's lease, before the
    group's own lease is over): the rest are sent, the group is failed once its lease ends,
    not sent again, and the mailing is done."""
    emails = members(8)
    publish_issue()
    worker.run_pending()  # the fan-out: the page's send is queued
    dead = emails[:3]
    db.session.execute(
        update(Delivery).where(Delivery.email.in_(dead))
        .values(status="sending", next_attempt_at=clock.now() + timedelta(minutes=10))
    )  # fmt: skip
    db.session.commit()
    worker.drain()
    assert server.counted() == dict.fromkeys(emails[3:], 1)
    assert db.session.scalar(select(Mailing.status)) == "sending"  # the group may still go
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(minutes=11))
    worker.drain()
    assert server.counted() == dict.fromkeys(emails[3:], 1)
    found = deliveries()
    assert {found[email] for email in dead} == {("failed", 0, bulk.DIED_MID_SEND)}
    assert db.session.scalar(select(Mailing.status)) == "done"
