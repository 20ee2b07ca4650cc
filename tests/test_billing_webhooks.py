"""The Stripe webhook endpoint: verified, stored by id, duplicates harmless, failures kept and
retried; plus replay, reconcile, stripe-sync, and Stripe being down."""

from __future__ import annotations

import json
import time

import pytest
import stripe
from sqlalchemy import delete, func, select

from paywall.billing import sync
from paywall.billing.models import StripeEvent, Subscription
from paywall.devstripe.webhooks import DEFAULT_SECRET
from paywall.extensions import db
from tests.billing import GOOD, path
from tests.helpers import csrf_token, make_user, sign_in


@pytest.fixture
def app_config():  # type: ignore[no-untyped-def]
    return {"STRIPE_WEBHOOK_SECRET": DEFAULT_SECRET, "STRIPE_SECRET_KEY": "sk_test_nowhere",
            "STRIPE_API_BASE": "http://127.0.0.1:9"}  # fmt: skip


def event(event_type: str = "customer.created", event_id: str = "evt_test_1") -> str:
    return json.dumps({
        "id": event_id, "object": "event", "type": event_type, "api_version": "2026-10-28.endive",
        "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
        "data": {"object": {"id": "cus_test", "object": "customer", "email": "x@example.com"}},
        "request": {"id": None, "idempotency_key": None},
    })  # fmt: skip


def deliver(client, body: str, *, secret: str = DEFAULT_SECRET, timestamp: int | None = None,
            header: str | None = None):  # type: ignore[no-untyped-def]  # fmt: skip
    signature = header or stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)
    return client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": signature},
                       content_type="application/json")  # fmt: skip


def stored() -> int:
    return int(db.session.scalar(select(func.count()).select_from(StripeEvent)) or 0)


def test_a_valid_event_is_stored_once_and_a_duplicate_changes_nothing(app, client) -> None:  # type: ignore[no-untyped-def]
    first = deliver(client, event("some.future_event"))
    assert first.status_code == 200 and first.get_data(as_text=True) == "ignored"
    again = deliver(client, event("some.future_event"))
    assert again.status_code == 200 and again.get_data(as_text=True) == "duplicate"
    assert stored() == 1


@pytest.mark.parametrize("case", ["no signature", "wrong secret", "stale", "tampered", "not json"])
def test_forged_stale_or_tampered_deliveries_write_nothing(app, client, case) -> None:  # type: ignore[no-untyped-def]
    body = event()
    if case == "no signature":
        answer = client.post("/webhooks/stripe", data=body, content_type="application/json")
    elif case == "wrong secret":
        answer = deliver(client, body, secret="whsec_forger")
    elif case == "stale":
        answer = deliver(client, body, timestamp=int(time.time()) - 301)
    elif case == "tampered":
        header = stripe.WebhookSignature.generate_signature_header(body, DEFAULT_SECRET)
        answer = deliver(client, body.replace("x@example.com", "y@example.com"), header=header)
    else:
        answer = deliver(client, "not json at all")
    assert answer.status_code == 400
    assert stored() == 0


def test_a_body_over_one_mebibyte_is_refused_before_parsing(app, client) -> None:  # type: ignore[no-untyped-def]
    answer = client.post("/webhooks/stripe", data="x" * (1024 * 1024 + 1), content_type="application/json",
                         headers={"Stripe-Signature": "t=1,v1=00"})  # fmt: skip
    assert answer.status_code == 413 and stored() == 0


def test_stripe_down_during_checkout_leaves_nothing_half_made(app, client) -> None:  # type: ignore[no-untyped-def]
    user = make_user(email="down@example.com")
    sign_in(client, user.email)
    answer = client.post("/billing/checkout", data={"csrf_token": csrf_token(client, "/account"),
                                                     "plan": "pro_annual"})  # fmt: skip
    assert answer.status_code == 503
    assert "Payments are not answering right now" in answer.get_data(as_text=True)
    db.session.expire_all()
    assert user.stripe_customer_id is None


