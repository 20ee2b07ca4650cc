"""The `paywall` command: Flask's CLI with this app, plus the project's own commands."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup

from paywall.errors import PaywallError
from paywall.extensions import db
from paywall.settings import ConfigError


def register_commands(app: Flask) -> None:
    from paywall.content.cli import content_cli
    from paywall.newsletters.cli import newsletters_cli

    app.cli.add_command(content_cli)
    app.cli.add_command(newsletters_cli)
    app.cli.add_command(create_admin)
    app.cli.add_command(seed_demo)
    app.cli.add_command(worker)
    app.cli.add_command(stripe_emulator)
    from paywall.billing.cli import events_cli, stripe_reconcile, stripe_sync

    app.cli.add_command(stripe_sync)
    app.cli.add_command(stripe_reconcile)
    app.cli.add_command(events_cli)
    from paywall.teams.cli import teams_cli

    app.cli.add_command(teams_cli)
    from paywall.members.cli import members_cli

    app.cli.add_command(members_cli)


@click.command("create-admin")
@click.argument("email")
@click.option("--password", help="Set (or reset) the password.")
def create_admin(email: str, password: str | None) -> None:
    """Create a staff admin, or promote an existing account."""
    from paywall.accounts.service import create_admin as create

    user, created = create(email, password)
    db.session.commit()
    click.echo(f"{'Created' if created else 'Promoted'} admin {user.email}")


@click.command("seed-demo")
def seed_demo() -> None:
    """Demo accounts (and later demo content); safe to run twice."""
    from paywall.demo import seed

    for line in seed():
        click.echo(line)


@click.command("worker")
@click.option("--once", is_flag=True, help="Drain what is due now, then exit.")
def worker(once: bool) -> None:
    """Send queued mail, run queued jobs and periodic tasks until stopped."""
    from paywall.mail import worker as mail_worker

    if once:
        ran, done = mail_worker.run_once()
        click.echo(f"worker: {done} done, {ran} periodic tasks run")
        return
    mail_worker.run_forever()


def _cli() -> FlaskGroup:
    from paywall import create_app

    return FlaskGroup(create_app=lambda: create_app(), help="The paywall command.")


def main() -> None:
    """Console script. Bad input ends with one clear line on stderr and a non-zero exit."""
    try:
        _cli().main(standalone_mode=False, prog_name="paywall")
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as error:
        click.echo(f"paywall: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    except (ConfigError, PaywallError) as error:
        click.echo(f"paywall: {error}", err=True)
        sys.exit(1)


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
    from flask import current_app

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
