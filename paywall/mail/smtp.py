"""Sending mail over SMTP, as MAIL_URL says: one session for many messages."""

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
# "Service not available, closing transmission channel" (RFC 5321 4.2.3): the server ends the
# session (Exim after smtp_accept_max_per_connection messages, a server shutting down). The
# message was not taken, so it goes again on a new session.
CLOSING = 421


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


class Unanswered(smtplib.SMTPServerDisconnected):
    """The session broke after the message was handed over (the DATA command), before the
    server answered: it may have taken the message or not, and sending it again may deliver
    it twice. Bulk mail gives up on it (at most once); the outbox retries it, as for any
    disconnection (at least once)."""


def _reply(raw: bytes | str) -> str:
    return (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw))[:500]


def _code(error: BaseException) -> int | None:
    """The server's reply code in an smtplib error, when it carries one."""
    if isinstance(error, smtplib.SMTPResponseException):
        return int(error.smtp_code)
    if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
        return int(next(iter(error.recipients.values()))[0])
    return None


def _refusal(error: BaseException) -> Refused | None:
    """The error as a refusal of this one message (the session stays usable), if it is one."""
    if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
        code, reply = next(iter(error.recipients.values()))
        return Refused(code, _reply(reply), for_recipient=True)
    if isinstance(error, smtplib.SMTPDataError):
        return Refused(error.smtp_code, _reply(error.smtp_error), for_recipient=False)
    return None


class _Client(smtplib.SMTP):
    """smtplib's client, noting when a message starts to be handed over (DATA): after that,
    a broken session may or may not have delivered it."""

    handed_over = False

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.handed_over = True
        return super().data(msg)


class _ClientSSL(smtplib.SMTP_SSL, _Client):
    pass


class Connection:
    """One SMTP session for many messages (bulk sends and a worker's pass over the outbox).

    Opened on the first send. A refusal of one message raises Refused and leaves the session
    usable. A session the server dropped before the message was handed over (an idle session
    closed, a 421) is opened again once and the message sent on it; one that broke after the
    hand-over raises Unanswered.
    """

    def __init__(self, mail_url: str) -> None:
        self.url = urlsplit(mail_url)
        self.client: _Client | None = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _open(self) -> _Client:
        # Checked here, on the first send: each mail that cannot go says why (as any failure).
        url, host = self.url, self.url.hostname or ""
        if url.scheme not in {"smtp", "smtps"} or not host:
            raise ValueError("MAIL_URL must look like smtp://user:pass@host:port or smtps://…")
        starttls = parse_qs(url.query).get("starttls", ["false"])[0] in {"1", "true"}
        # Only for TLS: loading the system's CA certificates costs 40-100 ms per connection.
        context = ssl.create_default_context() if url.scheme == "smtps" or starttls else None
        client: _Client
        if url.scheme == "smtps":
            client = _ClientSSL(host, url.port or 465, timeout=TIMEOUT_SECONDS, context=context)
        else:
            client = _Client(host, url.port or 25, timeout=TIMEOUT_SECONDS)
        try:
            if url.scheme == "smtp" and starttls:
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
            self.client.handed_over = False
            try:
                send(self.client)
                return
            except BaseException as error:
                if not self._may_send_again(error) or attempt == 2:
                    raise

    def _may_send_again(self, error: BaseException) -> bool:
        """Whether the message may go again on a new session; raises what the caller should
        see instead of `error` (Refused, Unanswered), and closes a session that is gone."""
        code = _code(error)
        refused = _refusal(error)
        if refused is not None and code != CLOSING:
            raise refused from error  # the session is still good: the caller goes on with it
        handed_over = self.client is not None and self.client.handed_over
        self.close()
        if code == CLOSING:
            return True  # the server said it did not take the message
        if handed_over and isinstance(error, Exception) and code is None:
            raise Unanswered(f"no answer to the message: {error}") from error
        # Before the hand-over: a server may drop an idle session, so open a new one, once.
        return isinstance(error, smtplib.SMTPServerDisconnected | ConnectionError)
