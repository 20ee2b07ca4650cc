"""Free newsletter pages and members' industry priorities."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("newsletters", __name__)
