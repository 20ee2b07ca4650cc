"""Team billing after onboarding: seats in Stripe, the billing portal, and following what
Stripe bills (on_subscription_synced) into seats, access and the audit log."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from sqlalchemy import select

from paywall import audit, clock, upsert
from paywall.accounts.models import User
from paywall.billing import gateway, plans, sync
from paywall.billing.models import Subscription
from paywall.billing.signals import subscription_synced
from paywall.dbtypes import parse_id
from paywall.errors import ValidationError
from paywall.extensions import db
from paywall.mail.outbox import queue_mail
from paywall.teams.models import MAX_SEATS, Team
from paywall.teams.seats import follow_billed_seats, gives_access, refresh_members


def attempt_key() -> str:
    """Unique to one intended change: the idempotency key's suffix for one service call.

    The Stripe client's own retries inside the call reuse the key (so a retried create
    never makes two); a later call, even for the same change (seats 4->6, 6->4, 4->6 again,
    or a team id SQLite hands out again after a rollback), is a new request, never a replay
    of an old one."""
    return uuid.uuid4().hex


@subscription_synced.connect
def on_subscription_synced(subscription: Subscription, *, metadata: dict[str, Any]) -> None:
    """Billing synced a subscription, and the mirror row is just updated (so nothing here reads
    it again). For a team's: link a card team whose Checkout completed, make the seats follow
    what Stripe bills, put billing changes in the audit log, and refresh the members' access."""
    plan = plans.plan(subscription.plan)
    if plan is None or not plan.per_seat:
        return
    number = parse_id(metadata.get("team_id"))
    team = db.session.get(Team, number) if number else None
    if team is None:
        return
    linked = team.stripe_subscription_id is None
    if linked:
        team.stripe_subscription_id = subscription.stripe_subscription_id
        team.checkout_url = None
    if team.stripe_subscription_id != subscription.stripe_subscription_id:
        return
    changed = follow_billed_seats(team, subscription)
    if linked:
        audit.record(audit.STRIPE, "team.checkout_completed", team.name, team_id=team.id,
                     seats=team.seats, status=subscription.status)  # fmt: skip
    record_seats_billed(team, changed)
    _record_lapse_or_restore(team, subscription)
    refresh_members(team)


def lock_for_seats(team: Team) -> Subscription | None:
    """Before changing a team's seats: its subscription's mirror row (a Stripe team's), then the
    team row, both locked until commit, the team read afresh. Returns the subscription row.

    One lock order for a team: the subscription row, then the team row, then its members'
    user rows. A sync takes them so (sync_subscription locks the row before it reads Stripe,
    then on_subscription_synced updates the team and refreshes the members), so a seat change
    must lock the row before it touches the team too; otherwise the change holding the team and
    a webhook holding the subscription each wait for the other, and PostgreSQL aborts one of
    them with a deadlock error (the manager's request after Stripe had billed, or the webhook).
    The team row locked and re-read means the seats in use are the ones that count: a colleague
    joining meanwhile waits, so fewer seats never go below those in use (the CHECK would refuse
    it), and two seat changes take turns. (The sync could lock the team first instead, but then
    every member's own subscription would pay a query to learn it is not a team's.)"""
    row = None
    if team.billing != "manual" and team.stripe_subscription_id:
        row = upsert.locked(Subscription, Subscription.stripe_subscription_id,
                            team.stripe_subscription_id)  # fmt: skip
    db.session.refresh(team, with_for_update=True)
    return row


def record_seats_billed(team: Team, changed: tuple[int, int] | None) -> None:
    if changed is not None:
        audit.record(audit.STRIPE, "team.seats_billed", team.name, team_id=team.id,
                     seats=list(changed))  # fmt: skip


LAPSE_ACTIONS = ("team.lapsed", "team.restored")


def _record_lapse_or_restore(team: Team, subscription: Subscription) -> None:
    """Audit the moments a team's subscription stops or starts giving access again. The last
    such entry says which state the team was in (none yet: it had access); so a grace period
    that ran out with no webhook is still recorded, at the next sync."""
    last = db.session.scalar(
        select(audit.AuditEntry.action)
        .where(audit.AuditEntry.team_id == team.id, audit.AuditEntry.action.in_(LAPSE_ACTIONS))
        .order_by(audit.AuditEntry.created_at.desc(), audit.AuditEntry.id.desc())
        .limit(1)
    )
    was_lapsed, has_access = last == "team.lapsed", gives_access(team, subscription)
    if was_lapsed == has_access:
        action = "team.restored" if has_access else "team.lapsed"
        audit.record(audit.STRIPE, action, team.name, team_id=team.id, status=subscription.status)


