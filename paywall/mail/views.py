"""The development mailbox: every mail in the outbox, newest first. Never in production."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template
from sqlalchemy import select

from paywall.extensions import db
from paywall.mail.models import OutboxMail

bp = Blueprint("devmail", __name__, url_prefix="/dev")

SHOWN = 100


def _latest() -> list[OutboxMail]:
    return list(db.session.scalars(select(OutboxMail).order_by(OutboxMail.id.desc()).limit(SHOWN)))


@bp.get("/mail")
def mailbox() -> str:
    return render_template("dev/mail.html", mails=_latest())


@bp.get("/mail.json")
def mailbox_json() -> Response:
    return jsonify(
        mails=[
            {
                "id": mail.id,
                "to": mail.to_address,
                "subject": mail.subject,
                "template": mail.template,
                "text": mail.text_body,
                "html": mail.html_body,
                "status": mail.status,
                "created_at": mail.created_at.isoformat(),
            }
            for mail in _latest()
        ]
    )
