"""A shop for billing tests: the app served on 127.0.0.1 (so the emulator can deliver webhooks
to it), the Stripe emulator, our catalog synced into it, and helpers that act as a reader
and move both clocks together."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from paywall import clock
from paywall.accounts.models import User
from paywall.devstripe.server import RunningEmulator
from paywall.devstripe.webhooks import DEFAULT_SECRET, signature_header
from paywall.extensions import db
from tests.browser import LiveSite
from tests.helpers import csrf_token, make_user, sign_in

GOOD = {"card_number": "4242424242424242", "card_exp": "12/34", "card_cvc": "123"}
FAILS_LATER = {**GOOD, "card_number": "4000000000000341"}
DECLINED = {**GOOD, "card_number": "4000000000009995"}
DAY = 86400


def path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def pay(stripe_pages: Any, checkout_url: str, card: dict[str, str] = GOOD) -> str:
    """Pay on the emulator's Checkout page; the success URL it sends the reader back to."""
    paid = stripe_pages.post(path(checkout_url), data=card)
    assert paid.status_code == 303, paid.get_data(as_text=True)
    return str(paid.headers["Location"])


class Shop:
    def __init__(self, site: LiveSite, emulator: RunningEmulator, monkeypatch: Any) -> None:
        self.site, self.emulator, self.app = site, emulator, site.app
        self.offset = timedelta(0)
        real_now = clock.now
        monkeypatch.setattr(clock, "now", lambda: real_now() + self.offset)
        self.stripe_pages = emulator.server.app.test_client()
        self.held_from = 0  # the first emulator event that deliver_held() has not sent

    def reader(self, email: str, **kwargs: Any) -> Any:
        """A signed-in client for a new, confirmed reader."""
        self.site.run(make_user, email=email, **kwargs)
        client = self.app.test_client()
        sign_in(client, email)
        return client

    def pay(self, checkout_url: str, card: dict[str, str] = GOOD) -> str:
        return pay(self.stripe_pages, checkout_url, card)

    def start_checkout(self, client: Any, plan: str = "pro_annual") -> Any:
        token = csrf_token(client, "/account")
        return client.post("/billing/checkout", data={"csrf_token": token, "plan": plan})

    def checkout(self, client: Any, card: dict[str, str] = GOOD, **form: str) -> Any:
        """Start checkout, pay on the emulator's page, and come back to the success page."""
        answer = self.start_checkout(client)
        assert answer.status_code == 303, answer.get_data(as_text=True)
        return client.get(path(self.pay(answer.headers["Location"], {**card, **form})))

    def settle(self) -> None:
        assert self.emulator.settle(20), "webhook deliveries did not settle"

    def hold_webhooks(self) -> None:
        """From now on events wait until deliver_held() sends them (in the order made)."""
        self.emulator.point_at(None)
        self.held_from = len(self.emulator.events())

    def deliver_held(self) -> list[int]:
        """Send every held event, and those the deliveries make in turn; the status codes."""
        endpoint, statuses = self.app.test_client(), []
        while events := self.emulator.events(start=self.held_from):
            self.held_from += len(events)
            for event in events:
                body = json.dumps(event, separators=(",", ":"))
                answer = endpoint.post("/webhooks/stripe", data=body, content_type="application/json",
                                       headers={"Stripe-Signature": signature_header(body, DEFAULT_SECRET)})  # fmt: skip
                statuses.append(answer.status_code)
        return statuses

    def advance(self, days: float) -> None:
        """Move Stripe's clock and ours by the same amount, then let deliveries land."""
        self.offset += timedelta(days=days)
        self.emulator.advance(days=days)
        self.settle()

    def user(self, email: str) -> User:
        def load() -> User:
            found = db.session.scalar(select(User).where(User.email == email))
            assert found is not None
            db.session.expunge(found)
            return found

        return self.site.run(load)

    def access(self, email: str) -> tuple[bool, str | None, datetime | None]:
        decision = self.user(email).access  # as a page view decides it: stored, checked now
        return decision.premium, decision.source, decision.until

    def subscription_id(self, email: str) -> str:
        from paywall.billing.models import Subscription

        user_id = self.user(email).id
        return str(self.site.run(lambda: db.session.scalar(
            select(Subscription.stripe_subscription_id).where(Subscription.user_id == user_id))))  # fmt: skip

    def mails_to(self, email: str) -> list[str]:
        from paywall.mail.models import OutboxMail

        return self.site.run(lambda: [m.subject for m in db.session.scalars(
            select(OutboxMail).where(OutboxMail.to_address == email).order_by(OutboxMail.id))])  # fmt: skip


def _open_shop(database_url: str, monkeypatch: Any, **settings: Any) -> Iterator[Shop]:
    from paywall.billing.catalog import sync_catalog
    from tests.conftest import build_app

    emulator = RunningEmulator(retry_backoff=0.05, max_backoff=0.5).start()
    app = build_app(
        DATABASE_URL=database_url, STRIPE_SECRET_KEY=emulator.api_key,
        STRIPE_API_BASE=emulator.url, STRIPE_WEBHOOK_SECRET=DEFAULT_SECRET,
        PAST_DUE_GRACE_DAYS=3, **settings,
    )  # fmt: skip
    site = LiveSite(app)
    site.start()
    emulator.point_at(f"{site.url}/webhooks/stripe")
    site.run(lambda: list(sync_catalog()))
    try:
        yield Shop(site, emulator, monkeypatch)
    finally:
        emulator.stop()
        site.stop()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: Any) -> Iterator[Shop]:
    yield from _open_shop(f"sqlite:///{tmp_path / 'shop.db'}", monkeypatch)


