"""What staff do to a team after onboarding: its detail page, seats, domains, the paid-until date
of a manual team, and a new manager. Each change goes into the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from paywall import access, audit, clock
from paywall.accounts.emails import normalise_email
from paywall.accounts.models import User
from paywall.billing import sync
from paywall.billing.models import Invoice, Subscription
from paywall.errors import NotFound, ValidationError
from paywall.extensions import db
from paywall.teams import invites, onboarding, service, team_billing
from paywall.teams.models import MAX_SEATS, Team, TeamMember
from paywall.teams.seats import refresh_members, team_access


def get(team_id: int) -> Team:
    team = db.session.get(Team, team_id)
    if team is None:
        raise NotFound("No such team.")
    return team


def detail(team: Team) -> dict[str, Any]:
    """The staff page: the manager's view plus billing state, invoices and the access it gives."""
    subscription = None
    invoices: list[Invoice] = []
    if team.stripe_subscription_id:
        subscription = db.session.scalar(
            select(Subscription).where(
                Subscription.stripe_subscription_id == team.stripe_subscription_id
            )
        )
        invoices = list(
            db.session.scalars(
                select(Invoice)
                .where(Invoice.stripe_subscription_id == team.stripe_subscription_id)
                .order_by(Invoice.created.desc())
                .limit(50)
            )
        )
    return {
        **service.page_data(team),
        "subscription": subscription,
        "invoices": invoices,
        "grant": team_access(team),
    }


@dataclass(frozen=True)
class Changes:
    name: str
    domains: str
    paid_until: datetime | None  # manual teams only


def edit(team: Team, changes: Changes, actor: User) -> None:
    if not changes.name.strip():
        raise ValidationError("Name the team.", field="name")
    name = onboarding.check_name(changes.name)
    domains = ",".join(onboarding.check_domains(changes.domains))
    before = {"name": team.name, "domains": team.domains, "paid_until": _day(team.paid_until)}
    team.name, team.domains = name, domains
    if not team.domain_list():
        team.domain_join = False  # nothing left to join by
    if team.billing == "manual":
        if changes.paid_until is None:
            raise ValidationError("A manual team needs a paid-until date.", field="paid_until")
        team.paid_until = changes.paid_until
    after = {"name": team.name, "domains": team.domains, "paid_until": _day(team.paid_until)}
    changed = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    if changed:
        db.session.flush()
        refresh_members(team)  # a new paid-until date moves every member's access end
        audit.record(actor, "team.edited", team.name, team_id=team.id, **changed)


def _day(moment: datetime | None) -> str | None:
    return moment.date().isoformat() if moment else None


def set_seats(team: Team, seats: int, actor: User) -> None:
    """Seats paid for, set by staff. More seats on a Stripe team are billed at once, prorated
    (as when a manager adds them); fewer are billed from the next renewal, with no refund now.
    Never fewer than the seats in use: remove members first."""
    team_billing.lock_for_seats(team)  # before the team changes: see there
    if not team.seats_used <= seats <= MAX_SEATS or seats < 1:
        raise ValidationError(
            f"Between {max(team.seats_used, 1)} (seats in use) and 10,000.", field="seats"
        )
    if seats == team.seats:
        return
    if seats > team.seats and team.billing != "manual" and team.stripe_subscription_id:
        team_billing.add_seats(team, seats - team.seats, actor)
        return
    audit.record(actor, "team.seats_set", team.name, team_id=team.id, seats=[team.seats, seats])
    team.seats = seats  # before the sync, which then finds the seats already following Stripe
    if team.billing != "manual" and team.stripe_subscription_id:
        team_billing.set_stripe_seats(team, seats, "none")
        sync.sync_subscription(team.stripe_subscription_id)


def invite_manager(team: Team, email: str, actor: User) -> None:
    """Invite another manager (say the first one left); they join as the team says managers do."""
    address = normalise_email(email)
    [(_, refused)] = invites.invite(team, [address], actor, role="manager")
    if refused is not None:
        raise ValidationError(f"Not invited: {refused}.", field="manager_email")


def make_manager(team: Team, member_id: int, actor: User) -> None:
    """A member becomes a manager too; their seat stays as it is."""
    member = db.session.scalar(
        select(TeamMember).where(
            TeamMember.id == member_id,
            TeamMember.team_id == team.id,
            TeamMember.removed_at.is_(None),
        )
    )
    if member is None:
        raise NotFound("No such member in this team.")
    if member.role == "manager":
        return
    member.role = "manager"
    user = db.session.get(User, member.user_id)
    audit.record(actor, "team.manager_made", getattr(user, "email", None), team_id=team.id,
                 subject=user)  # fmt: skip


def access_in_words(grant: access.Grant | None) -> str:
    if grant is None or (grant.until is not None and grant.until <= clock.now()):
        return "No access: the team has lapsed or is not paid yet."
    if grant.until is None:
        return "Members have access."
    return f"Members have access until {grant.until.strftime('%-d %B %Y')}."
