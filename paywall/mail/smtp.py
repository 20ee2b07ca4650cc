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
    """Deliver one message on a connection of its own; raises OSError or
    smtplib.SMTPException when it cannot."""
    with Connection(mail_url) as connection:
        connection.send_message(message)


class Refused(Exception):
    """The server refused this one message (the connection is still good): `permanent` for
    a 5xx reply, which sending again will not change, else a 4xx to try again later. `for_
    recipient` when it was the RCPT TO (the address) that was refused, not the message."""

    def __init__(self, code: int, reply: str, *, for_recipient: bool) -> None:
        super().__init__(f"{code} {reply}")
        self.code, self.reply, self.for_recipient = code, reply, for_recipient

    @property
    def permanent(self) -> bool:
        return 500 <= self.code < 600


def _reply(raw: bytes | str) -> str:
    return (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw))[:500]


class Connection:
    """One SMTP session for many messages (bulk sends and a worker's pass over the outbox).

    Opened on the first send. A refusal of one message raises Refused and leaves the session
    usable; a session the server dropped is opened again once before the error is raised.
    """

    def __init__(self, mail_url: str) -> None:
        url = urlsplit(mail_url)
        if url.scheme not in {"smtp", "smtps"} or not url.hostname:
            raise ValueError("MAIL_URL must look like smtp://user:pass@host:port or smtps://…")
        self.url = url
        self.client: smtplib.SMTP | None = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _open(self) -> smtplib.SMTP:
        url, host = self.url, self.url.hostname or ""
        options = parse_qs(url.query)
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if url.scheme == "smtps":
            client = smtplib.SMTP_SSL(
                host, url.port or 465, timeout=TIMEOUT_SECONDS, context=context
            )
        else:
            client = smtplib.SMTP(host, url.port or 25, timeout=TIMEOUT_SECONDS)
        try:
            if url.scheme == "smtp" and options.get("starttls", ["false"])[0] in {"1", "true"}:
                client.starttls(context=context)
            if url.username:
                client.login(unquote(url.username), unquote(url.password or ""))
        except BaseException:
            client.close()
            raise
        return client

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()

    def send_message(self, message: EmailMessage) -> None:
        self._with_retry(lambda client: client.send_message(message))

    def send_raw(self, sender: str, recipient: str, data: bytes) -> None:
        """A message already in wire form (paywall.mail.bulk), to one ASCII address."""
        self._with_retry(lambda client: client.sendmail(sender, [recipient], data))

    def _with_retry(self, send: Any) -> None:
        for attempt in (1, 2):
            if self.client is None:
                self.client = self._open()
            try:
                send(self.client)
                return
            except smtplib.SMTPRecipientsRefused as error:
                code, reply = next(iter(error.recipients.values()))
                raise Refused(code, _reply(reply), for_recipient=True) from error
            except smtplib.SMTPDataError as error:
                raise Refused(
                    error.smtp_code, _reply(error.smtp_error), for_recipient=False
                ) from error
            except (smtplib.SMTPServerDisconnected, ConnectionError):
                self.close()  # a server may drop an idle session: open a new one, once
                if attempt == 2:
                    raise
            except BaseException:
                self.close()
                raise
