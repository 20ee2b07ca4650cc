"""What staff see of a member: search by email or name, and the member page: access and why,
subscriptions and invoices, team seats, newsletters, sign-ins, and a timeline of every event
that changed their access."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select

from paywall import audit, clock, entitlements
from paywall.accounts.models import CompGrant, SignIn, User
from paywall.billing.models import Invoice, StripeEvent, Subscription
from paywall.entitlements import AccessChange
from paywall.extensions import db
from paywall.newsletters.service import confirmed_lists
from paywall.teams.models import Team, TeamMember

SEARCH_LIMIT = 50
TIMELINE_LIMIT = 200


def search(query: str, limit: int = SEARCH_LIMIT) -> list[User]:
    """Members whose email starts with the query (case-insensitive: emails are stored
    lower-cased) or, for a query without '@', whose name or surname starts with it. Newest
    first when the query is empty."""
    text = query.strip().lower()[:254]
    if not text:
        return list(db.session.scalars(select(User).order_by(User.id.desc()).limit(limit)))
    found = list(
        db.session.scalars(
            select(User).where(_starts_with(User.email, text)).order_by(User.email).limit(limit)
        )
    )
    if "@" in text:
        return found
    # Then the name from its start ("alice q"), then a surname ("quinn"): each on its index.
    columns = [func.lower(User.name)] + ([User.name_last] if " " not in text else [])
    for column in columns:
        if len(found) >= limit:
            break
        by_name = db.session.scalars(
            select(User).where(_starts_with(column, text)).order_by(User.email).limit(limit)
        )
        seen = {user.id for user in found}
        found += [user for user in by_name if user.id not in seen][: limit - len(found)]
    return found


def _starts_with(column: Any, text: str) -> Any:
    """A prefix test an index serves (on email, or on lower(name)): PostgreSQL's
    text_pattern_ops index serves LIKE; SQLite's serves a range (its LIKE ignores indexes)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column.like(_like_prefix(text), escape="\\")
    return and_(column >= text, column < text + "\U0010ffff")


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True)
class Moment:
    """One line of the timeline."""

    at: datetime
    kind: str  # access | stripe | comp | team | staff | signin
    text: str
    link: str | None = None


def page(user: User) -> dict[str, Any]:
    subscriptions = list(
        db.session.scalars(
            select(Subscription)
            .where(Subscription.user_id == user.id)
            .order_by(Subscription.created_at.desc())
        )
    )
    invoices: list[Invoice] = []
    if user.stripe_customer_id:
        invoices = list(
            db.session.scalars(
                select(Invoice)
                .where(Invoice.stripe_customer_id == user.stripe_customer_id)
                .order_by(Invoice.created.desc())
                .limit(50)
            )
        )
    seats = db.session.execute(
        select(TeamMember, Team)
        .join(Team, Team.id == TeamMember.team_id)
        .where(TeamMember.user_id == user.id)
        .order_by(TeamMember.joined_at.desc())
    ).all()
    now, grants = clock.now(), entitlements.grants_for(user)
    return {
        "member": user,
        "decision": entitlements.decide(grants, now),
        "grants": sorted(grants, key=lambda g: (g.until is None, g.until), reverse=True),
        "comps": list(
            db.session.scalars(
                select(CompGrant)
                .where(CompGrant.user_id == user.id)
                .order_by(CompGrant.created_at.desc())
            )
        ),
        "subscriptions": subscriptions,
        "invoices": invoices,
        "seats": seats,
        "newsletters": sorted(confirmed_lists(user.email)),
        "signins": list(
            db.session.scalars(
                select(SignIn)
                .where(SignIn.user_id == user.id)
                .order_by(SignIn.created_at.desc())
                .limit(20)
            )
        ),
        "timeline": timeline(user),
        "now": now,
    }


def timeline(user: User, limit: int = TIMELINE_LIMIT) -> list[Moment]:
    """Newest first: access changes, Stripe events about their customer, complimentary grants,
    and every audited action about them (staff actions, team joins and removals). Each source
    is read by an index on (member, time) and cut to `limit`, then merged."""
    moments: list[Moment] = []
    for change in _newest(AccessChange, AccessChange.user_id == user.id, limit):
        moments.append(Moment(change.created_at, "access", _access_words(change)))
    if user.stripe_customer_id:
        events = db.session.scalars(
            select(StripeEvent)
            .where(StripeEvent.customer_id == user.stripe_customer_id)
            .order_by(StripeEvent.created.desc())
            .limit(limit)
        )
        for event in events:
            outcome = "" if event.status == "processed" else f" ({event.status})"
            moments.append(Moment(event.created, "stripe", f"Stripe: {event.type}{outcome}",
                                  link=event.id))  # fmt: skip
    for comp in _newest(CompGrant, CompGrant.user_id == user.id, limit):
        until = f" until {comp.ends_at:%-d %B %Y}" if comp.ends_at else " with no end"
        moments.append(Moment(comp.created_at, "comp", f"Complimentary access{until}: "
                              f"{comp.reason or 'no reason given'}"))  # fmt: skip
        if comp.ended_at:
            moments.append(Moment(comp.ended_at, "comp", "Complimentary access ended early"))
    entries = db.session.scalars(
        select(audit.AuditEntry)
        .where(audit.AuditEntry.subject_id == user.id)
        .order_by(audit.AuditEntry.created_at.desc())
        .limit(limit)
    )
    for entry in entries:
        who = "themselves" if entry.actor_id == user.id else entry.actor_email or "the command line"
        moments.append(Moment(entry.created_at, "staff", f"{entry.action} by {who}"
                              + (f" ({entry.target})" if entry.target else "")))  # fmt: skip
    moments.sort(key=lambda m: m.at, reverse=True)
    return moments[:limit]


def _newest(model: Any, condition: Any, limit: int) -> list[Any]:
    return list(
        db.session.scalars(
            select(model).where(condition).order_by(model.created_at.desc()).limit(limit)
        )
    )


SOURCE_WORDS = {
    "trial": "a free trial",
    "subscription": "their subscription",
    "team": "a team seat",
    "comp": "complimentary access",
    "staff": "the staff role",
}


def _access_words(change: AccessChange) -> str:
    if not change.premium:
        return "Access: none"
    until = f" until {change.until:%-d %B %Y %H:%M} UTC" if change.until else ", no end"
    return f"Access: PRO by {SOURCE_WORDS.get(change.source or '', change.source)}{until}"
