"""Cross-cutting web concerns: security headers, error pages and JSON errors, safe redirects."""

from __future__ import annotations

import math
import time
import unicodedata
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, g, jsonify, render_template, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import IntegerConverter, Map

from paywall.dbtypes import MAX_ID
from paywall.errors import PaywallError, ValidationError
from paywall.extensions import db, limiter

# Content may show images from anywhere on https, and embed players only from the video hosts
# its Markdown renderer allows (paywall.content.markdown.VIDEO_HOSTS).
CSP = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'self'; "
    "frame-src https://www.youtube-nocookie.com https://player.vimeo.com; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"


class IdConverter(IntegerConverter):
    """`<int:...>` for ids: ASCII digits up to MAX_ID, so /admin/members/99999999999999999999
    is a 404 rather than an overflow in the database driver (a 500)."""

    regex = r"[0-9]+"

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = MAX_ID, signed: bool = False) -> None:  # fmt: skip
        super().__init__(map, fixed_digits, min, MAX_ID if max is None else max, signed)


def register_url_converters(app: Flask) -> None:
    """Before any blueprint adds its rules: rules pick their converters when added."""
    app.url_map.converters["int"] = IdConverter


def is_safe_next(value: str | None) -> bool:
    """True only for a path on this site: '/x', never '//host', '/\\host', 'scheme:' or junk.

    The value is checked as given and once percent-decoded, and may hold no control or space
    characters at all (browsers drop tabs and newlines, turning "/\t/evil" into "//evil").
    """
    if not value or len(value) > 500:
        return False
    return all(_is_plain_path(candidate) for candidate in (value, unquote(value)))


def _is_plain_path(value: str) -> bool:
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return False
    if any(unicodedata.category(ch)[0] in {"C", "Z"} for ch in value):
        return False
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc


def safe_next(value: str | None, default: str = "/account") -> str:
    return value if value is not None and is_safe_next(value) else default


def wants_json() -> bool:
    return request.path.startswith("/api/")


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def add_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        response.headers["X-Frame-Options"] = "DENY"
        response.vary.add("Cookie")
        if app.config["SECURE_TRANSPORT"]:
            response.headers["Strict-Transport-Security"] = HSTS
        return response

    app.session_interface = PrivateWhenReadSessionInterface()


class ReadTrackingSession(SecureCookieSession):
    """A cookie session that knows whether any value in it was read (`read`).

    Flask's own `accessed` cannot tell: since Flask 3.1.3 any touch of the `flask.session`
    proxy sets it, and Flask-Login touches it on every request (`"_remember" in session`, a
    membership test, which is why `in` is not counted as a read here).
    """

    read = False

    def __getitem__(self, key: str) -> Any:
        self.read = True
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read = True
        return super().get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.read = True
        return super().setdefault(key, default)


class PrivateWhenReadSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie sessions, plus: a response that depends on who is asking is private.

    A response depends on who is asking when building it read the session (the signed-in
    user, a CSRF token), loaded a user, or changed the session (it carries this browser's
    cookie). Flask adds `Vary: Cookie`; this also sends `Cache-Control: private, no-store`,
    since many caches and CDNs ignore Vary. Decided here, once, because only save_session sees
    the session after every view, template and after_request function is done with it.
    """

    session_class = ReadTrackingSession

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if getattr(session, "read", True) or session.modified or "_login_user" in g:
            keep_private(response)
        super().save_session(app, session, response)


def keep_private(response: Response) -> None:
    """`private, no-store`: no shared cache may keep the response and the browser keeps no copy
    after sign-out. A view's own stricter directives (no-cache) stay; any that would let a
    shared cache keep it (public, s-maxage, max-age) go."""
    control = response.cache_control
    control.public = False
    control.s_maxage = None
    control.max_age = None
    control.private = True
    control.no_store = True


def error_response(status: int, message: str, code: str, field: str | None = None) -> Response:
    if wants_json():
        body: dict[str, object] = {"code": code, "message": message}
        if field:
            body["field"] = field
        response = jsonify({"error": body})
    else:
        response = Response(
            render_template("errors/error.html", status=status, message=message),
            mimetype="text/html",
        )
    response.status_code = status
    return response


def _retry_after_seconds() -> int:
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, int(current.reset_at - time.time()))


def register_staff_gate(app: Flask) -> None:
    """Everything under /admin is for staff; anyone else gets the plain 404, whatever they
    send. Registered before every other before_request function (CSRF's among them) and run
    before routing answers, so neither a missing token (400), a wrong method (405), a slash
    redirect (308) nor an OPTIONS list shows that a route is there."""

    @app.before_request
    def staff_gate() -> None:
        path = request.path
        if (path == "/admin" or path.startswith("/admin/")) and not (
            current_user.is_authenticated and current_user.is_staff
        ):
            raise NotFound()


def register_input_guard(app: Flask) -> None:
    """NUL, which no one types and PostgreSQL cannot store or compare in text: a request that
    carries one in its path, query or form is refused as bad input (400) before any view, rather
    than failing in the database (500) wherever the value happens to reach it."""

    @app.before_request
    def refuse_nul() -> None:
        where = _where_nul()
        if where is not None:
            raise ValidationError(f"{where} holds a character that cannot be used.", field=where)


def _where_nul() -> str | None:
    if "\x00" in request.path:
        return "the address"
    for values in (request.args, request.form):
        for name, value in values.items(multi=True):
            if "\x00" in name or "\x00" in value:
                return name.replace("\x00", "") or "a field"
    return None


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(PaywallError)
    def paywall_error(error: PaywallError) -> Response:
        return error_response(error.status, error.message, error.code, error.field)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Response:
        return error_response(
            400, "This form has expired. Go back, reload the page and try again.", "csrf_failed"
        )

    @app.errorhandler(429)
    def too_many(error: HTTPException) -> Response:
        seconds = _retry_after_seconds()
        minutes = math.ceil(seconds / 60)
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
        response = error_response(429, f"Too many attempts. Try again in {wait}.", "rate_limited")
        response.headers["Retry-After"] = str(seconds)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        message = {404: "This page does not exist.", 405: "This method is not allowed here."}.get(
            status, error.description or "Something went wrong."
        )
        response = error_response(
            status, message, (error.name or "error").lower().replace(" ", "_")
        )
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(500)
    def server_error(error: Exception) -> Response:
        # Whatever half-made change led here must not be committed by a later step.
        db.session.rollback()
        return error_response(
            500, "Something went wrong on our side. Please try again.", "internal"
        )
