"""Staff console. Non-staff get 404, not 403, so the console's existence is not advertised."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user
from sqlalchemy import func, select

from paywall.accounts.models import User
from paywall.extensions import db
from paywall.mail.models import OutboxMail

bp = Blueprint("admin", __name__, url_prefix="/admin")


def staff_only() -> None:
    """Every /admin/ blueprint runs this first: 404 for anyone who is not staff."""
    if not (current_user.is_authenticated and current_user.is_staff):
        abort(404)


bp.before_request(staff_only)


@bp.get("/")
def index() -> str:
    counts = {
        "members": db.session.scalar(select(func.count(User.id))),
        "premium": db.session.scalar(select(func.count(User.id)).where(User.access_premium)),
        "queued_mail": db.session.scalar(
            select(func.count(OutboxMail.id)).where(OutboxMail.status == "queued")
        ),
    }
    return render_template("admin/index.html", counts=counts)
