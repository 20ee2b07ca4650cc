"""Bulk mail: one mailing fanned out to many recipients, sent in batches over one connection.

A mailing (an industry issue, a weekly review, a free list issue) belongs to an *audience*,
registered by the domain that knows who receives it (`@audience("industry_issue")`, as jobs
register handlers). The worker then does the rest, in jobs:

- `bulk.fan_out` takes one page of recipients (BULK_PAGE_SIZE, in key order after the mailing's
  cursor), inserts a delivery row each (unique per mailing and address: INSERT … ON CONFLICT
  DO NOTHING), moves the cursor, and queues a `bulk.send` for that page and a `bulk.fan_out`
  for the next, all in one transaction. A crash anywhere loses that page's transaction, and
  the retried job does the page again, so a worker killed mid-fan-out resumes where it was.
- `bulk.send` sends the page's queued deliveries over one SMTP connection. It asks the
  audience again at send time (access and choices may have changed since the fan-out), skips
  suppressed addresses, and claims SEND_GROUP rows at a time (status `sending`, committed)
  before sending them, marking them sent after. A row still `sending` once its lease
  (BULK_SENDING_LEASE_SECONDS) has run out belonged to a worker that died: it may or may not
  have gone out, and it is not sent again, so each recipient gets a mailing at most once. A
  page's send that finds rows another worker holds comes back when their lease ends, to fail
  them if that worker died, so the mailing still ends `done`.

Replies: a 5xx to RCPT TO suppresses the address (the suppression list, below), a 5xx to the
message fails that delivery, a 4xx retries it with the worker's backoff, and a connection that
cannot be made fails the job, which the worker retries. A session that breaks once the message
is handed over, before the server's answer, fails that delivery (UNANSWERED): it may have gone.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import func, select, update

from paywall import clock, jobs
from paywall.extensions import db
from paywall.mail import smtp
from paywall.mail.mime import Piece, Template
from paywall.mail.models import Delivery, Mailing, OutboxMail, Suppression
from paywall.mail.retries import backoff
from paywall.upsert import insert_missing, locked, skipping_existing

log = logging.getLogger(__name__)

# Deliveries claimed, sent and written back per commit. A worker killed mid-group leaves at most
# this many `sending`, failed later as "may have gone out"; smaller groups cost a commit every
# few mails (at 10, SQLite's fsyncs took half the send rate: bench/newsletters.py).
SEND_GROUP = 50
DIED_MID_SEND = (
    "the worker stopped while sending this; it may have gone out, so it is not sent again"
)
UNANSWERED = (
    "the mail server took the message but did not answer; it may have gone out, so it is not "
    "sent again"
)


def _page_size() -> int:
    return int(current_app.config["BULK_PAGE_SIZE"])


def _sending_lease() -> timedelta:
    """How long a claimed group may take before another worker may decide its sender died."""
    return timedelta(seconds=float(current_app.config["BULK_SENDING_LEASE_SECONDS"]))


@dataclass(frozen=True)
class Recipient:
    key: int
    email: str
    user_id: int | None = None


class Composed(Protocol):
    """What an audience builds once per mailing (in each worker): the subject, the headers
    every recipient shares (List-Id) and whatever makes each piece cheap."""

    subject: str
    headers: dict[str, str]


class Audience(Protocol):
    def recipients(self, mailing: Mailing, after: int, limit: int) -> list[Recipient]:
        """Up to `limit` recipients with keys above `after`, in key order."""

    def compose(self, mailing: Mailing) -> Composed:
        """The parts shared by every recipient, built once."""

    def pieces(
        self, mailing: Mailing, composed: Composed, deliveries: Sequence[Row]
    ) -> dict[int, Piece]:
        """Each delivery's mail by delivery id, decided now: a delivery left out is no
        longer wanted (access ended, an unsubscribe, nothing new for them) and is skipped."""


AUDIENCES: dict[str, Audience] = {}


def audience(kind: str) -> Callable[[type[Any]], type[Any]]:
    """Register the audience of mailings of this kind (a class whose instance is used)."""

    def register(cls: type[Any]) -> type[Any]:
        AUDIENCES[kind] = cls()
        return cls

    return register


# --- starting, cancelling and resuming ---------------------------------------------------


def start(key: str, kind: str, subject: str, **fields: Any) -> tuple[Mailing, bool]:
    """The mailing called `key`, made and queued for fan-out unless it exists; (mailing,
    whether this call made it). Any number of callers at once make one (the unique key)."""
    if kind not in AUDIENCES:
        raise KeyError(f"no audience for mailings of kind {kind!r}")
    values = {"key": key, "kind": kind, "subject": subject[:300], "status": "fanning",
              "cursor": 0, "created_at": clock.now(), **fields}  # fmt: skip
    if values["status"] == "done":  # known to have no one to go to: recorded, not fanned out
        values["fanned_at"] = values["created_at"]
    made = insert_missing(Mailing, ["key"], values)
    mailing = db.session.scalar(select(Mailing).where(Mailing.key == key))
    assert mailing is not None
    if made and mailing.status == "fanning":
        jobs.enqueue("bulk.fan_out", mailing_id=mailing.id)
    return mailing, made


def find(key: str) -> Mailing | None:
    return db.session.scalar(select(Mailing).where(Mailing.key == key))


def cancel(mailing: Mailing) -> int:
    """Stop a mailing: what is not sent yet is not sent (a group already being sent finishes).
    Returns how many deliveries were cancelled."""
    if mailing.status == "done":
        return 0
    mailing.status = "cancelled"
    cancelled = db.session.execute(
        update(Delivery)
        .where(Delivery.mailing_id == mailing.id, Delivery.status == "queued")
        .values(status="cancelled")
    )
    return int(cancelled.rowcount)  # type: ignore[attr-defined]


def resume(mailing: Mailing) -> bool:
    """Go on with a cancelled mailing: recipients who got it do not get it again."""
    if mailing.status != "cancelled":
        return False
    mailing.status = "sending" if mailing.fanned_at else "fanning"
    db.session.execute(
        update(Delivery)
        .where(Delivery.mailing_id == mailing.id, Delivery.status == "cancelled")
        .values(status="queued")
    )
    if mailing.fanned_at is None:
        jobs.enqueue("bulk.fan_out", mailing_id=mailing.id)
    first, last = _id_range(mailing.id)
    if first is not None:
        jobs.enqueue("bulk.send", mailing_id=mailing.id, first=first, last=last)
    return True


# --- fan-out -------------------------------------------------------------------------------


def _id_range(mailing_id: int, after_key: int = -1,
              upto_key: int | None = None) -> tuple[int | None, int | None]:  # fmt: skip
    query = select(func.min(Delivery.id), func.max(Delivery.id)).where(
        Delivery.mailing_id == mailing_id, Delivery.recipient_key > after_key
    )
    if upto_key is not None:
        query = query.where(Delivery.recipient_key <= upto_key)
    first, last = db.session.execute(query).one()
    return first, last


@jobs.job("bulk.fan_out")
def fan_out(payload: dict[str, Any]) -> None:
    """One page of the fan-out; queues the next page, until no recipient is left."""
    mailing = db.session.scalar(
        select(Mailing).where(Mailing.id == payload["mailing_id"]).with_for_update()
    )
    if mailing is None or mailing.status != "fanning":
        return  # cancelled, or a retry of a page that already finished the fan-out
    page = AUDIENCES[mailing.kind].recipients(mailing, mailing.cursor, _page_size())
    if not page:
        mailing.status, mailing.fanned_at = "sending", clock.now()
        _finish_if_sent(mailing)
        return
    now = clock.now()
    rows = [{"mailing_id": mailing.id, "recipient_key": r.key, "user_id": r.user_id,
             "email": r.email, "status": "queued", "attempts": 0, "next_attempt_at": now}
            for r in page]  # fmt: skip
    # No RETURNING, so an executemany of one small statement: with RETURNING, SQLAlchemy
    # sends the page as one INSERT of 7,000 parameters, which psycopg parses anew every time
    # (80 ms a page, three quarters of the fan-out on PostgreSQL).
    db.session.execute(skipping_existing(Delivery, ["mailing_id", "email"]), rows)
    first, last = _id_range(mailing.id, mailing.cursor, page[-1].key)
    mailing.cursor = page[-1].key
    if first is not None:
        jobs.enqueue("bulk.send", mailing_id=mailing.id, first=first, last=last)
    jobs.enqueue("bulk.fan_out", mailing_id=mailing.id)


# --- sending -------------------------------------------------------------------------------


class _Composed:
    """Per worker process, the last few mailings' shared parts (built once each)."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.cache: OrderedDict[tuple[Any, ...], tuple[Composed, Template]] = OrderedDict()

    def get(self, mailing: Mailing) -> tuple[Composed, Template]:
        # Not the id alone: a worker process may serve more than one database (tests do).
        key = (mailing.id, mailing.key, mailing.created_at)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        composed = AUDIENCES[mailing.kind].compose(mailing)
        sender = current_app.config["MAIL_FROM"]
        domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
        template = Template(sender, composed.subject, composed.headers, domain)
        self.cache[key] = (composed, template)
        while len(self.cache) > self.size:
            self.cache.popitem(last=False)
        return composed, template


