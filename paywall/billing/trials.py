"""One trial per person: by account, by normalised email, and by card fingerprint.

The email rule: the address's canonical spelling (paywall.accounts.emails: NFKC, case-folded,
the domain in IDNA form); a `+tag` after the local part is dropped for every domain; for
gmail.com and googlemail.com the dots in the local part are dropped too and googlemail.com
counts as gmail.com. So `Jane.Doe+news@GoogleMail.com` and `janedoe@gmail.com` are one person.
The rules are checked when checkout starts (`eligible`) and again when the trial is recorded
(`record`), since two accounts of one person can both be in Checkout at once.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select

from paywall import clock, upsert
from paywall.accounts.emails import canonical_address
from paywall.accounts.models import User
from paywall.billing.models import TrialClaim
from paywall.extensions import db

GMAIL = {"gmail.com", "googlemail.com"}


def email_key(email: str) -> str:
    # On the canonical spelling, so look-alikes (full-width, bold, upper-case letters, a
    # Unicode domain) are one person before the +tag and Gmail rules apply.
    local, _, domain = canonical_address(email).rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def claim_for(kind: str, value: str) -> TrialClaim | None:
    found: TrialClaim | None = db.session.scalar(
        select(TrialClaim).where(TrialClaim.kind == kind, TrialClaim.value == value)
    )
    return found


def eligible(user: User) -> bool:
    """Whether checkout may offer this reader the free week (the card is checked after)."""
    if user.trial_used_at is not None:
        return False
    claim = claim_for("email", email_key(user.email))
    return claim is None or claim.user_id == user.id


# Why a trial was refused after it started: its address or its card had one already.
Refusal = Literal["email", "card"]


def record(user: User, stripe_subscription_id: str, fingerprint: str | None) -> Refusal | None:
    """Note that this user started a trial, and check it again now that it exists: checkout
    looked only before payment, and two accounts can race through it. Returns the rule the
    trial breaks, or None when it stands.

    The claims are made race-safe (INSERT … ON CONFLICT DO NOTHING on the unique kind and
    value): whoever inserts first holds a claim, everyone after finds it."""
    if user.trial_used_at is None:
        user.trial_used_at = clock.now()
    email = _claim("email", email_key(user.email), user, stripe_subscription_id)
    card = _claim("card", fingerprint, user, stripe_subscription_id) if fingerprint else None
    if email.user_id != user.id:  # another account (or a deleted one) had this address's trial
        return "email"
    if card is not None and card.stripe_subscription_id != stripe_subscription_id:
        return "card"
    return None


def _claim(kind: str, value: str, user: User, stripe_subscription_id: str) -> TrialClaim:
    """The claim on (kind, value): made now for this trial unless one exists."""
    upsert.insert_missing(
        TrialClaim,
        ["kind", "value"],
        {"kind": kind, "value": value, "user_id": user.id,
         "stripe_subscription_id": stripe_subscription_id},
    )  # fmt: skip
    claim = claim_for(kind, value)
    assert claim is not None  # made just now, or already there
    return claim
