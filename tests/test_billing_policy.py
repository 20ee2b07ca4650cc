"""The access policy for subscriptions (a pure function), Stripe failing or slow during
checkout, and events about prices that are not ours."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from paywall.access import subscription_grant
from paywall.extensions import db
from tests.helpers import csrf_token, make_user, sign_in

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
END = NOW + timedelta(days=200)
GRACE = timedelta(days=3)


@pytest.mark.parametrize(
    ("status", "past_due_since", "expected"),
    [
        ("trialing", None, ("trial", END)),
        ("active", None, ("subscription", END)),
        ("past_due", NOW, ("subscription", NOW + GRACE)),
        ("past_due", None, None),
        ("canceled", None, None),
        ("unpaid", None, None),
        ("incomplete", None, None),
        ("incomplete_expired", None, None),
        ("paused", None, None),
        ("some_new_status", None, None),
    ],
)
def test_the_subscription_policy(status, past_due_since, expected) -> None:  # type: ignore[no-untyped-def]
    grant = subscription_grant(status, END, past_due_since, GRACE)
    assert (None if grant is None else (grant.source, grant.until)) == expected


class Broken:
    """A 'Stripe' that answers 500, or answers too slowly."""

    def __init__(self, mode: str) -> None:
        self.mode, self.calls = mode, 0
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @Request.application  # type: ignore[arg-type]
    def app(self, request: Request) -> Response:
        self.calls += 1
        if self.mode == "slow":
            time.sleep(1.5)
        return Response('{"error": {"type": "api_error", "message": "boom"}}', 500,
                        mimetype="application/json")  # fmt: skip


@pytest.fixture(params=["500", "slow"])
def broken(request):  # type: ignore[no-untyped-def]
    stripe = Broken(request.param)
    yield stripe
    stripe.server.shutdown()


@pytest.fixture
def app_config(broken):  # type: ignore[no-untyped-def]
    return {"STRIPE_SECRET_KEY": "sk_test_broken", "STRIPE_API_BASE": broken.url,
            "STRIPE_TIMEOUT_SECONDS": 0.3}  # fmt: skip


def test_stripe_failing_during_checkout_says_try_again(app, client, broken, caplog) -> None:  # type: ignore[no-untyped-def]
    user = make_user(email="patient@example.com")
    sign_in(client, user.email)
    answer = client.post("/billing/checkout", data={"csrf_token": csrf_token(client, "/account"),
                                                     "plan": "pro_annual"})  # fmt: skip
    assert answer.status_code == 503
    assert "please try again" in answer.get_data(as_text=True)
    assert broken.calls >= 2  # retried with the same idempotency key before giving up
    assert any("stripe" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
    db.session.expire_all()
    assert user.stripe_customer_id is None
