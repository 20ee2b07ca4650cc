"""Demo accounts for `make run` and `paywall seed-demo`. Idempotent; refused in production."""

from __future__ import annotations

from flask import current_app

from paywall import clock
from paywall.accounts.models import User
from paywall.accounts.passwords import hash_password
from paywall.accounts.service import find_user, refresh_access
from paywall.errors import PaywallError
from paywall.extensions import db

DEMO_ACCOUNTS = [
    # (email, password, role, what it shows)
    ("admin@example.com", "demo-admin-2026", "admin", "staff admin: /admin/"),
    ("reader@example.com", "demo-reader-2026", "reader", "free reader"),
]


def seed() -> list[str]:
    """Create the demo accounts if missing, reset their passwords; return lines to print."""
    if current_app.config["ENV_NAME"] == "production":
        raise PaywallError("seed-demo is refused in production: demo passwords are public")
    lines = []
    for email, password, role, what in DEMO_ACCOUNTS:
        user = find_user(email)
        if user is None:
            user = User(email=email, email_verified_at=clock.now())
            db.session.add(user)
        user.password_hash = hash_password(password)
        user.role = role
        refresh_access(user)
        lines.append(f"  {email:<22} {password:<18} {what}")
    db.session.commit()
    return ["Demo accounts (email, password):", *lines]
