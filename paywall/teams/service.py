"""Team plans as staff and managers run them: onboarding in three billing modes, invites,
joining a seat, removing a member. Every action goes into the audit log."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update

from paywall import audit, clock
from paywall.accounts.emails import normalise_email
from paywall.accounts.models import User
from paywall.accounts.service import refresh_access
from paywall.accounts.tokens import hash_token
from paywall.billing import gateway, plans, sync
from paywall.errors import Conflict, NotFound, TokenInvalid, TooManyRequests, ValidationError
from paywall.extensions import db
from paywall.mail.outbox import absolute_url, queue_mail
from paywall.teams.models import BILLING_MODES, Team, TeamInvite, TeamMember
from paywall.teams.seats import (
    claim_seat,
    follow_billed_seats,
    gives_access,
    refresh_members,
    release_seat,
)
from paywall.web import parse_id

INVITE_LIFETIME = timedelta(days=14)
# Invitations are mail we send for a manager; these keep a team page from being a mail cannon.
RESEND_AFTER = timedelta(minutes=10)  # per address: no new invitation mail sooner than this
INVITES_PER_DAY_FLOOR = 50  # per team and rolling day: the larger of this and twice the seats
INVITES_AT_ONCE = 200  # addresses per paste; the rest are reported, not silently dropped
MAX_SEATS = 10_000
INVITE_INVALID = (
    "This invitation is not valid: it was used, revoked or has expired. "
    "Ask your team manager for a new one."
)


@dataclass(frozen=True)
class _Stripe:
    """The actor of audit entries that Stripe's changes cause (a webhook, a sync): shown as
    "stripe" wherever the log names an actor."""

    id: None = None
    email: str = "stripe"


STRIPE = _Stripe()


def attempt_key() -> str:
    """Unique to one intended change: the idempotency key's suffix for one service call.

    The Stripe client's own retries inside the call reuse the key (so a retried create
    never makes two); a later call, even for the same change (seats 4->6, 6->4, 4->6 again,
    or a team id SQLite hands out again after a rollback), is a new request, never a replay
    of an old one."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Onboarding:
    name: str
    seats: int
    manager_email: str
    billing: str = "invoice"
    domains: str = ""
    paid_until: datetime | None = None
    manager_takes_seat: bool = True


def check(spec: Onboarding) -> Onboarding:
    name = spec.name.strip()
    if not name or len(name) > 200:
        raise ValidationError("Give the team a name (up to 200 characters).", field="name")
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
    """Allowed email domains from 'acme.com, @acme.co.uk': lower-cased, each checked."""
    found: list[str] = []
    for raw in text.replace(";", ",").replace(" ", ",").split(","):
        domain = raw.strip().lower().lstrip("@")
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
    from paywall.billing.service import price_id

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
    if invoice.status == "draft":
        gateway.call(
            lambda: gateway.client().v1.invoices.finalize_invoice(invoice_id), "finalizing"
        )
    gateway.call(
        lambda: gateway.client().v1.invoices.send_invoice(invoice_id), "sending an invoice"
    )
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
    from paywall.billing.service import mirror_checkout_subscription, retrieve_checkout_session

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