@pytest.fixture
def smtp_shop(tmp_path: Path, monkeypatch: Any) -> Iterator[tuple[Shop, Any]]:
    """A shop whose mail goes to a real SMTP server (aiosmtpd) when `shop.site.drain()` runs
    the worker: (shop, the server's Inbox, as in tests/test_mail_smtp.py)."""
    from aiosmtpd.controller import Controller

    from tests.test_mail_smtp import Inbox, free_port

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    shops = _open_shop(f"sqlite:///{tmp_path / 'shop.db'}", monkeypatch,
                       MAIL_URL=f"smtp://127.0.0.1:{port}")  # fmt: skip
    try:
        yield next(shops), inbox
    finally:
        shops.close()  # the shop's own teardown: emulator, site, engine
        controller.stop()


@pytest.fixture
def pg_shop(monkeypatch: Any) -> Iterator[Shop]:
    from tests.conftest import PG_URL

    assert PG_URL
    yield from _open_shop(PG_URL, monkeypatch)


class ServedShop:
    """The app as production runs it: gunicorn with two worker processes on PostgreSQL, the
    emulator's API behind it. Webhooks are not delivered on their own (`deliver` sends them),
    so a test can race them against the success pages. `app` is an in-process twin on the same
    database and settings, to seed users, start checkouts and read the result."""

    def __init__(self, app: Any, emulator: RunningEmulator, url: str) -> None:
        self.app, self.emulator, self.url = app, emulator, url
        self.stripe_pages = emulator.server.app.test_client()
        self.seen = 0  # emulator events already handed out by new_events()

    def run(self, function: Any, *args: Any) -> Any:
        with self.app.app_context():
            try:
                return function(*args)
            finally:
                db.session.remove()

    def open_checkout(self, email: str) -> tuple[str, str]:
        """A new reader signs in and opens Checkout (in-process); returns their session cookie
        and the Checkout URL."""
        self.run(lambda: make_user(email=email))
        client = self.app.test_client()
        sign_in(client, email)
        started = client.post(
            "/billing/checkout", data={"csrf_token": csrf_token(client, "/account")}
        )
        assert started.status_code == 303, started.get_data(as_text=True)
        cookie = client.get_cookie(self.app.config["SESSION_COOKIE_NAME"])
        return cookie.value, started.headers["Location"]

    def paid_checkout(self, email: str, card: dict[str, str] = GOOD) -> tuple[str, str]:
        """A new reader opens Checkout and pays; returns their session cookie and the success
        URL on the served app, not yet visited."""
        cookie, checkout_url = self.open_checkout(email)
        return cookie, pay(self.stripe_pages, checkout_url, card)

    def new_events(self) -> list[str]:
        """The bodies of the events the emulator made since the last call, oldest first."""
        events = self.emulator.events(start=self.seen)
        self.seen += len(events)
        return [json.dumps(event, separators=(",", ":")) for event in events]

    def deliver(self, body: str) -> int:
        """One signed delivery to the served webhook endpoint; its status code."""
        answer = requests.post(
            f"{self.url}/webhooks/stripe",
            data=body.encode(),
            headers={"Content-Type": "application/json",
                     "Stripe-Signature": signature_header(body, DEFAULT_SECRET)},
            timeout=60,
        )  # fmt: skip
        return int(answer.status_code)

    def post(self, cookie: str, path: str, form: dict[str, str]) -> int:
        """A signed-in POST of a form to the served app (not following redirects); its status."""
        name = self.app.config["SESSION_COOKIE_NAME"]
        answer = requests.post(f"{self.url}{path}", data=form, cookies={name: cookie},
                               allow_redirects=False, timeout=60)  # fmt: skip
        return int(answer.status_code)

    def visit(self, cookie: str, url: str) -> int:
        """A signed-in reader's GET on the served app; its status code."""
        name = self.app.config["SESSION_COOKIE_NAME"]
        answer = requests.get(url, cookies={name: cookie}, allow_redirects=False, timeout=60)
        return int(answer.status_code)


def race(*calls: Any) -> list[int]:
    """Run each call in its own thread, released together; their results in call order."""
    barrier = threading.Barrier(len(calls), timeout=30)

    def run(call: Any) -> int:
        barrier.wait()
        return int(call())

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, f"gunicorn exited:\n{log.read_text()[-3000:]}"
        try:
            if requests.get(f"{url}/healthz", timeout=10).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still loading the app
            pass
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not answer:\n{log.read_text()[-3000:]}")


@pytest.fixture
def served_shop(tmp_path: Path) -> Iterator[ServedShop]:
    from paywall.billing.catalog import sync_catalog
    from tests.conftest import PG_URL, build_app

    assert PG_URL
    emulator = RunningEmulator().start()  # delivers nothing: the tests deliver by hand
    url = f"http://127.0.0.1:{_free_port()}"
    settings = {"DATABASE_URL": PG_URL, "STRIPE_SECRET_KEY": emulator.api_key,
                "STRIPE_API_BASE": emulator.url, "STRIPE_WEBHOOK_SECRET": DEFAULT_SECRET,
                "BASE_URL": url}  # fmt: skip
    app = build_app(**settings)
    with app.app_context():
        list(sync_catalog())
        db.session.remove()
    env = {**os.environ, "PAYWALL_CONFIG": "testing",
           **{f"PAYWALL_{name}": value for name, value in settings.items()}}  # fmt: skip
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "2", "-b", url.removeprefix("http://"),
             "--timeout", "60", "paywall:create_app()"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_until_up(url, server, log)
        yield ServedShop(app, emulator, url)
    finally:
        server.terminate()
        server.wait(timeout=30)
        emulator.stop()
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
