"""One trial per person: by account, by normalised email, and by card fingerprint.

The email rule: lower-cased; a `+tag` after the local part is dropped for every domain; for
gmail.com and googlemail.com the dots in the local part are dropped too and googlemail.com
counts as gmail.com. So `Jane.Doe+news@GoogleMail.com` and `janedoe@gmail.com` are one person.
"""

from __future__ import annotations

from sqlalchemy import select

from paywall import clock
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


def record(user: User, stripe_subscription_id: str, fingerprint: str | None) -> bool:
    """Note that this user started a trial; False when the card already had a trial elsewhere."""
    if user.trial_used_at is None:
        user.trial_used_at = clock.now()
    if claim_for("email", email_key(user.email)) is None:
        db.session.add(
            TrialClaim(
                kind="email",
                value=email_key(user.email),
                user_id=user.id,
                stripe_subscription_id=stripe_subscription_id,
            )
        )
    if not fingerprint:
        return True
    card = claim_for("card", fingerprint)
    if card is None:
        db.session.add(
            TrialClaim(
                kind="card",
                value=fingerprint,
                user_id=user.id,
                stripe_subscription_id=stripe_subscription_id,
            )
        )
        db.session.flush()
        return True
    return card.stripe_subscription_id == stripe_subscription_id
