"""Invitations to a team: sending them within limits, resending, revoking, accepting."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import func, select, update

from paywall import audit, clock
from paywall.accounts.emails import normalise_email
from paywall.accounts.models import User
from paywall.accounts.tokens import hash_token
from paywall.errors import NotFound, TokenInvalid, TooManyRequests, ValidationError
from paywall.extensions import db
from paywall.mail.outbox import absolute_url, queue_mail
from paywall.teams.joining import current_member, join
from paywall.teams.models import Team, TeamInvite

INVITE_LIFETIME = timedelta(days=14)
# Invitations are mail we send for a manager; these keep a team page from being a mail cannon.
RESEND_AFTER = timedelta(minutes=10)  # per address: no new invitation mail sooner than this
INVITES_PER_DAY_FLOOR = 50  # per team and rolling day: the larger of this and twice the seats
INVITES_AT_ONCE = 200  # addresses per paste; the rest are reported, not silently dropped
INVITE_INVALID = (
    "This invitation is not valid: it was used, revoked or has expired. "
    "Ask your team manager for a new one."
)


def invite(
    team: Team, emails: list[str], actor: User | None, role: str = "member"
) -> list[tuple[str, str | None]]:
    """Invite addresses; returns (address, None) for each sent and (address, why) for each not."""
    report: list[tuple[str, str | None]] = []
    daily_cap = max(INVITES_PER_DAY_FLOOR, 2 * team.seats)
    sent_today = (
        db.session.scalar(
            select(func.count())
            .select_from(TeamInvite)
            .where(
                TeamInvite.team_id == team.id,
                TeamInvite.created_at > clock.now() - timedelta(days=1),
            )
        )
        or 0
    )
    for raw in emails:
        try:
            email = normalise_email(raw)
        except ValidationError as error:
            report.append((raw.strip()[:254], error.message))
            continue
        if current_member(team.id, email) is not None:
            report.append((email, "already a member of this team"))
            continue
        earlier = _pending_for(team.id, email)
        if earlier is not None and earlier.created_at > clock.now() - RESEND_AFTER:
            report.append((email, "invited a few minutes ago; try again later"))
            continue
        if sent_today >= daily_cap:
            report.append((email, f"over today's limit of {daily_cap} invitations for the team"))
            continue
        if earlier is not None:  # one valid link per address: the newest
            earlier.revoked_at = clock.now()
        sent_today += 1
        token = secrets.token_urlsafe(32)
        db.session.add(
            TeamInvite(
                team_id=team.id,
                email=email,
                role=role,
                token_hash=hash_token(token),
                invited_by_id=getattr(actor, "id", None),
                expires_at=clock.now() + INVITE_LIFETIME,
            )
        )
        _mail_invite(team, email, token, role)
        audit.record(actor, "team.invited", email, team_id=team.id, role=role)
        report.append((email, None))
    db.session.flush()
    return report


def invite_pasted(team: Team, emails: list[str], actor: User) -> list[tuple[str, str | None]]:
    """The manager's paste: up to INVITES_AT_ONCE invited (within invite()'s limits), the
    rest reported as not invited."""
    over = f"too many at once; at most {INVITES_AT_ONCE} per paste"
    report = invite(team, emails[:INVITES_AT_ONCE], actor)
    return report + [(raw.strip()[:254], over) for raw in emails[INVITES_AT_ONCE:]]


def _mail_invite(team: Team, email: str, token: str, role: str) -> None:
    subject = (
        f"You are invited to manage {team.name}'s PRO team"
        if role == "manager"
        else f"Join {team.name} on PRO"
    )
    queue_mail(
        email,
        "team_invite",
        subject=subject,
        team=team.name,
        role=role,
        link=absolute_url("teams.join", token=token),
        checkout_url=team.checkout_url if role == "manager" else None,
    )


def _pending_for(team_id: int, email: str) -> TeamInvite | None:
    found: TeamInvite | None = db.session.scalar(
        select(TeamInvite)
        .where(
            TeamInvite.team_id == team_id,
            TeamInvite.email == email,
            TeamInvite.used_at.is_(None),
            TeamInvite.revoked_at.is_(None),
            TeamInvite.expires_at > clock.now(),
        )
        .order_by(TeamInvite.created_at.desc())
        .limit(1)
    )
    return found


def peek_invite(token: str) -> TeamInvite:
    found: TeamInvite | None = db.session.scalar(
        select(TeamInvite).where(TeamInvite.token_hash == hash_token(token))
    )
    if found is None or found.used_at or found.revoked_at or found.expires_at <= clock.now():
        raise TokenInvalid(INVITE_INVALID)
    return found


class TooSoon(TooManyRequests):
    """An invitation mail refused by the limits above: answered 429 with this message."""


def accept(token: str, user: User) -> Team:
    """Join with an invitation: spend it once, then take a seat atomically."""
    found = peek_invite(token)
    if found.email != user.email:
        raise ValidationError(
            f"This invitation is for {found.email}. Sign in with that address to accept it."
        )
    spent = db.session.execute(
        update(TeamInvite)
        .where(TeamInvite.id == found.id, TeamInvite.used_at.is_(None))
        .values(used_at=clock.now())
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise TokenInvalid(INVITE_INVALID)
    team = db.session.get(Team, found.team_id)
    assert team is not None
    join(team, user, role=found.role)
    return team


def revoke(team: Team, invite_id: int, actor: User) -> None:
    found = _pending(team, invite_id)
    found.revoked_at = clock.now()
    audit.record(actor, "team.invite_revoked", found.email, team_id=team.id)


def resend(team: Team, invite_id: int, actor: User) -> None:
    """A fresh link by mail (the old one stops working), within invite()'s limits."""
    found = _pending(team, invite_id)
    [(_, refused)] = invite(team, [found.email], actor, role=found.role)
    if refused is not None:
        raise TooSoon(f"Not sent again to {found.email}: {refused}.")


def _pending(team: Team, invite_id: int) -> TeamInvite:
    found: TeamInvite | None = db.session.scalar(
        select(TeamInvite).where(
            TeamInvite.id == invite_id,
            TeamInvite.team_id == team.id,
            TeamInvite.used_at.is_(None),
            TeamInvite.revoked_at.is_(None),
        )
    )
    if found is None:
        raise NotFound("No such pending invitation in your team.")
    return found
