"""The outbox (mail written with the change that causes it) and bulk mail: mailings, their
deliveries, and the suppression list. The job queue's table is paywall.jobs's, the scheduler's
claims paywall.scheduler's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
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


class Mailing(db.Model):  # type: ignore[name-defined,misc]
    """One bulk send (paywall.mail.bulk): an industry issue, a week's review, a free list issue
    or a staff test, fanned out to its audience in pages of deliveries.

    `key` names what is sent ("issue:42", "weekly:2026-W10"), so the same issue can never be
    fanned out twice: publishing it again finds the mailing that exists.
    """

    __tablename__ = "mailings"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("content_items.id", ondelete="SET NULL"), index=True
    )
    # A free list's slug or an industry's.
    list_slug: Mapped[str | None] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(300))
    # The text of a free list issue or a test; an industry issue's lives on its item.
    text_body: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    # A weekly review holds the issues published in [covers_from, covers_until).
    covers_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    covers_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A staff test goes to this one address, whoever the audience would be.
    test_to: Mapped[str | None] = mapped_column(String(254))
    # fanning -> sending (every recipient has a delivery row) -> done; or cancelled
    status: Mapped[str] = mapped_column(String(12), default="fanning")
    # The last recipient key the fan-out has made deliveries for (recipients go in key order).
    cursor: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    fanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Delivery(db.Model):  # type: ignore[name-defined,misc]
    """One recipient of one mailing. The unique (mailing, email) key means an address gets a
    mailing at most once, however often a fan-out page is retried."""

    __tablename__ = "mail_deliveries"
    __table_args__ = (
        UniqueConstraint("mailing_id", "email", name="uq_mail_deliveries_mailing_email"),
        Index("ix_mail_deliveries_mailing_status", "mailing_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailing_id: Mapped[int] = mapped_column(ForeignKey("mailings.id", ondelete="CASCADE"))
    # The member's user id, or the free list subscription's id: the order of the fan-out.
    recipient_key: Mapped[int] = mapped_column()
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    email: Mapped[str] = mapped_column(String(254))
    # queued -> sending -> sent | failed | suppressed | skipped | cancelled; a temporary
    # failure puts it back to queued with a later next_attempt_at.
    status: Mapped[str] = mapped_column(String(12), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the recipient used this mail's one-click unsubscribe.
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Suppression(db.Model):  # type: ignore[name-defined,misc]
    """An address bulk mail is no longer sent to: its server refused it for good (a 5xx), or
    staff put it here. Transactional mail (sign-in links, receipts) still goes."""

    __tablename__ = "mail_suppressions"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    # bounce | staff
    source: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
