"""Bulk messages built once and personalised per recipient (paywall.mail.mime) read back as
exactly what was meant, byte for byte where it matters."""

from __future__ import annotations

import email
import email.policy
import re

import pytest

from paywall.mail.mime import Piece, Template

TEXT = "Qatar’s LNG — Ünïcode line\n" + "a very long line " * 20 + "\n.\n.leading dot\nend"
HTML = "<p>Qatar’s LNG — <b>Ünïcode</b></p>\n<p>" + "long paragraph " * 30 + "</p>"
LINK = "https://news.example.com/industry/unsubscribe/" + "x" * 120


def template() -> Template:
    return Template(
        "PRO Desk <pro@news.example.com>",
        "Qatar’s LNG in 2027 — what changes",
        {"List-Id": "PRO Oil and gas <oil-gas.news.example.com>", "Precedence": "bulk"},
        "news.example.com",
    )


def test_a_rendered_message_reads_back_as_the_same_text_html_and_headers() -> None:
    built = template()
    raw = built.render("reader@example.com", Piece(TEXT, HTML, LINK), "<id1@news.example.com>")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only, as SMTP wants
    message = email.message_from_bytes(raw, policy=email.policy.strict)
    assert message["To"] == "reader@example.com"
    assert message["Subject"] == "Qatar’s LNG in 2027 — what changes"
    assert message["List-Unsubscribe"] == f"<{LINK}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Precedence"] == "bulk"
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()  # type: ignore[attr-defined]
    assert text.get_content().replace("\r\n", "\n").rstrip("\n") == TEXT
    assert html.get_content().replace("\r\n", "\n").rstrip("\n") == HTML
    # The header block the template wrote once is the same for the next recipient.
    other = built.render("other@example.com", Piece(TEXT, HTML, LINK), "<id2@news.example.com>")
    assert raw.split(b"\r\nTo: ")[0] == other.split(b"\r\nTo: ")[0]
    # The unsubscribe URL is written verbatim on one line, never encoded.
    assert re.search(rb"\r\nList-Unsubscribe: <" + re.escape(LINK.encode()) + rb">\r\n", raw)


@pytest.mark.parametrize("address", ["a\r\nBcc: x@example.com", "ü@example.com", "a b@example.com"])
def test_an_address_that_is_not_plain_ascii_is_refused(address: str) -> None:
    with pytest.raises(ValueError):
        template().render(address, Piece("t", "h"), "<id@news.example.com>")


def test_the_email_package_path_says_the_same_for_a_non_ascii_address() -> None:
    message = template().as_message("ünïcode@example.com", Piece(TEXT, HTML, LINK), "<id@x>")
    assert message["To"] == "ünïcode@example.com"
    assert message["List-Unsubscribe"] == f"<{LINK}>"
    assert message.get_body(("plain",)).get_content().rstrip("\n") == TEXT  # type: ignore[union-attr]
