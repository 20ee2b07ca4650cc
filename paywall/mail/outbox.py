"""Queueing mail: render both parts now, in the caller's transaction; the worker sends later."""

from __future__ import annotations

import secrets
from email.utils import parseaddr
from typing import Any

from flask import current_app, render_template

from paywall.extensions import db
from paywall.mail.models import OutboxMail


def absolute_url(endpoint: str, **values: Any) -> str:
    """An absolute link under BASE_URL, usable outside a request (in the worker)."""
    adapter = current_app.url_map.bind("localhost")
    return str(current_app.config["BASE_URL"]) + adapter.build(endpoint, values)


def queue_mail(
    to: str,
    template: str,
    *,
    subject: str,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> OutboxMail:
    """Render templates/mail/<template>.txt and .html and add the mail to the outbox."""
    context.update(subject=subject, base_url=current_app.config["BASE_URL"])
    domain = parseaddr(current_app.config["MAIL_FROM"])[1].rpartition("@")[2] or "localhost"
    mail = OutboxMail(
        to_address=to,
        subject=subject,
        template=template,
        text_body=render_template(f"mail/{template}.txt", **context),
        html_body=render_template(f"mail/{template}.html", **context),
        headers=headers or {},
        message_id=f"<{secrets.token_hex(16)}@{domain}>",
    )
    db.session.add(mail)
    db.session.flush()
    return mail
