"""`paywall newsletters …` commands."""

from __future__ import annotations

from typing import TextIO

import click
from flask.cli import AppGroup

newsletters_cli = AppGroup("newsletters", help="Free newsletter lists.")


def _known(slug: str) -> str:
    from paywall.newsletters.lists import NEWSLETTERS

    if slug not in NEWSLETTERS:
        raise click.ClickException(
            f"no newsletter called {slug!r} (one of: {', '.join(NEWSLETTERS)})"
        )
    return slug


@newsletters_cli.command("export")
@click.argument("slug")
@click.option("--output", "-o", type=click.File("w"), default="-", help="File (default: stdout).")
def export_command(slug: str, output: TextIO) -> None:
    """Write the confirmed subscribers of one list as CSV (email, subscribed_at)."""
    from paywall.newsletters.admin import csv_lines

    for chunk in csv_lines(_known(slug)):
        output.write(chunk)


@newsletters_cli.command("send")
@click.argument("slug")
@click.argument("issue", type=click.File("r", encoding="utf-8"))
@click.option("--subject", required=True, help="The subject line of the issue.")
def send_command(slug: str, issue: TextIO, subject: str) -> None:
    """Queue an issue (a Markdown file) to every confirmed subscriber of a list.

    The worker sends it; each mail carries its own one-click unsubscribe link.
    """
    from paywall.content.markdown import render
    from paywall.extensions import db
    from paywall.mail.headers import is_one_line
    from paywall.newsletters.service import send_issue

    markdown = issue.read()  # Markdown reads well as it is: it is the plain-text part
    if not markdown.strip():
        raise click.ClickException(f"{issue.name}: the issue is empty")
    if not is_one_line(subject):  # no mail could carry it: every one would fail
        raise click.ClickException("--subject must be one line of text")
    queued = send_issue(_known(slug), subject.strip(), markdown, render(markdown))
    db.session.commit()
    click.echo(f"Queued {queued} mail(s) to {slug} subscribers.")
