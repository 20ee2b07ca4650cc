"""The audit log: one append-only table for staff and team-manager actions.

Append-only twice over: the ORM refuses to flush a change or a delete of an entry object, and
the database refuses UPDATE and DELETE on the table (triggers, created with the table here and
by migration 0008), so bulk statements and raw SQL cannot rewrite history either. (No
session-wide hook for bulk statements: it would run on every query of every page view, for
what the triggers already refuse.) The one update allowed is the
foreign keys' ON DELETE SET NULL when a user or team row goes (the emails stay).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DDL, JSON, ForeignKey, Index, String, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, mapped_column

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


@dataclass(frozen=True)
class SystemActor:
    """An actor that is not a person: shown by name wherever the log names an actor."""

    email: str
    id: None = None


# Changes Stripe makes (a webhook, a sync), such as a team's seats following what it bills.
STRIPE = SystemActor("stripe")


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


class AppendOnlyError(RuntimeError):
    """Code tried to change or delete an audit entry."""


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_change(mapper: Mapper[Any], connection: Connection, entry: AuditEntry) -> None:
    raise AppendOnlyError(f"the audit log is append-only: entry {entry.id} cannot change")


# The same refusal in the database, for tables made by create_all() (tests, bench); migration
# 0008 creates the same triggers. A row may only lose its links to deleted users and teams.
_SQLITE_TRIGGERS = (
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    WHEN NOT (NEW.id IS OLD.id AND NEW.actor_email IS OLD.actor_email
              AND NEW.action IS OLD.action AND NEW.target IS OLD.target
              AND NEW.details IS OLD.details AND NEW.created_at IS OLD.created_at
              AND (NEW.actor_id IS NULL OR NEW.actor_id IS OLD.actor_id)
              AND (NEW.team_id IS NULL OR NEW.team_id IS OLD.team_id)
              AND (NEW.subject_id IS NULL OR NEW.subject_id IS OLD.subject_id))
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
)
# On PostgreSQL the SET NULL is an UPDATE run by the foreign key's own trigger, so it is told
# apart by trigger depth: a statement sent by a client runs this trigger at depth 1.
_POSTGRES_TRIGGERS = (
    """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND pg_trigger_depth() > 1
           AND (NEW.actor_id IS NULL OR NEW.actor_id = OLD.actor_id)
           AND (NEW.team_id IS NULL OR NEW.team_id = OLD.team_id)
           AND (NEW.subject_id IS NULL OR NEW.subject_id = OLD.subject_id)
           AND to_jsonb(NEW) - '{actor_id,team_id,subject_id}'::text[]
               = to_jsonb(OLD) - '{actor_id,team_id,subject_id}'::text[] THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
            MESSAGE = 'audit_log is append-only: ' || TG_OP || ' refused';
    END $$""",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
)


def _create_triggers_with_the_table() -> None:
    table = AuditEntry.__table__
    for dialect, statements in (("sqlite", _SQLITE_TRIGGERS), ("postgresql", _POSTGRES_TRIGGERS)):
        for sql in statements:
            ddl = DDL(sql).execute_if(dialect=dialect)  # type: ignore[no-untyped-call]
            event.listen(table, "after_create", ddl)
    drop = DDL("DROP FUNCTION IF EXISTS audit_log_append_only()")  # type: ignore[no-untyped-call]
    event.listen(table, "after_drop", drop.execute_if(dialect="postgresql"))


_create_triggers_with_the_table()
