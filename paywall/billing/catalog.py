"""Our products and prices in Stripe, from config; and reconciling subscriptions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from paywall.billing import gateway, plans, sync
from paywall.extensions import db


def sync_catalog() -> Iterator[str]:
    """For each plan: the price with its lookup_key, made or replaced so it matches config."""
    for plan in plans.plans().values():
        yield _sync_plan(plan)


def _sync_plan(plan: plans.Plan) -> str:
    client = gateway.client()
    found = gateway.call(lambda: client.v1.prices.list({"lookup_keys": [plan.key]}), "stripe-sync")
    current = found.data[0] if found.data else None
    if (
        current is not None
        and current.active
        and current.unit_amount == plan.amount
        and current.recurring is not None
        and current.recurring.interval == plan.interval
    ):
        return f"{plan.key}: up to date ({current.id})"
    # Keys name the plan's terms: running twice replays the same creates, never duplicates.
    terms = f"{plan.key}-{plan.amount}-{plan.interval}"
    product = gateway.call(
        lambda: client.v1.products.create(
            {"name": plan.name, "metadata": {"plan": plan.key}},
            {"idempotency_key": f"paywall-product-{terms}"},
        ),
        "stripe-sync",
    )
    price = gateway.call(
        lambda: client.v1.prices.create(
            {
                "product": product.id,
                "currency": "usd",
                "unit_amount": plan.amount,
                "recurring": {"interval": plan.interval},
                "lookup_key": plan.key,
                "transfer_lookup_key": True,
                "nickname": plan.name,
                "metadata": {"plan": plan.key},
            },
            {"idempotency_key": f"paywall-price-{terms}"},
        ),
        "stripe-sync",
    )
    return f"{plan.key}: {'replaced' if current else 'created'} ({price.id})"


def reconcile() -> int:
    """Re-sync every subscription Stripe has, page by page."""
    checked, after = 0, None
    while True:
        page = _page(after)
        for sub in page.data:
            sync.sync_subscription(sub.id)
            db.session.commit()
            checked += 1
        if not page.has_more or not page.data:
            return checked
        after = page.data[-1].id


def _page(after: str | None) -> Any:
    client = gateway.client()
    if after:
        return gateway.call(
            lambda: client.v1.subscriptions.list(
                {"status": "all", "limit": 100, "starting_after": after}
            ),
            "stripe-reconcile",
        )
    return gateway.call(
        lambda: client.v1.subscriptions.list({"status": "all", "limit": 100}), "stripe-reconcile"
    )
