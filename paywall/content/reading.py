"""What one reader gets of one item: the whole text, a metered free read, or the teaser.

The decision itself is paywall.access.reading(); this module feeds it the reader (from the
user row, no query) and the meter. Visitors' metered reads are counted in a signed cookie, so
their page views write nothing; signed-in free readers are counted on the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select

from paywall import access, clock
from paywall.accounts.models import User
from paywall.accounts.service import reader_for
from paywall.content.models import ContentItem, MeterRead
from paywall.extensions import db

METER_COOKIE = "pw_meter"


@dataclass(frozen=True)
class Meter:
    """Premium items read on the meter this month, and how many reads the month allows."""

    month: str
    read: frozenset[int]
    allowed: int

    @property
    def left(self) -> int:
        return max(self.allowed - len(self.read), 0)


@dataclass
class ItemView:
    item: ContentItem
    reader: access.Reader
    reading: access.Reading
    offer: access.Offer
    meter: Meter | None
    # The visitor's new meter cookie, when this view spent a metered read.
    cookie: str | None = None

    @property
    def shows_body(self) -> bool:
        return self.reading in ("full", "metered")


def month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="paywall.meter")


def visitor_meter(cookie: str | None, allowed: int) -> Meter:
    """The meter a visitor's cookie holds; a missing, forged or last month's cookie is empty."""
    month = month_of(clock.now())
    try:
        data = _serializer().loads(cookie) if cookie else {}
    except BadSignature:
        data = {}
    ids = data.get("ids") if isinstance(data, dict) and data.get("m") == month else None
    read = frozenset(i for i in ids if isinstance(i, int)) if isinstance(ids, list) else frozenset()
    return Meter(month=month, read=read, allowed=allowed)


def account_meter(user: User, allowed: int) -> Meter:
    month = month_of(clock.now())
    read = db.session.scalars(
        select(MeterRead.item_id).where(MeterRead.user_id == user.id, MeterRead.month == month)
    )
    return Meter(month=month, read=frozenset(read), allowed=allowed)


def meter_count(user: User) -> int:
    """Metered reads this month on an account (for the account page)."""
    month = month_of(clock.now())
    count = db.session.scalar(
        select(func.count(MeterRead.id)).where(
            MeterRead.user_id == user.id, MeterRead.month == month
        )
    )
    return int(count or 0)


def view_item(item: ContentItem, user: object, meter_cookie: str | None) -> ItemView:
    """Decide what this reader gets of this item, spending a metered read if one is used."""
    reader = reader_for(user)
    offer = access.offer_for(item.access, reader)
    allowed = int(current_app.config["FREE_ARTICLES_PER_MONTH"])
    if access.may_read(item.access, reader) or allowed <= 0 or item.access != "premium":
        return ItemView(item, reader, access.reading(item.access, reader, 0), offer, None)
    meter = (
        account_meter(user, allowed)
        if isinstance(user, User)
        else visitor_meter(meter_cookie, allowed)
    )
    if item.id in meter.read:  # reading the same item again this month costs nothing
        return ItemView(item, reader, "metered", offer, meter)
    decision = access.reading(item.access, reader, meter.left)
    if decision != "metered":
        return ItemView(item, reader, decision, offer, meter)
    spent = Meter(month=meter.month, read=meter.read | {item.id}, allowed=allowed)
    if isinstance(user, User):
        db.session.add(MeterRead(user_id=user.id, month=meter.month, item_id=item.id))
        return ItemView(item, reader, "metered", offer, spent)
    cookie = _serializer().dumps({"m": spent.month, "ids": sorted(spent.read)})
    return ItemView(item, reader, "metered", offer, spent, cookie=cookie)
