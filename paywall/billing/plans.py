"""The plans we sell, from config (`PLANS`). Prices in Stripe are found by `lookup_key`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app


@dataclass(frozen=True)
class Plan:
    key: str  # also the Stripe price's lookup_key
    name: str
    amount: int  # cents per unit per interval
    interval: str
    trial_days: int
    per_seat: bool
    self_serve: bool  # readers can buy it from /pro

    @property
    def price_text(self) -> str:
        unit = " per seat" if self.per_seat else ""
        return f"{money(self.amount)}{unit} a {self.interval}"


def money(cents: int) -> str:
    """Dollars as readers see them: $1,234.50."""
    return f"${cents / 100:,.2f}"


def day(moment: datetime | None) -> str:
    """A date as readers see it: 2 December 2026."""
    return moment.strftime("%-d %B %Y") if moment else ""


def plans() -> dict[str, Plan]:
    configured: dict[str, dict[str, Any]] = current_app.config["PLANS"]
    return {key: Plan(key=key, **spec) for key, spec in configured.items()}


def plan(key: str | None) -> Plan | None:
    return plans().get(key or "")


def by_lookup_key(lookup_key: str | None) -> Plan | None:
    """Our plan for a Stripe price's lookup_key; None for any price that is not ours."""
    return plans().get(lookup_key or "")


def past_due_grace() -> timedelta:
    """How long a past-due subscription (or a team's) keeps access: PAST_DUE_GRACE_DAYS."""
    return timedelta(days=int(current_app.config["PAST_DUE_GRACE_DAYS"]))


_DASHBOARD_PATHS = {"cus": "customers", "sub": "subscriptions", "in": "invoices", "evt": "events"}


def dashboard_url(object_id: str | None) -> str | None:
    """The Stripe dashboard page for a customer, subscription, invoice or event id (test-mode
    pages when the key is a test key, as the emulator's is)."""
    kind = (object_id or "").partition("_")[0]
    if kind not in _DASHBOARD_PATHS:
        return None
    mode = "" if str(current_app.config["STRIPE_SECRET_KEY"]).startswith("sk_live_") else "test/"
    return f"https://dashboard.stripe.com/{mode}{_DASHBOARD_PATHS[kind]}/{object_id}"
