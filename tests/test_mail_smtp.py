"""Mail through a real SMTP server (aiosmtpd on 127.0.0.1): queued while it is down, retried,
delivered once each as text and HTML when it is up, given up after MAIL_MAX_ATTEMPTS; one
connection for a pass of the worker; a 5xx fails a mail at once (and a 5xx to its address
suppresses the address for bulk mail), a 4xx is tried again."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from paywall.extensions import db
from paywall.mail import bulk
from paywall.mail.models import OutboxMail, Suppression
from tests.helpers import link_in, make_user, post_form
from tests.mailserver import Inbox, Server, free_port, running

READERS = ["first@example.com", "second@example.com"]


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


# One connection a pass, and what the server's replies mean


def test_one_pass_of_the_worker_sends_every_due_mail_over_one_connection(
    app, run_worker, smtp_port
) -> None:  # type: ignore[no-untyped-def]
    addresses = [f"staff{n}@example.com" for n in range(5)]
    with running(smtp_port, Server()) as server:
        for address in addresses:
            outbox_row(address)
        assert run_worker() == 5
    assert sorted(server.recipients) == addresses
    assert server.sessions == 1
    assert {m.status for m in mails()} == {"sent"}


def test_a_5xx_to_the_address_fails_the_mail_at_once_and_suppresses_the_address(
    app, run_worker, smtp_port
) -> None:  # type: ignore[no-untyped-def]
    refuse = {"gone@example.com": "550 5.1.1 No such mailbox"}
    with running(smtp_port, Server(refuse=refuse)) as server:
        gone, fine = outbox_row("gone@example.com"), outbox_row("fine@example.com")
        run_worker()
        run_worker()
    db.session.expire_all()
    assert (gone.status, gone.attempts) == ("failed", 1)  # never tried again
    assert "550 5.1.1 No such mailbox" in (gone.last_error or "")
    assert fine.status == "sent" and server.recipients == ["fine@example.com"]
    assert server.sessions == 1  # the refusal left the session usable for the next mail
    suppression = db.session.get(Suppression, "gone@example.com")
    assert suppression is not None and suppression.source == "bounce"
    assert "550 5.1.1 No such mailbox" in suppression.reason


def test_a_5xx_to_the_message_fails_it_at_once_and_suppresses_nothing(
    app, run_worker, smtp_port
) -> None:  # type: ignore[no-untyped-def]
    refuse_data = {"strict@example.com": "554 5.7.1 Message content refused"}
    with running(smtp_port, Server(refuse_data=refuse_data)) as server:
        refused = outbox_row("strict@example.com")
        run_worker()
        run_worker()
    db.session.expire_all()
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert "554 5.7.1" in (refused.last_error or "")
    assert server.recipients == []
    assert db.session.get(Suppression, "strict@example.com") is None


def test_a_4xx_is_tried_again_and_then_goes(app, run_worker, smtp_port) -> None:  # type: ignore[no-untyped-def]
    refuse = {"busy@example.com": "451 4.3.0 Mailbox busy, try again later"}
    with running(smtp_port, Server(refuse=refuse)) as server:
        busy = outbox_row("busy@example.com")
        run_worker()
        db.session.expire_all()
        assert (busy.status, busy.attempts) == ("queued", 1)
        assert "451 4.3.0" in (busy.last_error or "")
        server.refuse.clear()
        run_worker()  # testing retries at once (MAIL_RETRY_BASE_SECONDS = 0)
    db.session.expire_all()
    assert (busy.status, busy.attempts) == ("sent", 2)
    assert server.recipients == ["busy@example.com"]
    assert db.session.get(Suppression, "busy@example.com") is None


def test_a_suppressed_address_still_gets_its_sign_in_link(
    app, client, run_worker, smtp_port
) -> None:  # type: ignore[no-untyped-def]
    """Bulk mail skips the suppression list; mail a person asked for (signing in) does not."""
    make_user(email="returning@example.com")
    bulk.suppress("returning@example.com", "bounce", "550 5.1.1 No such mailbox (last year)")
    db.session.commit()
    with running(smtp_port, Server()) as server:
        sent = post_form(client, "/signin/link", {"email": "returning@example.com"})
        assert sent.status_code == 200
        run_worker()
    [message] = server.to("returning@example.com")
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    link = link_in(text.get_content(), "/signin/link/")
    assert client.get(link).status_code == 200
