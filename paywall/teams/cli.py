"""`paywall teams create`: onboard a team plan, as the admin screen does."""

from __future__ import annotations

import click
from flask.cli import AppGroup

teams_cli = AppGroup("teams", help="Team plans.")


@teams_cli.command("create")
@click.option("--name", required=True, help="The team's name.")
@click.option("--seats", required=True, type=int, help="Seats paid for.")
@click.option("--manager", required=True, help="The team manager's email (invited by mail).")
@click.option(
    "--billing",
    type=click.Choice(["invoice", "card", "manual"]),
    default="invoice",
    show_default=True,
)
@click.option("--domain", "domains", multiple=True, help="An allowed email domain (repeatable).")
@click.option(
    "--manager-seat/--no-manager-seat",
    default=True,
    show_default=True,
    help="Whether the manager takes one of the paid seats.",
)
def create(
    name: str, seats: int, manager: str, billing: str, domains: tuple[str, ...], manager_seat: bool
) -> None:
    """Onboard a team: billing in Stripe (or manual), and the manager's invitation."""
    from paywall.errors import PaywallError
    from paywall.extensions import db
    from paywall.teams.onboarding import Onboarding, create_team

    try:
        spec = Onboarding(
            name, seats, manager, billing, ",".join(domains), manager_takes_seat=manager_seat
        )
        team = create_team(spec, staff=None)
    except PaywallError as error:  # bad input, and Stripe refusing or not answering
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(
        f"Created team {team.id} {team.name!r}: {team.seats} seats, {team.billing} billing; "
        f"invited {manager.strip().lower()} to manage it."
    )
