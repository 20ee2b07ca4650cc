"""JSON endpoints for programs; errors under /api/ are JSON too (see paywall.web)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask_login import current_user

from paywall.access import NO_ACCESS

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/me")
def me() -> Response:
    if not current_user.is_authenticated:
        return jsonify(authenticated=False, email=None, access=NO_ACCESS.as_json())
    return jsonify(
        authenticated=True, email=current_user.email, access=current_user.access.as_json()
    )
