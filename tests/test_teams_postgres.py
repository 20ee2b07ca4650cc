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
from paywall.teams import service
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
                service.join(db.session.get(Team, team_id), db.session.get(User, user_id))
                db.session.commit()
                return True
            except service.TeamFull:
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
