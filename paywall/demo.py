"""Demo accounts for `make run` and `paywall seed-demo`. Idempotent; refused in production."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from paywall import clock
from paywall.accounts.comp import grant_comp, running_comps
from paywall.accounts.models import User
from paywall.accounts.passwords import hash_password
from paywall.accounts.service import find_user
from paywall.content.importer import import_paths
from paywall.entitlements import refresh_access
from paywall.errors import PaywallError
from paywall.extensions import db
from paywall.newsletters import industries

DEMO_ACCOUNTS = [
    # (email, password, name, role, what it shows); names so staff search finds them by name
    ("admin@example.com", "demo-admin-2026", "Dana Admin", "admin", "staff admin: /admin/"),
    ("reader@example.com", "demo-reader-2026", "Rami Reader", "reader", "free reader"),
    ("member@example.com", "demo-member-2026", "Maya Member", "reader",
     "PRO member (complimentary)"),
]  # fmt: skip
COMP_MEMBER = "member@example.com"
CONTENT = Path(__file__).resolve().parent / "content" / "demo"


def seed() -> list[str]:
    """Import the demo content, create the demo accounts (or reset their passwords), give the
    demo member complimentary access; return lines to print."""
    if current_app.config["ENV_NAME"] == "production":
        raise PaywallError("seed-demo is refused in production: demo passwords are public")
    lines = []
    for email, password, name, role, what in DEMO_ACCOUNTS:
        user = find_user(email)
        if user is None:
            user = User(email=email, email_verified_at=clock.now())
            db.session.add(user)
        user.password_hash = hash_password(password)
        user.name = user.name or name
        user.role = role
        refresh_access(user)
        lines.append(f"  {email:<22} {password:<18} {what}")
    db.session.flush()
    member = find_user(COMP_MEMBER)
    if member is not None and not running_comps(member):
        grant_comp(COMP_MEMBER, until=None, reason="demo member", staff=None)
    if member is not None and industries.delivery(member) == industries.DEFAULT_DELIVERY:
        # So an industry issue staff publish shows at /dev/mail at once, not only in the review.
        industries.set_delivery(member, "both")
    report = import_paths([str(CONTENT)])
    if report.problems:
        raise PaywallError("demo content has problems: " + "; ".join(report.problems))
    db.session.commit()
    return [
        f"Demo content: {len(report.imported)} items.",
        "Demo accounts (email, password):",
        *lines,
    ]
