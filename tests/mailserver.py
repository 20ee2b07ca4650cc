"""A real SMTP server for tests (aiosmtpd on 127.0.0.1) that behaves like the servers our mail
meets: it counts the sessions it is opened for, may be slow, may refuse some addresses or
messages, may end a session after so many messages (politely, with a 421, or by hanging up),
and can call back on each message."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


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


# How a server ends a session once it has taken `per_session` messages:
# "close": it answers the last message (250) and closes the connection;
# "421": it answers the next MAIL FROM with 421 and closes (RFC 5321 4.2.3, as Exim's
#        smtp_accept_max_per_connection does);
# "hang-up": it takes the last message in and hangs up before answering, so the client cannot
#        know whether it was accepted.
ENDINGS = ("close", "421", "hang-up")


class Server(Inbox):
    """An Inbox that counts sessions (each client says EHLO once per connection) and each
    envelope's sender, and keeps the Inbox's parsed and raw messages. `refuse` answers some
    addresses' RCPT TO with a reply of its own ("550 5.1.1 No such mailbox"), `refuse_data`
    the message to some addresses (after its content)."""

    def __init__(
        self,
        *,
        delay: float = 0.0,
        per_session: int | None = None,
        ending: str = "close",
        on_message: Callable[[int], None] | None = None,
        refuse: dict[str, str] | None = None,
        refuse_data: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        assert ending in ENDINGS
        self.delay, self.per_session, self.ending = delay, per_session, ending
        self.on_message = on_message
        self.refuse, self.refuse_data = refuse or {}, refuse_data or {}
        self.sessions = 0
        self.senders: list[str] = []
        self.lock = threading.Lock()

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:  # fmt: skip
        session.host_name = hostname  # aiosmtpd leaves this to a handler that hooks EHLO
        session.taken = 0
        with self.lock:
            self.sessions += 1
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:  # fmt: skip
        if self.ending == "421" and self._full(session):
            # Run after the reply below is written (nothing between here and it waits).
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.7.0 Too many messages in this session, closing"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:  # fmt: skip
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        for address in envelope.rcpt_tos:
            if address in self.refuse_data:
                return self.refuse_data[address]
        with self.lock:
            answer = await super().handle_DATA(server, session, envelope)
            self.senders.append(envelope.mail_from)
            count = len(self.raw)
        session.taken += 1
        if self.on_message is not None:
            self.on_message(count)
        if self._full(session) and self.ending == "close":
            # As for the 421: the reply is written before the loop runs this.
            asyncio.get_running_loop().call_soon(server.transport.close)
        if self._full(session) and self.ending == "hang-up":
            server.transport.abort()  # at once: the reply below is never written
        return answer

    def _full(self, session: Any) -> bool:
        return self.per_session is not None and session.taken >= self.per_session

    def counted(self) -> Counter[str]:
        """How many messages each address received."""
        with self.lock:
            return Counter(self.recipients)


@contextmanager
def running(port: int, server: Server) -> Iterator[Server]:
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