COMPOSED = _Composed()


@dataclass(frozen=True)
class Row:
    """A delivery as the sender needs it (plain values: no ORM object per recipient)."""

    id: int
    email: str
    user_id: int | None
    recipient_key: int
    attempts: int
    next_attempt_at: datetime


@jobs.job("bulk.send")
def send_page(payload: dict[str, Any]) -> None:
    """Send the queued deliveries of one page (ids first..last of one mailing)."""
    mailing = db.session.get(Mailing, payload["mailing_id"])
    if mailing is None:
        return
    first, last = payload["first"], payload["last"]
    _give_up_on_dead_senders(mailing.id, first, last)
    retry_at: datetime | None = None
    after = first - 1
    mail_url = current_app.config.get("MAIL_URL")
    with smtp.Connection(mail_url) if mail_url else _Outbox() as connection:
        while mailing.status != "cancelled":
            rows = _queued(mailing.id, after, last)
            if not rows:
                break
            after = rows[-1].id
            retry_at = _earliest(retry_at, _send_rows(mailing, rows, connection))
            db.session.refresh(mailing, ["status"])  # an unpublish cancels between pages
    retry_at = _earliest(retry_at, _held_until(mailing.id, first, last))
    if retry_at is not None and mailing.status != "cancelled":
        again = jobs.enqueue("bulk.send", mailing_id=mailing.id, first=first, last=last)
        again.run_after = retry_at
    _finish_if_sent(mailing)


