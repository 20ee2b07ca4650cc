"""The audit log: one append-only table for staff and team-manager actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from paywall import clock
from paywall.dbtypes import UTCDateTime
from paywall.extensions import db


class AuditEntry(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_team_created", "team_id", "created_at"),
        Index("ix_audit_log_subject_created", "subject_id", "created_at"),
        Index("ix_audit_log_actor_created", "actor_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_email: Mapped[str | None] = mapped_column(String(254))  # kept if the actor goes
    action: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str | None] = mapped_column(String(254))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    # The member the action was about (for their timeline), when it was about one.
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, index=True)


def record(
    actor: Any,
    action: str,
    target: str | None = None,
    *,
    team_id: int | None = None,
    subject: Any = None,
    **details: Any,
) -> AuditEntry:
    """Append one entry (in the caller's transaction). Entries are never updated or deleted."""
    entry = AuditEntry(
        actor_id=getattr(actor, "id", None),
        actor_email=getattr(actor, "email", None),
        action=action,
        target=target,
        team_id=team_id,
        subject_id=getattr(subject, "id", None),
        details=details,
        created_at=clock.now(),
    )
    db.session.add(entry)
    return entry
