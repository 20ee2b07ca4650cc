"""Test cards, as in Stripe test mode (https://docs.stripe.com/testing).

A card's `_behaviour` says what happens when it is charged: `ok`, `charge_fails` (attaches, then
every charge is declined) or it is refused outright when entered. Fingerprints are derived from
the number, so the same card gives the same fingerprint every time, as Stripe's do.
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


CARDS = {
    "4242424242424242": TestCard("visa", "ok"),
    "4000056655665556": TestCard("visa", "ok"),
    "5555555555554444": TestCard("mastercard", "ok"),
    "378282246310005": TestCard("amex", "ok"),
    "4000000000000341": TestCard("visa", "charge_fails", "generic_decline"),
    "4000000000009995": TestCard("visa", "declined", "insufficient_funds"),
    "4000000000000002": TestCard("visa", "declined", "generic_decline"),
    "4000000000000069": TestCard("visa", "declined", "expired_card"),
}
# Stripe's test PaymentMethod ids, usable wherever a payment method is expected.
TOKENS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclined": "4000000000000002",
}
DECLINE_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "generic_decline": "Your card was declined.",
    "expired_card": "Your card has expired.",
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
    return CardError(
        DECLINE_MESSAGES.get(decline_code, "Your card was declined."),
        code="card_declined",
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


def charge(store: Store, payment_method_id: str | None) -> str | None:
    """Charge a stored card: None when it succeeds, else the decline code."""
    if not payment_method_id or payment_method_id not in store.objects:
        return "no_payment_method"
    method = store.objects[payment_method_id]
    if method.get("_behaviour") == "ok":
        return None
    return str(method.get("_decline_code") or "generic_decline")
