"""Logging: a request id on every request and its log lines, and JSON lines in production."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
import uuid
from datetime import UTC, datetime
from typing import Any, TextIO, cast

from flask import Flask, Response, g, has_request_context, request
from flask.logging import default_handler, wsgi_errors_stream

from paywall.settings import ConfigError

REQUEST_ID_HEADER = "X-Request-Id"
# An id from a proxy or a caller is kept only when it is short and plain: it ends up in log
# lines and response headers, where newlines or markup would forge or break them.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
TEXT_FORMAT = "[%(asctime)s] %(levelname)s in %(module)s [%(request_id)s]: %(message)s"
FORMATS = ("text", "json")
# Our handlers carry this name, so configuring again (tests build many apps in one process)
# replaces them instead of stacking a second copy.
HANDLER_NAME = "paywall"
access_log = logging.getLogger("paywall.access")

# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


def sane_request_id(value: str | None) -> str | None:
    """The incoming id when it is 1-64 characters of [A-Za-z0-9._-], else None."""
    if value and SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


def current_request_id() -> str | None:
    """This request's id (made on first use), or None outside a request."""
    if not has_request_context():
        return None
    if "request_id" not in g:
        g.request_id = sane_request_id(request.headers.get(REQUEST_ID_HEADER)) or uuid.uuid4().hex
    return str(g.request_id)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to each record a handler sees (None outside a request), unless the
    caller passed one in `extra=`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id()
        return True


class TextFormatter(logging.Formatter):
    """Flask's default line, plus the request id ("-" outside a request)."""

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request_id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                entry.setdefault(key, value)  # an extra never hides a standard field
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.stack_info:
            entry["stack"] = record.stack_info
        # default=str: an extra that JSON cannot hold is still logged, as its text.
        return json.dumps(entry, default=str)


class StderrHandler(logging.Handler):
    """Writes to sys.stderr as it is at each record, not as it was at start-up, so a stderr
    replaced later (pytest's capsys, a process manager) still gets the lines."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self.stream or sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def init_logging(app: Flask) -> None:
    """Configure logging for LOG_FORMAT and give every request an id."""
    log_format = app.config.get("LOG_FORMAT") or "text"
    if log_format not in FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    _install_handler(log_format)
    app.before_request(_start_request)
    app.after_request(_finish_request if log_format == "json" else _send_request_id)


def _install_handler(log_format: str) -> None:
    root, package = logging.getLogger(), logging.getLogger("paywall")
    for logger in (root, package):
        for installed in list(logger.handlers):
            if installed.name == HANDLER_NAME:
                logger.removeHandler(installed)
    # Ours takes the place of Flask's, which would otherwise print each line a second time.
    package.removeHandler(default_handler)
    handler: logging.Handler
    if log_format == "json":
        # On the root logger, so libraries' warnings (SQLAlchemy, Stripe) are JSON lines too.
        handler = StderrHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        # The root level (WARNING unless someone set it) still governs everything else.
        access_log.setLevel(logging.INFO)
    else:
        # Where Flask's own handler was, writing where it wrote (the WSGI server's error stream).
        handler = logging.StreamHandler(cast(TextIO, wsgi_errors_stream))
        handler.setFormatter(TextFormatter(TEXT_FORMAT))
        package.addHandler(handler)
    handler.name = HANDLER_NAME
    handler.addFilter(RequestIdFilter())


def _start_request() -> None:
    g.request_clock = time.perf_counter()
    current_request_id()


def _send_request_id(response: Response) -> Response:
    request_id = current_request_id()
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def _finish_request(response: Response) -> Response:
    started = g.get("request_clock")
    access_log.info(
        "%s %s %s",
        request.method,
        logged_path(),
        response.status_code,
        extra={
            "method": request.method,
            "path": logged_path(),
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        },
    )
    return _send_request_id(response)


def logged_path() -> str:
    """The request path without its query string, and with any URL token replaced by its
    name: sign-in, reset and join links carry live tokens that logs must not keep."""
    path = request.path
    for name, value in (request.view_args or {}).items():
        if "token" in name and isinstance(value, str) and value:
            path = path.replace(value, f"<{name}>")
    return path
