"""Fixtures: an app per test with a clean database, a client, factories and mail helpers."""

from __future__ import annotations

import contextvars
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from paywall import create_app
from paywall.extensions import db
from paywall.mail import worker
from paywall.mail.models import OutboxMail
from tests.helpers import make_user as _make_user

pytest_plugins = ["tests.browser", "tests.billing"]

PG_URL = os.environ.get("PAYWALL_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("PAYWALL_TEST_REDIS_URL")
CHROMIUM = (
    os.environ.get("PAYWALL_TEST_CHROMIUM")
    or shutil.which("chromium")
    or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the suites whose servers are absent, saying why (CI installs them all)."""
    reasons = {
        "postgres": None if PG_URL else "PAYWALL_TEST_DATABASE_URL is not set (no PostgreSQL)",
        "redis": None if REDIS_URL else "PAYWALL_TEST_REDIS_URL is not set (no Redis)",
        "browser": None if CHROMIUM else "no Chromium binary (apt-get install chromium)",
        "stripe_live": None
        if os.environ.get("STRIPE_SECRET_KEY", "").startswith("sk_test_")
        else "STRIPE_SECRET_KEY=sk_test_... is not set",
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))


# Settings production accepts: every check passes, so a test changes one and sees that one
# refused. The webhook secret is as long as the shortest Stripe issues (whsec_ and 32).
PRODUCTION_ENV = {
    "PAYWALL_CONFIG": "production",
    "PAYWALL_SECRET_KEY": "kq3X9vZr7Lw2Pm8Tn4Yc6Hd1Jf5Gs0Ab",
    "PAYWALL_BASE_URL": "https://news.example.com",
    "PAYWALL_STRIPE_SECRET_KEY": "sk_live_example",
    "PAYWALL_STRIPE_WEBHOOK_SECRET": "whsec_Xq7mZ2vR9tLw4Pk8Nc3Hy6Jd1Fg5Sb0A",
    "PAYWALL_REDIS_URL": "redis://127.0.0.1:6379/0",
    "PAYWALL_METRICS_TOKEN": "prometheus-scrape-4f7Qz9",
}


@pytest.fixture
def production_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """PRODUCTION_ENV in os.environ (and an in-memory database), for create_app()."""
    for key, value in {**PRODUCTION_ENV, "PAYWALL_DATABASE_URL": "sqlite://"}.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


class IsolatedClient(FlaskClient):
    """A test client whose every request gets its own app context, as on a real server.

    Flask reuses an app context that is already pushed (the fixture's), which would share `g`
    (Flask-Login's cached user, the CSRF token) and the database session between requests
    and between clients. Running each request in an empty contextvars context prevents that.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        # Streamed bodies (stream_with_context) are read inside that same context.
        kwargs.setdefault("buffered", True)
        return contextvars.Context().run(super().open, *args, **kwargs)


def build_app(**overrides: Any) -> Flask:
    """A testing app with its schema created; overrides win over the testing config."""
    app = create_app({"ENV_NAME": "testing", **overrides})
    app.test_client_class = IsolatedClient
    with app.app_context():
        if overrides.get("DATABASE_URL", "sqlite://") != "sqlite://":
            db.drop_all()
        db.create_all()
    return app


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Override in a test module (or parametrize) to change the app's settings."""
    return {}


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = build_app(**app_config)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def pg_app(request: pytest.FixtureRequest) -> Iterator[Flask]:
    """An app on PostgreSQL (tests marked `postgres`). A module sets PG_POOL to hold one open
    connection per thread it races, so no thread waits for the pool."""
    app = build_app(
        DATABASE_URL=PG_URL or "",
        SQLALCHEMY_ENGINE_OPTIONS={
            "pool_size": getattr(request.module, "PG_POOL", 5),
            "max_overflow": 0,
        },
    )
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_user(app: Flask) -> Callable[..., Any]:
    return _make_user


@pytest.fixture
def run_worker(app: Flask) -> Callable[[], int]:
    """Run every due job (and send mail when MAIL_URL is set), as `paywall worker --once`."""

    def run() -> int:
        done = worker.drain()
        db.session.expire_all()
        return done

    return run


@pytest.fixture
def outbox(app: Flask) -> Callable[..., list[OutboxMail]]:
    """Mails in the outbox, oldest first; optionally only those to one address."""

    def mails(to: str | None = None) -> list[OutboxMail]:
        query = select(OutboxMail).order_by(OutboxMail.id)
        if to is not None:
            query = query.where(OutboxMail.to_address == to)
        return list(db.session.scalars(query))

    return mails


@pytest.fixture
def emulator() -> Iterator[Any]:
    """The offline Stripe emulator on a free port, with quick webhook retries."""
    from paywall.devstripe.server import RunningEmulator

    running = RunningEmulator(retry_backoff=0.05, max_backoff=0.2)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def stripe_client(emulator: Any) -> Any:
    """The real stripe-python client, talking to the emulator over HTTP."""
    import stripe

    return stripe.StripeClient(emulator.api_key, base_addresses={"api": emulator.url})
