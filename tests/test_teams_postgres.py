"""On PostgreSQL: 50 people joining a team with 10 free seats at once get exactly 10 seats,
in each of 100 rounds."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from paywall import clock
from paywall.accounts.models import User
from paywall.extensions import db
from paywall.teams import joining
from paywall.teams.models import Team, TeamMember
from tests.helpers import make_user

pytestmark = pytest.mark.postgres
ROUNDS, PEOPLE, SEATS = 100, 50, 10
PG_POOL = PEOPLE + 2  # one connection per joining thread


def test_concurrent_joins_never_exceed_the_seats(pg_app) -> None:  # type: ignore[no-untyped-def]
    with pg_app.app_context():
        _rounds(pg_app)


def _rounds(pg_app: Flask) -> None:
    people = [make_user(email=f"p{i}@acme.example").id for i in range(PEOPLE)]

    def join(team_id: int, user_id: int) -> bool:
        with pg_app.app_context():
            try:
                joining.join(db.session.get(Team, team_id), db.session.get(User, user_id))
                db.session.commit()
                return True
            except joining.TeamFull:
                db.session.rollback()
                return False
            finally:
                db.session.remove()

    with ThreadPoolExecutor(PEOPLE) as pool:
        for round_number in range(ROUNDS):
            team = Team(name=f"Round {round_number}", seats=SEATS, billing="manual",
                        paid_until=clock.now() + timedelta(days=30))  # fmt: skip
            db.session.add(team)
            db.session.commit()
            joined = list(pool.map(join, [team.id] * PEOPLE, people))
            members = db.session.scalar(select(func.count()).select_from(TeamMember).where(
                TeamMember.team_id == team.id, TeamMember.removed_at.is_(None)))  # fmt: skip
            db.session.refresh(team)
            assert sum(joined) == SEATS == members == team.seats_used, round_number


def test_seats_follow_stripe_but_never_below_those_in_use(pg_app) -> None:  # type: ignore[no-untyped-def]
    """The guarded UPDATE behind on_subscription_synced, on PostgreSQL: the CHECK constraint
    (seats_used <= seats) holds when Stripe bills fewer seats than are taken."""
    from paywall.billing.models import Subscription
    from paywall.teams.seats import follow_billed_seats

    with pg_app.app_context():
        team = Team(name="Billed", seats=5, seats_used=3, billing="card",
                    stripe_subscription_id="sub_pg_seats")  # fmt: skip
        row = Subscription(stripe_subscription_id="sub_pg_seats", stripe_customer_id="cus_pg",
                           plan="team_annual", status="active", quantity=8)  # fmt: skip
        db.session.add_all([team, row])
        db.session.commit()
        assert follow_billed_seats(team) == (5, 8) and team.seats == 8
        row.quantity = 2
        assert follow_billed_seats(team) == (8, 3) and team.seats == 3
        assert follow_billed_seats(team) is None
        db.session.commit()
        db.session.refresh(team)
        assert (team.seats_used, team.seats) == (3, 3)