def add_seats(team: Team, extra: int, actor: User) -> str:
    """More seats. Card and invoice teams: Stripe bills the rest of the year at once
    (`always_invoice`; an invoice team's prorated invoice is sent). Manual teams: staff are
    asked."""
    subscription = lock_for_seats(team)
    if not 1 <= extra <= MAX_SEATS - team.seats:
        raise ValidationError("Add between 1 and 10,000 seats.", field="seats")
    if team.billing == "manual" or not team.stripe_subscription_id:
        _ask_staff_for_seats(team, extra, actor)
        return "requested"
    # Stripe refuses to change a canceled subscription, and seats on one that gives no access
    # would be billed for nothing.
    status = subscription.status if subscription else None
    if status not in ("active", "past_due"):
        raise ValidationError(
            f"{team.name}'s subscription has {'ended' if status == 'canceled' else 'lapsed'}"
            ", so seats cannot be added. Write to us to renew it.",
            field="seats",
        )
    sub_id, total = team.stripe_subscription_id, team.seats + extra
    set_stripe_seats(team, total, "always_invoice")
    if team.billing == "invoice":
        latest = gateway.call(
            lambda: gateway.client().v1.subscriptions.retrieve(sub_id), "reading"
        ).latest_invoice
        invoice = gateway.call(
            lambda: gateway.client().v1.invoices.retrieve(str(latest)), "reading an invoice"
        )
        if invoice.billing_reason == "subscription_update":  # the proration just made
            send_invoice(invoice)
    team.seats = total
    audit.record(actor, "team.seats_added", team.name, team_id=team.id, extra=extra, seats=total)
    sync.sync_subscription(sub_id)
    return "added"


def _ask_staff_for_seats(team: Team, extra: int, actor: User) -> None:
    for staff in db.session.scalars(select(User).where(User.role == "admin")):
        queue_mail(
            staff.email,
            "team_seats_request",
            subject=f"{team.name} asks for {extra} more seats",
            team=team.name,
            extra=extra,
            who=actor.email,
        )
    audit.record(actor, "team.seats_requested", team.name, team_id=team.id, extra=extra)


def send_invoice(invoice: Any) -> None:
    """Send an invoice of a `send_invoice` subscription: finalized first if still a draft."""
    invoice_id = str(invoice.id)
    if invoice.status == "draft":
        invoice = gateway.call(
            lambda: gateway.client().v1.invoices.finalize_invoice(invoice_id), "finalizing"
        )
    if invoice.status == "open":
        gateway.call(
            lambda: gateway.client().v1.invoices.send_invoice(invoice_id), "sending an invoice"
        )


def set_stripe_seats(team: Team, seats: int, proration: str) -> None:
    """The quantity on the team's subscription item; `proration` as Stripe's
    proration_behavior (always_invoice bills the change now, none from the next renewal)."""
    sub_id, attempt = str(team.stripe_subscription_id), attempt_key()
    sub = gateway.call(
        lambda: gateway.client().v1.subscriptions.retrieve(sub_id), "reading a team subscription"
    )
    item_id = sub["items"].data[0].id
    gateway.call(
        lambda: gateway.client().v1.subscription_items.update(
            item_id,
            {"quantity": seats, "proration_behavior": proration},
            {"idempotency_key": f"paywall-team-seats-{team.id}-{seats}-{attempt}"},
        ),
        "changing seats",
    )


PORTAL_PURPOSE = "paywall-team-portal-v1"


def portal_url(team: Team) -> str:
    """Stripe's portal for the team's billing: invoices and the card. Seats change on /team
    (billed at once, prorated) and cancelling is for staff, so neither is in the portal."""
    if not team.stripe_customer_id:
        raise ValidationError("This team's billing is arranged with us directly.")
    customer, base = team.stripe_customer_id, current_app.config["BASE_URL"]
    configuration = _team_portal_configuration()
    session = gateway.call(
        lambda: gateway.client().v1.billing_portal.sessions.create(
            {"customer": customer, "return_url": f"{base}/team", "configuration": configuration}
        ),
        "opening the team portal",
    )
    return str(session.url)


def _team_portal_configuration() -> str:
    """The team portal's configuration, found again by its metadata (an idempotency key lasts
    24 hours in Stripe, so keying the create would make a new configuration every day)."""
    found = gateway.call(
        lambda: gateway.client().v1.billing_portal.configurations.list(
            {"active": True, "limit": 100}
        ),
        "finding the team portal",
    )
    for configuration in found.auto_paging_iter():
        metadata = configuration.to_dict().get("metadata") or {}
        if metadata.get("purpose") == PORTAL_PURPOSE:
            return str(configuration.id)
    created = gateway.call(
        lambda: gateway.client().v1.billing_portal.configurations.create(
            {
                "business_profile": {"headline": "PRO for teams"},
                "features": {
                    "invoice_history": {"enabled": True},
                    "payment_method_update": {"enabled": True},
                    "subscription_cancel": {"enabled": False},
                },
                "metadata": {"purpose": PORTAL_PURPOSE},
            },
            {"idempotency_key": f"{PORTAL_PURPOSE}-{clock.now().date().isoformat()}"},
        ),
        "configuring the team portal",
    )
    return str(created.id)
