"""`paywall stripe-sync`, `paywall events replay`, `paywall stripe-reconcile`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from paywall.extensions import db

events_cli = AppGroup("events", help="Stored Stripe events.")


@click.command("stripe-sync")
def stripe_sync() -> None:
    """Create or update our Stripe products and prices, found by lookup_key; safe to run twice."""
    from paywall.billing.catalog import sync_catalog

    for line in sync_catalog():
        click.echo(line)


@events_cli.command("replay")
@click.option("--failed", "failed_only", is_flag=True, help="Only events whose handling failed.")
@click.option("--id", "event_id", help="One event, by its evt_ id.")
def replay(failed_only: bool, event_id: str | None) -> None:
    """Re-apply stored Stripe events (they re-read Stripe, so this is safe)."""
    from paywall.billing.models import StripeEvent
    from paywall.billing.webhooks import replay as run

    if event_id and db.session.get(StripeEvent, event_id) is None:
        raise click.ClickException(f"no stored event {event_id!r}")
    outcomes = run(failed_only=failed_only, event_id=event_id)
    for stored_id, outcome in outcomes:
        click.echo(f"{stored_id}: {outcome}")
    failed = sum(1 for _, outcome in outcomes if outcome.startswith("failed"))
    click.echo(f"{len(outcomes)} event(s) replayed, {failed} failed.")
    if failed:
        raise SystemExit(1)


@click.command("stripe-reconcile")
def stripe_reconcile() -> None:
    """List every subscription in Stripe and repair local state (after lost deliveries)."""
    from paywall.billing.catalog import reconcile

    click.echo(f"{reconcile()} subscription(s) checked.")
