"""Sending one outbox mail over SMTP, as MAIL_URL says."""

from __future__ import annotations

import smtplib
import ssl
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from paywall.mail.headers import FIELD_NAME, POLICY
from paywall.mail.models import OutboxMail

TIMEOUT_SECONDS = 20


class Unbuildable(ValueError):
    """This mail can never become a message (a line break in its subject, say): sending it
    again would fail again, so the worker gives up on it at once."""


def build_message(mail: OutboxMail, sender: str) -> EmailMessage:
    """A multipart/alternative message with the text part first, as mail clients expect.

    Raises Unbuildable, naming the field, for a mail whose own headers cannot be written; a
    header value never reaches the wire with a line break in it (header injection). A bad
    MAIL_FROM stays a plain ValueError: that is the operator's to fix, and then it goes.
    """
    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["Date"] = formatdate(localtime=False)
    _set(message, "To", mail.to_address)
    _set(message, "Subject", mail.subject)
    _set(message, "Message-ID", mail.message_id)
    for name, value in (mail.headers or {}).items():
        _set(message, name, value)
    message.set_content(mail.text_body)
    message.add_alternative(mail.html_body, subtype="html")
    return message


def _set(message: EmailMessage, name: str, value: Any) -> None:
    # The email package checks values (no CR or LF) but not names.
    if not isinstance(name, str) or not FIELD_NAME.fullmatch(name):
        raise Unbuildable(f"{name!r} is not a header name")
    try:
        message[name] = value
    except (ValueError, TypeError, MessageError) as error:
        raise Unbuildable(f"{name} header: {error}") from error


def send(mail_url: str, message: EmailMessage) -> None:
    """Deliver one message; raises OSError or smtplib.SMTPException when it cannot."""
    url = urlsplit(mail_url)
    if url.scheme not in {"smtp", "smtps"} or not url.hostname:
        raise ValueError("MAIL_URL must look like smtp://user:pass@host:port or smtps://…")
    options = parse_qs(url.query)
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if url.scheme == "smtps":
        client = smtplib.SMTP_SSL(
            url.hostname, url.port or 465, timeout=TIMEOUT_SECONDS, context=context
        )
    else:
        client = smtplib.SMTP(url.hostname, url.port or 25, timeout=TIMEOUT_SECONDS)
    with client:
        if url.scheme == "smtp" and options.get("starttls", ["false"])[0] in {"1", "true"}:
            client.starttls(context=context)
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(message)
