"""What the account page says about a member's plan, in plain words."""

from __future__ import annotations

from sqlalchemy import select

from paywall.accounts.models import User
from paywall.billing import confirmations
from paywall.billing.models import Invoice, Subscription
from paywall.billing.plans import day, money, plan
from paywall.extensions import db


def state_in_words(row: Subscription) -> str:
    found = plan(row.plan)
    price = found.price_text if found else ""
    end = day(row.current_period_end)
    if row.status == "trialing":
        if row.cancel_at_period_end:
            return f"Your trial ends on {end} — you cancelled, so it will not renew."
        return f"Your trial ends on {day(row.trial_end)}; then {price}."
    if row.status == "active":
        if row.cancel_at_period_end:
            return f"Ends on {end} — you cancelled."
        return f"Renews on {end} at {price}."
    if row.status == "past_due":
        return "Your last payment failed — update your card."
    if row.status in ("canceled", "incomplete_expired"):
        return f"Ended on {day(row.ended_at or row.canceled_at)}."
    return "Your payment is not complete yet."


def summary(user: object) -> dict[str, object] | None:
    if not isinstance(user, User) or not user.stripe_customer_id:
        return None
    row = db.session.scalar(
        select(Subscription)
        .where(Subscription.user_id == user.id)
        .order_by(Subscription.created_at.desc(), Subscription.id.desc())
        .limit(1)
    )
    invoices = list(
        db.session.scalars(
            select(Invoice)
            .where(
                Invoice.stripe_customer_id == user.stripe_customer_id,
                Invoice.status.in_(("open", "paid", "uncollectible")),
            )
            .order_by(Invoice.created.desc())
            .limit(24)
        )
    )
    # A payment waiting for the member's bank (3-D Secure): say so, with the page to confirm it.
    confirm = next((i for i in invoices if confirmations.awaits_confirmation(i)), None)
    state = state_in_words(row) if row else None
    if confirm and row and row.status in ("past_due", "incomplete"):
        state = f"Your bank asks you to confirm your payment of {money(confirm.total)}."
    return {
        "subscription": row,
        "state": state,
        "confirm": confirm,
        "invoices": invoices,
    }
