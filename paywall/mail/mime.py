"""Bulk messages built once and personalised cheaply.

The email package takes about as long to build and serialise one multipart message as a local
SMTP server takes to receive it. A bulk mailing sends the same subject and list headers to every
recipient, so `Template` serialises those once (through the same header policy as every other
mail, paywall.mail.headers) and each recipient's message is that block, a few header lines of
their own, and their two bodies encoded with binascii's quoted-printable (C code): no email
objects per recipient.
"""

from __future__ import annotations

import binascii
import functools
import secrets
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from paywall.mail.headers import LONGEST_WORD, POLICY

CRLF = "\r\n"


@dataclass(frozen=True)
class Piece:
    """One recipient's mail: their text and HTML bodies and their one-click unsubscribe link."""

    text: str
    html: str
    unsubscribe: str | None = None


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", CRLF)


def _qp(text: str) -> bytes:
    """Quoted-printable, line by line: lines of at most 76 characters, '=' soft breaks, CRLF
    as the hard line breaks, and a CRLF at the end."""
    lines = _crlf(text).split(CRLF)
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()  # the text ended with a line break
    return b"".join(_qp_line(line) for line in lines)


# Every recipient of a mailing gets the same lines but the one or two holding their own link,
# so each line is encoded once (encoding the whole body for each recipient was a third of the
# sender's CPU). A line's encoding does not depend on its neighbours. Given the line with its
# CRLF, b2a_qp also writes its soft breaks as CRLF (given no line break at all, it writes "=\n").
@functools.lru_cache(maxsize=2048)
def _qp_line(line: str) -> bytes:
    return binascii.b2a_qp((line + CRLF).encode("utf-8"), istext=True)


class Template:
    """The headers every recipient of one mailing gets, written once."""

    def __init__(self, sender: str, subject: str, headers: dict[str, str], domain: str) -> None:
        common = EmailMessage(policy=POLICY)
        common["From"] = sender
        common["Subject"] = subject
        for name, value in headers.items():
            common[name] = value
        common["MIME-Version"] = "1.0"
        self.boundary = f"=_pw{secrets.token_hex(12)}"
        common["Content-Type"] = f'multipart/alternative; boundary="{self.boundary}"'
        # as_bytes() ends the header block with an empty line: keep only the fields.
        self.head = common.as_bytes(policy=POLICY).split(b"\r\n\r\n", 1)[0] + b"\r\n"
        self.sender, self.subject, self.headers, self.domain = sender, subject, headers, domain
        self.part_text = (
            f'--{self.boundary}\r\nContent-Type: text/plain; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        self.part_html = (
            f'--{self.boundary}\r\nContent-Type: text/html; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        self.end = f"--{self.boundary}--\r\n".encode()

    def message_id(self) -> str:
        return f"<{secrets.token_hex(16)}@{self.domain}>"

    def render(self, to: str, piece: Piece, message_id: str) -> bytes:
        """The message for one recipient, as it goes on the wire. `to` must be an ASCII
        address (paywall.mail.bulk sends others through `as_message`)."""
        if not to.isascii() or any(c in to for c in '\r\n<>," '):
            raise ValueError(f"not a plain ASCII address: {to!r}")
        own = [f"To: {to}", f"Date: {formatdate(localtime=False)}", f"Message-ID: {message_id}"]
        if piece.unsubscribe:
            _check_url(piece.unsubscribe)
            own += [
                f"List-Unsubscribe: <{piece.unsubscribe}>",
                "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            ]
        return b"".join((
            self.head, (CRLF.join(own) + CRLF + CRLF).encode("ascii"),
            self.part_text, _qp(piece.text), self.part_html, _qp(piece.html), self.end,
        ))  # fmt: skip

    def as_message(self, to: str, piece: Piece, message_id: str) -> EmailMessage:
        """The same message built by the email package: for an address `render` does not
        take (a non-ASCII local part, which needs SMTPUTF8)."""
        message = EmailMessage(policy=POLICY)
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = self.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id
        for name, value in self.headers.items():
            message[name] = value
        if piece.unsubscribe:
            message["List-Unsubscribe"] = f"<{piece.unsubscribe}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(piece.text)
        message.add_alternative(piece.html, subtype="html")
        return message


def _check_url(url: str) -> None:
    if not url.isascii() or len(url) + 2 > LONGEST_WORD or any(c in url for c in " \r\n<>"):
        raise ValueError(f"an unsubscribe link must be one short ASCII URL: {url[:80]!r}")
