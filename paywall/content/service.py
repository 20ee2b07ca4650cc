"""Content rules: checking and saving items, and finding what readers may see.

An item's fields are checked in one place (`check_fields`), for the importer and the staff
screens alike. Finding functions only ever return visible items: published, and not scheduled
for later.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, or_, select

from paywall import clock
from paywall.content import markdown
from paywall.content.kinds import ACCESS_LEVELS, INDUSTRIES, KINDS, SCHEDULED_KINDS
from paywall.content.models import Attachment, ContentItem
from paywall.content.signals import item_changed
from paywall.errors import NotFound, ValidationError
from paywall.extensions import db

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
URL = re.compile(r"^https://[^\s<>\"']+$")
# ASCII digits only: "²".isdigit() is true and int("²") fails. At most 100000.
WHOLE = re.compile(r"[0-9]{1,5}|100000")
# Moments an item may carry. Python's datetime ends with 9999, so a session starting at its
# very end has no end time (starts_at + duration overflows) and its page could not be shown.
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC)
TEXT_LIMITS = {"title": 300, "author": 120, "place": 300, "stream_url": 500, "replay_url": 500}
REQUIRED = ("kind", "slug", "title", "access", "teaser")
FIELDS = frozenset(
    {*REQUIRED, "author", "industry", "published_at", "status", "starts_at", "duration_minutes",
     "place", "stream_url", "replay_url", "capacity", "body_markdown"}
)  # fmt: skip
MAX_TEASER = 1000
MAX_BODY = 200_000


def check_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The item's fields, cleaned; raises ValidationError naming the first bad field."""
    unknown = set(data) - FIELDS
    if unknown:
        raise ValidationError(f"unknown field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    for name in REQUIRED:
        if data.get(name) in (None, ""):
            raise ValidationError(f"{name} is required", field=name)
    clean = {name: _text(data, name) for name in data}
    _check_choice(clean, "kind", KINDS)
    _check_choice(clean, "access", ACCESS_LEVELS)
    if not SLUG.match(clean["slug"]) or len(clean["slug"]) > 120:
        raise ValidationError(
            "slug must be lowercase letters, digits and single hyphens (at most 120)", field="slug"
        )
    for name, limit in TEXT_LIMITS.items():
        if len(clean.get(name) or "") > limit:
            raise ValidationError(f"{name} is longer than {limit} characters", field=name)
    if len(clean["teaser"]) > MAX_TEASER:
        raise ValidationError(f"teaser is longer than {MAX_TEASER} characters", field="teaser")
    if len(clean.get("body_markdown") or "") > MAX_BODY:
        raise ValidationError("the body is too long", field="body_markdown")
    _check_industry(clean)
    _check_schedule(clean)
    clean["published_at"] = _moment(data.get("published_at"), "published_at")
    clean["status"] = clean.get("status") or "published"
    _check_choice(clean, "status", ("draft", "published"))
    return clean


def _text(data: dict[str, Any], name: str) -> Any:
    value = data[name]
    return value.strip() if isinstance(value, str) else value


def _check_choice(clean: dict[str, Any], name: str, choices: Any) -> None:
    if clean.get(name) not in choices:
        raise ValidationError(f"{name} must be one of: {', '.join(choices)}", field=name)


def _check_industry(clean: dict[str, Any]) -> None:
    if clean["kind"] == "industry_newsletter":
        _check_choice(clean, "industry", INDUSTRIES)
    elif clean.get("industry"):
        raise ValidationError("industry is only for industry newsletters", field="industry")


def _check_schedule(clean: dict[str, Any]) -> None:
    scheduled = clean["kind"] in SCHEDULED_KINDS
    for name in ("starts_at", "duration_minutes", "place", "stream_url", "replay_url", "capacity"):
        if clean.get(name) not in (None, "") and not scheduled:
            raise ValidationError(f"{name} is only for live Q&A and events", field=name)
    if not scheduled:
        return
    if clean.get("starts_at") in (None, ""):
        raise ValidationError("starts_at is required for live Q&A and events", field="starts_at")
    clean["starts_at"] = _moment(clean["starts_at"], "starts_at")
    for name in ("duration_minutes", "capacity"):
        value = clean.get(name)
        if value in (None, ""):
            clean[name] = None
        elif isinstance(value, bool) or not WHOLE.fullmatch(str(value)) or int(value) == 0:
            raise ValidationError(f"{name} must be a whole number from 1 to 100000", field=name)
        else:
            clean[name] = int(value)
    if clean.get("capacity") and clean["kind"] != "event":
        raise ValidationError("capacity is only for events", field="capacity")
    for name in ("stream_url", "replay_url"):
        if clean.get(name) and not URL.match(clean[name]):
            raise ValidationError(f"{name} must be an https:// address", field=name)


def _moment(value: Any, field: str) -> datetime | None:
    """A timezone-aware moment from YAML (datetime) or text (ISO 8601, Z allowed)."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"{field} must be a date and time like 2026-11-20T08:00:00Z", field=field
            ) from None
    if not isinstance(value, datetime):
        raise ValidationError(f"{field} must be a date and time with a time zone", field=field)
    if value.tzinfo is None:
        raise ValidationError(f"{field} needs a time zone (end it with Z for UTC)", field=field)
    if not EARLIEST <= value < LATEST:
        raise ValidationError(f"{field} must be in the years 1900 to 2999", field=field)
    return value


def save_item(fields: dict[str, Any], *, item: ContentItem | None = None) -> ContentItem:
    """Create or update an item (found by slug unless given) from checked fields."""
    clean = check_fields(fields)
    existing = find_by_slug(clean["slug"])
    if item is None:
        item = existing or ContentItem()
    elif existing is not None and existing.id != item.id:
        raise ValidationError("another item already uses this slug", field="slug")
    if item.id is None:
        db.session.add(item)
    clean.setdefault("body_markdown", "")
    if clean["status"] == "published" and clean["published_at"] is None:
        clean["published_at"] = item.published_at or clock.now()
    for name, value in clean.items():
        setattr(item, name, value)
    item.body_html = markdown.render(item.body_markdown)
    db.session.flush()
    item_changed.send(item)
    return item


def publish(item: ContentItem) -> None:
    """Publish now (a scheduled item too)."""
    now = clock.now()
    item.status = "published"
    if item.published_at is None or item.published_at > now:
        item.published_at = now
    db.session.flush()
    item_changed.send(item)


def unpublish(item: ContentItem) -> None:
    item.status = "draft"
    db.session.flush()
    item_changed.send(item)


def attach(item: ContentItem, filename: str, content_type: str, data: bytes) -> Attachment:
    """Add or replace a file on an item (same filename replaces)."""
    existing = db.session.scalar(
        select(Attachment).where(Attachment.item_id == item.id, Attachment.filename == filename)
    )
    attachment = existing or Attachment(item_id=item.id, filename=filename)
    attachment.content_type, attachment.data, attachment.size = content_type, data, len(data)
    db.session.add(attachment)
    db.session.flush()
    return attachment


def find_by_slug(slug: str) -> ContentItem | None:
    return db.session.scalar(select(ContentItem).where(ContentItem.slug == slug))


def _visible(now: datetime) -> Select[ContentItem]:
    return select(ContentItem).where(
        ContentItem.status == "published", ContentItem.published_at <= now
    )


def latest(*, kind: str | None = None, industry: str | None = None, limit: int = 20,
           offset: int = 0) -> list[ContentItem]:  # fmt: skip
    """Visible items, newest first."""
    query = _visible(clock.now())
    if kind is not None:
        query = query.where(ContentItem.kind == kind)
    if industry is not None:
        query = query.where(ContentItem.industry == industry)
    query = query.order_by(ContentItem.published_at.desc(), ContentItem.id.desc())
    return list(db.session.scalars(query.limit(limit).offset(offset)))


def find_visible(kind: str, slug: str, industry: str | None = None) -> ContentItem:
    """The visible item of this kind with this slug, or NotFound."""
    query = _visible(clock.now()).where(ContentItem.kind == kind, ContentItem.slug == slug)
    if industry is not None:
        query = query.where(ContentItem.industry == industry)
    item: ContentItem | None = db.session.scalar(query)
    if item is None:
        raise NotFound("This page does not exist.")
    return item


def search(words: str, limit: int = 30) -> list[ContentItem]:
    """Visible items whose title or teaser holds every word. Bodies are never searched, so
    results cannot reveal what a premium text says."""
    terms = [w for w in re.split(r"\s+", words.strip())[:8] if w]
    if not terms:
        return []
    query = _visible(clock.now())
    for term in terms:
        pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                ContentItem.title.ilike(pattern, escape="\\"),
                ContentItem.teaser.ilike(pattern, escape="\\"),
            )
        )
    query = query.order_by(ContentItem.published_at.desc()).limit(limit)
    return list(db.session.scalars(query))


def attachments_of(item: ContentItem) -> list[Attachment]:
    """An item's files, without their contents."""
    query = select(Attachment).where(Attachment.item_id == item.id).order_by(Attachment.id)
    return list(db.session.scalars(query))


def attachment_named(item: ContentItem, filename: str) -> Attachment:
    found: Attachment | None = db.session.scalar(
        select(Attachment).where(Attachment.item_id == item.id, Attachment.filename == filename)
    )
    if found is None:
        raise NotFound("This file does not exist.")
    return found
