"""What readers do with billing: get a Stripe customer, start Checkout, come back from it, open
the portal. Every create carries an idempotency key derived from our own ids, so a retry or a
double click never makes two of anything."""

from __future__ import annotations

import re
import time
from typing import Any

from flask import current_app

from paywall.accounts.models import User
from paywall.billing import gateway, plans, sync, trials
from paywall.errors import NotFound, ValidationError
from paywall.extensions import db

# Parallel posts within this window share one Checkout Session (same idempotency key).
CHECKOUT_WINDOW_SECONDS = 600


def ensure_customer(user: User) -> str:
    """The user's one Stripe customer, created once and remembered."""
    if user.stripe_customer_id:
        return user.stripe_customer_id
    customer = gateway.call(
        lambda: gateway.client().v1.customers.create(
            {"email": user.email, "metadata": {"user_id": str(user.id)}},
            {"idempotency_key": f"paywall-customer-{user.id}"},
        ),
        "creating a customer",
    )
    user.stripe_customer_id = customer.id
    db.session.flush()
    return customer.id


def price_id(plan: plans.Plan) -> str:
    """Our price for a plan, found by lookup_key (cached per process: prices never change)."""
    cache: dict[str, str] = current_app.extensions.setdefault("stripe_prices", {})
    if plan.key not in cache:
        found = gateway.call(
            lambda: gateway.client().v1.prices.list({"lookup_keys": [plan.key], "active": True}),
            "finding a price",
        )
        if not found.data:
            raise ValidationError(
                f"The {plan.name} plan is not set up in Stripe: run paywall stripe-sync."
            )
        cache[plan.key] = found.data[0].id
    return cache[plan.key]


def start_checkout(user: User, plan_key: str) -> str:
    """A Stripe Checkout URL for this plan, with the free week when the reader may have it."""
    plan = plans.plan(plan_key)
    if plan is None or not plan.self_serve:
        raise ValidationError("There is no such plan.", field="plan")
    customer = ensure_customer(user)
    data: gateway.CheckoutSubscriptionData = {
        "metadata": {"user_id": str(user.id), "plan": plan.key}
    }
    if plan.trial_days and trials.eligible(user):
        data["trial_period_days"] = plan.trial_days
    # Parallel posts share one session: the key names the reader, the plan, the offer and a
    # ten-minute window, so the same request within it replays Stripe's first answer.
    window = int(time.time()) // CHECKOUT_WINDOW_SECONDS
    offer = "trial" if "trial_period_days" in data else "paid"
    key = f"paywall-checkout-{user.id}-{plan.key}-{offer}-{window}"
    session = _create_session(user, plan, customer, data, key)
    if session.status != "open":  # that session was finished or expired: start a fresh one
        session = _create_session(user, plan, customer, data, f"{key}-after-{session.id}")
    return str(session.url)


def _create_session(
    user: User, plan: plans.Plan, customer: str, data: gateway.CheckoutSubscriptionData, key: str
) -> Any:
    base = current_app.config["BASE_URL"]
    return gateway.call(
        lambda: gateway.client().v1.checkout.sessions.create(
            {
                "mode": "subscription",
                "customer": customer,
                "client_reference_id": str(user.id),
                "line_items": [{"price": price_id(plan), "quantity": 1}],
                "subscription_data": data,
                "metadata": {"user_id": str(user.id), "plan": plan.key},
                "success_url": f"{base}/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
                # Checkout's "back" link: /pro then says nothing was bought or charged.
                "cancel_url": f"{base}/pro?checkout=cancelled",
            },
            {"idempotency_key": key},
        ),
        "starting checkout",
    )


# What a Checkout Session id looks like: anything else ("", "../customers") never reaches
# Stripe, where an empty id would be the list endpoint.
SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,250}")


def retrieve_checkout_session(session_id: str, what: str) -> Any:
    """The Checkout Session a success page names, or NotFound."""
    if not SESSION_ID.fullmatch(session_id):
        raise NotFound("This checkout session is not known.")
    try:
        return gateway.call(
            lambda: gateway.client().v1.checkout.sessions.retrieve(session_id), what
        )
    except gateway.StripeRefused:  # an unknown session id
        raise NotFound("This checkout session is not known.") from None


def finish_checkout(user: User, session_id: str) -> Any:
    """Back from Checkout: check the session is this reader's and mirror its subscription now,
    before any webhook arrives."""
    session = retrieve_checkout_session(session_id, "finishing checkout")
    mine = session.client_reference_id == str(user.id) or (
        user.stripe_customer_id and session.customer == user.stripe_customer_id
    )
    if not mine:
        raise NotFound("This checkout session is not known.")
    if session.status != "complete" or not session.subscription:
        return None
    return mirror_checkout_subscription(str(session.subscription))


def mirror_checkout_subscription(subscription_id: str) -> Any:
    """The subscription a completed Checkout made, mirrored now (the success pages). A webhook
    about it may be syncing it at this moment: sync_subscription takes turns with it."""
    return sync.sync_subscription(subscription_id)


def portal_url(user: User) -> str:
    customer = ensure_customer(user)
    session = gateway.call(
        lambda: gateway.client().v1.billing_portal.sessions.create(
            {"customer": customer, "return_url": f"{current_app.config['BASE_URL']}/account"}
        ),
        "opening the billing portal",
    )
    return str(session.url)