def _earliest(*moments: datetime | None) -> datetime | None:
    return min((m for m in moments if m is not None), default=None)


def _queued(mailing_id: int, after: int, last: int) -> list[Row]:
    query = (
        select(Delivery.id, Delivery.email, Delivery.user_id, Delivery.recipient_key,
               Delivery.attempts, Delivery.next_attempt_at)
        .where(Delivery.mailing_id == mailing_id, Delivery.id > after, Delivery.id <= last,
               Delivery.status == "queued")
        .order_by(Delivery.id)
        .limit(_page_size())
    )  # fmt: skip
    return [Row(*values) for values in db.session.execute(query)]


def _held_until(mailing_id: int, first: int, last: int) -> datetime | None:
    """When the first lease ends among rows of this page another worker holds (`sending`):
    one alive has sent them by then; the page's send, run again, fails those of one that died
    (its job may come back before their lease is over, and nothing else would look again)."""
    return db.session.scalar(
        select(func.min(Delivery.next_attempt_at))
        .where(Delivery.mailing_id == mailing_id, Delivery.id >= first, Delivery.id <= last,
               Delivery.status == "sending")
    )  # fmt: skip


def _give_up_on_dead_senders(mailing_id: int, first: int, last: int) -> None:
    db.session.execute(
        update(Delivery)
        .where(Delivery.mailing_id == mailing_id, Delivery.id >= first, Delivery.id <= last,
               Delivery.status == "sending", Delivery.next_attempt_at < clock.now())
        .values(status="failed", last_error=DIED_MID_SEND)
    )  # fmt: skip
    db.session.commit()


