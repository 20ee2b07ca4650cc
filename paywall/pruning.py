"""Daily pruning: rows that have done their work are deleted once PRUNE_AFTER_DAYS old.

Sent mail, finished jobs, scheduler runs (of periods long over), and email links (sign-in,
verify, reset, email change) used or expired that long ago. Failed mail and failed jobs stay
for staff to look at. Rows go in batches of BATCH ids, each batch its own transaction, so a
large backlog never holds a long lock or a long list in memory.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, delete, or_, select

from paywall import clock
from paywall.accounts.models import EmailToken
from paywall.extensions import db
from paywall.jobs import Job
from paywall.mail.models import OutboxMail
from paywall.scheduler import DAILY, ScheduledRun, every

BATCH = 1000
# A run's row is its period's claim: deleting it while its period lasts would let the task run
# again, so runs are kept at least one week and a day, whatever PRUNE_AFTER_DAYS says.
LONGEST_PERIOD = timedelta(days=8)


def _delete_where(model: Any, condition: ColumnElement[bool]) -> int:
    """Delete every row of `model` matching `condition`, BATCH at a time; how many went."""
    deleted = 0
    while True:
        ids = list(db.session.scalars(select(model.id).where(condition).limit(BATCH)))
        if not ids:
            return deleted
        db.session.execute(delete(model).where(model.id.in_(ids)))
        db.session.commit()
        deleted += len(ids)


@every("prune", period=DAILY)
def prune() -> dict[str, int]:
    """Delete what is old enough; returns how many rows went from each table."""
    now = clock.now()
    before = now - timedelta(days=current_app.config["PRUNE_AFTER_DAYS"])
    runs_before = min(before, now - LONGEST_PERIOD)
    return {
        "outbox_mails": _delete_where(
            OutboxMail, (OutboxMail.status == "sent") & (OutboxMail.sent_at < before)
        ),
        "jobs": _delete_where(Job, (Job.status == "done") & (Job.finished_at < before)),
        "scheduled_runs": _delete_where(ScheduledRun, ScheduledRun.claimed_at < runs_before),
        "email_tokens": _delete_where(
            EmailToken, or_(EmailToken.used_at < before, EmailToken.expires_at < before)
        ),
    }
