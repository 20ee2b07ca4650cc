"""A live site and a real Chromium for user-journey tests (marked `browser`).

`live_site` serves a testing app from a thread on 127.0.0.1 (a free port), backed by a SQLite
file so the server's threads and the test share one database; `drain()` runs the worker once,
as `paywall worker --once` would. A module overrides `live_site_config` to change the site's
settings (MAIL_URL, to send to a real SMTP server). `chromium` is Debian's Chromium driven by
Playwright (the browser Playwright would download is not needed). Both stop when the test ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from paywall.extensions import db
from paywall.mail import worker

# Quiet, offline and deterministic: no first-run UI, no background fetches, no GPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class LiveSite:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        app.config["BASE_URL"] = self.url  # links in mail point at this server
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)

    def drain(self) -> int:
        """Run every due job once; mail stays in the outbox for /dev/mail unless the module's
        `live_site_config` sets MAIL_URL."""
        with self.app.app_context():
            done = worker.drain()
            db.session.remove()
            return done

    def run(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a function inside an app context (to seed or inspect the database)."""
        with self.app.app_context():
            try:
                return function(*args, **kwargs)
            finally:
                db.session.remove()


@pytest.fixture
def live_site_config() -> dict[str, Any]:
    """Override in a test module to change the live site's settings (MAIL_URL, say)."""
    return {}


@pytest.fixture
def live_site(tmp_path: Path, live_site_config: dict[str, Any]) -> Iterator[LiveSite]:
    from tests.conftest import build_app

    app = build_app(DATABASE_URL=f"sqlite:///{tmp_path / 'live.db'}", **live_site_config)
    site = LiveSite(app)
    site.start()
    try:
        yield site
    finally:
        site.stop()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def chromium() -> Iterator[Any]:
    """A Playwright Browser on Debian's Chromium; each test opens its own contexts."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
