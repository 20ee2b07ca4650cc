"""Plain helpers for tests: factories, CSRF-aware form posts, reading links out of mail."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from paywall import clock
from paywall.accounts.models import User
from paywall.accounts.passwords import hash_password
from paywall.entitlements import refresh_access
from paywall.extensions import db

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_counter = iter(range(1, 10**9))


def make_user(
    *,
    email: str | None = None,
    password: str | None = PASSWORD,
    verified: bool = True,
    role: str = "reader",
    disabled: bool = False,
) -> User:
    """A committed user; keyword-only so each test says what matters to it."""
    user = User(
        email=email or f"reader{next(_counter)}@example.com",
        password_hash=hash_password(password) if password else None,
        email_verified_at=clock.now() if verified else None,
        role=role,
        disabled_at=clock.now() if disabled else None,
    )
    db.session.add(user)
    refresh_access(user)
    db.session.commit()
    return user


def csrf_token(client: FlaskClient, path: str = "/signin") -> str:
    page = client.get(path)
    match = CSRF.search(page.get_data(as_text=True))
    assert match, f"no csrf_token on {path}"
    return match.group(1)


def post_form(
    client: FlaskClient, path: str, data: dict[str, Any], *, form_page: str = "/signin"
) -> TestResponse:
    """POST a form the way a browser does: with the CSRF token from a page of the site."""
    return client.post(path, data={"csrf_token": csrf_token(client, form_page), **data})


def sign_in(
    client: FlaskClient, email: str, password: str = PASSWORD, **extra: Any
) -> TestResponse:
    response = post_form(client, "/signin", {"email": email, "password": password, **extra})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


def link_in(text: str, path_prefix: str) -> str:
    """The path of the first link in a mail's text that starts with path_prefix."""
    match = re.search(r"https?://[^/\s]+(" + re.escape(path_prefix) + r"[^\s]*)", text)
    assert match, f"no {path_prefix} link in: {text}"
    return match.group(1)


def code_in(text: str) -> str:
    match = re.search(r"code[^0-9]*(\d{6})", text)
    assert match, f"no code in: {text}"
    return match.group(1)


def make_member(**kwargs: Any) -> User:
    """A committed reader with complimentary premium access and no end date."""
    from paywall.accounts.comp import grant_comp

    user = make_user(**kwargs)
    grant_comp(user.email, until=None, reason="test member", staff=None)
    db.session.commit()
    return user


def make_item(
    *,
    kind: str = "memo",
    access: str = "premium",
    slug: str | None = None,
    title: str | None = None,
    teaser: str = "A teaser that anyone may read.",
    body: str = "The body of the item.",
    industry: str | None = None,
    published: bool = True,
    **fields: Any,
) -> Any:
    """A committed content item, saved through the same service the importer uses."""
    from paywall.content.service import save_item

    number = next(_counter)
    if kind == "industry_newsletter" and industry is None:
        industry = "oil-gas"
    if kind in ("live_qa", "event"):
        fields.setdefault("starts_at", "2030-01-01T10:00:00Z")
    item = save_item(
        {
            "kind": kind,
            "slug": slug or f"{kind.replace('_', '-')}-{number}",
            "title": title or f"{kind} number {number}",
            "access": access,
            "teaser": teaser,
            "body_markdown": body,
            "status": "published" if published else "draft",
            "published_at": "2026-01-01T00:00:00Z" if published else None,
            **({"industry": industry} if industry else {}),
            **fields,
        }
    )
    db.session.commit()
    return item