def invite(
    team: Team, emails: list[str], actor: User | None, role: str = "member"
) -> list[tuple[str, str | None]]:
    """Invite addresses; returns (address, None) for each sent and (address, why) for each not."""
    report: list[tuple[str, str | None]] = []
    daily_cap = max(INVITES_PER_DAY_FLOOR, 2 * team.seats)
    sent_today = (
        db.session.scalar(
            select(func.count())
            .select_from(TeamInvite)
            .where(
                TeamInvite.team_id == team.id,
                TeamInvite.created_at > clock.now() - timedelta(days=1),
            )
        )
        or 0
    )
    for raw in emails:
        try:
            email = normalise_email(raw)
        except ValidationError as error:
            report.append((raw.strip()[:254], error.message))
            continue
        if _member(team.id, email) is not None:
            report.append((email, "already a member of this team"))
            continue
        earlier = _pending_for(team.id, email)
        if earlier is not None and earlier.created_at > clock.now() - RESEND_AFTER:
            report.append((email, "invited a few minutes ago; try again later"))
            continue
        if sent_today >= daily_cap:
            report.append((email, f"over today's limit of {daily_cap} invitations for the team"))
            continue
        if earlier is not None:  # one valid link per address: the newest
            earlier.revoked_at = clock.now()
        sent_today += 1
        token = secrets.token_urlsafe(32)
        db.session.add(
            TeamInvite(
                team_id=team.id,
                email=email,
                role=role,
                token_hash=hash_token(token),
                invited_by_id=getattr(actor, "id", None),
                expires_at=clock.now() + INVITE_LIFETIME,
            )
        )
        _mail_invite(team, email, token, role)
        audit.record(actor, "team.invited", email, team_id=team.id, role=role)
        report.append((email, None))
    db.session.flush()
    return report


def invite_pasted(team: Team, emails: list[str], actor: User) -> list[tuple[str, str | None]]:
    """The manager's paste: up to INVITES_AT_ONCE invited (within invite()'s limits), the
    rest reported as not invited."""
    over = f"too many at once; at most {INVITES_AT_ONCE} per paste"
    report = invite(team, emails[:INVITES_AT_ONCE], actor)
    return report + [(raw.strip()[:254], over) for raw in emails[INVITES_AT_ONCE:]]


def _mail_invite(team: Team, email: str, token: str, role: str) -> None:
    subject = (
        f"You are invited to manage {team.name}'s PRO team"
        if role == "manager"
        else f"Join {team.name} on PRO"
    )
    queue_mail(
        email,
        "team_invite",
        subject=subject,
        team=team.name,
        role=role,
        link=absolute_url("teams.join", token=token),
        checkout_url=team.checkout_url if role == "manager" else None,
    )


def _pending_for(team_id: int, email: str) -> TeamInvite | None:
    found: TeamInvite | None = db.session.scalar(
        select(TeamInvite)
        .where(
            TeamInvite.team_id == team_id,
            TeamInvite.email == email,
            TeamInvite.used_at.is_(None),
            TeamInvite.revoked_at.is_(None),
            TeamInvite.expires_at > clock.now(),
        )
        .order_by(TeamInvite.created_at.desc())
        .limit(1)
    )
    return found


def _member(team_id: int, email: str) -> TeamMember | None:
    found: TeamMember | None = db.session.scalar(
        select(TeamMember)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team_id, User.email == email, TeamMember.removed_at.is_(None))
    )
    return found


def peek_invite(token: str) -> TeamInvite:
    found: TeamInvite | None = db.session.scalar(
        select(TeamInvite).where(TeamInvite.token_hash == hash_token(token))
    )
    if found is None or found.used_at or found.revoked_at or found.expires_at <= clock.now():
        raise TokenInvalid(INVITE_INVALID)
    return found


class TooSoon(TooManyRequests):
    """An invitation mail refused by the limits above: answered 429 with this message."""


class TeamFull(Conflict):
    """No free seat: answered 409 with this message."""


def accept(token: str, user: User) -> Team:
    """Join with an invitation: spend it once, then take a seat atomically."""
    found = peek_invite(token)
    if found.email != user.email:
        raise ValidationError(
            f"This invitation is for {found.email}. Sign in with that address to accept it."
        )
    spent = db.session.execute(
        update(TeamInvite)
        .where(TeamInvite.id == found.id, TeamInvite.used_at.is_(None))
        .values(used_at=clock.now())
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise TokenInvalid(INVITE_INVALID)
    team = db.session.get(Team, found.team_id)
    assert team is not None
    join(team, user, role=found.role)
    return team


def join(team: Team, user: User, role: str = "member") -> TeamMember:
    existing = _member(team.id, user.email)
    if existing is not None:
        return existing
    takes_seat = role == "member" or team.manager_takes_seat
    if takes_seat and not claim_seat(team.id):
        raise TeamFull(f"{team.name} has no free seats. We have told the team manager.")
    member = db.session.scalar(
        select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user.id)
    )
    if member is None:
        member = TeamMember(team_id=team.id, user_id=user.id)
        db.session.add(member)
    member.role, member.takes_seat, member.removed_at = role, takes_seat, None
    member.joined_at = clock.now()
    db.session.flush()
    refresh_access(user)
    audit.record(user, "team.joined", user.email, team_id=team.id, subject=user, role=role)
    return member


