"""Staff content screens: list, create, edit with preview, publish, schedule, view as."""

from __future__ import annotations

from flask import Blueprint

from paywall.admin.views import staff_only

bp = Blueprint("admin_content", __name__, url_prefix="/admin/content")
bp.before_request(staff_only)
