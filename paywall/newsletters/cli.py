"""`paywall newsletters …` commands."""

from __future__ import annotations

from flask.cli import AppGroup

newsletters_cli = AppGroup("newsletters", help="Free newsletter lists.")
