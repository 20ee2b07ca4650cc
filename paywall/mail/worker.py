"""The worker: runs periodic tasks (paywall/scheduler.py) and queued jobs, then sends queued
mail, retrying with backoff.

Each row is claimed with a guarded UPDATE (a lease in `locked_until`, WORKER_LEASE_SECONDS), so
several workers can run side by side and none sends a mail twice. A mail is sent outside any
transaction and marked sent right after; a crash between the two can at worst send it again,
never lose it. One pass sends its mails over one SMTP connection, opened when the first is sent.
A mail that cannot even be built (a line break in its subject) is marked failed at once, with
why; so is one the server refuses for good (a 5xx), and a 5xx to its address (RCPT TO) also
puts the address on the suppression list, which bulk mail skips. Transactional mail (sign-in
links, receipts) still goes to suppressed addresses: people must be able to sign in.
"""

from __future__ import annotations

import logging
import smtplib
import time
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, update

from paywall import clock, scheduler
from paywall.extensions import db
from paywall.jobs import HANDLERS, Job
from paywall.mail import bulk, smtp
from paywall.mail.models import OutboxMail
from paywall.mail.retries import backoff

log = logging.getLogger(__name__)

BATCH = 50


def _lease() -> timedelta:
    return timedelta(seconds=float(current_app.config["WORKER_LEASE_SECONDS"]))


def _claim(model: Any, due_column: Any, row_id: int, now: datetime) -> bool:
    claimed = db.session.execute(
        update(model)
        .where(
            model.id == row_id,
            model.status == "queued",
            due_column <= now,
            or_(model.locked_until.is_(None), model.locked_until < now),
        )
        .values(locked_until=now + _lease())
    )
    db.session.commit()
    return claimed.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def _due_ids(model: Any, due_column: Any, now: datetime, skip: set[int]) -> list[int]:
    query = (
        select(model.id)
        .where(
            model.status == "queued",
            due_column <= now,
            or_(model.locked_until.is_(None), model.locked_until < now),
        )
        .order_by(model.id)
        .limit(BATCH)
    )
    return [row_id for row_id in db.session.scalars(query) if row_id not in skip]


def run_job(job_id: int) -> bool:
    """Run one claimed job in its own transaction; True when it succeeded."""
    queued = db.session.get(Job, job_id)
    assert queued is not None
    handler = HANDLERS.get(queued.name)
    try:
        if handler is None:
            raise LookupError(f"no handler for job {queued.name!r}")
        handler(dict(queued.payload))
        queued.status, queued.finished_at, queued.locked_until = "done", clock.now(), None
        db.session.commit()
        return True
    except Exception as error:  # any failure is recorded on the job and retried later
        db.session.rollback()
        log.exception("job %s (%s) failed", job_id, queued.name)
        _record_failure(db.session.get(Job, job_id), "run_after", error)
        return False


def send_mail(mail_id: int, connection: smtp.Connection) -> bool:
    """Send one claimed mail over the pass's connection; True when the server accepted it."""
    mail = db.session.get(OutboxMail, mail_id)
    assert mail is not None
    try:
        message = smtp.build_message(mail, current_app.config["MAIL_FROM"])
    except smtp.Unbuildable as error:  # it would fail the same way every time
        log.error("mail %s to %s can never be sent: %s", mail_id, mail.to_address, error)
        _record_failure(mail, "next_attempt_at", error, give_up=True)
        return False
    try:
        connection.send_message(message)
    except smtp.Refused as refused:
        _refused(mail, refused)
        return False
    except (OSError, ValueError, smtplib.SMTPException) as error:
        log.warning("mail %s to %s not sent: %s", mail_id, mail.to_address, error)
        _record_failure(mail, "next_attempt_at", error)
        return False
    mail.status, mail.sent_at, mail.locked_until = "sent", clock.now(), None
    mail.attempts += 1
    db.session.commit()
    return True


def _refused(mail: OutboxMail, refused: smtp.Refused) -> None:
    """A 4xx is tried again later; a 5xx never will go, and one to the address (RCPT TO)
    means the mailbox is not there: bulk mail stops going to it."""
    log.warning("mail %s to %s refused: %s", mail.id, mail.to_address, refused)
    if refused.permanent and refused.for_recipient:
        bulk.suppress(mail.to_address, "bounce", str(refused))
    _record_failure(mail, "next_attempt_at", refused, give_up=refused.permanent)


def _record_failure(row: Any, due_field: str, error: BaseException, give_up: bool = False) -> None:
    row.attempts += 1
    row.last_error = f"{type(error).__name__}: {error}"[:2000]
    row.locked_until = None
    if give_up or row.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
        row.status = "failed"
    else:
        setattr(row, due_field, clock.now() + backoff(row.attempts))
    db.session.commit()


def run_pending(skip: set[tuple[str, int]] | None = None) -> tuple[int, set[tuple[str, int]]]:
    """One pass: due mail, then every due job, each followed by mail that became due meanwhile.
    Returns (successes, rows that failed).

    A job may take seconds (a page of a bulk mailing), and a reader waiting for a sign-in link
    should not wait for a newsletter to go out: the outbox is looked at again after each job.
    """
    skip = skip or set()
    failed: set[tuple[str, int]] = set()
    done = _send_due_mail(skip, failed)
    now = clock.now()
    for job_id in _due_ids(Job, Job.run_after, now, {i for kind, i in skip if kind == "job"}):
        if _claim(Job, Job.run_after, job_id, now):
            if run_job(job_id):
                done += 1
            else:
                failed.add(("job", job_id))
            done += _send_due_mail(skip, failed)
    return done, failed


def _send_due_mail(skip: set[tuple[str, int]], failed: set[tuple[str, int]]) -> int:
    """Send the due outbox mail over one connection (opened only if there is any)."""
    mail_url = current_app.config.get("MAIL_URL")
    if not mail_url:  # mail stays in the outbox, for /dev/mail
        return 0
    sent, now = 0, clock.now()
    skip_mails = {i for kind, i in skip if kind == "mail"} | {
        i for kind, i in failed if kind == "mail"
    }
    with smtp.Connection(mail_url) as connection:  # connects on the first send
        for mail_id in _due_ids(OutboxMail, OutboxMail.next_attempt_at, now, skip_mails):
            if _claim(OutboxMail, OutboxMail.next_attempt_at, mail_id, now):
                if send_mail(mail_id, connection):
                    sent += 1
                else:
                    failed.add(("mail", mail_id))
    return sent


def drain(max_passes: int = 100) -> int:
    """Work until nothing is due, trying each failing row at most once. Returns successes."""
    total, tried_and_failed = 0, set[tuple[str, int]]()
    for _ in range(max_passes):
        done, failed = run_pending(tried_and_failed)
        tried_and_failed |= failed
        total += done
        if not done:
            break
    return total


def run_once() -> tuple[int, int]:
    """`paywall worker --once`: the periodic tasks whose period has not run yet (they may queue
    jobs), then everything due. Returns (periodic runs, successes)."""
    ran = scheduler.Scheduler().run_due()
    return ran, drain()


def run_forever(periodic: scheduler.Scheduler | None = None) -> None:
    """The `paywall worker` loop: periodic tasks when due (an in-memory check per tick), queued
    work, then sleep a little when there was nothing to do."""
    periodic = periodic or scheduler.Scheduler()
    poll = current_app.config["WORKER_POLL_SECONDS"]
    log.info("worker started, periodic tasks: %s", ", ".join(sorted(periodic.tasks)) or "none")
    while True:
        ran = periodic.run_due()
        done, _ = run_pending()
        if not done and not ran:
            db.session.remove()
            time.sleep(poll)
