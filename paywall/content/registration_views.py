"""Registering for live Q&A sessions and events, and their calendar files."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, redirect
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as Redirect

from paywall.content import calendar, registrations, service
from paywall.content.kinds import KIND_BY_PREFIX
from paywall.errors import PaywallError
from paywall.extensions import db

bp = Blueprint("registrations", __name__)

SESSIONS = "any(live, events)"


def _item(prefix: str, slug: str):  # type: ignore[no-untyped-def]
    return service.find_visible(KIND_BY_PREFIX[prefix].name, slug)


@bp.post(f"/<{SESSIONS}:prefix>/<slug>/register")
@login_required
def register(prefix: str, slug: str) -> Redirect:
    FlaskForm().validate_on_submit() or abort(400)
    item = _item(prefix, slug)
    try:
        registrations.register(item, current_user)
    except PaywallError:
        db.session.rollback()
        raise
    db.session.commit()
    return redirect(item.url_path() + "?registered=1", code=303)


@bp.post(f"/<{SESSIONS}:prefix>/<slug>/cancel")
@login_required
def cancel(prefix: str, slug: str) -> Redirect:
    FlaskForm().validate_on_submit() or abort(400)
    item = _item(prefix, slug)
    registrations.cancel_registration(item, current_user)
    db.session.commit()
    return redirect(item.url_path() + "?cancelled=1", code=303)


@bp.get(f"/<{SESSIONS}:prefix>/<slug>/calendar.ics")
@login_required
def calendar_file(prefix: str, slug: str) -> Response:
    """Only members registered and entitled now get the file: it carries the stream address."""
    item = _item(prefix, slug)
    links = registrations.calendar_links(item, current_user)
    base = current_app.config["BASE_URL"]
    domain = urlsplit(base).hostname or "localhost"
    url = base + item.url_path()
    body = calendar.ics(item, url=url, domain=domain, stream_url=links.stream_url)
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = f'attachment; filename="{item.slug}.ics"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
