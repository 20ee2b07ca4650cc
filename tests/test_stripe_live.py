"""The emulator's contract checks against Stripe test mode itself, so the emulator stays honest.

Runs only with STRIPE_SECRET_KEY=sk_test_… in the environment (and network access to Stripe);
skipped otherwise. Everything it creates is tagged and lives in test mode only."""

from __future__ import annotations

import os

import pytest
import stripe

from tests.stripe_contract import CHECKS, tag

pytestmark = pytest.mark.stripe_live


@pytest.fixture
def live_client() -> stripe.StripeClient:
    return stripe.StripeClient(os.environ["STRIPE_SECRET_KEY"], max_network_retries=2)


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_contract_against_stripe_test_mode(live_client, check) -> None:  # type: ignore[no-untyped-def]
    check(live_client, tag())
