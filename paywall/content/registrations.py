"""Registering members for live Q&A sessions and events.

Seats are counted on the item (`registered_count`) and taken with a guarded UPDATE, so
registrations racing for the last seat never pass the capacity, on any database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, select, update
from sqlalchemy.orm import Mapped, mapped_column

from paywall import access, clock
from paywall.accounts.models import User
from paywall.accounts.service import reader_for
from paywall.content.kinds import SCHEDULED_KINDS
from paywall.content.models import ContentItem
from paywall.dbtypes import UTCDateTime
from paywall.errors import Conflict, NotFound, PaywallError
from paywall.extensions import db


class MembersOnly(PaywallError):
    status = 403
    code = "members_only"


class Registration(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "content_registrations"
    __table_args__ = (
        Index("ix_content_registrations_item_user", "item_id", "user_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_active(self) -> bool:
        return self.cancelled_at is None


def registration_for(item: ContentItem, user: object) -> Registration | None:
    """This user's active registration for the item, if any."""
    if not isinstance(user, User):
        return None
    found: Registration | None = db.session.scalar(
        select(Registration).where(Registration.item_id == item.id, Registration.user_id == user.id)
    )
    return found if found is not None and found.is_active else None


@dataclass(frozen=True)
class MemberLinks:
    """A session's members-only addresses that one reader may have, decided at this request."""

    stream_url: str | None = None
    replay_url: str | None = None


def member_links(item: ContentItem, reader: access.Reader,
                 registration: Registration | None) -> MemberLinks:  # fmt: skip
    """The stream for a registered member before the end, the replay for any member after it.

    Asked of the reader's access as it stands now (paywall.access): a member who registered
    and then lapsed keeps the registration row, but gets neither address.
    """
    if not access.may_read("premium", reader):
        return MemberLinks()
    if has_ended(item):
        return MemberLinks(replay_url=item.replay_url)
    if registration is not None:
        return MemberLinks(stream_url=item.stream_url)
    return MemberLinks()


def has_ended(item: ContentItem) -> bool:
    return item.ends_at is not None and item.ends_at <= clock.now()


def registration_context(item: ContentItem, user: object, reader: access.Reader) -> dict[str, Any]:
    """What the item page needs to show registration (at most one query). The page shows the
    stream and replay only through `links`, never from the item itself."""
    seats_left = None
    if item.capacity is not None:
        seats_left = max(item.capacity - item.registered_count, 0)
    registration = registration_for(item, user)
    return {"registration": registration, "seats_left": seats_left, "has_ended": has_ended(item),
            "links": member_links(item, reader, registration)}  # fmt: skip


def calendar_links(item: ContentItem, user: object) -> MemberLinks:
    """The addresses a calendar file may carry: only for a member who is registered and
    entitled now; anyone else (a lapsed member too) gets NotFound."""
    registration = registration_for(item, user)
    reader = reader_for(user)
    if registration is None or not access.may_read("premium", reader):
        raise NotFound("This page does not exist.")
    return member_links(item, reader, registration)


def _check_may_register(item: ContentItem, user: User) -> None:
    if item.kind not in SCHEDULED_KINDS:
        raise Conflict("Only live Q&A sessions and events take registrations.")
    if not access.may_read("premium", reader_for(user)):
        raise MembersOnly("Registration is for PRO members. See /pro to join.")
    if has_ended(item):
        raise Conflict("This session has already taken place.")


def register(item: ContentItem, user: User) -> Registration:
    """Register a member; registering twice is the same as once. A full event is refused."""
    _check_may_register(item, user)
    row: Registration | None = db.session.scalar(
        select(Registration).where(Registration.item_id == item.id, Registration.user_id == user.id)
    )
    if row is not None and row.is_active:
        return row
    taken = db.session.execute(
        update(ContentItem)
        .where(ContentItem.id == item.id)
        .where(
            (ContentItem.capacity.is_(None)) | (ContentItem.registered_count < ContentItem.capacity)
        )
        .values(registered_count=ContentItem.registered_count + 1)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This event is full.")
    if row is None:
        row = Registration(item_id=item.id, user_id=user.id)
        db.session.add(row)
    row.cancelled_at, row.created_at = None, clock.now()
    db.session.flush()
    db.session.refresh(item)
    return row


def cancel_registration(item: ContentItem, user: User) -> None:
    """Give the seat back; cancelling without a registration changes nothing."""
    row = registration_for(item, user)
    if row is None:
        return
    row.cancelled_at = clock.now()
    db.session.execute(
        update(ContentItem)
        .where(ContentItem.id == item.id, ContentItem.registered_count > 0)
        .values(registered_count=ContentItem.registered_count - 1)
    )
    db.session.flush()
    db.session.refresh(item)