def _mark(ids: Iterable[int], **values: Any) -> None:
    chosen = list(ids)
    if chosen:
        db.session.execute(update(Delivery).where(Delivery.id.in_(chosen)).values(**values))


def _send_rows(mailing: Mailing, rows: list[Row], connection: Any) -> datetime | None:
    """Send what is due among rows; returns when to try temporary failures again, if any."""
    now = clock.now()
    due = [row for row in rows if row.next_attempt_at <= now]
    retry_at = _earliest(*(row.next_attempt_at for row in rows if row.next_attempt_at > now))
    suppressed = suppressed_among(row.email for row in due)
    _mark((r.id for r in due if r.email in suppressed), status="suppressed",
          last_error="on the suppression list")  # fmt: skip
    due = [row for row in due if row.email not in suppressed]
    composed, template = COMPOSED.get(mailing)
    pieces = AUDIENCES[mailing.kind].pieces(mailing, composed, due)
    _mark((row.id for row in due if row.id not in pieces), status="skipped")
    wanted = [row for row in due if row.id in pieces]
    groups = [wanted[at : at + SEND_GROUP] for at in range(0, len(wanted), SEND_GROUP)]
    claimed = _claim(groups[0]) if groups else set()
    db.session.commit()
    for n, group in enumerate(groups):
        outcome = _Outcome()
        try:
            for row in group:
                if row.id in claimed:
                    _send_one(row, pieces[row.id], template, connection, outcome)
        except BaseException:
            # The connection is gone, or the server refuses us: what this group did not
            # send goes back to the queue, and the job fails, to be retried with backoff.
            _mark(claimed - outcome.done, status="queued", next_attempt_at=clock.now())
            outcome.record()
            db.session.commit()
            raise
        outcome.record()
        # This group's outcome and the next group's claim in one commit: the sender's round
        # trips to the database are what it spends beside SMTP (a commit on SQLite is an fsync).
        claimed = _claim(groups[n + 1]) if n + 1 < len(groups) else set()
        db.session.commit()
        retry_at = _earliest(retry_at, outcome.retry_at)
    return retry_at


def _claim(group: list[Row]) -> set[int]:
    """Mark the group `sending` under a lease (in the caller's transaction, which commits it
    before anything is sent); the ids that were still queued."""
    claimed = db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_([row.id for row in group]), Delivery.status == "queued")
        .values(status="sending", next_attempt_at=clock.now() + _sending_lease())
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return set(claimed.scalars())


