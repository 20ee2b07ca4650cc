"""Plain helpers for tests: factories, CSRF-aware form posts, reading links out of mail."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from paywall import clock
from paywall.accounts.models import User
from paywall.accounts.passwords import hash_password
from paywall.accounts.service import refresh_access
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
