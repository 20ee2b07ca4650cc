"""On PostgreSQL: 50 people joining a team with 10 free seats at once get exactly 10 seats,
in each of 100 rounds; staff lowering seats while colleagues join never break the seat rule."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from flask import Flask
from sqlalchemy import func, select

from paywall import clock
from paywall.accounts.models import User
from paywall.errors import ValidationError
from paywall.extensions import db
from paywall.teams import joining, staff
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


def test_staff_lowering_seats_while_colleagues_join_never_breaks_the_seat_rule(pg_app) -> None:  # type: ignore[no-untyped-def]
    """Staff set fewer seats while colleagues join: either the new number holds the members
    who got in, or staff are told it is below the seats in use; never a database error."""
    with pg_app.app_context():
        admin_id = make_user(email="staff@example.com", role="admin").id
        people = [make_user(email=f"q{i}@acme.example").id for i in range(8)]
        with ThreadPoolExecutor(len(people) + 1) as pool:
            for round_number in range(20):
                team = Team(name=f"Lower {round_number}", seats=10, billing="manual",
                            paid_until=clock.now() + timedelta(days=30))  # fmt: skip
                db.session.add(team)
                db.session.commit()
                start = Barrier(len(people) + 1)
                joins = [pool.submit(_join_at, pg_app, start, team.id, p) for p in people]
                outcome = pool.submit(_lower_seats_at, pg_app, start, team.id, admin_id, 4)
                assert outcome.result() in {"lowered", "refused"}  # no IntegrityError
                for future in joins:
                    future.result()
                db.session.refresh(team)
                assert team.seats_used <= team.seats, round_number
                assert team.seats == (4 if outcome.result() == "lowered" else 10), round_number


def _join_at(app: Flask, start: Barrier, team_id: int, user_id: int) -> None:
    with app.app_context():
        start.wait()
        try:
            joining.join(db.session.get(Team, team_id), db.session.get(User, user_id))
            db.session.commit()
        except joining.TeamFull:
            db.session.rollback()
        finally:
            db.session.remove()


def _lower_seats_at(app: Flask, start: Barrier, team_id: int, admin_id: int, seats: int) -> str:
    with app.app_context():
        team, actor = db.session.get(Team, team_id), db.session.get(User, admin_id)
        assert team is not None and actor is not None
        start.wait()
        time.sleep(0.05)  # the team was read when the request began; colleagues join meanwhile
        try:
            staff.set_seats(team, seats, actor)
            db.session.commit()
            return "lowered"
        except ValidationError:
            db.session.rollback()
            return "refused"
        finally:
            db.session.remove()
