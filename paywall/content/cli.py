"""`paywall content …` commands."""

from __future__ import annotations

from flask.cli import AppGroup

content_cli = AppGroup("content", help="Articles, memos, reports and the rest.")
