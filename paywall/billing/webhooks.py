"""Webhook intake: verify, store by event id, apply in one transaction, remember failures.

dj-stripe's pattern (see research/stripe.md): a duplicate delivery answers 200 and changes
nothing; a failing handler leaves its error on the stored event and answers 500 so Stripe
retries; handlers re-read objects from Stripe (sync.py), so delivery order never matters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from paywall import clock, jobs
from paywall.accounts.models import User
from paywall.billing import confirmations, gateway, mails, sync
from paywall.billing.models import StripeEvent
from paywall.extensions import db

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any], bool], None]
HANDLERS: dict[str, Handler] = {}


def handles(*types: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for event_type in types:
            HANDLERS[event_type] = handler
        return handler

    return register


class Rejected(Exception):
    """A delivery that is not from Stripe (bad signature, too old, not an event)."""


def receive(payload: bytes, signature: str | None) -> str:
    """Verify and apply one delivery. Returns what happened; raises Rejected, or lets a
    handler's error through after recording it (the view answers 500)."""
    try:
        event = gateway.construct_event(payload, signature)
    except (ValueError, gateway.SignatureVerificationError) as error:
        log.warning("rejected a webhook delivery: %s", error)
        raise Rejected(str(error)) from None
    # The body as Stripe sent it (the parsed event holds Decimals that JSON columns refuse).
    data = json.loads(payload)
    stored = db.session.get(StripeEvent, event.id)
    if stored is not None and stored.status in ("processed", "ignored"):
        return "duplicate"
    if stored is None:
        stored = StripeEvent(
            id=event.id,
            type=event.type,
            payload=data,
            created=datetime.fromtimestamp(event.created, UTC),
            customer_id=customer_of(data),
        )
        db.session.add(stored)
        try:
            db.session.flush()
        except IntegrityError:  # the same event, delivered twice at once: the other one wins
            db.session.rollback()
            return "duplicate"
    return apply(stored, replay=False)


def customer_of(event: dict[str, Any]) -> str | None:
    """The customer an event is about: its object's `customer`, or the customer itself."""
    found = event.get("data", {}).get("object", {})
    if not isinstance(found, dict):
        return None
    customer = found.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    if customer is None and found.get("object") == "customer":
        customer = found.get("id")
    return str(customer)[:255] if customer else None


def apply(stored: StripeEvent, *, replay: bool) -> str:
    """Run the event's handler and commit, or record the error and re-raise."""
    event_id = stored.id
    handler = HANDLERS.get(stored.type)
    try:
        if handler is not None:
            handler(stored.payload["data"]["object"], replay)
        outcome = "processed" if handler else "ignored"
        stored.status, stored.error, stored.processed_at = outcome, None, clock.now()
        stored.attempts += 1
        db.session.commit()
        return outcome  # (not stored.status: reading it after commit would query again)
    except Exception as error:
        db.session.rollback()
        log.exception("stripe event %s (%s) failed", event_id, stored.type)
        failed = db.session.get(StripeEvent, event_id)
        if failed is None:  # the row itself was rolled back: store it again, failed
            failed = StripeEvent(
                id=event_id, type=stored.type, payload=stored.payload, created=stored.created,
                customer_id=customer_of(stored.payload),
            )  # fmt: skip
            db.session.add(failed)
        failed.status, failed.attempts = "failed", (failed.attempts or 0) + 1
        failed.error = f"{type(error).__name__}: {error}"[:4000]
        db.session.commit()
        raise


def replay(*, failed_only: bool = False, event_id: str | None = None) -> list[tuple[str, str]]:
    """Re-apply stored events (oldest first); returns (id, outcome) for each."""
    query = select(StripeEvent).order_by(StripeEvent.created, StripeEvent.received_at)
    if event_id:
        query = query.where(StripeEvent.id == event_id)
    elif failed_only:
        query = query.where(StripeEvent.status == "failed")
    outcomes = []
    for stored in list(db.session.scalars(query)):
        already = stored.status in ("processed", "ignored")
        try:
            outcomes.append((stored.id, apply(stored, replay=already)))
        except Exception as error:  # recorded on the event by apply()
            outcomes.append((stored.id, f"failed: {error}"))
    return outcomes


