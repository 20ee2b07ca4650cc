"""Onboarding a team in three billing modes: invoice, card (Checkout) or manual."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from paywall import audit, clock
from paywall.accounts.emails import canonical_domain, normalise_email
from paywall.accounts.models import User
from paywall.billing import gateway, plans, sync
from paywall.billing.service import (
    mirror_checkout_subscription,
    price_id,
    retrieve_checkout_session,
)
from paywall.dbtypes import parse_id
from paywall.errors import Conflict, NotFound, ValidationError
from paywall.extensions import db
from paywall.mail.headers import is_one_line
from paywall.teams.invites import invite
from paywall.teams.models import BILLING_MODES, MAX_SEATS, Team
from paywall.teams.team_billing import attempt_key, send_invoice


@dataclass(frozen=True)
class Onboarding:
    name: str
    seats: int
    manager_email: str
    billing: str = "invoice"
    domains: str = ""
    paid_until: datetime | None = None
    manager_takes_seat: bool = True


def check_name(raw: str) -> str:
    """A team's name, trimmed: one line (it goes into mail subjects), 200 characters at most."""
    name = raw.strip()
    if not name or len(name) > 200:
        raise ValidationError("Give the team a name (up to 200 characters).", field="name")
    if not is_one_line(name):
        raise ValidationError("Write the team's name on one line.", field="name")
    return name


def check(spec: Onboarding) -> Onboarding:
    name = check_name(spec.name)
    if not 1 <= spec.seats <= MAX_SEATS:
        raise ValidationError(f"Seats must be between 1 and {MAX_SEATS}.", field="seats")
    if spec.billing not in BILLING_MODES:
        raise ValidationError("Billing must be invoice, card or manual.", field="billing")
    manager = normalise_email(spec.manager_email, field="manager_email")
    domains = ",".join(check_domains(spec.domains))
    paid_until = spec.paid_until
    if spec.billing == "manual" and paid_until is None:
        paid_until = clock.now() + timedelta(days=365)
    return Onboarding(
        name, spec.seats, manager, spec.billing, domains, paid_until, spec.manager_takes_seat
    )


_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# Domain join would open a team to the whole world at these.
PUBLIC_MAIL_DOMAINS = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "mail.com",
        "yandex.com",
        "zoho.com",
        "fastmail.com",
        "hey.com",
        "web.de",
    ]
)


def check_domains(text: str) -> list[str]:
    """Allowed email domains from 'acme.com, @acme.co.uk': in the form canonical addresses
    hold (IDNA ASCII, lower-case), each checked."""
    found: list[str] = []
    for raw in text.replace(";", ",").replace(" ", ",").split(","):
        domain = canonical_domain(raw)
        if not domain:
            continue
        if not _DOMAIN.match(domain):
            raise ValidationError(f"{domain[:60]} is not an email domain.", field="domains")
        if domain in PUBLIC_MAIL_DOMAINS:
            raise ValidationError(
                f"{domain} is a public mail service: anyone could join.", field="domains"
            )
        if domain not in found:
            found.append(domain)
    if len(",".join(found)) > 500:
        raise ValidationError("Too many domains (500 characters at most).", field="domains")
    return found


def create_team(spec: Onboarding, staff: User | None) -> Team:
    """Onboard a team: the team row, its billing in Stripe, and the manager's invitation."""
    spec = check(spec)
    team = Team(
        name=spec.name,
        seats=spec.seats,
        billing=spec.billing,
        domains=spec.domains,
        paid_until=spec.paid_until if spec.billing == "manual" else None,
        manager_takes_seat=spec.manager_takes_seat,
    )
    db.session.add(team)
    db.session.flush()
    attempt = attempt_key()
    if spec.billing == "invoice":
        _start_invoicing(team, spec.manager_email, attempt)
    elif spec.billing == "card":
        _start_card_checkout(team, spec.manager_email, attempt)
    audit.record(
        staff,
        "team.created",
        team.name,
        team_id=team.id,
        seats=team.seats,
        billing=team.billing,
        manager=spec.manager_email,
    )
    invite(team, [spec.manager_email], staff, role="manager")
    return team


def _team_customer(team: Team, email: str, attempt: str) -> str:
    customer = gateway.call(
        lambda: gateway.client().v1.customers.create(
            {"email": email, "name": team.name, "metadata": {"team_id": str(team.id)}},
            {"idempotency_key": f"paywall-team-customer-{team.id}-{attempt}"},
        ),
        "creating a team customer",
    )
    team.stripe_customer_id = customer.id
    return customer.id


