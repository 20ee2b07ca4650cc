"""Free newsletters: double opt-in, one-click unsubscribe, exports (an issue is sent by
paywall.newsletters.mailings).

Asking to subscribe always gets the same answer; a worker job decides whether a confirmation
mail is needed, so the answer never shows whether an address is already on a list.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select, update

from paywall import clock, jobs
from paywall.accounts.emails import normalise_email
from paywall.accounts.models import User
from paywall.accounts.tokens import INVALID_MESSAGE, hash_token
from paywall.errors import NotFound, TokenInvalid, ValidationError
from paywall.extensions import db
from paywall.mail.outbox import absolute_url, queue_mail
from paywall.newsletters.lists import NEWSLETTERS
from paywall.newsletters.models import Confirmation, ListSubscription

CONFIRM_LIFETIME = timedelta(days=7)
BATCH = 500


def check_lists(lists: Iterable[str], *, allow_none: bool = False) -> list[str]:
    """Known list slugs, each once, in the order given; at least one unless allow_none."""
    chosen = list(dict.fromkeys(s.strip() for s in lists if s and s.strip()))
    unknown = [s for s in chosen if s not in NEWSLETTERS]
    if unknown:
        raise ValidationError(f"There is no newsletter called {unknown[0][:40]!r}.", field="lists")
    if not chosen and not allow_none:
        raise ValidationError("Choose at least one newsletter.", field="lists")
    return chosen


def request_subscription(email: str, lists: Iterable[str]) -> None:
    """Check the input and queue the opt-in; the worker mails a confirmation if one is due."""
    jobs.enqueue("newsletters.subscribe", email=normalise_email(email), lists=check_lists(lists))


def confirmed_lists(email: str) -> set[str]:
    query = select(ListSubscription.list_slug).where(
        ListSubscription.email == email, ListSubscription.status == "confirmed"
    )
    return set(db.session.scalars(query))


@jobs.job("newsletters.subscribe")
def mail_confirmation(payload: dict[str, Any]) -> None:
    """Mail a confirmation link for the lists this address is not confirmed on yet."""
    email = payload["email"]
    wanted = [s for s in payload["lists"] if s not in confirmed_lists(email)]
    if not wanted:
        return  # already on every list asked for: nothing to confirm, nothing to say
    raw = secrets.token_urlsafe(32)
    db.session.add(Confirmation(email=email, lists=wanted, token_hash=hash_token(raw),
                                expires_at=clock.now() + CONFIRM_LIFETIME))  # fmt: skip
    queue_mail(
        email,
        "newsletter_confirm",
        subject="Confirm your newsletter subscription",
        link=absolute_url("newsletters.confirm", token=raw),
        names=[NEWSLETTERS[s].name for s in wanted],
    )


def peek_confirmation(raw: str) -> Confirmation:
    found: Confirmation | None = db.session.scalar(
        select(Confirmation).where(Confirmation.token_hash == hash_token(raw))
    )
    if found is None or found.used_at is not None or found.expires_at <= clock.now():
        raise TokenInvalid(INVALID_MESSAGE)
    return found


def confirm(raw: str) -> list[str]:
    """Use a confirmation link (once: a guarded UPDATE) and confirm its lists."""
    found = peek_confirmation(raw)
    spent = db.session.execute(
        update(Confirmation)
        .where(Confirmation.id == found.id, Confirmation.used_at.is_(None))
        .values(used_at=clock.now())
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise TokenInvalid(INVALID_MESSAGE)
    subscribe_confirmed(found.email, found.lists)
    return list(found.lists)


def subscribe_confirmed(email: str, lists: Iterable[str]) -> None:
    """Put a proven address on these lists."""
    now = clock.now()
    for slug in lists:
        row = db.session.scalar(
            select(ListSubscription).where(
                ListSubscription.email == email, ListSubscription.list_slug == slug
            )
        )
        if row is None:
            row = ListSubscription(email=email, list_slug=slug)
            db.session.add(row)
        if row.status != "confirmed":
            row.status, row.confirmed_at, row.unsubscribed_at = "confirmed", now, None
    db.session.flush()


def _unsubscribe_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="paywall.unsubscribe")


def unsubscribe_token(subscription: ListSubscription) -> str:
    """A long-lived, unguessable token naming one subscription (signed, not stored)."""
    return str(_unsubscribe_signer().dumps(subscription.id))


def find_by_unsubscribe_token(token: str) -> ListSubscription:
    try:
        subscription_id = _unsubscribe_signer().loads(token)
    except BadSignature:
        raise NotFound("This unsubscribe link is not valid.") from None
    found = (
        db.session.get(ListSubscription, subscription_id)
        if isinstance(subscription_id, int)
        else None
    )
    if found is None:
        raise NotFound("This unsubscribe link is not valid.")
    return found


def unsubscribe(token: str) -> ListSubscription:
    """Take the address off the list; doing it twice is the same as once."""
    found = find_by_unsubscribe_token(token)
    if found.status != "unsubscribed":
        found.status, found.unsubscribed_at = "unsubscribed", clock.now()
    return found


def set_user_lists(user: User, lists: Iterable[str]) -> bool:
    """A signed-in reader picks their lists. A confirmed address joins at once; an unconfirmed
    one gets the opt-in mail. Returns True when a confirmation mail is on its way."""
    chosen = check_lists(lists, allow_none=True)  # ticking nothing means "no newsletters"
    for row in db.session.scalars(
        select(ListSubscription).where(ListSubscription.email == user.email)
    ):
        if row.list_slug not in chosen and row.status == "confirmed":
            row.status, row.unsubscribed_at = "unsubscribed", clock.now()
    if not chosen:
        return False
    if user.is_verified:
        subscribe_confirmed(user.email, chosen)
        return False
    jobs.enqueue("newsletters.subscribe", email=user.email, lists=chosen)
    return True


def counts() -> dict[str, int]:
    rows = db.session.execute(
        select(ListSubscription.list_slug, func.count())
        .where(ListSubscription.status == "confirmed")
        .group_by(ListSubscription.list_slug)
    )
    found = {slug: int(n) for slug, n in rows}
    return {slug: found.get(slug, 0) for slug in NEWSLETTERS}


def export_rows(slug: str) -> Iterator[tuple[str, str]]:
    """(email, confirmed_at) of every confirmed subscriber, streamed in batches."""
    check_lists([slug])
    query = (
        select(ListSubscription.email, ListSubscription.confirmed_at)
        .where(ListSubscription.list_slug == slug, ListSubscription.status == "confirmed")
        .order_by(ListSubscription.id)
        .execution_options(yield_per=BATCH)
    )
    for email, confirmed_at in db.session.execute(query):
        yield email, confirmed_at.isoformat() if confirmed_at else ""
