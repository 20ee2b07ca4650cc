"""Teams, their members and invites, and requests from the /teams form."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from paywall import clock
from paywall.dbtypes import UTCDateTime
from paywall.extensions import db

BILLING_MODES = ("invoice", "card", "manual")
MAX_SEATS = 10_000


class Team(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "teams"
    # Seats are claimed with a guarded UPDATE on seats_used; the database keeps the cap too.
    __table_args__ = (CheckConstraint("seats_used <= seats", name="ck_teams_seats_cap"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    seats: Mapped[int] = mapped_column()
    seats_used: Mapped[int] = mapped_column(default=0)
    billing: Mapped[str] = mapped_column(String(10))  # invoice | card | manual
    paid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # manual teams
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(String(1000))  # card teams, until paid
    manager_takes_seat: Mapped[bool] = mapped_column(default=True)
    domains: Mapped[str] = mapped_column(String(500), default="")  # comma-separated
    domain_join: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    def domain_list(self) -> list[str]:
        return [d.strip().lower() for d in self.domains.split(",") if d.strip()]


class TeamMember(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "team_members"
    __table_args__ = (Index("ix_team_members_team_user", "team_id", "user_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10), default="member")  # manager | member
    takes_seat: Mapped[bool] = mapped_column(default=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A member who also pays for their own PRO is offered, once, to end it at period end.
    offered_end_own: Mapped[bool] = mapped_column(default=False)


class TeamInvite(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "team_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    role: Mapped[str] = mapped_column(String(10), default="member")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TeamRequest(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "team_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(120))
    contact_email: Mapped[str] = mapped_column(String(254))
    seats: Mapped[int] = mapped_column()
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="new")  # new | onboarded | declined
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
