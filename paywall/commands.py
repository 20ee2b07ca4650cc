"""The project's own commands, added to Flask's CLI by create_app (paywall.cli runs them)."""

from __future__ import annotations

import click
from flask import Flask, current_app

from paywall.accounts.service import create_admin as create
from paywall.billing.cli import events_cli, stripe_reconcile, stripe_sync
from paywall.content.cli import content_cli
from paywall.extensions import db
from paywall.mail import worker as mail_worker
from paywall.members.cli import members_cli
from paywall.newsletters.cli import newsletters_cli
from paywall.teams.cli import teams_cli


def register_commands(app: Flask) -> None:
    for command in (
        content_cli,
        newsletters_cli,
        create_admin,
        seed_demo,
        worker,
        stripe_emulator,
        stripe_sync,
        stripe_reconcile,
        events_cli,
        teams_cli,
        members_cli,
    ):
        app.cli.add_command(command)


@click.command("create-admin")
@click.argument("email")
@click.option("--password", help="Set (or reset) the password.")
def create_admin(email: str, password: str | None) -> None:
    """Create a staff admin, or promote an existing account."""
    user, created = create(email, password)
    db.session.commit()
    click.echo(f"{'Created' if created else 'Promoted'} admin {user.email}")


@click.command("seed-demo")
def seed_demo() -> None:
    """Demo accounts (and later demo content); safe to run twice."""
    # Imported when run: every app registers this command, few ever seed.
    from paywall.demo import seed

    for line in seed():
        click.echo(line)


@click.command("worker")
@click.option("--once", is_flag=True, help="Drain what is due now, then exit.")
def worker(once: bool) -> None:
    """Send queued mail, run queued jobs and periodic tasks until stopped."""
    if once:
        ran, done = mail_worker.run_once()
        click.echo(f"worker: {done} done, {ran} periodic tasks run")
        return
    mail_worker.run_forever()


@click.command("stripe-emulator")
@click.option("--port", default=12111, show_default=True, help="Port on 127.0.0.1.")
@click.option("--state", "state_path", help="Keep state in this JSON file across restarts.")
@click.option(
    "--webhook-url", help="Where to deliver webhooks (default: BASE_URL/webhooks/stripe)."
)
@click.option("--webhook-secret", help="Signing secret (default: STRIPE_WEBHOOK_SECRET).")
def stripe_emulator(
    port: int, state_path: str | None, webhook_url: str | None, webhook_secret: str | None
) -> None:
    """The offline Stripe emulator (development and tests only; binds 127.0.0.1)."""
    # Imported when run: the app itself never loads the emulator's server.
    from paywall.devstripe.server import serve
    from paywall.devstripe.webhooks import DEFAULT_SECRET

    config = current_app.config
    if config["ENV_NAME"] == "production":
        raise click.ClickException("the Stripe emulator never runs under the production config")
    serve(
        port,
        webhook_url=webhook_url or f"{config['BASE_URL']}/webhooks/stripe",
        webhook_secret=webhook_secret or config.get("STRIPE_WEBHOOK_SECRET") or DEFAULT_SECRET,
        state_path=state_path,
    )
