"""Email addresses as accounts store them."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from paywall.errors import ValidationError

MAX_LENGTH = 254  # RFC 5321's limit on a forward path


def normalise_email(raw: str, *, field: str = "email") -> str:
    """Trim, validate and lower-case an address; raise ValidationError naming the field."""
    candidate = (raw or "").strip()
    if not candidate:
        raise ValidationError("Enter your email address.", field=field)
    if len(candidate) > MAX_LENGTH:
        raise ValidationError("This email address is too long.", field=field)
    try:
        checked = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError("Enter a valid email address.", field=field) from None
    return checked.normalized.lower()


def rate_limit_key(raw: str | None) -> str:
    """A stable key for per-address rate limits, even for addresses that do not validate."""
    return (raw or "").strip().lower()[:MAX_LENGTH]