def _team_price() -> str:
    plan = plans.plan("team_annual")
    assert plan is not None
    return price_id(plan)


def _start_invoicing(team: Team, email: str, attempt: str) -> None:
    """A send_invoice subscription for the seats, its first invoice finalized and sent."""
    customer = _team_customer(team, email, attempt)
    sub = gateway.call(
        lambda: gateway.client().v1.subscriptions.create(
            {
                "customer": customer,
                "items": [{"price": _team_price(), "quantity": team.seats}],
                "collection_method": "send_invoice",
                "days_until_due": 30,
                "metadata": {"team_id": str(team.id)},
            },
            {"idempotency_key": f"paywall-team-subscription-{team.id}-{attempt}"},
        ),
        "creating a team subscription",
    )
    invoice_id = str(sub.latest_invoice)
    invoice = gateway.call(
        lambda: gateway.client().v1.invoices.retrieve(invoice_id), "reading an invoice"
    )
    send_invoice(invoice)
    # The team row is held before the subscription row here, against the lock order
    # (team_billing.lock_for_seats), and safely: it is new and uncommitted, so a webhook
    # about this subscription finds no team (on_subscription_synced returns) and never waits.
    team.stripe_subscription_id = sub.id
    sync.sync_subscription(sub.id)
    sync.sync_invoice(invoice_id)


def _start_card_checkout(team: Team, email: str, attempt: str) -> None:
    """A Checkout link for the manager: card payment, seats adjustable within limits (the
    team's seats follow what is paid for: on_subscription_synced)."""
    _open_card_checkout(team, _team_customer(team, email, attempt), attempt)


def renew_card_checkout(team: Team, actor: User) -> str:
    """A fresh Checkout link for a card team that has not paid: Stripe's sessions last 24
    hours, a manager's invitation 14 days. Older open sessions are expired first, so at most
    one link can ever be paid (two paid sessions would be two subscriptions)."""
    if team.billing != "card" or team.stripe_subscription_id or not team.stripe_customer_id:
        raise Conflict("This team has nothing to pay by card.")
    customer = team.stripe_customer_id
    still_open = gateway.call(
        lambda: gateway.client().v1.checkout.sessions.list(
            {"customer": customer, "status": "open", "limit": 100}
        ),
        "listing a team's checkouts",
    )
    for session in still_open.data:
        _expire_checkout(session.id)
    _open_card_checkout(team, customer, attempt_key())
    audit.record(actor, "team.checkout_renewed", team.name, team_id=team.id)
    return str(team.checkout_url)


def _expire_checkout(session_id: str) -> None:
    gateway.call(
        lambda: gateway.client().v1.checkout.sessions.expire(session_id),
        "expiring a team's old checkout",
    )


def finish_card_checkout(session_id: str) -> Team:
    """Back from a team's Checkout: mirror the subscription now, before any webhook, so the
    seats work at once (the webhook later finds nothing to change)."""
    session = retrieve_checkout_session(session_id, "finishing a team checkout")
    reference = session.client_reference_id or ""
    team_id = parse_id(reference.removeprefix("team-")) if reference.startswith("team-") else None
    team = db.session.get(Team, team_id) if team_id else None
    if team is None or not session.customer or team.stripe_customer_id != session.customer:
        raise NotFound("This checkout session is not known.")
    if session.status == "complete" and session.subscription:
        mirror_checkout_subscription(str(session.subscription))
        db.session.refresh(team)
    return team


def _open_card_checkout(team: Team, customer: str, attempt: str) -> None:
    base = current_app.config["BASE_URL"]
    session = gateway.call(
        lambda: gateway.client().v1.checkout.sessions.create(
            {
                "mode": "subscription",
                "customer": customer,
                "client_reference_id": f"team-{team.id}",
                "line_items": [
                    {
                        "price": _team_price(),
                        "quantity": team.seats,
                        "adjustable_quantity": {
                            "enabled": True,
                            "minimum": 1,
                            "maximum": max(team.seats * 2, 10),
                        },
                    }
                ],
                "subscription_data": {"metadata": {"team_id": str(team.id)}},
                "success_url": f"{base}/teams/paid?session_id={{CHECKOUT_SESSION_ID}}",
                "cancel_url": f"{base}/teams",
            },
            {"idempotency_key": f"paywall-team-checkout-{team.id}-{attempt}"},
        ),
        "starting a team checkout",
    )
    team.checkout_url = session.url
