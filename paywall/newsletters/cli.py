"""`paywall newsletters …` commands."""

from __future__ import annotations

from datetime import timedelta
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
    from paywall.newsletters.mailings import send_free_issue
    from paywall.newsletters.service import counts

    markdown = issue.read()  # Markdown reads well as it is: it is the plain-text part
    if not markdown.strip():
        raise click.ClickException(f"{issue.name}: the issue is empty")
    if not is_one_line(subject):  # no mail could carry it: every one would fail
        raise click.ClickException("--subject must be one line of text")
    mailing, made = send_free_issue(_known(slug), subject.strip(), markdown, render(markdown))
    db.session.commit()
    if not made:
        click.echo(f"This issue was queued to {slug} before (mailing {mailing.id}): nothing "
                   "queued, so no subscriber gets it twice.")  # fmt: skip
        return
    click.echo(f"Queued {counts()[slug]} mail(s) to {slug} subscribers (mailing {mailing.id}).")


@newsletters_cli.command("weekly-review")
@click.option("--now", "now_", is_flag=True,
              help="Send it now, even outside the scheduled hour (WEEKLY_REVIEW_AT).")  # fmt: skip
def weekly_review_command(now_: bool) -> None:
    """Send the members' weekly review for the current period, once per period.

    The worker does this on its own at WEEKLY_REVIEW_AT; this takes the same once-per-period
    claim, so it never sends a period's review twice, whoever runs it.
    """
    from flask import current_app

    from paywall import clock, scheduler
    from paywall.extensions import db
    from paywall.newsletters.mailings import start_weekly_review

    moment = clock.now()
    window = scheduler.WEEKLY_REVIEW.window(moment, current_app.config)
    if not now_ and moment >= window.start + timedelta(hours=1):
        at, zone = current_app.config["WEEKLY_REVIEW_AT"], current_app.config["TIMEZONE"]
        click.echo(f"Not sent: the weekly review goes out at {at} ({zone}), and it is not "
                   "that hour now. Use --now to send it now.")  # fmt: skip
        return
    until = moment if now_ else window.start

    def task() -> str:
        return start_weekly_review(until, window.key)[0].key

    entry = scheduler.Entry("weekly-review", scheduler.WEEKLY_REVIEW, task)
    if not scheduler.claim(entry.name, window, scheduler.worker_name()):
        click.echo(f"Already sent: the weekly review of {window.key} ran before; nothing queued.")
        return
    if not scheduler.run_claimed(entry, window):
        db.session.rollback()
        raise click.ClickException("the weekly review could not be queued (see the log)")
    click.echo(f"Queued the weekly review of {window.key}; `paywall worker` sends it.")