def tell_manager_full(team: Team, who: str) -> None:
    for manager in managers(team):
        queue_mail(
            manager.email,
            "team_full",
            subject=f"{team.name} is out of seats",
            team=team.name,
            who=who,
            link=absolute_url("teams.manage"),
        )


def managers(team: Team) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(TeamMember, TeamMember.user_id == User.id)
            .where(
                TeamMember.team_id == team.id,
                TeamMember.role == "manager",
                TeamMember.removed_at.is_(None),
            )
        )
    )


def managed_team(user: User) -> Team:
    """The team this user manages, or NotFound (non-managers see no team pages)."""
    team: Team | None = db.session.scalar(
        select(Team)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(
            TeamMember.user_id == user.id,
            TeamMember.role == "manager",
            TeamMember.removed_at.is_(None),
        )
    )
    if team is None:
        raise NotFound("You do not manage a team.")
    return team


def remove(team: Team, member_id: int, actor: User) -> User:
    """Remove a member: the seat is free and their team access ends at once."""
    member: TeamMember | None = db.session.scalar(
        select(TeamMember).where(
            TeamMember.id == member_id,
            TeamMember.team_id == team.id,
            TeamMember.removed_at.is_(None),
        )
    )
    if member is None:
        raise NotFound("No such member in your team.")
    member.removed_at = clock.now()
    if member.takes_seat:
        release_seat(team.id)
    user = db.session.get(User, member.user_id)
    assert user is not None
    db.session.flush()
    refresh_access(user)
    audit.record(actor, "team.removed", user.email, team_id=team.id, subject=user)
    _record_seats_billed(team, follow_billed_seats(team))  # seats kept above the billed ones
    return user


def revoke(team: Team, invite_id: int, actor: User) -> None:
    found = _pending(team, invite_id)
    found.revoked_at = clock.now()
    audit.record(actor, "team.invite_revoked", found.email, team_id=team.id)


def resend(team: Team, invite_id: int, actor: User) -> None:
    """A fresh link by mail (the old one stops working), within invite()'s limits."""
    found = _pending(team, invite_id)
    [(_, refused)] = invite(team, [found.email], actor, role=found.role)
    if refused is not None:
        raise TooSoon(f"Not sent again to {found.email}: {refused}.")


def _pending(team: Team, invite_id: int) -> TeamInvite:
    found: TeamInvite | None = db.session.scalar(
        select(TeamInvite).where(
            TeamInvite.id == invite_id,
            TeamInvite.team_id == team.id,
            TeamInvite.used_at.is_(None),
            TeamInvite.revoked_at.is_(None),
        )
    )
    if found is None:
        raise NotFound("No such pending invitation in your team.")
    return found


def page_data(team: Team) -> dict[str, Any]:
    members = db.session.execute(
        select(TeamMember, User)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team.id, TeamMember.removed_at.is_(None))
        .order_by(TeamMember.joined_at)
    ).all()
    invites = list(
        db.session.scalars(
            select(TeamInvite)
            .where(
                TeamInvite.team_id == team.id,
                TeamInvite.used_at.is_(None),
                TeamInvite.revoked_at.is_(None),
                TeamInvite.expires_at > clock.now(),
            )
            .order_by(TeamInvite.created_at)
        )
    )
    log = list(
        db.session.scalars(
            select(audit.AuditEntry)
            .where(audit.AuditEntry.team_id == team.id)
            .order_by(audit.AuditEntry.created_at.desc(), audit.AuditEntry.id.desc())
            .limit(50)
        )
    )
    return {"team": team, "members": members, "invites": invites, "log": log}


