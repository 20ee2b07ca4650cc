"""The access a member's own subscription gives, by paywall.access's policy: registered with
paywall.entitlements, which asks here whenever it recomputes a member's access."""

from __future__ import annotations

from sqlalchemy import select

from paywall import access
from paywall.accounts.models import User
from paywall.billing.models import Subscription
from paywall.billing.plans import past_due_grace
from paywall.entitlements import Kind, grants
from paywall.extensions import db

SUBSCRIPTION = Kind("subscription", rank=4, label="subscription")
TRIAL = Kind("trial", rank=2, label="free trial")


@grants(SUBSCRIPTION, TRIAL)
def subscription_grants(user: User) -> list[access.Grant]:
    """The member's own subscriptions (a team's belongs to no member: see teams.seats)."""
    if user.id is None:
        return []
    grace = past_due_grace()
    rows = db.session.scalars(select(Subscription).where(Subscription.user_id == user.id))
    found = (
        access.subscription_grant(r.status, r.current_period_end, r.past_due_since, grace)
        for r in rows
    )
    return [grant for grant in found if grant is not None]
