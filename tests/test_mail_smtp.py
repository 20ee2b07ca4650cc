"""Mail through a real SMTP server (aiosmtpd on 127.0.0.1): queued while it is down, retried,
delivered once each as text and HTML when it is up, given up after MAIL_MAX_ATTEMPTS."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from paywall.extensions import db
from paywall.mail.models import OutboxMail
from tests.helpers import make_user, post_form

READERS = ["first@example.com", "second@example.com"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


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


def test_newsletter_mail_keeps_its_unsubscribe_headers_on_the_wire(
    app, run_worker, smtp_server
) -> None:  # type: ignore[no-untyped-def]
    from paywall.newsletters import service

    make_user(email=READERS[0])
    service.subscribe_confirmed(READERS[0], ["takeaway"])
    service.send_issue("takeaway", "Today", "The one story.", "<p>The one story.</p>")
    db.session.commit()
    inbox = smtp_server()
    run_worker()
    [message] = inbox.to(READERS[0])
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith("<http")
