"""The errors services raise; paywall.web turns them into pages or JSON answers."""

from __future__ import annotations


class PaywallError(Exception):
    """Base of the errors a user may see; `status` is the HTTP status it maps to."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationError(PaywallError):
    """The input is wrong; `field` names the form field when there is one."""

    code = "invalid"


class NotFound(PaywallError):
    status = 404
    code = "not_found"


class Conflict(PaywallError):
    status = 409
    code = "conflict"


class TokenInvalid(PaywallError):
    """A link or code that is unknown, used up or expired: one message for all three."""

    code = "token_invalid"


class TooManyRequests(PaywallError):
    """A limit the rules set (not the rate limiter's): answered 429 with this message."""

    status = 429
    code = "too_many_requests"