def test_a_failing_handler_answers_500_keeps_the_error_and_converges(shop, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    real, failures = sync.sync_subscription, {"left": 3}

    def flaky(subscription_id: str):  # type: ignore[no-untyped-def]
        if failures["left"] > 0:
            failures["left"] -= 1
            raise RuntimeError("database went away")
        return real(subscription_id)

    reader = shop.reader("flaky@example.com")
    monkeypatch.setattr(sync, "sync_subscription", flaky)
    answer = shop.start_checkout(reader)
    paid = shop.stripe_pages.post(path(answer.headers["Location"]), data=GOOD)
    assert paid.status_code == 303  # the reader stays away: only webhooks bring the news
    shop.settle()
    failed = shop.site.run(lambda: [(e.type, e.error) for e in db.session.scalars(
        select(StripeEvent).where(StripeEvent.attempts > 1))])  # fmt: skip
    assert failed, "some deliveries failed first and were retried"
    statuses = shop.site.run(lambda: set(db.session.scalars(select(StripeEvent.status))))
    assert statuses <= {"processed", "ignored"}
    premium, source, _ = shop.access("flaky@example.com")
    assert premium and source == "trial"


def test_replay_and_reconcile_repair_lost_state(shop) -> None:  # type: ignore[no-untyped-def]
    reader = shop.reader("lost@example.com")
    shop.checkout(reader)
    shop.settle()
    shop.site.run(lambda: (db.session.execute(delete(Subscription)), db.session.commit()))
    runner = shop.app.test_cli_runner()
    result = shop.site.run(lambda: runner.invoke(args=["stripe-reconcile"]))
    assert result.exit_code == 0 and "1 subscription(s) checked" in result.output
    assert (
        shop.site.run(lambda: db.session.scalar(select(func.count()).select_from(Subscription)))
        == 1
    )
    result = shop.site.run(lambda: runner.invoke(args=["events", "replay"]))
    assert result.exit_code == 0 and "0 failed" in result.output
    missing = shop.site.run(lambda: runner.invoke(args=["events", "replay", "--id", "evt_nope"]))
    assert missing.exit_code != 0


def test_stripe_sync_is_safe_to_run_twice(shop) -> None:  # type: ignore[no-untyped-def]
    runner = shop.app.test_cli_runner()
    result = shop.site.run(lambda: runner.invoke(args=["stripe-sync"]))
    assert result.exit_code == 0
    assert "pro_annual: up to date" in result.output and "team_annual: up to date" in result.output
    prices = list(shop.emulator.store.find("price", lookup_key="pro_annual"))
    assert len(prices) == 1 and prices[0]["unit_amount"] == 30000


def test_the_success_page_refuses_someone_elses_session(shop) -> None:  # type: ignore[no-untyped-def]
    owner = shop.reader("owner@example.com")
    answer = shop.start_checkout(owner)
    session_id = answer.headers["Location"].rsplit("/", 1)[-1]
    stranger = shop.reader("stranger@example.com")
    assert stranger.get(f"/billing/success?session_id={session_id}").status_code == 404
    assert stranger.get("/billing/success?session_id=cs_test_nope").status_code == 404


def test_an_event_about_another_price_is_recorded_and_ignored(shop) -> None:  # type: ignore[no-untyped-def]
    client = stripe.StripeClient(shop.emulator.api_key, base_addresses={"api": shop.emulator.url})
    other = client.v1.prices.create({"currency": "usd", "unit_amount": 900,
                                     "recurring": {"interval": "month"},
                                     "product_data": {"name": "Someone else's plan"}})  # fmt: skip
    customer = client.v1.customers.create({"email": "elsewhere@example.com"})
    client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": other.id}],
                                          "trial_period_days": 7})  # fmt: skip
    shop.settle()
    event_id = next(e["id"] for e in shop.emulator.events("customer.subscription.created")
                    if e["data"]["object"]["id"] == sub.id)  # fmt: skip
    received = shop.site.run(lambda: db.session.get(StripeEvent, event_id))
    assert received is not None and received.status == "processed"
    assert (
        shop.site.run(lambda: db.session.scalar(select(func.count()).select_from(Subscription)))
        == 0
    )


def test_an_unknown_status_gives_no_access_and_is_logged(shop, caplog) -> None:  # type: ignore[no-untyped-def]
    reader = shop.reader("odd@example.com")
    shop.checkout(reader)
    shop.settle()
    assert shop.access("odd@example.com")[0] is True
    sub_id = shop.subscription_id("odd@example.com")
    shop.emulator.store.objects[sub_id]["status"] = "on_holiday"  # a status Stripe may add one day
    shop.site.run(lambda: (sync.sync_subscription(sub_id), db.session.commit()))
    assert shop.access("odd@example.com")[0] is False
    assert any("unknown status 'on_holiday'" in r.getMessage() and r.levelname == "ERROR"
               for r in caplog.records)  # fmt: skip
