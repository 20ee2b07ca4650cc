"""Mirroring Stripe: re-read an object from Stripe and upsert our row, so the order and the
number of webhook deliveries never matter. The success page uses the same functions."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from paywall import access, clock, upsert
from paywall.accounts.models import User
from paywall.billing import gateway, mails, plans, trials
from paywall.billing.models import Invoice, Subscription
from paywall.billing.signals import subscription_synced
from paywall.dbtypes import parse_id
from paywall.entitlements import refresh_access
from paywall.extensions import db

log = logging.getLogger(__name__)
EXPAND = ["default_payment_method", "customer.invoice_settings.default_payment_method"]


def moment(timestamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) or value is None else str(value.id)


def sync_subscription(stripe_subscription_id: str) -> Subscription | None:
    """Mirror a subscription as Stripe has it now.

    Its row is locked before Stripe is read, so two syncs of one subscription (the success page
    and a webhook) take turns and the second reads what the first left: an older state never
    lands over a newer one, and a refused trial is ended (and its member told) once.
    A team's subscription row comes before its team row, which the `subscription_synced`
    listener in teams then updates: seat changes lock in that order too
    (teams.team_billing.lock_for_seats)."""
    row = upsert.locked(Subscription, Subscription.stripe_subscription_id, stripe_subscription_id)
    sub = _retrieve_subscription(stripe_subscription_id)
    if row is None:
        if not _insert_row(sub):
            # Another sync made the row while we read Stripe (we waited for it to commit), and
            # may have changed the subscription since (ended its trial): read it again.
            sub = _retrieve_subscription(stripe_subscription_id)
        row = upsert.locked(Subscription, Subscription.stripe_subscription_id, sub.id)
    return apply_subscription(sub, row)


def _retrieve_subscription(stripe_subscription_id: str) -> Any:
    return gateway.call(
        lambda: gateway.client().v1.subscriptions.retrieve(
            stripe_subscription_id, {"expand": EXPAND}
        ),
        "reading a subscription",
    )


def _plan_of(sub: Any) -> plans.Plan | None:
    return plans.by_lookup_key(sub["items"].data[0].price.lookup_key)


def _insert_row(sub: Any) -> bool:
    """Make the row of a subscription on one of our prices if it is missing (race-safe);
    False when another sync had made it."""
    plan = _plan_of(sub)
    if plan is None:
        return True  # not ours: apply_subscription ignores it
    return upsert.insert_missing(
        Subscription,
        ["stripe_subscription_id"],
        {"stripe_subscription_id": sub.id, "stripe_customer_id": str(_id(sub.customer)),
         "plan": plan.key, "status": sub.status},
    )  # fmt: skip


def owner_of(customer_id: str, metadata: dict[str, Any]) -> User | None:
    user: User | None = db.session.scalar(
        select(User).where(User.stripe_customer_id == customer_id)
    )
    metadata_id = parse_id(metadata.get("user_id"))
    if user is None and metadata_id is not None:
        user = db.session.get(User, metadata_id)
        if user is not None and user.stripe_customer_id not in (None, customer_id):
            return None  # metadata naming someone else's account: not trusted
    return user


def apply_subscription(sub: Any, row: Subscription | None = None) -> Subscription | None:
    """Upsert the local row from a subscription as Stripe has it now, and refresh access.
    `row` is its row when the caller already holds it locked."""
    item = sub["items"].data[0]
    plan = _plan_of(sub)
    if plan is None:
        log.warning("ignored subscription %s: price %s is not one of ours", sub.id, item.price.id)
        return None
    if sub.status not in access.KNOWN_STATUSES:
        log.error("subscription %s has an unknown status %r: no access", sub.id, sub.status)
    customer_id = str(_id(sub.customer))
    metadata = sub.metadata.to_dict() if sub.metadata else {}
    if row is None:
        _insert_row(sub)
        row = upsert.locked(Subscription, Subscription.stripe_subscription_id, sub.id)
        assert row is not None  # made just now, or already there
    user = None if plan.per_seat else owner_of(customer_id, metadata)
    if user is not None and user.stripe_customer_id is None:
        user.stripe_customer_id = customer_id
    row.user_id = user.id if user else None
    _copy_state(sub, row, plan)
    row.metadata_json, row.synced_at = metadata, clock.now()
    db.session.flush()
    if user is not None:
        _after_sync(user, row, sub)
        refresh_access(user)
    subscription_synced.send(row, metadata=metadata)
    return row


def _copy_state(sub: Any, row: Subscription, plan: plans.Plan) -> None:
    """Stripe's view of the subscription onto its row, and the moments we derive from it."""
    item = sub["items"].data[0]
    was_past_due = row.status == "past_due" and row.past_due_since is not None
    row.plan, row.status, row.quantity = plan.key, sub.status, int(item.quantity or 1)
    row.collection_method = sub.collection_method or "charge_automatically"
    row.current_period_start = moment(item.current_period_start)
    row.current_period_end = moment(item.current_period_end)
    row.trial_start, row.trial_end = moment(sub.trial_start), moment(sub.trial_end)
    row.cancel_at_period_end = bool(sub.cancel_at_period_end)
    row.cancel_at, row.canceled_at = moment(sub.cancel_at), moment(sub.canceled_at)
    row.ended_at = moment(sub.ended_at)
    if row.paid_since is None and sub.status == "active":
        row.paid_since = row.trial_end or moment(sub.start_date) or row.current_period_start
    row.past_due_since = (
        (row.past_due_since if was_past_due else clock.now()) if sub.status == "past_due" else None
    )


