"""The staff dashboard's figures: members, premium access by source, trials and conversions,
revenue, churn and team seats, and daily series for the charts.

Every figure is one aggregate query on indexed columns, so the page stays fast with a million
members (bench/scale.py measures it). Definitions, as the page states them:

- a trial *converts* when its subscription first pays (`paid_since`, set at the trial's end);
- the conversion rate is, of the trials that ended in the window, the share that converted;
- a *cancellation* is a paying subscription that ended in the window; churn is, of the
  subscriptions paying at the window's start, the share that ended in it (so one that began
  and ended inside the window is a cancellation but not churn, and churn never passes 100%);
- ARR is the yearly price times seats of every active or past-due subscription;
- team seats count only teams whose seats give access now: a manual team paid up, any other
  team while its subscription is trialing, active or past due (a lapsed team, or a card team
  that never paid, has seats but pays for none).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from paywall import entitlements
from paywall.accounts.models import User
from paywall.billing import plans
from paywall.billing.models import Subscription
from paywall.extensions import db
from paywall.teams.models import Team

WINDOW = timedelta(days=30)
CHART_DAYS = 90


@dataclass(frozen=True)
class Figures:
    members: int
    premium: dict[str, int]  # by source, every source present
    trials_started: int
    trials_ended: int
    trials_converted: int
    conversions: int  # trials that converted in the window, whenever they started
    arr_cents: int
    cancellations: int
    paying_at_start: int
    churned: int  # of those paying at the window's start, how many ended in it
    teams: int
    seats_paid: int
    seats_used: int

    @property
    def premium_total(self) -> int:
        return sum(self.premium.values())

    @property
    def conversion_rate(self) -> float | None:
        return self.trials_converted / self.trials_ended if self.trials_ended else None

    @property
    def churn_rate(self) -> float | None:
        return self.churned / self.paying_at_start if self.paying_at_start else None

    @property
    def mrr_cents(self) -> int:
        return round(self.arr_cents / 12)


def figures(now: datetime) -> Figures:
    start = now - WINDOW
    premium = premium_by_source(now)
    subs = Subscription
    ended = and_(subs.trial_end >= start, subs.trial_end <= now)
    teams = _teams_with_access(now)
    # Paying at the window's start, and of those how many ended since: one range scan.
    paying_at_start, churned = db.session.execute(
        select(func.count(), func.count(subs.ended_at)).where(
            subs.paid_since < start, or_(subs.ended_at.is_(None), subs.ended_at >= start)
        )
    ).one()
    return Figures(
        members=int(db.session.scalar(select(func.count(User.id))) or 0),
        premium=premium,
        trials_started=_subscriptions(subs.trial_start >= start),
        trials_ended=_subscriptions(ended),
        trials_converted=_subscriptions(ended, subs.paid_since.is_not(None)),
        conversions=_subscriptions(subs.trial_start.is_not(None), subs.paid_since >= start),
        arr_cents=_arr(),
        cancellations=_subscriptions(subs.paid_since.is_not(None), subs.ended_at >= start),
        paying_at_start=paying_at_start,
        churned=churned,
        teams=teams[0] or 0,
        seats_paid=int(teams[1] or 0),
        seats_used=int(teams[2] or 0),
    )


def premium_by_source(now: datetime) -> dict[str, int]:
    """Members with premium access now, by source (every registered kind of grant present, the
    most deliberate first), from ix_users_access: the same test as the stored access answer
    (premium, and not past its end)."""
    kinds = sorted(entitlements.KINDS.values(), key=lambda kind: kind.rank, reverse=True)
    premium = {kind.name: 0 for kind in kinds}
    running = or_(User.access_until.is_(None), User.access_until > now)
    for source, count in db.session.execute(
        select(User.access_source, func.count())
        .where(User.access_premium.is_(True), running)
        .group_by(User.access_source)
    ):
        premium[source or "unknown"] = count
    return premium


def _teams_with_access(now: datetime) -> Any:
    """(teams, seats, seats used) of the teams whose seats give access now."""
    # The running team subscriptions are few and found on ix_subscriptions_status_plan; with
    # the filter in the join, PostgreSQL never reads the rest (97 ms -> 20 ms at 1M members).
    seat_plans = [plan.key for plan in plans.plans().values() if plan.per_seat]
    running = and_(Subscription.stripe_subscription_id == Team.stripe_subscription_id,
                   Subscription.status.in_(("trialing", "active", "past_due")),
                   Subscription.plan.in_(seat_plans))  # fmt: skip
    manual_paid_up = and_(Team.billing == "manual", Team.paid_until > now)
    return db.session.execute(
        select(func.count(Team.id), func.sum(Team.seats), func.sum(Team.seats_used))
        .select_from(Team)
        .outerjoin(Subscription, running)
        .where(or_(manual_paid_up, and_(Team.billing != "manual", Subscription.id.is_not(None))))
    ).one()


def _subscriptions(*conditions: Any) -> int:
    query = select(func.count()).select_from(Subscription).where(*conditions)
    return int(db.session.scalar(query) or 0)


def _arr() -> int:
    """Yearly revenue of what is running now, from our plans' prices (Stripe has the same)."""
    known = plans.plans()
    total = 0
    for key, seats in db.session.execute(
        select(Subscription.plan, func.sum(Subscription.quantity))
        .where(Subscription.status.in_(("active", "past_due")))
        .group_by(Subscription.plan)
    ):
        plan = known.get(key)
        if plan is not None:
            total += plan.amount * int(seats or 0) * (12 if plan.interval == "month" else 1)
    return total


def daily(now: datetime, days: int = CHART_DAYS) -> dict[str, list[tuple[date, int]]]:
    """Trials started, conversions and cancellations per UTC day, oldest first, zeros kept."""
    first = (now - timedelta(days=days - 1)).date()
    since = datetime.combine(first, datetime.min.time(), now.tzinfo)
    subs = Subscription
    series = {
        "trials": _per_day(subs.trial_start, since),
        "conversions": _per_day(subs.paid_since, since, subs.trial_start.is_not(None)),
        "cancellations": _per_day(subs.ended_at, since, subs.paid_since.is_not(None)),
    }
    days_list = [first + timedelta(days=n) for n in range(days)]
    return {name: [(d, counts.get(d, 0)) for d in days_list] for name, counts in series.items()}


def _per_day(column: Any, since: datetime, *extra: Any) -> dict[date, int]:
    day = _utc_day(column)
    rows = db.session.execute(
        select(day, func.count()).select_from(Subscription)
        .where(column >= since, *extra).group_by(day)
    )  # fmt: skip
    return {_as_date(value): count for value, count in rows}


def _utc_day(column: Any) -> Any:
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite stores UTC without a zone: date() reads it as it is


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
