"""Queued jobs: a request records what to do, the worker does it in its own transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paywall.extensions import db
from paywall.mail.models import Job

JobHandler = Callable[[dict[str, Any]], None]
HANDLERS: dict[str, JobHandler] = {}


def job(name: str) -> Callable[[JobHandler], JobHandler]:
    """Register a function as the handler of jobs called `name`."""

    def register(handler: JobHandler) -> JobHandler:
        HANDLERS[name] = handler
        return handler

    return register


def enqueue(name: str, **payload: Any) -> Job:
    """Queue a job in the current transaction; it runs only if that transaction commits."""
    if name not in HANDLERS:
        raise KeyError(f"no job handler called {name!r}")
    queued = Job(name=name, payload=payload)
    db.session.add(queued)
    db.session.flush()
    return queued
