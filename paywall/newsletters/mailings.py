"""Who receives which bulk mailing, and what each one says (paywall.mail.bulk sends them).

- An industry issue goes, when it is published, to every member who has premium access, has
  chosen that industry and receives `each` issue (or `both`).
- The weekly review goes once a week to every member with access who receives it (the
  default), holding the week's issues of their industries in their own order: the first in
  full, the rest as teaser and link. A member with nothing new gets no mail.
- A free list issue goes to the list's confirmed subscribers.

Access and choices are asked twice: at fan-out, to find the recipients page by page, and again
at send time for each page, so a member who lapsed or unsubscribed in between gets nothing.
Every mail carries a one-click unsubscribe (RFC 8058) for what it is: that industry, the
review, or that list.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, render_template
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import ColumnElement, and_, case, exists, func, select

from paywall import clock, scheduler
from paywall.accounts.models import User, premium_now
from paywall.content.kinds import INDUSTRIES
from paywall.content.models import ContentItem
from paywall.content.signals import item_changed
from paywall.errors import NotFound
from paywall.extensions import db
from paywall.mail import bulk
from paywall.mail.mime import Piece
from paywall.mail.models import Delivery, Mailing
from paywall.mail.outbox import absolute_url
from paywall.newsletters import industries
from paywall.newsletters.lists import NEWSLETTERS
from paywall.newsletters.models import IndustryPriority, ListSubscription, MailPreference
from paywall.newsletters.service import unsubscribe_token

# An issue published (or imported) with a publication time further back than this is archive:
# it is mailed to no one (a backfill of old issues must not reach every inbox).
MAIL_ISSUES_PUBLISHED_WITHIN = timedelta(days=2)
WEEK = timedelta(days=7)


# --- who receives what, in SQL -------------------------------------------------------------


# A fan-out page must cost the same at the millionth member as at the first, on PostgreSQL
# too. Two things see to it:
# - each member's choices are read by correlated scalar subqueries (one index probe per member
#   looked at): PostgreSQL may answer an EXISTS under an OR by hashing the whole table, for
#   every page;
# - a page looks at the members in spans of MEMBER_SPAN ids: with no upper bound, the planner,
#   unable to guess how many members the choices let through, reads every premium member and
#   sorts them (and compiles the query with JIT) to return the first thousand.
# At 100,000 members the weekly review's 36 pages took 12 s on PostgreSQL, against 0.2 s on
# SQLite; the same pages now take about as long on both (bench/newsletters.py).
MEMBER_SPAN = 2000


def _preference(column: Any, default: bool) -> ColumnElement[bool]:
    """The member's saved flag, or its default when they saved none."""
    saved = select(column).where(MailPreference.user_id == User.id).scalar_subquery()
    return func.coalesce(saved, default).is_(True)


def _receives_industry(slugs: Sequence[str]) -> ColumnElement[bool]:
    """The member receives one of these industries: chosen, or all nine by default."""
    # 1: chose one of them, 0: chose only others, NULL: saved none, so all nine unless
    # they chose to receive none.
    chose = (
        select(func.max(case((IndustryPriority.industry.in_(slugs), 1), else_=0)))
        .where(IndustryPriority.user_id == User.id)
        .scalar_subquery()
    )
    chose_none = _preference(MailPreference.industries_chosen, default=False)
    return func.coalesce(chose, case((chose_none, 0), else_=1)) == 1


def _members(condition: ColumnElement[bool], after: int, limit: int) -> list[bulk.Recipient]:
    """Up to `limit` members meeting the condition with access now, ids above `after`."""
    last = db.session.scalar(select(func.max(User.id))) or 0
    found: list[bulk.Recipient] = []
    while len(found) < limit and after < last:
        upto = min(after + MEMBER_SPAN, last)
        query = (
            select(User.id, User.email)
            .where(User.id > after, User.id <= upto, premium_now(clock.now()), condition)
            .order_by(User.id)
            .limit(limit - len(found))
        )
        found += [bulk.Recipient(key=uid, email=email, user_id=uid)
                  for uid, email in db.session.execute(query)]  # fmt: skip
        after = upto
    return found


def _still(condition: ColumnElement[bool], rows: Sequence[bulk.Row]) -> set[int]:
    """The user ids among rows that meet the condition and have access, now, at the address
    their delivery was made for: a member who changed address since the fan-out is not mailed
    at the old one, which may be someone else's by now."""
    ids = [row.user_id for row in rows if row.user_id is not None]
    if not ids:
        return set()
    query = select(User.id, User.email).where(User.id.in_(ids), premium_now(clock.now()),
                                              condition)  # fmt: skip
    current = {user_id: email for user_id, email in db.session.execute(query)}
    return {row.user_id for row in rows
            if row.user_id is not None and current.get(row.user_id) == row.email}  # fmt: skip


