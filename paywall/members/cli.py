"""`paywall members import` and `paywall members export`: members in and out as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import click
from flask.cli import AppGroup

members_cli = AppGroup("members", help="Member imports and exports (CSV).")


@members_cli.command("import")
@click.argument(
    "path", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--dry-run", is_flag=True, help="Check the file and say what would change.")
def import_command(path: Path, dry_run: bool) -> None:
    """Import members from CSV (email, name, comp_until, stripe_customer_id, newsletters).

    The whole file is checked first: a file with any problem imports nothing.
    """
    from paywall.errors import PaywallError
    from paywall.extensions import db
    from paywall.members.imports import import_members

    try:
        with path.open("rb") as source:
            report = import_members(source, path.name, dry_run=dry_run, actor=None)
    except PaywallError as error:
        db.session.rollback()  # Stripe failed part-way: nothing of the file stays
        raise click.ClickException(error.message) from None
    for problem in report.problems:
        click.echo(problem, err=True)
    if report.problems:
        raise click.ClickException(report.summary())
    for line in report.lines():
        click.echo(line)
    if report.imported:
        db.session.commit()
    click.echo(report.summary())


@members_cli.command("export")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-",
              help="File (default: stdout).")  # fmt: skip
def export_command(output: TextIO) -> None:
    """Write every member as CSV, with their comps, newsletters and access."""
    from paywall.members.exports import export_csv

    for chunk in export_csv():
        output.write(chunk)
