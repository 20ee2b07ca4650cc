"""Mail headers as a real SMTP server (aiosmtpd) receives them, byte for byte.

A parser such as email.policy.default decodes RFC 2047 encoded-words as it reads, so a test that
parses the message back cannot see a header that went out encoded; these read the raw DATA.
"""

from __future__ import annotations

import email
import email.policy
import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from paywall.extensions import db
from paywall.newsletters import service
from paywall.newsletters.mailings import send_free_issue
from tests.helpers import make_user
from tests.test_mail_smtp import Inbox, free_port, outbox_row

READER = "reader@example.com"
# A publisher's site under a long host name and a path, as BASE_URL may well be.
BASE_URL = "https://members.regional-affairs-publisher.example.com/pro-desk"
SENDER_NAME = "Rédaction PRO — Golfe & Levant"
SENDER_ADDRESS = "pro-desk@news.regional-affairs-publisher.example.com"
SUBJECT = "Qatar’s LNG in 2027: what changes for Doha, Ras Laffan and the buyers in Asia — Ünïcode"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def app_config(smtp_port: int) -> dict[str, Any]:
    return {
        "MAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "BASE_URL": BASE_URL,
        "MAIL_FROM": f"{SENDER_NAME} <{SENDER_ADDRESS}>",
    }


@pytest.fixture
def inbox(smtp_port: int) -> Iterator[Inbox]:
    received = Inbox()
    controller = Controller(received, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield received
    controller.stop()


def header_lines(raw: bytes) -> list[bytes]:
    """The header section's physical lines, each checked against RFC 5322 2.1.1 and 2.2."""
    block = raw.split(b"\r\n\r\n", 1)[0]
    lines = block.split(b"\r\n")
    for line in lines:
        assert line.isascii() and len(line) <= 998, line
    return lines


def field(raw: bytes, name: str) -> str:
    """A field's value as sent, unfolded (RFC 5322 2.2.3: only the CRLF before a space goes),
    and nothing decoded."""
    unfolded = re.sub(rb"\r\n(?=[ \t])", b"", b"\r\n".join(header_lines(raw)))
    [value] = [
        line.split(b":", 1)[1].removeprefix(b" ")
        for line in unfolded.split(b"\r\n")
        if line.split(b":", 1)[0].lower() == name.lower().encode()
    ]
    return value.decode("ascii")


def physical(raw: bytes, name: str) -> list[bytes]:
    """The lines the field takes up on the wire: its first line and its continuations."""
    lines = header_lines(raw)
    start = next(
        i for i, line in enumerate(lines) if line.lower().startswith(name.lower().encode() + b":")
    )
    end = start + 1
    while end < len(lines) and lines[end][:1] in (b" ", b"\t"):
        end += 1
    return lines[start:end]


def test_a_newsletter_issue_carries_its_unsubscribe_fields_verbatim(app, run_worker, inbox) -> None:  # type: ignore[no-untyped-def]
    make_user(email=READER)
    service.subscribe_confirmed(READER, ["takeaway"])
    send_free_issue("takeaway", SUBJECT, "The one story.", "<p>The one story.</p>")
    db.session.commit()
    run_worker()
    [raw] = inbox.raw_to(READER)
    (line,) = physical(raw, "List-Unsubscribe")
    link = line.decode("ascii").removeprefix("List-Unsubscribe: <").removesuffix(">")
    text = email.message_from_bytes(raw, policy=email.policy.default).get_body(("plain",))
    assert text is not None and link in text.get_content()
    assert link.startswith(f"{BASE_URL}/newsletters/unsubscribe/")
    assert len(f"List-Unsubscribe: <{link}>") > 78  # long enough to have been folded
    # RFC 2369 and RFC 8058: as written, never an encoded-word; a URL is not broken.
    assert line == f"List-Unsubscribe: <{link}>".encode()
    assert physical(raw, "List-Unsubscribe-Post") == [
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"
    ]
    (message_id,) = physical(raw, "Message-ID")
    domain = re.escape(SENDER_ADDRESS.split("@")[1]).encode()
    assert re.fullmatch(rb"Message-ID: <[0-9a-f]{32}@" + domain + rb">", message_id)
    assert physical(raw, "To") == [f"To: {READER}".encode()]
    # The sender's name is encoded (it is not ASCII), its address is left as it is.
    sender = field(raw, "From")
    assert sender.endswith(f" <{SENDER_ADDRESS}>") and "=?utf-8?" in sender
    # The subject is encoded, in lines of at most 78 characters, and reads back as written.
    assert all(len(line) <= 78 for line in physical(raw, "Subject"))
    assert "=?utf-8?" in field(raw, "Subject")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == SUBJECT
    assert parsed["From"].addresses[0].display_name == SENDER_NAME
    assert parsed["From"].addresses[0].addr_spec == SENDER_ADDRESS


def test_list_fields_fold_only_between_urls_and_reply_to_keeps_its_address(
    app, run_worker, inbox
) -> None:  # type: ignore[no-untyped-def]
    token = secrets.token_urlsafe(96)  # a long signed token, as some senders use
    unsubscribe = f"<mailto:unsubscribe+{token[:40]}@news.example.com>, <{BASE_URL}/u/{token}>"
    headers = {
        "List-Unsubscribe": unsubscribe,
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": "The Takeaway, daily from the Gulf desk <takeaway.news.regional-affairs-publisher.example.com>",
        "List-Help": f"<{BASE_URL}/newsletters>",
        "Reply-To": f"Équipe éditoriale du Golfe et du Levant <letters-to-the-editor@{SENDER_ADDRESS.split('@')[1]}>",
    }
    outbox_row(READER, subject="Hello", headers=headers)
    run_worker()
    [raw] = inbox.raw_to(READER)
    for name in ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "List-Help"):
        assert field(raw, name) == headers[name]  # unfolding gives back exactly what was set
        assert b"=?" not in b"".join(physical(raw, name))
    # Folded at the space after the comma, not inside either URL.
    assert physical(raw, "List-Unsubscribe") == [
        f"List-Unsubscribe: <mailto:unsubscribe+{token[:40]}@news.example.com>,".encode(),
        f" <{BASE_URL}/u/{token}>".encode(),
    ]
    reply_to = field(raw, "Reply-To")
    assert "=?utf-8?" in reply_to
    assert reply_to.endswith(f"<letters-to-the-editor@{SENDER_ADDRESS.split('@')[1]}>")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Reply-To"].addresses[0].display_name == "Équipe éditoriale du Golfe et du Levant"