@jobs.job("billing.replay_failed")
def replay_failed(payload: dict[str, Any]) -> None:
    """Staff's "replay all failed" runs here, in the worker: there may be many."""
    outcomes = replay(failed_only=True)
    still = sum(1 for _, outcome in outcomes if outcome.startswith("failed"))
    log.info("replayed %d failed stripe event(s); %d still failing", len(outcomes), still)


def _user(customer_id: Any) -> User | None:
    customer = customer_id if isinstance(customer_id, str) else (customer_id or {}).get("id")
    return sync.owner_of(customer, {}) if customer else None


# --- handlers ------------------------------------------------------------------------------


@handles("checkout.session.completed")
def checkout_completed(session: dict[str, Any], replay: bool) -> None:
    if session.get("mode") == "subscription" and session.get("subscription"):
        sync.sync_subscription(str(session["subscription"]))


@handles(
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.paused",
    "customer.subscription.resumed",
)
def subscription_changed(sub: dict[str, Any], replay: bool) -> None:
    sync.sync_subscription(sub["id"])


@handles("customer.subscription.trial_will_end")
def trial_will_end(sub: dict[str, Any], replay: bool) -> None:
    row = sync.sync_subscription(sub["id"])
    user = db.session.get(User, row.user_id) if row and row.user_id else None
    # A trial ended early (trial_end=now) also sends this event: only mail a running trial.
    if user and row and row.status == "trialing" and not replay:
        mails.trial_ending(user, row)


@handles("customer.subscription.deleted")
def subscription_deleted(sub: dict[str, Any], replay: bool) -> None:
    row = sync.sync_subscription(sub["id"])
    user = db.session.get(User, row.user_id) if row and row.user_id else None
    if user and row and row.status == "canceled" and not replay:
        mails.membership_ended(user, row)


@handles(
    "invoice.created",
    "invoice.finalized",
    "invoice.sent",
    "invoice.overdue",
    "invoice.voided",
    "invoice.updated",
    "invoice.marked_uncollectible",
)
def invoice_changed(invoice: dict[str, Any], replay: bool) -> None:
    _invoice_and_subscription(invoice)


@handles("invoice.paid")
def invoice_paid(invoice: dict[str, Any], replay: bool) -> None:
    row = _invoice_and_subscription(invoice)
    user = _user(invoice.get("customer"))
    if user and row.amount_paid > 0 and not replay:
        mails.receipt(user, row)


@handles("invoice.payment_failed")
def invoice_failed(invoice: dict[str, Any], replay: bool) -> None:
    row = _invoice_and_subscription(invoice)
    waits_for_bank = confirmations.refresh_payment_status(row) == confirmations.REQUIRES_ACTION
    user = _user(invoice.get("customer"))
    # A payment waiting for the member's bank is not a failed card: that member is asked to
    # confirm it (invoice.payment_action_required, which Stripe sends with this one).
    if user and not replay and not waits_for_bank:
        mails.payment_failed(user, row)


@handles("invoice.payment_action_required")
def invoice_action_required(invoice: dict[str, Any], replay: bool) -> None:
    """The member's bank asks them to confirm a payment (3-D Secure): mail them the link to
    Stripe's hosted invoice page, unless they confirmed it before this arrived."""
    row = _invoice_and_subscription(invoice)
    confirmations.refresh_payment_status(row)
    user = _user(invoice.get("customer"))
    if user and not replay and confirmations.awaits_confirmation(row):
        mails.confirm_payment(user, row)


def _invoice_and_subscription(invoice: dict[str, Any]) -> Any:
    # The subscription first, then the invoice: the order in which team onboarding locks
    # their rows too, so two requests never each hold one and wait for the other. (An
    # invoice's subscription never changes, so the signed payload may name it.)
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    subscription = details.get("subscription")
    if isinstance(subscription, str):
        sync.sync_subscription(subscription)
    return sync.sync_invoice(invoice["id"])
