"""Free newsletter subscriptions, their double opt-in confirmations, and members' industry
priorities for the weekly review."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from paywall import clock
from paywall.dbtypes import UTCDateTime
from paywall.extensions import db


class ListSubscription(db.Model):  # type: ignore[name-defined,misc]
    """One address on one list. Only `confirmed` rows receive mail."""

    __tablename__ = "newsletter_subscriptions"
    __table_args__ = (
        Index("ix_newsletter_subscriptions_email_list", "email", "list_slug", unique=True),
        Index("ix_newsletter_subscriptions_list_status", "list_slug", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    list_slug: Mapped[str] = mapped_column(String(40))
    # pending -> confirmed -> unsubscribed (and back to confirmed on a new opt-in)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Confirmation(db.Model):  # type: ignore[name-defined,misc]
    """A double opt-in mail: its link confirms these lists for this address, once."""

    __tablename__ = "newsletter_confirmations"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    lists: Mapped[list[str]] = mapped_column(JSON)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IndustryPriority(db.Model):  # type: ignore[name-defined,misc]
    """An industry a member receives, at its place in their weekly review (0 first)."""

    __tablename__ = "industry_priorities"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    industry: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column()


class MailPreference(db.Model):  # type: ignore[name-defined,misc]
    """How a member receives their industries by mail: each issue as it is published, the
        weekly review, both or neither. No row means the defaults: all nine industries, the weekly
    review only."""

    __tablename__ = "industry_mail_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    each_issue: Mapped[bool] = mapped_column(default=False)
    weekly_review: Mapped[bool] = mapped_column(default=True)
    # Set once the member has saved their industries: from then on their priority rows are
    # the whole answer, even none (without it, no rows means all nine, the default).
    industries_chosen: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
