"""Who may read premium content: one pure decision over a user's grants, and nothing else.

A grant is one reason to have premium access (staff role, complimentary grant, trial,
subscription, team seat) with the time it ends, or None for no end. paywall.entitlements asks
every package that gives grants for them and stores the decision on the user row whenever a
grant changes, so a page view needs no query to decide access: `effective()` only checks that
the stored answer has not run out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

# The kind of grant, as registered with paywall.entitlements ("staff", "comp", "trial", ...).
Source = str


@dataclass(frozen=True)
class Grant:
    source: Source
    until: datetime | None


@dataclass(frozen=True)
class Access:
    premium: bool
    source: Source | None
    until: datetime | None

    def as_json(self) -> dict[str, object]:
        """The `access` object of /api/v1/me."""
        return {
            "premium": self.premium,
            "source": self.source,
            "until": self.until.isoformat().replace("+00:00", "Z") if self.until else None,
        }


NO_ACCESS = Access(premium=False, source=None, until=None)

# Stripe subscription statuses (https://docs.stripe.com/api/subscriptions/object#subscription_object-status).
KNOWN_STATUSES = frozenset({"trialing", "active", "past_due", "canceled", "unpaid", "incomplete",
                            "incomplete_expired", "paused"})  # fmt: skip


def subscription_grant(status: str, period_end: datetime | None, past_due_since: datetime | None,
                       grace: timedelta) -> Grant | None:  # fmt: skip
    """The access a subscription in this state gives, by our policy:

    - `trialing` and `active` (also when set to cancel at period end): until the period ends;
    - `past_due`: for the grace period, counted from when it became past due;
    - every other status, known or not: nothing.
    """
    if status == "trialing" and period_end:
        return Grant(source="trial", until=period_end)
    if status == "active" and period_end:
        return Grant(source="subscription", until=period_end)
    if status == "past_due" and past_due_since:
        return Grant(source="subscription", until=past_due_since + grace)
    return None


def team_grant(billing: str, paid_until: datetime | None,
               subscription: Grant | None) -> Grant | None:  # fmt: skip
    """A team seat: a manual team while it is paid up; any other team while its subscription
    gives access by the same policy as a member's own (an invoice team until its overdue
    invoice is past the grace days)."""
    if billing == "manual":
        return Grant(source="team", until=paid_until) if paid_until else None
    return Grant(source="team", until=subscription.until) if subscription else None


def decide(grants: Iterable[Grant], now: datetime, rank: Callable[[Source], int]) -> Access:
    """Premium if any grant is still running; name the one that lasts longest, and of those
    that last equally long the more deliberate one (the higher `rank`)."""
    running = [g for g in grants if g.until is None or g.until > now]
    if not running:
        return NO_ACCESS
    best = max(running, key=lambda g: (g.until is None, g.until or now, rank(g.source)))
    return Access(premium=True, source=best.source, until=best.until)


def effective(stored: Access, now: datetime) -> Access:
    """The stored decision as it stands now: a grant that has run out gives nothing."""
    if stored.premium and (stored.until is None or stored.until > now):
        return stored
    return NO_ACCESS


# What a reader may see of one item. Everything that shows content asks this, and nothing else.
AccessLevel = Literal["public", "registered", "premium"]
Reading = Literal["full", "metered", "teaser"]
Offer = Literal["signup", "trial", "subscribe", "renew"]


@dataclass(frozen=True)
class Reader:
    """Who is reading, as far as access goes: built from the user row, no query needed."""

    signed_in: bool
    access: Access
    trial_used: bool = False
    lapsed: bool = False


VISITOR = Reader(signed_in=False, access=NO_ACCESS)


def may_read(level: AccessLevel | str, reader: Reader) -> bool:
    """Whether the reader gets the whole item, before any metered free read."""
    if level == "public":
        return True
    if level == "registered":
        return reader.signed_in or reader.access.premium
    # "premium", and any level we do not know, which is treated as the strictest.
    return reader.access.premium


def reading(level: AccessLevel | str, reader: Reader, meter_left: int) -> Reading:
    """Full text, full text on the meter (premium items only), or the teaser and a wall."""
    if may_read(level, reader):
        return "full"
    if level == "premium" and meter_left > 0:
        return "metered"
    return "teaser"


def offer_for(level: AccessLevel | str, reader: Reader) -> Offer:
    """What the wall offers: sign up (registered items), a trial, a plain subscription, renewal."""
    if level == "registered" and not reader.signed_in:
        return "signup"
    if reader.lapsed:
        return "renew"
    if reader.trial_used:
        return "subscribe"
    return "trial"
