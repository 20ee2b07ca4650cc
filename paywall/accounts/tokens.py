"""Single-use tokens mailed to users: a link, and for sign-in a 6-digit code as well."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from paywall import clock
from paywall.accounts.models import EmailToken, User
from paywall.errors import TokenInvalid
from paywall.extensions import db

INVALID_MESSAGE = "This link has expired or has already been used. Ask for a new one."


@dataclass(frozen=True)
class Issued:
    token: EmailToken
    raw: str
    code: str | None


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _hash_code(token_id: int, code: str) -> str:
    # Keyed by the app secret and the token, so a leaked table does not reveal six digits.
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{token_id}:{code}".encode(), hashlib.sha256).hexdigest()


def issue(
    user: User,
    purpose: str,
    *,
    lifetime: timedelta,
    email: str | None = None,
    with_code: bool = False,
    next_path: str | None = None,
) -> Issued:
    """Create a token (256 random bits) and, when asked, a 6-digit code beside it."""
    raw = secrets.token_urlsafe(32)
    token = EmailToken(
        user=user,
        purpose=purpose,
        email=email or user.email,
        token_hash=hash_token(raw),
        expires_at=clock.now() + lifetime,
        next_path=next_path,
    )
    db.session.add(token)
    db.session.flush()
    code = None
    if with_code:
        code = f"{secrets.randbelow(1_000_000):06d}"
        token.code_hash = _hash_code(token.id, code)
    return Issued(token=token, raw=raw, code=code)


def find_live(raw: str, purposes: Iterable[str]) -> EmailToken:
    """The live token behind a link, or TokenInvalid (unknown, used and expired look alike)."""
    if not raw or len(raw) > 100:
        raise TokenInvalid(INVALID_MESSAGE)
    token = db.session.scalar(select(EmailToken).where(EmailToken.token_hash == hash_token(raw)))
    if token is None or token.purpose not in set(purposes) or not token.is_live(clock.now()):
        raise TokenInvalid(INVALID_MESSAGE)
    found: EmailToken = token
    return found


def use(token: EmailToken) -> None:
    """Spend a token. Only one of any number of concurrent callers gets past this."""
    now = clock.now()
    spent = db.session.execute(
        update(EmailToken)
        .where(EmailToken.id == token.id, EmailToken.used_at.is_(None), EmailToken.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise TokenInvalid(INVALID_MESSAGE)
    db.session.refresh(token)


def match_code(user: User, code: str, purposes: Iterable[str], max_attempts: int) -> EmailToken:
    """The user's newest live code token, if this is its code; a wrong guess counts against it.

    Only the newest code is ever tried: issuing a code spends the older ones (jobs), and should
    two mails race, a guess still tests one code, never several at once.
    """
    now = clock.now()
    token = db.session.scalar(
        select(EmailToken)
        .where(
            EmailToken.user_id == user.id,
            EmailToken.purpose.in_(list(purposes)),
            EmailToken.code_hash.is_not(None),
            EmailToken.used_at.is_(None),
            EmailToken.expires_at > now,
        )
        .order_by(EmailToken.id.desc())
        .limit(1)
    )
    if token is not None and hmac.compare_digest(token.code_hash or "", _hash_code(token.id, code)):
        found: EmailToken = token
        return found
    if token is not None:
        token.code_attempts += 1
        if token.code_attempts >= max_attempts:
            token.used_at = now  # too many guesses: this code (and its link) is dead
    raise TokenInvalid("That code is not right, or it has expired.")


def revoke_all(user: User, *purposes: str) -> None:
    """Spend every outstanding token of these purposes (a reset voids older reset links)."""
    db.session.execute(
        update(EmailToken)
        .where(
            EmailToken.user_id == user.id,
            EmailToken.purpose.in_(purposes),
            EmailToken.used_at.is_(None),
        )
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
