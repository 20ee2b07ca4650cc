"""Errors in Stripe's shape: `{"error": {"type", "message", "param", "code", ...}}`."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    status = 400
    type = "invalid_request_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        decline_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message, self.param, self.code, self.decline_code = message, param, code, decline_code

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.param:
            error["param"] = self.param
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://docs.stripe.com/error-codes/{self.code.replace('_', '-')}"
        if self.decline_code:
            error["decline_code"] = self.decline_code
        return {"error": error}


class InvalidRequest(StripeError):
    pass


class NotFound(StripeError):
    status = 404

    def __init__(self, kind: str, object_id: str, param: str = "id") -> None:
        super().__init__(f"No such {kind}: '{object_id}'", param=param, code="resource_missing")


class AuthenticationError(StripeError):
    status = 401
    type = "invalid_request_error"


class CardError(StripeError):
    status = 402
    type = "card_error"


class IdempotencyError(StripeError):
    status = 400
    type = "idempotency_error"
