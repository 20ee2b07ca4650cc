"""Content tables: the items of every kind, and the files some of them carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from paywall import clock
from paywall.content.kinds import KINDS, Kind
from paywall.dbtypes import UTCDateTime
from paywall.extensions import db


class ContentItem(db.Model):  # type: ignore[name-defined,misc]
    """One piece of content. `teaser` is all a reader without access ever receives.

    `body_html` is rendered and sanitised from `body_markdown` when the item is saved, so a
    page view never renders Markdown.
    """

    __tablename__ = "content_items"
    __table_args__ = (
        Index("ix_content_items_kind_published", "kind", "status", "published_at"),
        Index("ix_content_items_industry_published", "industry", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    # Unique across kinds: `paywall content import` updates by slug.
    slug: Mapped[str] = mapped_column(String(120), unique=True, index=True)
    title: Mapped[str] = mapped_column(String(300))
    teaser: Mapped[str] = mapped_column(Text, default="")
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    access: Mapped[str] = mapped_column(String(12), default="public")
    author: Mapped[str | None] = mapped_column(String(120))
    industry: Mapped[str | None] = mapped_column(String(40))
    # draft | published. A published item with published_at in the future is scheduled.
    status: Mapped[str] = mapped_column(String(12), default="draft")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=clock.now, onupdate=clock.now
    )

    # Live Q&A and events only.
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_minutes: Mapped[int | None] = mapped_column()
    place: Mapped[str | None] = mapped_column(String(300))
    # Members only: shown to registered members, never to anyone else.
    stream_url: Mapped[str | None] = mapped_column(String(500))
    replay_url: Mapped[str | None] = mapped_column(String(500))
    capacity: Mapped[int | None] = mapped_column()
    # Registrations so far; raised only by a guarded UPDATE so it never passes `capacity`.
    registered_count: Mapped[int] = mapped_column(default=0)

    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="item",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Attachment.id",
        lazy="raise",
    )

    @property
    def kind_info(self) -> Kind:
        return KINDS[self.kind]

    def url_path(self, suffix: str = "") -> str:
        """The path of this item's page, with '/print' and the like appended."""
        kind = KINDS[self.kind]
        if self.kind == "industry_newsletter":
            return f"/{kind.prefix}/{self.industry}/{self.slug}{suffix}"
        return f"/{kind.prefix}/{self.slug}{suffix}"

    @property
    def is_premium(self) -> bool:
        return self.access == "premium"

    def is_visible(self, now: datetime) -> bool:
        """Published and not scheduled for later: what readers may find."""
        return (
            self.status == "published"
            and self.published_at is not None
            and self.published_at <= now
        )

    @property
    def ends_at(self) -> datetime | None:
        if self.starts_at is None:
            return None
        try:
            return self.starts_at + timedelta(minutes=self.duration_minutes or 60)
        except OverflowError:  # a start saved before content.service bounded it: never ends
            return datetime.max.replace(tzinfo=UTC)

    def __repr__(self) -> str:
        return f"<ContentItem {self.kind} {self.slug}>"


class Attachment(db.Model):  # type: ignore[name-defined,misc]
    """A file an item carries (a trend report's PDF). Served only through a gated route."""

    __tablename__ = "content_attachments"
    __table_args__ = (
        Index("ix_content_attachments_item_filename", "item_id", "filename", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column()
    # Deferred: listing a report's files must not load them.
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    item: Mapped[ContentItem] = relationship(back_populates="attachments")


class MeterRead(db.Model):  # type: ignore[name-defined,misc]
    """A premium item a signed-in free reader read in full on the meter, in one month.

    Reading the same item again in the month costs nothing. Visitors are counted in a signed
    cookie instead, so their page views write nothing.
    """

    __tablename__ = "meter_reads"
    __table_args__ = (
        Index("ix_meter_reads_user_month_item", "user_id", "month", "item_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))  # "2026-11"
    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
