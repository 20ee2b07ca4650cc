"""The one place that imports `stripe`: a StripeClient built from config, Stripe's errors
turned into ours, and webhook verification.

With no key configured the settings point at the offline emulator (CONTRACT.md), so this
module never needs to know which one it is talking to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import stripe
from flask import current_app
from stripe.params.checkout import SessionCreateParamsSubscriptionData

from paywall.errors import PaywallError

log = logging.getLogger(__name__)
T = TypeVar("T")

SignatureVerificationError = stripe.SignatureVerificationError
CheckoutSubscriptionData = SessionCreateParamsSubscriptionData
# Network retries reuse the request's idempotency key, so a retried create never makes two.
MAX_NETWORK_RETRIES = 2


class StripeUnavailable(PaywallError):
    """Stripe could not be reached or failed (5xx, 429, timeout): the reader may try again."""

    status = 503
    code = "payments_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "Payments are not answering right now. Nothing was charged; please try again in a "
            "minute."
        )


class StripeRefused(PaywallError):
    """Stripe refused the request itself (an unknown id, a canceled subscription, an
    idempotency key reused with other parameters): nothing happened in Stripe. Answered 409
    with a message for people; Stripe's own words go to the log."""

    status = 409
    code = "payments_refused"

    def __init__(self, stripe_code: str | None = None) -> None:
        super().__init__(
            "Payments refused this change, so nothing was charged or changed. Please reload the "
            "page; if it happens again, write to us."
        )
        self.stripe_code = stripe_code


def client() -> stripe.StripeClient:
    """One client per app (it keeps an HTTP connection pool)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    built: stripe.StripeClient | None = app.extensions.get("stripe_client")
    if built is None:
        base = app.config.get("STRIPE_API_BASE")
        built = stripe.StripeClient(
            app.config["STRIPE_SECRET_KEY"],
            base_addresses={"api": base} if base else {},
            max_network_retries=MAX_NETWORK_RETRIES,
            http_client=stripe.RequestsClient(timeout=float(app.config["STRIPE_TIMEOUT_SECONDS"])),
        )
        app.extensions["stripe_client"] = built
    return built


def call(action: Callable[[], T], what: str) -> T:
    """Run one Stripe call, turning outages into StripeUnavailable and refusals into
    StripeRefused (both logged with `what`), so no Stripe error reaches a page as a 500."""
    try:
        return action()
    except (stripe.InvalidRequestError, stripe.IdempotencyError) as error:
        log.warning("stripe refused %s: %s", what, error)
        raise StripeRefused(getattr(error, "code", None)) from error
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        log.error("stripe unavailable during %s: %s", what, error)
        raise StripeUnavailable() from error
    except stripe.APIError as error:
        log.error("stripe failed during %s: %s", what, error)
        raise StripeUnavailable() from error


def construct_event(payload: bytes, signature: str | None, tolerance: int = 300) -> stripe.Event:
    """Verify a delivery's signature (and its 300-second tolerance) and parse the event."""
    secret = current_app.config["STRIPE_WEBHOOK_SECRET"]
    event: stripe.Event = stripe.Webhook.construct_event(
        payload, signature or "", secret, tolerance=tolerance
    )
    return event
