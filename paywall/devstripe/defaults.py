"""Fields Stripe always sends that the emulator has no behaviour behind (tax, discounts,
shipping, credit notes, custom fields): their "nothing here" values, so every object has each
field stripe-python's resource class says Stripe always sends (tests/test_emulator_fidelity.py).
"""

from __future__ import annotations

import copy
from typing import Any

AUTOMATIC_TAX_OFF = {"enabled": False, "liability": None, "disabled_reason": None}
ISSUED_BY_US = {"type": "self"}

BY_KIND: dict[str, dict[str, Any]] = {
    "subscription": {
        "automatic_tax": AUTOMATIC_TAX_OFF,
        # What the emulator does is classic billing (prorations by the second, one anchor).
        "billing_mode": {"type": "classic", "flexible": None, "updated_at": None},
        "billing_schedules": [],
        "discounts": [],
        "invoice_settings": {"account_tax_ids": None, "issuer": ISSUED_BY_US},
    },
    "invoice": {
        "amount_overpaid": 0,
        "amount_shipping": 0,
        "automatic_tax": {**AUTOMATIC_TAX_OFF, "provider": None, "status": None},
        "default_tax_rates": [],
        "discounts": [],
        "issuer": ISSUED_BY_US,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "starting_balance": 0,
    },
    "checkout.session": {
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "payment_method_types": ["card"],
        "shipping_options": [],
    },
    "product": {"marketing_features": []},
    "setup_intent": {"payment_method_types": ["card"]},
}
INVOICE_LINE = {"discountable": True, "discounts": []}
CHECKOUT_LINE = {"amount_discount": 0, "amount_tax": 0}
# Stripe's SubscriptionItem is the one object here without `livemode`.
WITHOUT_LIVEMODE = frozenset({"subscription_item"})


def for_kind(kind: str) -> dict[str, Any]:
    """A fresh copy of a kind's defaults (objects are changed in place later)."""
    return copy.deepcopy(BY_KIND.get(kind, {}))
