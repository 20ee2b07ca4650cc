"""A free list issue sent with `paywall newsletters send SLUG ISSUE.md --subject S`, as a real SMTP
server (aiosmtpd) receives it: each confirmed subscriber once however often the command runs, no
one who unsubscribed (before the send or while it goes out), and a one-click unsubscribe in each
mail's raw bytes that takes that one address off that one list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from paywall.extensions import db
from paywall.mail import worker
from paywall.mail.models import Delivery
from paywall.newsletters import service
from paywall.newsletters.models import ListSubscription
from tests.mailserver import Server, free_port, running

LIST = "gulf"
BASE_URL = "https://news.example.com"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def app_config(smtp_port: int) -> dict[str, Any]:
    return {"MAIL_URL": f"smtp://127.0.0.1:{smtp_port}", "BASE_URL": BASE_URL}


@pytest.fixture
def server(smtp_port: int) -> Iterator[Server]:
    with running(smtp_port, Server()) as started:
        yield started


def subscribers(*emails: str, lists: tuple[str, ...] = (LIST,)) -> list[str]:
    for email in emails:
        service.subscribe_confirmed(email, lists)
    db.session.commit()
    return list(emails)


def send(app: Flask, tmp_path: Path, subject: str = "Gulf this week",
         body: str = "# Gulf this week\n\nOil and *diplomacy*.\n") -> str:  # fmt: skip
    """Run the command (the same every time for the same issue); its output."""
    issue = tmp_path / (re.sub(r"\W+", "-", subject) + ".md")
    issue.write_text(body)
    result = app.test_cli_runner().invoke(
        args=["newsletters", "send", LIST, str(issue), "--subject", subject]
    )
    assert result.exit_code == 0, result.output
    return str(result.output)


def unsubscribe(email: str) -> None:
    subscription = db.session.scalar(
        select(ListSubscription).where(
            ListSubscription.email == email, ListSubscription.list_slug == LIST
        )
    )
    assert subscription is not None
    service.unsubscribe(service.unsubscribe_token(subscription))
    db.session.commit()


def test_the_same_command_twice_mails_each_subscriber_once(
    app: Flask, tmp_path: Path, server: Server
) -> None:
    readers = subscribers(*(f"reader{n}@example.com" for n in range(5)))
    subscribers("elsewhere@example.com", lists=("iraq",))
    db.session.add(ListSubscription(email="pending@example.com", list_slug=LIST))  # never confirmed
    db.session.commit()

    assert "Queued 5 mail(s) to gulf subscribers" in send(app, tmp_path)
    worker.drain()
    again = send(app, tmp_path)
    assert "queued to gulf before" in again and "nothing queued" in again
    worker.drain()

    assert server.counted() == dict.fromkeys(readers, 1)
    # The text is the issue's Markdown; the HTML is it rendered.
    (message,) = server.to("reader0@example.com")
    assert message["Subject"] == "Gulf this week"
    assert "Oil and *diplomacy*." in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "<em>diplomacy</em>" in message.get_body(("html",)).get_content()  # type: ignore[union-attr]


def test_an_address_that_unsubscribed_gets_nothing(
    app: Flask, tmp_path: Path, server: Server
) -> None:
    subscribers("stays@example.com", "left@example.com", "leaving@example.com")
    unsubscribe("left@example.com")  # before the command
    send(app, tmp_path)
    worker.run_pending()  # the fan-out: a delivery each for stays@ and leaving@
    unsubscribe("leaving@example.com")  # before the worker sends the page
    worker.drain()
    assert server.recipients == ["stays@example.com"]
    found = dict(db.session.execute(select(Delivery.email, Delivery.status)).all())
    assert found == {"stays@example.com": "sent", "leaving@example.com": "skipped"}


def test_each_mails_one_click_unsubscribe_works_on_the_raw_bytes(
    app: Flask, tmp_path: Path, server: Server
) -> None:
    readers = subscribers("one@example.com", "two@example.com", lists=(LIST, "iraq"))
    send(app, tmp_path)
    worker.drain()
    client = app.test_client()
    for n, raw in enumerate(server.raw, start=1):
        head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii") + "\r\n"
        to = re.search(r"\r\nTo: (\S+)\r\n", head)
        assert to and to.group(1) in readers
        assert re.search(r"\r\nList-Id: Gulf <gulf\.news\.example\.com>\r\n", head), head
        assert "\r\nPrecedence: bulk\r\n" in head
        assert "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in head
        url = re.search(r"\r\nList-Unsubscribe: <(https://news\.example\.com/[^>]+)>\r\n", head)
        assert url, head
        assert url.group(1).encode() in raw.replace(b"=\r\n", b"")  # in the body too
        # RFC 8058: the mail provider POSTs this body, with no cookie and no CSRF token.
        answer = client.post(url.group(1).removeprefix(BASE_URL),
                             data={"List-Unsubscribe": "One-Click"})  # fmt: skip
        assert answer.status_code == 200
        db.session.expire_all()
        assert service.confirmed_lists(to.group(1)) == {"iraq"}  # that list only
        still = db.session.scalars(select(ListSubscription.email).where(
            ListSubscription.list_slug == LIST, ListSubscription.status == "confirmed"))  # fmt: skip
        assert sorted(still) == sorted(set(readers) - set(server.recipients[:n]))
    send(app, tmp_path, subject="Gulf next week", body="Another week.\n")
    worker.drain()
    assert sorted(server.recipients) == sorted(readers)  # the next issue reaches no one