def _test_recipient(mailing: Mailing, after: int) -> list[bulk.Recipient]:
    assert mailing.test_to is not None
    return [] if after >= 1 else [bulk.Recipient(1, mailing.test_to, mailing.created_by_id)]


# --- unsubscribe links ---------------------------------------------------------------------


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="paywall.industry-mail")


@dataclass(frozen=True)
class Unsubscribe:
    """What a one-click link in an industry mail stops: one industry, or the weekly review."""

    user_id: int
    what: str  # an industry slug, or "weekly"
    delivery_id: int | None


def unsubscribe_link(user_id: int, what: str, delivery_id: int | None) -> str:
    token = _signer().dumps([user_id, what, delivery_id])
    return absolute_url("newsletters.industry_unsubscribe", token=token)


def read_unsubscribe(token: str) -> Unsubscribe:
    try:
        user_id, what, delivery_id = _signer().loads(token)
    except (BadSignature, ValueError, TypeError):
        raise NotFound("This unsubscribe link is not valid.") from None
    if not isinstance(user_id, int) or (what != "weekly" and what not in INDUSTRIES):
        raise NotFound("This unsubscribe link is not valid.")
    return Unsubscribe(user_id, what, delivery_id if isinstance(delivery_id, int) else None)


def unsubscribe(token: str) -> tuple[User, Unsubscribe]:
    """Stop what the link names; doing it twice is the same as once."""
    link = read_unsubscribe(token)
    user = db.session.get(User, link.user_id)
    if user is None:
        raise NotFound("This unsubscribe link is not valid.")
    stopped = (industries.stop_weekly_review(user) if link.what == "weekly"
               else industries.stop_industry(user, link.what))  # fmt: skip
    if stopped and link.delivery_id is not None:
        delivery = db.session.get(Delivery, link.delivery_id)
        if delivery is not None and delivery.user_id == user.id:
            delivery.unsubscribed_at = delivery.unsubscribed_at or clock.now()
    return user, link


# --- the shared parts, built once per mailing ----------------------------------------------

BODY = "\x00BODY\x00"  # where the weekly review's wrapper takes each member's own part
MARK = "pw-unsubscribe-"  # followed by a random suffix; replaced by each recipient's link


@dataclass
class Parts:
    """What every recipient shares: `subject` and `headers` (paywall.mail.bulk.Composed),
    and text/HTML with a marker where each recipient's unsubscribe link goes."""

    subject: str
    headers: dict[str, str]
    marker: str = field(default_factory=lambda: MARK + secrets.token_hex(8))
    text: str = ""
    html: str = ""
    # The weekly review: per industry, its issues as teasers and the first one in full;
    # and the ids of the issues they hold.
    fragments: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    item_ids: set[int] = field(default_factory=set)

    def piece(self, text: str, html: str, link: str) -> Piece:
        return Piece(text.replace(self.marker, link), html.replace(self.marker, link), link)


def _list_headers(name: str, list_slug: str) -> dict[str, str]:
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"
    label = "".join(c for c in name if c.isascii() and (c.isalnum() or c in " -&"))
    return {"List-Id": f"{label} <{list_slug}.{host}>", "Precedence": "bulk"}


def _prefixed(mailing: Mailing, subject: str) -> str:
    return f"[Test] {subject}" if mailing.test_to else subject


# --- an industry issue ---------------------------------------------------------------------


def _item(mailing: Mailing) -> ContentItem:
    item = db.session.get(ContentItem, mailing.item_id) if mailing.item_id else None
    if item is None:
        raise LookupError(f"mailing {mailing.id}: its item is gone")
    return item


