"""Complimentary access: staff give a member premium, with an end date and a reason. Both
granting and ending go into the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from paywall import access, audit, clock
from paywall.accounts.emails import normalise_email
from paywall.accounts.models import CompGrant, User
from paywall.accounts.service import find_user
from paywall.entitlements import Kind, grants, refresh_access
from paywall.errors import NotFound, ValidationError
from paywall.extensions import db

COMP = Kind("comp", rank=1, label="complimentary")


@grants(COMP)
def comp_grants(user: User) -> list[access.Grant]:
    """Every complimentary grant of a saved user, running or ended."""
    if user.id is None:
        return []
    comps = db.session.scalars(select(CompGrant).where(CompGrant.user_id == user.id))
    return [access.Grant(source="comp", until=comp.until()) for comp in comps]


def grant_comp(email: str, *, until: datetime | None, reason: str, staff: User | None) -> CompGrant:
    """Give the account at this address complimentary premium access until a date."""
    user = find_user(normalise_email(email))
    if user is None:
        raise NotFound("No account uses that address.", field="email")
    if until is not None and until <= clock.now():
        raise ValidationError("The end date must be in the future.", field="until")
    grant = CompGrant(
        user_id=user.id,
        granted_by_id=staff.id if staff else None,
        reason=reason.strip()[:300],
        ends_at=until,
    )
    db.session.add(grant)
    db.session.flush()
    refresh_access(user)
    audit.record(staff, "member.comp_granted", user.email, subject=user, reason=grant.reason,
                 until=until.date().isoformat() if until else None)  # fmt: skip
    return grant


def running_comps(user: User) -> list[CompGrant]:
    now = clock.now()
    grants = db.session.scalars(select(CompGrant).where(CompGrant.user_id == user.id))
    return [g for g in grants if (until := g.until()) is None or until > now]


def end_comps(user: User, *, staff: User | None) -> int:
    """End every running complimentary grant of this user now; returns how many ended."""
    now, ended = clock.now(), 0
    for grant in running_comps(user):
        grant.ended_at, grant.ended_by_id = now, staff.id if staff else None
        ended += 1
    db.session.flush()
    refresh_access(user)
    if ended:
        audit.record(staff, "member.comp_ended", user.email, subject=user, grants=ended)
    return ended
