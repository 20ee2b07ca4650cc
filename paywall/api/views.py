"""JSON endpoints for programs; errors under /api/ are JSON too (see paywall.web)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask_login import current_user

from paywall import access
from paywall.access import NO_ACCESS
from paywall.accounts.service import reader_for
from paywall.content import service
from paywall.content.kinds import KINDS
from paywall.content.models import ContentItem
from paywall.errors import ValidationError

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/me")
def me() -> Response:
    if not current_user.is_authenticated:
        return jsonify(authenticated=False, email=None, access=NO_ACCESS.as_json())
    return jsonify(
        authenticated=True, email=current_user.email, access=current_user.access.as_json()
    )


def _summary(item: ContentItem) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "slug": item.slug,
        "title": item.title,
        "teaser": item.teaser,
        "access": item.access,
        "industry": item.industry,
        "author": item.author,
        "published_at": item.published_at.isoformat().replace("+00:00", "Z")
        if item.published_at
        else None,
        "url": current_app.config["BASE_URL"] + item.url_path(),
    }


@bp.get("/items")
def items() -> Response:
    """Visible items, newest first: summaries only (title and teaser), never bodies."""
    kind = request.args.get("kind")
    if kind is not None and kind not in KINDS:
        raise ValidationError(f"kind must be one of: {', '.join(KINDS)}", field="kind")
    limit = min(max(request.args.get("limit", 20, type=int) or 20, 1), 100)
    return jsonify(items=[_summary(i) for i in service.latest(kind=kind, limit=limit)])


@bp.get("/items/<kind>/<slug>")
def item(kind: str, slug: str) -> Response:
    """One item; the body only for a reader entitled to it (no metered reads here)."""
    if kind not in KINDS:
        raise ValidationError(f"kind must be one of: {', '.join(KINDS)}", field="kind")
    found = service.find_visible(kind, slug)
    entitled = access.may_read(found.access, reader_for(current_user))
    return jsonify(
        item={**_summary(found), "body_html": found.body_html if entitled else None},
        entitled=entitled,
    )
