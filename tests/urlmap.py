"""Walking the URL map: every route with sample arguments, so a route added later is walked
as soon as it exists (tests/test_access_now.py, test_cache_control.py, test_forms_fuzz.py).

Sample content carries sentinel strings in every members-only part (body, file, stream and
replay address), so a test can tell whether any of it left the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import BuildError, Rule

from paywall import clock
from paywall.accounts.models import User
from paywall.content import service
from paywall.content.models import ContentItem
from paywall.extensions import db
from paywall.mail.models import OutboxMail
from tests.helpers import link_in, make_item, make_user, sign_in

SECRET = "SENTINEL-PREMIUM-9f3a"
STREAM = "https://stream.example.com/SENTINEL-STREAM-5c1e"
REPLAY = "https://replay.example.com/SENTINEL-REPLAY-77d0"
PDF = b"%PDF-1.4 " + SECRET.encode() + b"\n%%EOF\n"
LEAKS = (SECRET, STREAM, REPLAY)

# Route arguments filled from a sample item (see item_arguments)...
CONTENT_ARGUMENTS = {"prefix", "slug", "industry", "kind", "filename"}
# ...and those that never name a content item: staff ids, secret tokens mailed to someone,
# Stripe event ids; the walk fills them with "1" (or what the caller passes). A route with an
# argument in neither set fails the walk until it says how to fill it, so no new kind of
# route is skipped without a word.
OTHER_ARGUMENTS = {"token", "event_id", "item_id", "user_id", "team_id", "member_id", "invite_id"}
# Development tools (404 in production) and static files: no member's content, no user.
NOT_WALKED = ("/static/", "/dev/")


def sample_items() -> list[ContentItem]:
    """One item of each kind with sentinels in its members-only parts; the trend report has a
    PDF; the live Q&A and the event are ahead, the second live Q&A is over (its replay)."""
    later = (clock.now() + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    earlier = (clock.now() - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = f"Only members read this: {SECRET}."
    items = [
        make_item(kind="memo", body=body),
        make_item(kind="industry_newsletter", body=body),
        make_item(kind="trend_report", body=body),
        make_item(kind="live_qa", body=body, starts_at=later, stream_url=STREAM),
        # A public event: its page is for everyone, its stream only for registered members.
        make_item(
            kind="event", access="public", body="Open to all.", starts_at=later, stream_url=STREAM
        ),
        make_item(kind="live_qa", body=body, starts_at=earlier, replay_url=REPLAY),
    ]
    service.attach(items[2], "report.pdf", "application/pdf", PDF)
    db.session.commit()
    return items


def item_arguments(item: ContentItem) -> dict[str, str]:
    return {"prefix": item.kind_info.prefix, "slug": item.slug, "industry": item.industry or "x",
            "kind": item.kind, "filename": "report.pdf"}  # fmt: skip


def routes(app: Flask, method: str = "GET") -> list[Rule]:
    """Every rule taking this method, but static files and development tools."""
    found = []
    for rule in app.url_map.iter_rules():
        if method not in (rule.methods or ()) or rule.rule.startswith(NOT_WALKED):
            continue
        unknown = set(rule.arguments) - CONTENT_ARGUMENTS - OTHER_ARGUMENTS
        assert not unknown, f"{rule.rule}: teach tests/urlmap.py how to fill {sorted(unknown)}"
        found.append(rule)
    return found


def paths(app: Flask, items: list[ContentItem], method: str = "GET",
          ids: dict[str, str] | None = None) -> Iterator[tuple[Rule, str]]:  # fmt: skip
    """(rule, path) for every route and every item it can show, each path once."""
    urls = app.url_map.bind("localhost")
    seen: set[str] = set()
    for rule in routes(app, method):
        for item in items or [None]:
            values = {**(item_arguments(item) if item else {}), **(ids or {})}
            try:
                path = urls.build(rule.endpoint, {n: values.get(n, "1") for n in rule.arguments},
                                  method=method)  # fmt: skip
            except (BuildError, ValueError):  # e.g. /live/... for a memo: not this item's page
                continue
            if path not in seen:  # a route without content arguments is the same for every item
                seen.add(path)
                yield rule, path


def leaks_in(text: str) -> set[str]:
    text = text.replace("\r\n ", "")  # unfold iCalendar lines
    return {leak for leak in LEAKS if leak in text}


def signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    sign_in(client, email)
    return client


def make_manager(email: str, team_name: str = "Acme") -> User:
    """A committed user who manages a manual team and holds one of its seats (so is a member)."""
    from paywall.teams import invites
    from paywall.teams.onboarding import Onboarding, create_team

    user = make_user(email=email)
    create_team(Onboarding(name=team_name, seats=3, manager_email=email, billing="manual"), None)
    mail = db.session.scalars(
        select(OutboxMail).where(OutboxMail.to_address == email).order_by(OutboxMail.id.desc())
    ).first()
    assert mail is not None
    invites.accept(link_in(mail.text_body, "/team/join/").rsplit("/", 1)[1], user)
    db.session.commit()
    return user