def on_subscription_synced(team_id: str | None, subscription_id: str) -> None:
    """Called by billing sync for team subscriptions (after the mirror row is updated): link a
    card team whose Checkout completed, make the seats follow what Stripe bills, put billing
    changes in the audit log, and refresh the members' access."""
    number = parse_id(team_id)
    team = db.session.get(Team, number) if number else None
    if team is None:
        return
    linked = team.stripe_subscription_id is None
    if linked:
        team.stripe_subscription_id = subscription_id
        team.checkout_url = None
    if team.stripe_subscription_id != subscription_id:
        return
    db.session.flush()
    changed = follow_billed_seats(team)
    if linked:
        audit.record(STRIPE, "team.checkout_completed", team.name, team_id=team.id,
                     seats=team.seats, status=_status(team))  # fmt: skip
    _record_seats_billed(team, changed)
    _record_lapse_or_restore(team)
    refresh_members(team)


def _status(team: Team) -> str | None:
    from paywall.billing.models import Subscription

    return db.session.scalar(
        select(Subscription.status).where(
            Subscription.stripe_subscription_id == team.stripe_subscription_id
        )
    )


def _record_seats_billed(team: Team, changed: tuple[int, int] | None) -> None:
    if changed is not None:
        audit.record(STRIPE, "team.seats_billed", team.name, team_id=team.id, seats=list(changed))


LAPSE_ACTIONS = ("team.lapsed", "team.restored")


def _record_lapse_or_restore(team: Team) -> None:
    """Audit the moments a team's subscription stops or starts giving access again. The last
    such entry says which state the team was in (none yet: it had access)."""
    last = db.session.scalar(
        select(audit.AuditEntry.action)
        .where(audit.AuditEntry.team_id == team.id, audit.AuditEntry.action.in_(LAPSE_ACTIONS))
        .order_by(audit.AuditEntry.created_at.desc(), audit.AuditEntry.id.desc())
        .limit(1)
    )
    was_lapsed, has_access = last == "team.lapsed", gives_access(team)
    if was_lapsed == has_access:
        action = "team.restored" if has_access else "team.lapsed"
        audit.record(STRIPE, action, team.name, team_id=team.id, status=_status(team))


def add_seats(team: Team, extra: int, actor: User) -> str:
    """More seats. Card and invoice teams: Stripe bills the rest of the year at once
    (`always_invoice`; an invoice team's prorated invoice is sent). Manual teams: staff are
    asked."""
    if not 1 <= extra <= MAX_SEATS - team.seats:
        raise ValidationError("Add between 1 and 10,000 seats.", field="seats")
    if team.stripe_subscription_id and team.billing != "manual":
        # Stripe refuses to change a canceled subscription, and seats on one that gives no
        # access would be billed for nothing.
        status = _status(team)
        if status not in ("active", "past_due"):
            raise ValidationError(
                f"{team.name}'s subscription has {'ended' if status == 'canceled' else 'lapsed'}"
                ", so seats cannot be added. Write to us to renew it.",
                field="seats",
            )
    if team.billing == "manual" or not team.stripe_subscription_id:
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
        return "requested"
    sub_id, total = team.stripe_subscription_id, team.seats + extra
    set_stripe_seats(team, total, "always_invoice")
    if team.billing == "invoice":
        latest = gateway.call(
            lambda: gateway.client().v1.subscriptions.retrieve(sub_id), "reading"
        ).latest_invoice
        invoice = gateway.call(
            lambda: gateway.client().v1.invoices.retrieve(str(latest)), "reading an invoice"
        )
        if invoice.status == "draft":
            invoice = gateway.call(
                lambda: gateway.client().v1.invoices.finalize_invoice(invoice.id), "finalizing"
            )
        if invoice.status == "open" and invoice.billing_reason == "subscription_update":
            gateway.call(
                lambda: gateway.client().v1.invoices.send_invoice(invoice.id), "sending an invoice"
            )
    team.seats = total
    audit.record(actor, "team.seats_added", team.name, team_id=team.id, extra=extra, seats=total)
    sync.sync_subscription(sub_id)
    return "added"


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


