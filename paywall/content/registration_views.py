"""Registering for live Q&A sessions and events, and their calendar files."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("registrations", __name__)
