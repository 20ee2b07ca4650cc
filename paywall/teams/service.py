"""A manager's team: finding it, its page, removing a member, and ending a member's own
subscription once the team pays. Every action goes into the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from paywall import audit, clock
from paywall.accounts.models import User
from paywall.billing import gateway, sync
from paywall.billing.models import Subscription
from paywall.entitlements import refresh_access
from paywall.errors import NotFound
from paywall.extensions import db
from paywall.teams.models import Team, TeamInvite, TeamMember
from paywall.teams.seats import follow_billed_seats, release_seat
from paywall.teams.team_billing import attempt_key, record_seats_billed


def managed_team(user: User) -> Team:
    """The team this user manages, or NotFound (non-managers see no team pages)."""
    team: Team | None = db.session.scalar(
        select(Team)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(
            TeamMember.user_id == user.id,
            TeamMember.role == "manager",
            TeamMember.removed_at.is_(None),
        )
    )
    if team is None:
        raise NotFound("You do not manage a team.")
    return team


def remove(team: Team, member_id: int, actor: User) -> User:
    """Remove a member: the seat is free and their team access ends at once."""
    member: TeamMember | None = db.session.scalar(
        select(TeamMember).where(
            TeamMember.id == member_id,
            TeamMember.team_id == team.id,
            TeamMember.removed_at.is_(None),
        )
    )
    if member is None:
        raise NotFound("No such member in your team.")
    member.removed_at = clock.now()
    if member.takes_seat:
        release_seat(team.id)
    user = db.session.get(User, member.user_id)
    assert user is not None
    db.session.flush()
    refresh_access(user)
    audit.record(actor, "team.removed", user.email, team_id=team.id, subject=user)
    record_seats_billed(team, follow_billed_seats(team))  # seats kept above the billed ones
    return user


def page_data(team: Team) -> dict[str, Any]:
    members = db.session.execute(
        select(TeamMember, User)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team.id, TeamMember.removed_at.is_(None))
        .order_by(TeamMember.joined_at)
    ).all()
    invites = list(
        db.session.scalars(
            select(TeamInvite)
            .where(
                TeamInvite.team_id == team.id,
                TeamInvite.used_at.is_(None),
                TeamInvite.revoked_at.is_(None),
                TeamInvite.expires_at > clock.now(),
            )
            .order_by(TeamInvite.created_at)
        )
    )
    log = list(
        db.session.scalars(
            select(audit.AuditEntry)
            .where(audit.AuditEntry.team_id == team.id)
            .order_by(audit.AuditEntry.created_at.desc(), audit.AuditEntry.id.desc())
            .limit(50)
        )
    )
    return {"team": team, "members": members, "invites": invites, "log": log}


def own_subscription(user: User) -> Any:
    """The member's own running PRO subscription that is not yet set to end, if any."""
    return db.session.scalar(
        select(Subscription).where(
            Subscription.user_id == user.id,
            Subscription.plan == "pro_annual",
            Subscription.status.in_(("trialing", "active", "past_due")),
            Subscription.cancel_at_period_end.is_(False),
        )
    )


def offer_to_end_own(user: User) -> bool:
    """True (once per membership) when the new member should be offered to stop paying twice."""
    if own_subscription(user) is None:
        return False
    members = db.session.scalars(
        select(TeamMember).where(
            TeamMember.user_id == user.id,
            TeamMember.removed_at.is_(None),
            TeamMember.offered_end_own.is_(False),
        )
    )
    offered = False
    for member in members:
        member.offered_end_own, offered = True, True
    return offered


def end_own_at_period_end(user: User) -> None:
    row = own_subscription(user)
    if row is None:
        return
    sub_id = row.stripe_subscription_id
    key = f"paywall-end-own-{sub_id}-{attempt_key()}"
    gateway.call(
        lambda: gateway.client().v1.subscriptions.update(
            sub_id, {"cancel_at_period_end": True}, {"idempotency_key": key}
        ),
        "ending your own subscription",
    )
    audit.record(user, "member.ended_own_for_team", user.email, subject=user)
    sync.sync_subscription(sub_id)
