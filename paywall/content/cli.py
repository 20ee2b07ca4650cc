"""`paywall content …` commands."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from paywall.extensions import db

content_cli = AppGroup("content", help="Articles, memos, reports and the rest.")


@content_cli.command("import")
@click.argument("paths", nargs=-1, required=True)
def import_command(paths: tuple[str, ...]) -> None:
    """Import Markdown files with YAML front matter (or directories of them); updates by slug."""
    from paywall.content.importer import import_paths

    report = import_paths(list(paths))
    db.session.commit()
    for line in report.imported:
        click.echo(f"imported {line}")
    for problem in report.problems:
        click.echo(problem, err=True)
    if report.problems:
        click.echo(
            f"{len(report.problems)} file(s) not imported, {len(report.imported)} imported",
            err=True,
        )
        sys.exit(1)
