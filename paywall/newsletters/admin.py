"""Staff screens for newsletters: subscribers per list, and export."""

from __future__ import annotations

from flask import Blueprint

from paywall.admin.views import staff_only

bp = Blueprint("admin_newsletters", __name__, url_prefix="/admin/newsletters")
bp.before_request(staff_only)