def _after_sync(user: User, row: Subscription, sub: Any) -> None:
    """The trial ledger and the trial-started mail, once per subscription. The ledger is
    checked again here, when the trial exists (checkout checked before payment only)."""
    if row.trial_start is None:
        return
    refused = trials.record(user, row.stripe_subscription_id, fingerprint_of(sub))
    if refused:
        if row.status == "trialing":
            _end_trial(user, row, refused)
        return
    if row.status == "trialing" and not row.trial_started_mail_sent:
        row.trial_started_mail_sent = True
        mails.trial_started(user, row)


def _end_trial(user: User, row: Subscription, refused: trials.Refusal) -> None:
    """This address or card already had its free week: the trial ends now, so Stripe charges
    for the year at once, and the member is told why."""
    ended = gateway.call(
        lambda: gateway.client().v1.subscriptions.update(
            row.stripe_subscription_id,
            {"trial_end": "now", "expand": EXPAND},
            {"idempotency_key": f"end-trial-{row.stripe_subscription_id}"},
        ),
        "ending a refused trial",
    )
    mails.trial_refused(user, refused)
    apply_subscription(ended, row)


def fingerprint_of(sub: Any) -> str | None:
    method = sub.default_payment_method
    if method is None and not isinstance(sub.customer, str):
        method = sub.customer.invoice_settings.default_payment_method
    if method is None or isinstance(method, str) or method.card is None:
        return None
    return str(method.card.fingerprint) if method.card.fingerprint else None


def sync_invoice(stripe_invoice_id: str) -> Invoice:
    """Mirror an invoice as Stripe has it now; locked, then read, as sync_subscription does
    (invoice.created, .finalized and .paid about one invoice often arrive together)."""
    known = upsert.locked(Invoice, Invoice.stripe_invoice_id, stripe_invoice_id)
    invoice = _retrieve_invoice(stripe_invoice_id)
    if known is None and not _insert_invoice(invoice):
        invoice = _retrieve_invoice(stripe_invoice_id)  # another sync made it meanwhile
    row = upsert.locked(Invoice, Invoice.stripe_invoice_id, stripe_invoice_id)
    assert row is not None  # made just now, or already there
    details = invoice.parent.subscription_details if invoice.parent else None
    row.stripe_subscription_id = _id(details.subscription) if details else None
    row.number, row.status, row.currency = (
        invoice.number,
        invoice.status or "draft",
        invoice.currency,
    )
    row.total, row.amount_paid = int(invoice.total or 0), int(invoice.amount_paid or 0)
    row.hosted_invoice_url, row.invoice_pdf = invoice.hosted_invoice_url, invoice.invoice_pdf
    row.due_date = moment(invoice.due_date)
    db.session.flush()
    return row


def _insert_invoice(invoice: Any) -> bool:
    """Make the invoice's row if it is missing (race-safe); False when another sync had."""
    return upsert.insert_missing(
        Invoice,
        ["stripe_invoice_id"],
        {"stripe_invoice_id": invoice.id, "stripe_customer_id": str(_id(invoice.customer)),
         "created": moment(invoice.created), "status": invoice.status or "draft"},
    )  # fmt: skip


def _retrieve_invoice(stripe_invoice_id: str) -> Any:
    return gateway.call(
        lambda: gateway.client().v1.invoices.retrieve(stripe_invoice_id), "reading an invoice"
    )
