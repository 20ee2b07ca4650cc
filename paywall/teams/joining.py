"""Joining a team: taking a seat, by invitation or by email domain, and a full team."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from paywall import audit, clock
from paywall.accounts.models import User
from paywall.entitlements import refresh_access
from paywall.errors import Conflict, NotFound, ValidationError
from paywall.extensions import db
from paywall.mail.outbox import absolute_url, queue_mail
from paywall.teams.models import Team, TeamMember
from paywall.teams.seats import claim_seat

# In the team's log as "no free seat": the managers were told (at most once an hour).
FULL_NOTICE = "team.no_free_seat"
FULL_NOTICE_EVERY = timedelta(hours=1)


class TeamFull(Conflict):
    """No free seat: answered 409 with this message."""


def current_member(team_id: int, email: str) -> TeamMember | None:
    found: TeamMember | None = db.session.scalar(
        select(TeamMember)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team_id, User.email == email, TeamMember.removed_at.is_(None))
    )
    return found


def join(team: Team, user: User, role: str = "member") -> TeamMember:
    existing = current_member(team.id, user.email)
    if existing is not None:
        return existing
    takes_seat = role == "member" or team.manager_takes_seat
    if takes_seat and not claim_seat(team.id):
        raise TeamFull(f"{team.name} has no free seats. We have told the team manager.")
    member = db.session.scalar(
        select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user.id)
    )
    if member is None:
        member = TeamMember(team_id=team.id, user_id=user.id)
        db.session.add(member)
    member.role, member.takes_seat, member.removed_at = role, takes_seat, None
    member.joined_at = clock.now()
    db.session.flush()
    refresh_access(user)
    audit.record(user, "team.joined", user.email, team_id=team.id, subject=user, role=role)
    return member


def tell_manager_full(team: Team, who: User) -> bool:
    """Mail the managers that `who` found no free seat, unless they were told within the
    hour (a colleague may press Join again and again). True when they are told now.

    Remembered in the database, so it holds across app instances and restarts: the notice is
    an audit entry on the team (the managers see it in their log). The guarded UPDATE first
    checks that the team is still full and holds its row until the caller commits, so of two
    attempts at once the second waits here, then finds the first one's entry.
    """
    still_full = db.session.execute(
        update(Team).where(Team.id == team.id, Team.seats_used >= Team.seats)
        .values(seats_used=Team.seats_used)
    )  # fmt: skip
    if still_full.rowcount != 1:  # type: ignore[attr-defined]
        return False  # a seat came free meanwhile: there is nothing to tell
    if _told_full_since(team.id, clock.now() - FULL_NOTICE_EVERY):
        return False
    audit.record(who, FULL_NOTICE, who.email, team_id=team.id)
    for manager in managers(team):
        queue_mail(
            manager.email,
            "team_full",
            subject=f"{team.name} is out of seats",
            team=team.name,
            who=who.email,
            link=absolute_url("teams.manage"),
        )
    return True


def _told_full_since(team_id: int, since: datetime) -> bool:
    return (
        db.session.scalar(
            select(audit.AuditEntry.id)
            .where(
                audit.AuditEntry.team_id == team_id,
                audit.AuditEntry.action == FULL_NOTICE,
                audit.AuditEntry.created_at > since,
            )
            .limit(1)
        )
        is not None
    )


def managers(team: Team) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(TeamMember, TeamMember.user_id == User.id)
            .where(
                TeamMember.team_id == team.id,
                TeamMember.role == "manager",
                TeamMember.removed_at.is_(None),
            )
        )
    )


def set_domain_join(team: Team, on: bool, actor: User) -> None:
    if on and not team.domain_list():
        raise ValidationError("This team has no allowed email domains: ask us to add yours.")
    team.domain_join = on
    audit.record(
        actor, "team.domain_join_on" if on else "team.domain_join_off", team.name, team_id=team.id
    )


def domain_teams(user: User) -> list[Team]:
    """Teams with free seats this reader may join by their confirmed address's domain."""
    if not user.is_verified:
        return []
    domain = user.email.rpartition("@")[2]
    # The account page asks this: narrow in SQL, then check the exact domain list.
    found = db.session.scalars(
        select(Team).where(
            Team.domain_join.is_(True),
            Team.seats_used < Team.seats,
            Team.domains.contains(domain, autoescape=True),
        )
    )
    return [t for t in found if _may_join_by_domain(t, user)]


def _may_join_by_domain(team: Team, user: User) -> bool:
    domain = user.email.rpartition("@")[2]
    return (
        user.is_verified
        and team.domain_join
        and domain in team.domain_list()
        and current_member(team.id, user.email) is None
    )


def join_by_domain(team_id: int, user: User) -> Team:
    """Join by address; a team that filled up since the account page showed it says so
    (TeamFull), rather than vanishing."""
    team = db.session.get(Team, team_id)
    if team is None or not _may_join_by_domain(team, user):
        raise NotFound("There is no team you can join with this address.")
    join(team, user)
    return team