@bulk.audience("industry_issue")
class IndustryIssue:
    @staticmethod
    def wants(industry: str) -> ColumnElement[bool]:
        return and_(_preference(MailPreference.each_issue, default=False),
                    _receives_industry([industry]))  # fmt: skip

    def recipients(self, mailing: Mailing, after: int, limit: int) -> list[bulk.Recipient]:
        if mailing.test_to:
            return _test_recipient(mailing, after)
        return _members(self.wants(mailing.list_slug or ""), after, limit)

    def compose(self, mailing: Mailing) -> Parts:
        item = _item(mailing)
        industry = item.industry or ""
        name = INDUSTRIES.get(industry, industry)
        parts = Parts(_prefixed(mailing, item.title), _list_headers(f"PRO {name}", industry))
        context = {"item": item, "industry_name": name, "unsubscribe": parts.marker,
                   "url": absolute_url_of(item), "preferences": _preferences_url(),
                   "subject": parts.subject}  # fmt: skip
        parts.text = render_template("mail/industry_issue.txt", **context)
        parts.html = render_template("mail/industry_issue.html", **context)
        return parts

    def pieces(self, mailing: Mailing, composed: Any, rows: Sequence[bulk.Row]) -> dict[int, Piece]:
        industry = mailing.list_slug or ""
        wanted = ({row.user_id for row in rows} if mailing.test_to
                  else _still(self.wants(industry), rows))  # fmt: skip
        if not mailing.test_to and not _item(mailing).is_visible(clock.now()):
            return {}  # unpublished after the fan-out: the cancel may not have landed yet
        return {
            row.id: composed.piece(composed.text, composed.html,
                                   unsubscribe_link(row.user_id or 0, industry, row.id))
            for row in rows if row.user_id in wanted
        }  # fmt: skip


def absolute_url_of(item: ContentItem) -> str:
    return str(current_app.config["BASE_URL"]) + item.url_path()


def _preferences_url() -> str:
    return absolute_url("newsletters.account_industries")


def mail_issue(item: ContentItem, now: datetime | None = None) -> Mailing | None:
    """Mail a published industry issue to its members, once ever: a second call (a re-import,
    a second Publish) finds the mailing made by the first. Publishing again after an unpublish
    goes on with the cancelled mailing, to those who did not get it."""
    now = now or clock.now()
    if item.kind != "industry_newsletter" or not item.is_visible(now):
        return None
    existing = bulk.find(f"issue:{item.id}")
    if existing is not None:
        bulk.resume(existing)
        return existing
    assert item.published_at is not None
    if item.published_at < now - MAIL_ISSUES_PUBLISHED_WITHIN:
        return None  # archive
    mailing, _ = bulk.start(f"issue:{item.id}", "industry_issue", item.title,
                            item_id=item.id, list_slug=item.industry)  # fmt: skip
    return mailing


def cancel_issue(item: ContentItem) -> int:
    """The item was unpublished: what is not sent yet is not sent."""
    existing = bulk.find(f"issue:{item.id}")
    return bulk.cancel(existing) if existing is not None else 0


def send_test(item: ContentItem, staff: User) -> Mailing:
    """The issue as members would get it, to one member of staff, marked [Test]."""
    if item.kind == "industry_newsletter":
        mailing, _ = bulk.start(f"test:{secrets.token_hex(8)}", "industry_issue", item.title,
                                item_id=item.id, list_slug=item.industry, test_to=staff.email,
                                created_by_id=staff.id)  # fmt: skip
        return mailing
    raise ValueError("only industry newsletters are mailed")


@item_changed.connect
def _on_item_changed(item: ContentItem, **_: object) -> None:
    """An industry issue saved or published now is mailed; one unpublished is cancelled."""
    if item.kind != "industry_newsletter":
        return
    if item.status != "published":
        cancel_issue(item)
    else:
        mail_issue(item)  # a scheduled one waits for mail_due_issues


@scheduler.every("publish-due", period=scheduler.MINUTELY)
def mail_due_issues() -> int:
    """Industry issues whose publication time has come (scheduled, or published while no
    worker ran) and that have no mailing yet; returns how many were started."""
    now = clock.now()
    query = (
        select(ContentItem)
        .where(ContentItem.kind == "industry_newsletter", ContentItem.status == "published",
               ContentItem.published_at <= now,
               ContentItem.published_at >= now - MAIL_ISSUES_PUBLISHED_WITHIN,
               ~exists().where(Mailing.item_id == ContentItem.id, Mailing.test_to.is_(None)))
        .order_by(ContentItem.published_at)
        .limit(100)
    )  # fmt: skip
    started = 0
    for item in db.session.scalars(query):
        started += mail_issue(item, now) is not None
    return started


# --- the weekly review ---------------------------------------------------------------------


def _week_issues(mailing: Mailing) -> dict[str, list[ContentItem]]:
    """Issues published in the review's window, by industry, newest first."""
    query = (
        select(ContentItem)
        .where(ContentItem.kind == "industry_newsletter", ContentItem.status == "published",
               ContentItem.published_at >= mailing.covers_from,
               ContentItem.published_at < mailing.covers_until)
        .order_by(ContentItem.published_at.desc(), ContentItem.id.desc())
    )  # fmt: skip
    found: dict[str, list[ContentItem]] = defaultdict(list)
    for item in db.session.scalars(query):
        found[item.industry or ""].append(item)
    return dict(found)


