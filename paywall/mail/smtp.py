"""Sending one outbox mail over SMTP, as MAIL_URL says."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlsplit

from paywall.mail.models import OutboxMail

TIMEOUT_SECONDS = 20


def build_message(mail: OutboxMail, sender: str) -> EmailMessage:
    """A multipart/alternative message with the text part first, as mail clients expect."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = mail.message_id
    for name, value in (mail.headers or {}).items():
        message[name] = value
    message.set_content(mail.text_body)
    message.add_alternative(mail.html_body, subtype="html")
    return message


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
