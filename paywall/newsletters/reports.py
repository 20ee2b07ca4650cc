"""What staff see of bulk mail: each mailing's status and how its deliveries went.

Counts come from paywall.mail.bulk.counts_for, one grouped query for every mailing a page
lists, so a page of mailings (or of content items) costs a fixed number of queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from paywall.content.models import ContentItem
from paywall.extensions import db
from paywall.mail import bulk
from paywall.mail.models import Mailing

PAGE = 25
KINDS = {"industry_issue": "Industry issue", "weekly_review": "Weekly review",
         "free_issue": "Free newsletter issue"}  # fmt: skip


@dataclass(frozen=True)
class Report:
    mailing: Mailing
    counts: dict[str, int]
    item: ContentItem | None = None

    @property
    def kind(self) -> str:
        label = KINDS.get(self.mailing.kind, self.mailing.kind)
        return f"Test of {label.lower()}" if self.mailing.test_to else label

    @property
    def waiting(self) -> int:
        """Deliveries not sent yet, nor given up on."""
        return self.counts["queued"] + self.counts["sending"]


def issue_key(item: ContentItem) -> str:
    return f"issue:{item.id}"


def recent(before: int | None = None, limit: int = PAGE) -> list[Report]:
    """Mailings of every kind (staff tests too, which Report.kind marks), newest first;
    `before` is the id of the last one shown (keyset paging)."""
    query = (
        select(Mailing, ContentItem)
        .outerjoin(ContentItem, ContentItem.id == Mailing.item_id)
        .order_by(Mailing.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(Mailing.id < before)
    rows = db.session.execute(query).all()
    counts = bulk.counts_for(mailing.id for mailing, _ in rows)
    return [Report(mailing, counts[mailing.id], item) for mailing, item in rows]


def of_issues(items: Iterable[ContentItem]) -> dict[int, Report]:
    """The mailing to members of each industry issue among items that has one, by item id."""
    keys = {issue_key(item): item for item in items if item.kind == "industry_newsletter"}
    if not keys:
        return {}
    found = list(db.session.scalars(select(Mailing).where(Mailing.key.in_(keys))))
    counts = bulk.counts_for(mailing.id for mailing in found)
    return {keys[m.key].id: Report(m, counts[m.id], keys[m.key]) for m in found}


def of_issue(item: ContentItem) -> Report | None:
    """The mailing of one industry issue to its members, if it was mailed."""
    mailing = bulk.find(issue_key(item))
    return Report(mailing, bulk.counts(mailing.id), item) if mailing is not None else None


def last_test(item: ContentItem) -> Report | None:
    """The newest staff test of an issue, so its edit page shows whether it went."""
    mailing = db.session.scalar(
        select(Mailing)
        .where(Mailing.item_id == item.id, Mailing.test_to.is_not(None))
        .order_by(Mailing.id.desc())
        .limit(1)
    )
    return Report(mailing, bulk.counts(mailing.id), item) if mailing is not None else None
