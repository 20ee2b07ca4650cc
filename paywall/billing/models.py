"""The local mirror of Stripe: subscriptions, invoices, received events, and the trial ledger.

Stripe ids are `stripe_<object>_id`, unique and indexed. Rows are written only by syncing from
Stripe (sync.py), never from a webhook payload alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from paywall import clock
from paywall.dbtypes import UTCDateTime
from paywall.extensions import db


class Subscription(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_user_status", "user_id", "status"),
        # The dashboard's counts and daily charts: each answered from one index alone (the
        # second columns are the filters), measured by bench/scale.py.
        Index("ix_subscriptions_trial_start", "trial_start"),
        Index("ix_subscriptions_trial_end", "trial_end", "paid_since"),
        Index("ix_subscriptions_paid_since", "paid_since", "ended_at", "trial_start"),
        Index("ix_subscriptions_ended_at", "ended_at", "paid_since"),
        Index("ix_subscriptions_status_plan", "status", "plan", "quantity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_subscription_id: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    plan: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(30))
    quantity: Mapped[int] = mapped_column(default=1)
    collection_method: Mapped[str] = mapped_column(String(30), default="charge_automatically")
    current_period_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    trial_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    trial_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    cancel_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the subscription turned past_due (our grace period counts from here).
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When it first paid: the trial's end for a converted trial, else its start. Never cleared,
    # so conversions and churn can be counted after it ends.
    paid_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    trial_started_mail_sent: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class Invoice(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_invoice_id: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(255), index=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    number: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(30))
    currency: Mapped[str] = mapped_column(String(3), default="usd")
    total: Mapped[int] = mapped_column(default=0)
    amount_paid: Mapped[int] = mapped_column(default=0)
    hosted_invoice_url: Mapped[str | None] = mapped_column(String(1000))
    invoice_pdf: Mapped[str | None] = mapped_column(String(1000))
    due_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    # The status of the PaymentIntent behind it, read when a payment fails or needs action:
    # `requires_action` while the member's bank waits for them to confirm it (3-D Secure).
    payment_intent_status: Mapped[str | None] = mapped_column(String(30))


class StripeEvent(db.Model):  # type: ignore[name-defined,misc]
    """Every webhook delivery we accepted, stored by event id: duplicates change nothing."""

    __tablename__ = "stripe_events"
    __table_args__ = (
        Index("ix_stripe_events_status_received", "status", "received_at"),
        Index("ix_stripe_events_customer_created", "customer_id", "created"),
        Index("ix_stripe_events_received", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    # The Stripe customer the event is about, for a member's timeline (None when it has none).
    customer_id: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(100), index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # received -> processed | ignored | failed (a failed event is retried by Stripe or replay)
    status: Mapped[str] = mapped_column(String(20), default="received")
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TrialClaim(db.Model):  # type: ignore[name-defined,misc]
    """One trial per person: a normalised email or a card fingerprint, once each."""

    __tablename__ = "trial_claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # email | card
    value: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    __table_args__ = (Index("ix_trial_claims_kind_value", "kind", "value", unique=True),)