class _Outcome:
    """What one group's sends came to, written back in a few statements."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.others: list[tuple[int, dict[str, Any]]] = []
        self.retry_at: datetime | None = None

    @property
    def done(self) -> set[int]:
        return set(self.sent) | {row_id for row_id, _ in self.others}

    def failed(self, row: Row, error: str, retry: bool) -> None:
        attempts = row.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_error": error[:2000]}
        if retry and attempts < current_app.config["MAIL_MAX_ATTEMPTS"]:
            values.update(status="queued", next_attempt_at=clock.now() + backoff(attempts))
            self.retry_at = _earliest(self.retry_at, values["next_attempt_at"])
        else:
            values["status"] = "failed"
        self.others.append((row.id, values))

    def record(self) -> None:
        if self.sent:
            _mark(self.sent, status="sent", sent_at=clock.now(), attempts=Delivery.attempts + 1)
        for row_id, values in self.others:
            _mark([row_id], **values)


def _send_one(row: Row, piece: Piece, template: Template, connection: Any,
              outcome: _Outcome) -> None:  # fmt: skip
    message_id = template.message_id()
    try:
        if isinstance(connection, _Outbox):
            connection.keep(row.email, template, piece)
        elif row.email.isascii():
            connection.send_raw(template.sender, row.email,
                                template.render(row.email, piece, message_id))  # fmt: skip
        else:
            connection.send_message(template.as_message(row.email, piece, message_id))
    except smtp.Refused as refused:
        if refused.permanent and refused.for_recipient:
            suppress(row.email, "bounce", str(refused))
        outcome.failed(row, str(refused), retry=not refused.permanent)
        return
    except smtp.Unanswered as error:
        log.warning("delivery %s to %s: %s", row.id, row.email, error)
        outcome.failed(row, UNANSWERED, retry=False)
        return
    outcome.sent.append(row.id)


def _finish_if_sent(mailing: Mailing) -> None:
    # The row is locked and read afresh: the fan-out's last page and a page's send may end at
    # the same moment, each seeing the other's work uncommitted (the send still reading
    # `fanning`, the fan-out still counting the page's open rows). Taken in turn, the second
    # to take it sees what the first committed.
    locked(Mailing, Mailing.id, mailing.id)
    if mailing.status != "sending":
        return
    open_rows = db.session.scalar(
        select(func.count()).where(Delivery.mailing_id == mailing.id,
                                   Delivery.status.in_(("queued", "sending")))
    )  # fmt: skip
    if not open_rows:
        mailing.status = "done"


class _Outbox:
    """Without MAIL_URL (`make run`), each recipient's mail goes to the outbox instead, where
    /dev/mail shows it, as every other mail does there."""

    def __enter__(self) -> _Outbox:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def keep(self, to: str, template: Template, piece: Piece) -> None:
        headers = dict(template.headers)
        if piece.unsubscribe:
            headers["List-Unsubscribe"] = f"<{piece.unsubscribe}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        db.session.add(OutboxMail(to_address=to, subject=template.subject, template="bulk",
                                  text_body=piece.text, html_body=piece.html, headers=headers,
                                  message_id=template.message_id()))  # fmt: skip


# --- suppression list ----------------------------------------------------------------------


def suppressed_among(emails: Iterable[str]) -> set[str]:
    wanted = list(set(emails))
    if not wanted:
        return set()
    return set(db.session.scalars(select(Suppression.email).where(Suppression.email.in_(wanted))))


def suppress(email: str, source: str, reason: str, staff_id: int | None = None) -> bool:
    """Put an address on the suppression list; False when it was there already."""
    return insert_missing(
        Suppression, ["email"],
        {"email": email, "source": source, "reason": reason[:2000], "created_at": clock.now(),
         "created_by_id": staff_id},
    )  # fmt: skip


# --- counts --------------------------------------------------------------------------------

STATUSES = ("queued", "sending", "sent", "failed", "suppressed", "skipped", "cancelled")


def counts(mailing_id: int) -> dict[str, int]:
    """Deliveries of a mailing by status, plus `recipients` and `unsubscribed`."""
    rows = db.session.execute(
        select(Delivery.status, func.count()).where(Delivery.mailing_id == mailing_id)
        .group_by(Delivery.status)
    )  # fmt: skip
    found = {status: int(n) for status, n in rows}
    result = {status: found.get(status, 0) for status in STATUSES}
    result["recipients"] = sum(found.values())
    result["unsubscribed"] = int(db.session.scalar(
        select(func.count()).where(Delivery.mailing_id == mailing_id,
                                   Delivery.unsubscribed_at.is_not(None))
    ) or 0)  # fmt: skip
    return result


def counts_for(mailing_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """counts() of many mailings at once, for a page that lists them: one GROUP BY over the
    (mailing_id, status) index for them all, whatever their number, not two queries each."""
    ids = sorted(set(mailing_ids))
    found = {i: {**dict.fromkeys(STATUSES, 0), "recipients": 0, "unsubscribed": 0} for i in ids}
    if not ids:
        return found
    rows = db.session.execute(
        select(Delivery.mailing_id, Delivery.status, func.count(),
               func.count(Delivery.unsubscribed_at))
        .where(Delivery.mailing_id.in_(ids))
        .group_by(Delivery.mailing_id, Delivery.status)
    )  # fmt: skip
    for mailing_id, status, deliveries, unsubscribed in rows:
        counts_of = found[mailing_id]
        counts_of[status] = int(deliveries)
        counts_of["recipients"] += int(deliveries)
        counts_of["unsubscribed"] += int(unsubscribed)
    return found
