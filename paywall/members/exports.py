"""Member exports as CSV, the format imports read: streamed a batch at a time, so a million
members never load into memory at once."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select

from paywall import access, clock
from paywall.accounts.models import CompGrant, User
from paywall.csvsafe import Writer
from paywall.extensions import db
from paywall.members.imports import COLUMNS, FOREVER, comp_ends
from paywall.newsletters.lists import NEWSLETTERS
from paywall.newsletters.models import ListSubscription

EXPORT_COLUMNS = (*COLUMNS, "premium", "access_source", "access_until", "created_at")
EXPORT_BATCH = 1000


def export_csv() -> Iterator[str]:
    """Every member as CSV text, a batch at a time (the header first); no cell a spreadsheet
    would run as a formula (paywall.csvsafe), the import reads them back as they were."""
    buffer = io.StringIO()
    writer = Writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    yield buffer.getvalue()
    for batch in export_batches():
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(batch)
        yield buffer.getvalue()


def export_batches() -> Iterator[list[list[str]]]:
    """Members in id order, EXPORT_BATCH at a time: one query each for the members, their
    running comps and their newsletters, so memory and queries grow with batches, not rows."""
    now, last_id = clock.now(), 0
    while True:
        members = db.session.execute(
            select(User.id, User.email, User.name, User.stripe_customer_id, User.access_premium,
                   User.access_source, User.access_until, User.created_at)
            .where(User.id > last_id).order_by(User.id).limit(EXPORT_BATCH)
        ).all()  # fmt: skip
        if not members:
            return
        first, last_id = members[0].id, members[-1].id
        comps = comp_ends(CompGrant.user_id.between(first, last_id))
        lists: dict[str, list[str]] = {}
        for email, slug in db.session.execute(
            select(ListSubscription.email, ListSubscription.list_slug)
            .join(User, User.email == ListSubscription.email)
            .where(User.id.between(first, last_id), ListSubscription.status == "confirmed")
        ):
            lists.setdefault(email, []).append(slug)
        yield [_export_row(m, comps.get(m.id), lists.get(m.email, []), now) for m in members]
        if len(members) < EXPORT_BATCH:
            return


def _export_row(member: Any, comp_ends: list[datetime | None] | None, lists: list[str],
                now: datetime) -> list[str]:  # fmt: skip
    stored = access.Access(member.access_premium, member.access_source, member.access_until)
    decision = access.effective(stored, now)
    return [
        member.email,
        member.name or "",
        _comp_until(comp_ends),
        member.stripe_customer_id or "",
        " ".join(s for s in NEWSLETTERS if s in lists),
        "yes" if decision.premium else "no",
        decision.source or "",
        _iso(decision.until),
        _iso(member.created_at),
    ]


def _comp_until(ends: Iterable[datetime | None] | None) -> str:
    ends = list(ends or [])
    if not ends:
        return ""
    if None in ends:
        return FOREVER
    return max(e for e in ends if e is not None).date().isoformat()


def _iso(moment: datetime | None) -> str:
    return moment.isoformat().replace("+00:00", "Z") if moment else ""
