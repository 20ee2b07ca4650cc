"""A shop for billing tests: the app served on 127.0.0.1 (so the emulator can deliver webhooks
to it), the Stripe emulator, our catalog synced into it, and helpers that act as a reader
and move both clocks together."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from paywall import clock
from paywall.accounts.models import User
from paywall.devstripe.server import RunningEmulator
from paywall.devstripe.webhooks import DEFAULT_SECRET
from paywall.extensions import db
from tests.browser import LiveSite
from tests.helpers import csrf_token, make_user, sign_in

GOOD = {"card_number": "4242424242424242", "card_exp": "12/34", "card_cvc": "123"}
FAILS_LATER = {**GOOD, "card_number": "4000000000000341"}
DECLINED = {**GOOD, "card_number": "4000000000009995"}
DAY = 86400


def path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


class Shop:
    def __init__(self, site: LiveSite, emulator: RunningEmulator, monkeypatch: Any) -> None:
        self.site, self.emulator, self.app = site, emulator, site.app
        self.offset = timedelta(0)
        real_now = clock.now
        monkeypatch.setattr(clock, "now", lambda: real_now() + self.offset)
        self.stripe_pages = emulator.server.app.test_client()

    def reader(self, email: str, **kwargs: Any) -> Any:
        """A signed-in client for a new, confirmed reader."""
        self.site.run(make_user, email=email, **kwargs)
        client = self.app.test_client()
        sign_in(client, email)
        return client

    def start_checkout(self, client: Any, plan: str = "pro_annual") -> Any:
        token = csrf_token(client, "/account")
        return client.post("/billing/checkout", data={"csrf_token": token, "plan": plan})

    def checkout(self, client: Any, card: dict[str, str] = GOOD, **form: str) -> Any:
        """Start checkout, pay on the emulator's page, and come back to the success page."""
        answer = self.start_checkout(client)
        assert answer.status_code == 303, answer.get_data(as_text=True)
        paid = self.stripe_pages.post(path(answer.headers["Location"]), data={**card, **form})
        assert paid.status_code == 303, paid.get_data(as_text=True)
        return client.get(path(paid.headers["Location"]))

    def settle(self) -> None:
        assert self.emulator.settle(20), "webhook deliveries did not settle"

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


def _open_shop(database_url: str, monkeypatch: Any) -> Iterator[Shop]:
    from paywall.billing.catalog import sync_catalog
    from tests.conftest import build_app

    emulator = RunningEmulator(retry_backoff=0.05, max_backoff=0.5).start()
    app = build_app(
        DATABASE_URL=database_url, STRIPE_SECRET_KEY=emulator.api_key,
        STRIPE_API_BASE=emulator.url, STRIPE_WEBHOOK_SECRET=DEFAULT_SECRET,
        PAST_DUE_GRACE_DAYS=3,
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
def pg_shop(monkeypatch: Any) -> Iterator[Shop]:
    from tests.conftest import PG_URL

    assert PG_URL
    yield from _open_shop(PG_URL, monkeypatch)
