"""Test cards, as in Stripe test mode (https://docs.stripe.com/testing).

A card's `_behaviour` says what happens when it is charged: `ok`, `charge_fails` (attaches, then
every charge is declined) or it is refused outright when entered. Fingerprints are derived from
the number, so the same card gives the same fingerprint every time, as Stripe's do.

3-D Secure (https://docs.stripe.com/testing#regulatory-cards): a card's `_authentication` is
`unless_set_up` (4000 0025 0000 3155: authenticated once when it is saved for later, as
Checkout saves it, its off-session charges then go through; never saved that way, every charge
needs the cardholder) or `always` (4000 0027 6000 3184: every charge needs the cardholder,
renewals included). A charge that needs the cardholder, made without them, is refused with
`authentication_required`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from paywall.devstripe.errors import CardError, InvalidRequest
from paywall.devstripe.store import Store


@dataclass(frozen=True)
class TestCard:
    brand: str
    behaviour: str  # ok | charge_fails | declined
    decline_code: str | None = None
    authentication: str | None = None  # None | unless_set_up | always (3-D Secure)


CARDS = {
    "4242424242424242": TestCard("visa", "ok"),
    "4000056655665556": TestCard("visa", "ok"),
    "5555555555554444": TestCard("mastercard", "ok"),
    "378282246310005": TestCard("amex", "ok"),
    "4000000000000341": TestCard("visa", "charge_fails", "generic_decline"),
    "4000000000009995": TestCard("visa", "declined", "insufficient_funds"),
    "4000000000000002": TestCard("visa", "declined", "generic_decline"),
    "4000000000000069": TestCard("visa", "declined", "expired_card"),
    "4000002500003155": TestCard("visa", "ok", authentication="unless_set_up"),
    "4000002760003184": TestCard("visa", "ok", authentication="always"),
}
# Stripe's test PaymentMethod ids, usable wherever a payment method is expected.
TOKENS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_authenticationRequired": "4000002760003184",
}
# The decline code of a charge that needs the cardholder to authenticate (3-D Secure).
AUTHENTICATION_REQUIRED = "authentication_required"
DECLINE_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "generic_decline": "Your card was declined.",
    "expired_card": "Your card has expired.",
    AUTHENTICATION_REQUIRED: "Your card was declined. This transaction requires authentication.",
}


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


def check_card(
    number: str, exp: str, cvc: str, now_year: int, now_month: int
) -> tuple[str, int, int]:
    """The digits and expiry of a card typed on a hosted page, or a CardError as Stripe words it."""
    digits = re.sub(r"[\s-]", "", number or "")
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn_ok(digits):
        raise CardError(
            "Your card number is incorrect.", param="card_number", code="incorrect_number"
        )
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", exp or "")
    if not match or not 1 <= int(match.group(1)) <= 12:
        raise CardError(
            "Your card's expiration date is incomplete.", param="card_exp", code="incomplete_expiry"
        )
    month, year = int(match.group(1)), int(match.group(2))
    year = year + 2000 if year < 100 else year
    if (year, month) < (now_year, now_month):
        raise CardError(
            "Your card's expiration year is in the past.",
            param="card_exp",
            code="invalid_expiry_year",
        )
    if not re.fullmatch(r"\d{3,4}", (cvc or "").strip()):
        raise CardError(
            "Your card's security code is incomplete.", param="card_cvc", code="incomplete_cvc"
        )
    card = CARDS.get(digits)
    if card is None:
        raise CardError(
            "Your card was declined. Your request was in test mode, but used a non test card.",
            param="card_number",
            code="card_declined",
            decline_code="test_mode_live_card",
        )
    if card.behaviour == "declined":
        raise decline(card.decline_code or "generic_decline")
    return digits, month, year


def decline(decline_code: str) -> CardError:
    # Stripe names a charge refused for want of 3-D Secure by its own code, not card_declined.
    code = decline_code if decline_code == AUTHENTICATION_REQUIRED else "card_declined"
    return CardError(
        DECLINE_MESSAGES.get(decline_code, "Your card was declined."),
        code=code,
        decline_code=decline_code,
    )


def create_payment_method(
    store: Store,
    number: str,
    month: int,
    year: int,
    email: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    card = CARDS[number]
    fingerprint = hashlib.sha256(f"devstripe-card:{number}".encode()).hexdigest()[:16]
    return store.add(
        "payment_method",
        {
            "type": "card",
            "card": {
                "brand": card.brand,
                "last4": number[-4:],
                "exp_month": month,
                "exp_year": year,
                "fingerprint": fingerprint,
                "funding": "credit",
                "country": "US",
                "display_brand": card.brand,
            },
            "billing_details": {"email": email, "name": None, "address": None, "phone": None},
            "customer": None,
            "metadata": {},
            "allow_redisplay": "unspecified",
            "_behaviour": card.behaviour,
            "_decline_code": card.decline_code,
            "_authentication": card.authentication,
            "_set_up": False,  # authenticated for later off-session charges (3-D Secure)
        },
        created=created,
    )


def from_token(store: Store, token: str) -> dict[str, Any]:
    """A new PaymentMethod for one of Stripe's test tokens, as attaching `pm_card_visa` does."""
    number = TOKENS.get(token)
    if number is None:
        raise InvalidRequest(
            f"No such PaymentMethod: '{token}'", param="payment_method", code="resource_missing"
        )
    card = CARDS[number]
    if card.behaviour == "declined":
        raise decline(card.decline_code or "generic_decline")
    return create_payment_method(store, number, 12, 2034)


def needs_authentication(method: dict[str, Any]) -> bool:
    """Whether charging this card without the cardholder would need 3-D Secure."""
    wanted = method.get("_authentication")
    return wanted == "always" or (wanted == "unless_set_up" and not method.get("_set_up"))


def charge(
    store: Store, payment_method_id: str | None, *, authenticated: bool = False
) -> str | None:
    """Charge a stored card: None when it succeeds, else the decline code. `authenticated`:
    the cardholder has just passed 3-D Secure for this charge (on a hosted page)."""
    if not payment_method_id or payment_method_id not in store.objects:
        return "no_payment_method"
    method = store.objects[payment_method_id]
    if method.get("_behaviour") != "ok":
        return str(method.get("_decline_code") or "generic_decline")
    if needs_authentication(method) and not authenticated:
        return AUTHENTICATION_REQUIRED
    return None
