"""Members' industry priorities: which of the nine industry newsletters they receive, in
which order, how (each issue by mail, the weekly review, both or neither), and the weekly
review assembled from them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select

from paywall import clock
from paywall.accounts.models import User
from paywall.content.kinds import INDUSTRIES
from paywall.content.models import ContentItem
from paywall.errors import ValidationError
from paywall.extensions import db
from paywall.newsletters.models import IndustryPriority, MailPreference

# The form's `delivery` values: (each issue by mail, the weekly review by mail).
DELIVERIES: dict[str, tuple[bool, bool]] = {
    "each": (True, False),
    "weekly": (False, True),
    "both": (True, True),
    "none": (False, False),
}
DEFAULT_DELIVERY = "weekly"


def priorities(user: User) -> list[tuple[str, bool]]:
    """All nine industries in the member's order, each with whether they receive it.

    With nothing saved: every industry, in the standard order. Unchosen ones follow the
    chosen ones, in the standard order.
    """
    rows = list(db.session.scalars(
        select(IndustryPriority).where(IndustryPriority.user_id == user.id)
        .order_by(IndustryPriority.position)
    ))  # fmt: skip
    if not rows and not _preference(user).industries_chosen:
        return [(slug, True) for slug in INDUSTRIES]
    chosen = [row.industry for row in rows if row.industry in INDUSTRIES]
    return [(s, True) for s in chosen] + [(s, False) for s in INDUSTRIES if s not in chosen]


def check_order(industries: Iterable[str]) -> list[str]:
    order = [s.strip() for s in industries]
    unknown = [s for s in order if s not in INDUSTRIES]
    if unknown:
        raise ValidationError(
            f"There is no industry called {unknown[0][:40]!r}.", field="industries"
        )
    if len(set(order)) != len(order):
        raise ValidationError("Each industry may appear once.", field="industries")
    return order


def move(order: list[str], industry: str, direction: str) -> list[str]:
    """The order with one industry moved one place up or down (for the no-JavaScript form)."""
    if industry not in order or direction not in ("up", "down"):
        return order
    i = order.index(industry)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(order):
        order = order.copy()
        order[i], order[j] = order[j], order[i]
    return order


def _preference(user: User) -> MailPreference:
    """The member's saved choices, or the defaults (not added to the session)."""
    found = db.session.get(MailPreference, user.id)
    if found is None:
        each, weekly = DELIVERIES[DEFAULT_DELIVERY]
        found = MailPreference(user_id=user.id, each_issue=each, weekly_review=weekly,
                               industries_chosen=False)  # fmt: skip
    return found


def _saved_preference(user: User) -> MailPreference:
    found = _preference(user)
    if found not in db.session:
        db.session.add(found)
    found.updated_at = clock.now()
    return found


def delivery(user: User) -> str:
    """How the member receives their industries: each | weekly | both | none."""
    found = _preference(user)
    wanted = (found.each_issue, found.weekly_review)
    return next(name for name, flags in DELIVERIES.items() if flags == wanted)


def check_delivery(value: str | None) -> str | None:
    """A `delivery` form value, or None when the form sent none (keep what is saved)."""
    if value in (None, ""):
        return None
    if value not in DELIVERIES:
        raise ValidationError("Choose how to receive your industries.", field="delivery")
    return value


def set_delivery(user: User, value: str) -> None:
    found = _saved_preference(user)
    found.each_issue, found.weekly_review = DELIVERIES[value]


def stop_industry(user: User, industry: str) -> bool:
    """One-click unsubscribe from one industry: the others stay, in their order. False when
    the member did not receive it."""
    chosen = [slug for slug, receives in priorities(user) if receives]
    if industry not in chosen:
        return False
    save(user, [slug for slug in chosen if slug != industry])
    return True


def stop_weekly_review(user: User) -> bool:
    """One-click unsubscribe from the weekly review; each issue by mail stays as chosen."""
    current = delivery(user)
    if not DELIVERIES[current][1]:
        return False
    set_delivery(user, "each" if DELIVERIES[current][0] else "none")
    return True


def save(user: User, chosen_in_order: Iterable[str], delivery: str | None = None) -> None:
    """Store the industries the member receives, first priority first, and how."""
    order = check_order(chosen_in_order)
    if delivery is not None:
        set_delivery(user, delivery)
    _saved_preference(user).industries_chosen = True
    db.session.execute(delete(IndustryPriority).where(IndustryPriority.user_id == user.id))
    db.session.add_all(
        IndustryPriority(user_id=user.id, industry=slug, position=n) for n, slug in enumerate(order)
    )
    db.session.flush()


def weekly_review(user: User) -> list[tuple[str, ContentItem]]:
    """The latest visible issue of each industry the member receives, in their order."""
    chosen = [slug for slug, receives in priorities(user) if receives]
    latest: dict[str, ContentItem] = {}
    query = (
        select(ContentItem)
        .where(ContentItem.kind == "industry_newsletter", ContentItem.status == "published",
               ContentItem.published_at <= clock.now(), ContentItem.industry.in_(chosen))
        .order_by(ContentItem.published_at.desc())
        .limit(200)
    )  # fmt: skip
    for item in db.session.scalars(query):
        latest.setdefault(item.industry or "", item)
    return [(slug, latest[slug]) for slug in chosen if slug in latest]
