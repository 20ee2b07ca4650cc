"""Password policy and hashing (OWASP ASVS 6.2): length only, no composition rules."""

from __future__ import annotations

from functools import cache
from importlib import resources

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from paywall.errors import ValidationError

MIN_LENGTH = 8
MAX_LENGTH = 128


@cache
def common_passwords() -> frozenset[str]:
    """The 10,000 most used passwords (from Django's list, itself from public breach data)."""
    text = resources.files("paywall.accounts").joinpath("common-passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def check_policy(password: str, *, field: str = "password") -> None:
    """Refuse passwords that are too short, too long, or among the most common ones."""
    if len(password) < MIN_LENGTH:
        raise ValidationError(f"Use at least {MIN_LENGTH} characters.", field=field)
    if len(password) > MAX_LENGTH:
        raise ValidationError(f"Use at most {MAX_LENGTH} characters.", field=field)
    if password.lower() in common_passwords():
        raise ValidationError(
            "This password is one of the most common ones; choose another.", field=field
        )


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


@cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash("not-a-real-password", method=method)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check a password; with no account, hash anyway so the answer takes the same time."""
    if stored_hash is None:
        check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password)
        return False
    return check_password_hash(stored_hash, password)
