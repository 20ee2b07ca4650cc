"""Mail through a real SMTP server (aiosmtpd on 127.0.0.1): queued while it is down, retried,
delivered once each as text and HTML when it is up, given up after MAIL_MAX_ATTEMPTS."""

from __future__ import annotations

import email
import email.policy
import secrets
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from paywall.extensions import db
from paywall.mail.models import OutboxMail
from tests.helpers import post_form

READERS = ["first@example.com", "second@example.com"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts: parsed, and as the bytes
    received (a parser decodes what it reads, so only the raw DATA shows what went out)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.recipients: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        self.raw.append(envelope.content)
        self.recipients += envelope.rcpt_tos
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def raw_to(self, address: str) -> list[bytes]:
        return [r for r, m in zip(self.raw, self.messages, strict=True) if m["To"] == address]


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def app_config(smtp_port: int) -> dict[str, Any]:
    return {"MAIL_URL": f"smtp://127.0.0.1:{smtp_port}", "MAIL_MAX_ATTEMPTS": 3}


@pytest.fixture
def smtp_server(smtp_port: int) -> Iterator[Any]:
    """Starts the server on demand (so a test can run with it down first), stops it after."""
    started: list[Controller] = []

    def start() -> Inbox:
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        started.append(controller)
        return inbox

    yield start
    for controller in started:
        controller.stop()


def sign_up(client: Any, address: str) -> None:
    answer = post_form(client, "/signup", {"email": address, "password": "a long private phrase"})
    assert answer.status_code == 200, answer.get_data(as_text=True)


def mails() -> list[OutboxMail]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)))


def test_mail_waits_while_smtp_is_down_then_arrives_once(
    app, client, run_worker, smtp_server
) -> None:  # type: ignore[no-untyped-def]
    for address in READERS:
        sign_up(client, address)
    run_worker()  # nothing listens on the port yet
    queued = mails()
    assert [m.to_address for m in queued] == READERS
    for mail in queued:
        assert mail.status == "queued" and mail.attempts == 1
        assert "Connection" in (mail.last_error or "")  # e.g. ConnectionRefusedError

    inbox = smtp_server()
    assert run_worker() >= 2
    run_worker()  # a second pass sends nothing again
    for address in READERS:
        [message] = inbox.to(address)
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        assert text is not None and html is not None
        assert "/verify/" in text.get_content() and "/verify/" in html.get_content()
        assert message["Message-ID"] and message["Subject"]
    assert {m.status for m in mails()} == {"sent"}


def test_a_mail_that_never_goes_is_marked_failed(app, client, run_worker) -> None:  # type: ignore[no-untyped-def]
    sign_up(client, READERS[0])
    for attempt in range(1, 4):
        run_worker()
        [mail] = mails()
        assert mail.attempts == attempt
    assert mail.status == "failed" and mail.last_error
    run_worker()
    assert mails()[0].attempts == 3  # given up: not tried again


def outbox_row(to: str, **change: Any) -> OutboxMail:
    """A queued mail as an older release (or a caller that checked nothing) left it."""
    fields: dict[str, Any] = {
        "subject": "Team plan request: Initech",
        "template": "team_request",
        "text_body": "A team plan request from Initech.",
        "html_body": "<p>A team plan request from Initech.</p>",
        "headers": {},
        "message_id": f"<{secrets.token_hex(16)}@localhost>",
        **change,
    }
    mail = OutboxMail(to_address=to, **fields)
    db.session.add(mail)
    db.session.commit()
    return mail


BAD_MAILS = {
    "a line break in the subject": (
        {"subject": "Team plan request: Initech\r\nBcc: victim@example.com"},
        "Subject header: Header values may not contain linefeed or carriage return",
    ),
    "a line break in another header": (
        {"headers": {"Reply-To": "desk@example.com\nBcc: victim@example.com"}},
        "Reply-To header: Header values may not contain linefeed",
    ),
    "a line break in a header's name": (
        {"headers": {"X-Note\r\nBcc": "victim@example.com"}},
        "'X-Note\\r\\nBcc' is not a header name",
    ),
    "a URL that is not ASCII": (
        {"headers": {"List-Unsubscribe": "<https://exämple.com/u/1>"}},
        "List-Unsubscribe header: must be ASCII",
    ),
}


@pytest.mark.parametrize(("change", "reason"), BAD_MAILS.values(), ids=list(BAD_MAILS))
def test_a_mail_that_cannot_be_built_fails_at_once_and_the_rest_still_go(
    app, run_worker, smtp_server, change, reason
) -> None:  # type: ignore[no-untyped-def]
    inbox = smtp_server()
    bad = outbox_row("staff@example.com", **change)
    good = outbox_row("good@example.com")
    run_worker()
    db.session.expire_all()
    assert (bad.status, bad.attempts) == ("failed", 1)  # not retried: it would fail the same way
    assert (bad.last_error or "").startswith("Unbuildable: ") and reason in bad.last_error
    assert good.status == "sent" and len(inbox.to("good@example.com")) == 1
    # Nothing of it went out, least of all to an address smuggled into a header.
    assert inbox.recipients == ["good@example.com"]
    assert not any(b"victim" in raw for raw in inbox.raw)
    run_worker()
    db.session.expire_all()
    assert bad.attempts == 1