def _weekly_industries(mailing: Mailing) -> list[str]:
    """The industries with an issue in the review's window: asked by every fan-out page, so
    the slugs alone, not the issues' bodies."""
    if not (mailing.covers_from and mailing.covers_until):
        return []
    query = select(ContentItem.industry).distinct().where(
        ContentItem.kind == "industry_newsletter", ContentItem.status == "published",
        ContentItem.published_at >= mailing.covers_from,
        ContentItem.published_at < mailing.covers_until,
    )  # fmt: skip
    return [slug for slug in db.session.scalars(query) if slug]


@bulk.audience("weekly_review")
class WeeklyReview:
    @staticmethod
    def wants(slugs: Sequence[str]) -> ColumnElement[bool]:
        return and_(_preference(MailPreference.weekly_review, default=True),
                    _receives_industry(slugs))  # fmt: skip

    def recipients(self, mailing: Mailing, after: int, limit: int) -> list[bulk.Recipient]:
        if mailing.test_to:
            return _test_recipient(mailing, after)
        slugs = _weekly_industries(mailing)
        return _members(self.wants(slugs), after, limit) if slugs else []

    @staticmethod
    def fill(parts: Parts, issues: dict[str, list[ContentItem]]) -> None:
        parts.fragments, parts.item_ids = {}, {i.id for items in issues.values() for i in items}
        for slug, items in issues.items():
            context = {"items": items, "industry_name": INDUSTRIES.get(slug, slug),
                       "url_of": absolute_url_of}  # fmt: skip
            parts.fragments[slug] = (
                render_template("mail/weekly_industry.txt", full=True, **context),
                render_template("mail/weekly_industry.html", full=True, **context),
                render_template("mail/weekly_industry.txt", full=False, **context),
                render_template("mail/weekly_industry.html", full=False, **context),
            )

    def leave_out_withdrawn(self, mailing: Mailing, parts: Parts) -> None:
        """An issue unpublished since the parts were built (they live as long as the worker
        process) is left out of the rest of the review, as an unpublished issue's own
        mailing stops; nothing is added, so the review stays the same for everyone else."""
        issues = {slug: [i for i in items if i.id in parts.item_ids]
                  for slug, items in _week_issues(mailing).items()}  # fmt: skip
        kept = {slug: items for slug, items in issues.items() if items}
        if {i.id for items in kept.values() for i in items} != parts.item_ids:
            self.fill(parts, kept)

    def compose(self, mailing: Mailing) -> Parts:
        parts = Parts(_prefixed(mailing, mailing.subject),
                      _list_headers("PRO weekly review", "weekly-review"))  # fmt: skip
        self.fill(parts, _week_issues(mailing))
        context = {"subject": parts.subject, "unsubscribe": parts.marker,
                   "preferences": _preferences_url(), "body": BODY}  # fmt: skip
        parts.text = render_template("mail/weekly_review.txt", **context)
        parts.html = render_template("mail/weekly_review.html", **context)
        return parts

    def pieces(self, mailing: Mailing, composed: Any, rows: Sequence[bulk.Row]) -> dict[int, Piece]:
        self.leave_out_withdrawn(mailing, composed)
        if not composed.fragments:
            return {}
        ids = [row.user_id for row in rows if row.user_id is not None]
        wanted = set(ids) if mailing.test_to else _still(self.wants(list(composed.fragments)), rows)
        orders = _orders(ids)
        found: dict[int, Piece] = {}
        for row in rows:
            if row.user_id not in wanted:
                continue
            order = [s for s in orders.get(row.user_id or 0, list(INDUSTRIES))
                     if s in composed.fragments]  # fmt: skip
            if not order:
                continue  # nothing new in their industries this week
            text = "".join(composed.fragments[s][0 if n == 0 else 2] for n, s in enumerate(order))
            html = "".join(composed.fragments[s][1 if n == 0 else 3] for n, s in enumerate(order))
            link = unsubscribe_link(row.user_id or 0, "weekly", row.id)
            found[row.id] = composed.piece(
                composed.text.replace(BODY, text), composed.html.replace(BODY, html), link
            )
        return found


