"""Seats: claiming one atomically, giving it back, and the access a seat gives."""

from __future__ import annotations

from sqlalchemy import case, select, update

from paywall import access, clock
from paywall.accounts.models import User
from paywall.billing.models import Subscription
from paywall.billing.plans import past_due_grace
from paywall.entitlements import Kind, grants, refresh_access
from paywall.extensions import db
from paywall.teams.models import Team, TeamMember


def claim_seat(team_id: int) -> bool:
    """Take one seat if one is free: a guarded UPDATE, so concurrent joins never overfill."""
    taken = db.session.execute(
        update(Team).where(Team.id == team_id, Team.seats_used < Team.seats)
        .values(seats_used=Team.seats_used + 1)
    )  # fmt: skip
    return bool(taken.rowcount == 1)  # type: ignore[attr-defined]


def release_seat(team_id: int) -> None:
    db.session.execute(
        update(Team).where(Team.id == team_id, Team.seats_used > 0)
        .values(seats_used=Team.seats_used - 1)
    )  # fmt: skip


def follow_billed_seats(
    team: Team, subscription: Subscription | None = None
) -> tuple[int, int] | None:
    """Set a Stripe team's seats to the quantity its subscription bills (as last mirrored:
    `subscription` when the caller has the row, else read); returns (before, after) when
    that changed them.

    Stripe is the truth for money, so the seats are what is paid for, up or down: a manager
    who picks 6 in Checkout has 6. One exception: never fewer than the seats in use. The
    CHECK constraint (seats_used <= seats) keeps the cap in the database, and taking seats
    away from people mid-year is staff's call, not a webhook's. So when Stripe bills fewer
    than are in use, the seats stay at the number in use (the team is full: nobody new can
    join) and come down to the billed number as members leave (remove() calls this again).
    One guarded UPDATE, so a join committing meanwhile cannot break the constraint; none at
    all when the seats already are what is billed (every other webhook).
    """
    subscription = subscription or _mirror_of(team)
    if team.billing == "manual" or subscription is None or team.seats == subscription.quantity:
        return None
    billed, before = subscription.quantity, team.seats
    db.session.execute(
        update(Team).where(Team.id == team.id)
        .values(seats=case((Team.seats_used > billed, Team.seats_used), else_=billed)),
        execution_options={"synchronize_session": False},
    )  # fmt: skip
    db.session.refresh(team, ["seats", "seats_used"])
    return (before, team.seats) if team.seats != before else None


def _mirror_of(team: Team) -> Subscription | None:
    """The mirrored Stripe subscription of a card or invoice team, if it has one yet."""
    if team.billing == "manual" or not team.stripe_subscription_id:
        return None
    return db.session.scalar(
        select(Subscription).where(
            Subscription.stripe_subscription_id == team.stripe_subscription_id
        )
    )


def team_access(team: Team, subscription: Subscription | None = None) -> access.Grant | None:
    """A seat's grant; `subscription` is the team's mirror row when the caller has it."""
    row = subscription or _mirror_of(team)
    grant = None
    if row is not None and team.billing != "manual":
        grant = access.subscription_grant(row.status, row.current_period_end,
                                          row.past_due_since, past_due_grace())  # fmt: skip
    return access.team_grant(team.billing, team.paid_until, grant)


def gives_access(team: Team, subscription: Subscription | None = None) -> bool:
    """Whether a seat in this team gives access right now."""
    grant = team_access(team, subscription)
    return grant is not None and (grant.until is None or grant.until > clock.now())


TEAM = Kind("team", rank=3, label="team plan")


@grants(TEAM)
def team_grants(user: User) -> list[access.Grant]:
    """A grant for each seat the user holds, by its team's state."""
    if user.id is None:
        return []
    teams = db.session.scalars(
        select(Team).join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == user.id, TeamMember.removed_at.is_(None))
    )  # fmt: skip
    return [grant for grant in map(team_access, teams) if grant is not None]


def refresh_members(team: Team) -> None:
    """Recompute every current member's stored access (after the team's state changed)."""
    members = db.session.scalars(
        select(User).join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == team.id, TeamMember.removed_at.is_(None))
    )  # fmt: skip
    for user in members:
        refresh_access(user)