def portal_url(team: Team) -> str:
    """Stripe's portal for the team's billing, with seats adjustable there too."""
    if not team.stripe_customer_id:
        raise ValidationError("This team's billing is arranged with us directly.")
    customer, base = team.stripe_customer_id, current_app.config["BASE_URL"]
    config = gateway.call(
        lambda: gateway.client().v1.billing_portal.configurations.create(
            {
                "business_profile": {"headline": "PRO for teams"},
                "features": {
                    "invoice_history": {"enabled": True},
                    "payment_method_update": {"enabled": True},
                    "subscription_cancel": {"enabled": False},
                },
            },
            {"idempotency_key": "paywall-team-portal-configuration-v1"},
        ),
        "configuring the team portal",
    )
    session = gateway.call(
        lambda: gateway.client().v1.billing_portal.sessions.create(
            {"customer": customer, "return_url": f"{base}/team", "configuration": config.id}
        ),
        "opening the team portal",
    )
    return str(session.url)


def set_domain_join(team: Team, on: bool, actor: User) -> None:
    if on and not team.domain_list():
        raise ValidationError("This team has no allowed email domains: ask us to add yours.")
    team.domain_join = on
    audit.record(
        actor, "team.domain_join_on" if on else "team.domain_join_off", team.name, team_id=team.id
    )


def domain_teams(user: User) -> list[Team]:
    """Teams with free seats this reader may join by their confirmed address's domain."""
    if not user.is_verified:
        return []
    domain = user.email.rpartition("@")[2]
    # The account page asks this: narrow in SQL, then check the exact domain list.
    found = db.session.scalars(
        select(Team).where(
            Team.domain_join.is_(True),
            Team.seats_used < Team.seats,
            Team.domains.contains(domain, autoescape=True),
        )
    )
    return [t for t in found if _may_join_by_domain(t, user)]


def _may_join_by_domain(team: Team, user: User) -> bool:
    domain = user.email.rpartition("@")[2]
    return (
        user.is_verified
        and team.domain_join
        and domain in team.domain_list()
        and _member(team.id, user.email) is None
    )


def join_by_domain(team_id: int, user: User) -> Team:
    """Join by address; a team that filled up since the account page showed it says so
    (TeamFull), rather than vanishing."""
    team = db.session.get(Team, team_id)
    if team is None or not _may_join_by_domain(team, user):
        raise NotFound("There is no team you can join with this address.")
    join(team, user)
    return team


def own_subscription(user: User) -> Any:
    """The member's own running PRO subscription that is not yet set to end, if any."""
    from paywall.billing.models import Subscription

    return db.session.scalar(
        select(Subscription).where(
            Subscription.user_id == user.id,
            Subscription.plan == "pro_annual",
            Subscription.status.in_(("trialing", "active", "past_due")),
            Subscription.cancel_at_period_end.is_(False),
        )
    )


def offer_to_end_own(user: User) -> bool:
    """True (once per membership) when the new member should be offered to stop paying twice."""
    if own_subscription(user) is None:
        return False
    members = db.session.scalars(
        select(TeamMember).where(
            TeamMember.user_id == user.id,
            TeamMember.removed_at.is_(None),
            TeamMember.offered_end_own.is_(False),
        )
    )
    offered = False
    for member in members:
        member.offered_end_own, offered = True, True
    return offered


def end_own_at_period_end(user: User) -> None:
    row = own_subscription(user)
    if row is None:
        return
    sub_id = row.stripe_subscription_id
    key = f"paywall-end-own-{sub_id}-{attempt_key()}"
    gateway.call(
        lambda: gateway.client().v1.subscriptions.update(
            sub_id, {"cancel_at_period_end": True}, {"idempotency_key": key}
        ),
        "ending your own subscription",
    )
    audit.record(user, "member.ended_own_for_team", user.email, subject=user)
    sync.sync_subscription(sub_id)
