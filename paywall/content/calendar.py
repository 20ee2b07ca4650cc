"""An iCalendar (RFC 5545) file for one live Q&A session or event."""

from __future__ import annotations

from datetime import datetime

from paywall import clock
from paywall.content.models import ContentItem


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 3.1)."""
    data, parts = line.encode(), list[str]()
    while len(data) > 75:
        cut = 75 if not parts else 74
        while cut > 0 and (data[cut] & 0xC0) == 0x80:  # never split a UTF-8 character
            cut -= 1
        parts.append(data[:cut].decode())
        data = data[cut:]
    parts.append(data.decode())
    return "\r\n ".join(parts)


def ics(item: ContentItem, *, url: str, domain: str, stream_url: str | None) -> str:
    """The calendar file; the stream address is included only when the caller passes it."""
    assert item.starts_at is not None and item.ends_at is not None
    description = item.teaser + (f"\nJoin: {stream_url}" if stream_url else "")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//PRO Desk//paywall//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{item.kind}-{item.id}@{domain}",
        f"DTSTAMP:{_stamp(clock.now())}",
        f"DTSTART:{_stamp(item.starts_at)}",
        f"DTEND:{_stamp(item.ends_at)}",
        f"SUMMARY:{_escape(item.title)}",
        f"DESCRIPTION:{_escape(description)}",
        f"LOCATION:{_escape(item.place or ('Online' if item.kind == 'live_qa' else ''))}",
        f"URL:{stream_url or url}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(_fold(line) + "\r\n" for line in lines)