def _orders(user_ids: list[int]) -> dict[int, list[str]]:
    """Each member's chosen industries in their order; members who never chose are absent
    (they receive all nine, in the standard order)."""
    orders: dict[int, list[str]] = defaultdict(list)
    query = (
        select(IndustryPriority.user_id, IndustryPriority.industry)
        .where(IndustryPriority.user_id.in_(user_ids))
        .order_by(IndustryPriority.user_id, IndustryPriority.position)
    )
    for user_id, industry in db.session.execute(query):
        orders[user_id].append(industry)
    chose_none = select(MailPreference.user_id).where(
        MailPreference.user_id.in_(user_ids), MailPreference.industries_chosen.is_(True)
    )
    for user_id in db.session.scalars(chose_none):
        orders.setdefault(user_id, [])
    return dict(orders)


def start_weekly_review(until: datetime, period: str) -> tuple[Mailing, bool]:
    """The review of the issues published since the last review (at most a week back) until
    `until`, once for this period; (mailing, whether this call started it)."""
    previous = db.session.scalar(
        select(Mailing.covers_until).where(Mailing.kind == "weekly_review",
                                           Mailing.test_to.is_(None),
                                           Mailing.covers_until <= until)
        .order_by(Mailing.covers_until.desc()).limit(1)
    )  # fmt: skip
    since = max(filter(None, (previous, until - WEEK)))
    subject = f"Your weekly industry review, {until:%d %B %Y}".replace(" 0", " ")
    anything = db.session.scalar(
        select(ContentItem.id).where(
            ContentItem.kind == "industry_newsletter", ContentItem.status == "published",
            ContentItem.published_at >= since, ContentItem.published_at < until,
        ).limit(1)
    )  # fmt: skip
    return bulk.start(f"weekly:{period}", "weekly_review", subject, covers_from=since,
                      covers_until=until, status="fanning" if anything else "done")  # fmt: skip


@scheduler.every("weekly-review", period=scheduler.WEEKLY_REVIEW)
def weekly_review_task() -> str:
    window = scheduler.WEEKLY_REVIEW.window(clock.now(), current_app.config)
    mailing, made = start_weekly_review(window.start, window.key)
    return f"weekly review {mailing.key} {'started' if made else 'already started'}"


# --- a free list issue ---------------------------------------------------------------------


@bulk.audience("free_issue")
class FreeIssue:
    def recipients(self, mailing: Mailing, after: int, limit: int) -> list[bulk.Recipient]:
        if mailing.test_to:
            return _test_recipient(mailing, after)
        query = (
            select(ListSubscription.id, ListSubscription.email)
            .where(ListSubscription.list_slug == mailing.list_slug,
                   ListSubscription.status == "confirmed", ListSubscription.id > after)
            .order_by(ListSubscription.id)
            .limit(limit)
        )  # fmt: skip
        return [bulk.Recipient(key=sid, email=email) for sid, email in db.session.execute(query)]

    def compose(self, mailing: Mailing) -> Parts:
        newsletter = NEWSLETTERS[mailing.list_slug or ""]
        parts = Parts(_prefixed(mailing, mailing.subject),
                      _list_headers(newsletter.name, mailing.list_slug or ""))  # fmt: skip
        context = {"text": mailing.text_body, "html": mailing.html_body, "subject": parts.subject,
                   "unsubscribe": parts.marker, "newsletter": newsletter}  # fmt: skip
        parts.text = render_template("mail/newsletter_issue.txt", **context)
        parts.html = render_template("mail/newsletter_issue.html", **context)
        return parts

    def pieces(self, mailing: Mailing, composed: Any, rows: Sequence[bulk.Row]) -> dict[int, Piece]:
        keys = [row.recipient_key for row in rows]
        confirmed = select(ListSubscription).where(
            ListSubscription.id.in_(keys), ListSubscription.status == "confirmed"
        )
        still = {s.id: s for s in db.session.scalars(confirmed)}
        found: dict[int, Piece] = {}
        for row in rows:
            subscription = still.get(row.recipient_key)
            if mailing.test_to or subscription is not None:
                link = (
                    absolute_url("newsletters.unsubscribe", token=unsubscribe_token(subscription))
                    if subscription is not None
                    else _preferences_url()
                )
                found[row.id] = composed.piece(composed.text, composed.html, link)
        return found


def send_free_issue(slug: str, subject: str, text: str, html: str) -> tuple[Mailing, bool]:
    """Queue a free list issue; the same issue (list, subject and text) sent again is the same
    mailing, so no subscriber gets it twice. (mailing, whether this call started it)."""
    digest = hashlib.sha256(f"{slug}\x00{subject}\x00{text}".encode()).hexdigest()[:24]
    return bulk.start(f"free:{slug}:{digest}", "free_issue", subject, list_slug=slug,
                      text_body=text, html_body=html)  # fmt: skip
