"""Operations: billing figures on /metrics, and request ids in text and JSON logs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from paywall import clock, logs
from paywall.billing.models import StripeEvent, Subscription
from paywall.extensions import db
from paywall.settings import ConfigError
from tests.conftest import build_app
from tests.helpers import make_user

FRESH_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Logging is global to the process: leave it as the test found it."""
    root, package = logging.getLogger(), logging.getLogger("paywall")
    saved = list(root.handlers), list(package.handlers), logs.access_log.level
    yield
    root.handlers[:], package.handlers[:] = saved[0], saved[1]
    logs.access_log.setLevel(saved[2])


@pytest.fixture
def json_app() -> Iterator[Flask]:
    app = build_app(LOG_FORMAT="json")

    @app.get("/test/broken")
    def broken() -> str:
        try:
            {}["missing"]
        except KeyError:
            logging.getLogger("paywall.test").exception("could not read the thing")
        return "handled"

    with app.app_context():
        yield app
        db.session.remove()


def json_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def access_lines(err: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(err) if line["logger"] == "paywall.access"]


def stripe_event(number: int, status: str, *, age: timedelta = timedelta(0)) -> StripeEvent:
    now = clock.now()
    return StripeEvent(
        id=f"evt_test_{number}",
        type="customer.subscription.updated",
        created=now - age,
        payload={},
        status=status,
        received_at=now - age,
    )


def subscription(number: int, *, trial: bool, paid: bool, ended: bool) -> Subscription:
    now = clock.now()
    return Subscription(
        stripe_subscription_id=f"sub_test_{number}",
        stripe_customer_id=f"cus_test_{number}",
        plan="pro_annual",
        status="canceled" if ended else "active",
        trial_start=now - timedelta(days=30) if trial else None,
        paid_since=now - timedelta(days=20) if paid else None,
        ended_at=now - timedelta(days=1) if ended else None,
    )


def give_access(source: str, until: timedelta | None) -> None:
    user = make_user()
    user.access_premium = True
    user.access_source = source
    user.access_until = clock.now() + until if until is not None else None
    db.session.commit()


def sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"no {name} in /metrics"
    return float(match.group(1))


def test_metrics_show_webhook_outcomes_trials_and_premium_members(client: FlaskClient) -> None:
    events = [stripe_event(n, "processed") for n in range(3)]
    events += [stripe_event(3, "ignored"), stripe_event(4, "received")]
    events += [stripe_event(5, "failed", age=timedelta(hours=2)), stripe_event(6, "failed")]
    db.session.add_all(events)
    db.session.add_all(
        [
            subscription(1, trial=True, paid=False, ended=False),  # on trial
            subscription(2, trial=True, paid=False, ended=True),  # trial that never paid
            subscription(3, trial=True, paid=True, ended=False),  # converted
            subscription(4, trial=True, paid=True, ended=True),  # converted, then canceled
            subscription(5, trial=False, paid=True, ended=True),  # paid at once, then canceled
            subscription(6, trial=False, paid=True, ended=False),  # paid at once
        ]
    )
    db.session.commit()
    give_access("trial", timedelta(days=3))
    give_access("subscription", timedelta(days=300))
    give_access("subscription", timedelta(days=-1))  # lapsed: the stored end date has passed
    give_access("team", None)
    give_access("comp", None)
    make_user(role="admin")
    make_user()  # a reader without premium access

    text = client.get("/metrics").get_data(as_text=True)

    assert sample(text, 'paywall_stripe_events{status="processed"}') == 3
    assert sample(text, 'paywall_stripe_events{status="ignored"}') == 1
    assert sample(text, 'paywall_stripe_events{status="received"}') == 1
    assert sample(text, 'paywall_stripe_events{status="failed"}') == 2
    oldest = sample(text, "paywall_stripe_events_failed_oldest_age_seconds")
    assert 2 * 3600 <= oldest < 2 * 3600 + 60
    # prometheus_client writes the family's name with or without _total, by version.
    assert re.search(r"^# TYPE paywall_trials_started(_total)? counter$", text, re.MULTILINE)
    assert sample(text, "paywall_trials_started_total") == 4
    assert sample(text, "paywall_trials_converted_total") == 2
    assert sample(text, "paywall_subscriptions_canceled_total") == 2
    assert sample(text, 'paywall_premium_members{source="trial"}') == 1
    assert sample(text, 'paywall_premium_members{source="subscription"}') == 1
    assert sample(text, 'paywall_premium_members{source="team"}') == 1
    assert sample(text, 'paywall_premium_members{source="comp"}') == 1
    assert sample(text, 'paywall_premium_members{source="staff"}') == 1
    assert "paywall_outbox_queued 0.0" in text
    assert "paywall_outbox_oldest_age_seconds 0.0" in text


def test_metrics_on_an_empty_database_show_every_series_at_zero(client: FlaskClient) -> None:
    text = client.get("/metrics").get_data(as_text=True)
    for status in ("processed", "ignored", "failed", "received"):
        assert sample(text, f'paywall_stripe_events{{status="{status}"}}') == 0
    for source in ("trial", "subscription", "team", "comp", "staff"):
        assert sample(text, f'paywall_premium_members{{source="{source}"}}') == 0
    assert sample(text, "paywall_stripe_events_failed_oldest_age_seconds") == 0
    assert sample(text, "paywall_trials_started_total") == 0


def test_a_request_writes_one_json_access_line_with_its_request_id(
    json_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = json_app.test_client().get("/pro")
    request_id = response.headers["X-Request-Id"]
    assert FRESH_ID.fullmatch(request_id)
    [line] = access_lines(capsys.readouterr().err)
    assert line["request_id"] == request_id
    assert line["level"] == "INFO"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/pro", 200)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["time"].endswith("+00:00")


def test_a_sane_incoming_request_id_is_kept(
    json_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = json_app.test_client().get("/pro", headers={"X-Request-Id": "lb-7f3a.01_B"})
    assert response.headers["X-Request-Id"] == "lb-7f3a.01_B"
    assert access_lines(capsys.readouterr().err)[0]["request_id"] == "lb-7f3a.01_B"


@pytest.mark.parametrize("incoming", ["x" * 65, "has space", "a\nINFO forged line", "<b>", ""])
def test_an_odd_incoming_request_id_is_replaced(
    json_app: Flask, capsys: pytest.CaptureFixture[str], incoming: str
) -> None:
    capsys.readouterr()
    # Straight into the environ: the test client itself refuses newlines in headers.
    response = json_app.test_client().get("/pro", environ_overrides={"HTTP_X_REQUEST_ID": incoming})
    request_id = response.headers["X-Request-Id"]
    assert FRESH_ID.fullmatch(request_id)
    err = capsys.readouterr().err
    assert access_lines(err)[0]["request_id"] == request_id
    assert "forged" not in err


def test_an_exception_logged_in_a_request_carries_its_traceback_and_request_id(
    json_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = json_app.test_client().get("/test/broken")
    lines = json_lines(capsys.readouterr().err)
    [error] = [line for line in lines if line["logger"] == "paywall.test"]
    assert error["level"] == "ERROR" and error["message"] == "could not read the thing"
    assert error["request_id"] == response.headers["X-Request-Id"]
    assert error["exception"].startswith("Traceback (most recent call last):")
    assert "KeyError: 'missing'" in error["exception"]


def test_logged_paths_keep_neither_query_strings_nor_link_tokens(
    json_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    client = json_app.test_client()
    capsys.readouterr()
    client.get("/billing/success?session_id=cs_secret_123")
    client.get("/signin/link/tok_secret_456")
    err = capsys.readouterr().err
    paths = [line["path"] for line in access_lines(err)]
    assert paths == ["/billing/success", "/signin/link/<token>"]
    assert "secret" not in err


def test_building_apps_again_does_not_stack_handlers(
    json_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    build_app(LOG_FORMAT="json")
    again = build_app(LOG_FORMAT="json")
    capsys.readouterr()
    again.test_client().get("/pro")
    assert len(access_lines(capsys.readouterr().err)) == 1
    ours = [h for h in logging.getLogger().handlers if h.name == logs.HANDLER_NAME]
    assert len(ours) == 1


def test_caplog_still_sees_records_in_json_mode(
    json_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    json_app.test_client().get("/test/broken")
    assert any(r.getMessage() == "could not read the thing" for r in caplog.records)


def test_text_mode_puts_the_request_id_in_the_line_and_the_header(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    assert app.config["LOG_FORMAT"] == "text"

    @app.get("/test/warn")
    def warn() -> str:
        logging.getLogger("paywall.test").warning("something odd")
        return "ok"

    capsys.readouterr()
    response = app.test_client().get("/test/warn", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    err = capsys.readouterr().err
    assert re.search(r"WARNING in test_ops_logs \[abc-123\]: something odd", err)
    assert "paywall.access" not in err and not json_lines(err)


def test_production_logs_json_and_log_format_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from config.production import ProductionConfig

    assert ProductionConfig.LOG_FORMAT == "json"
    monkeypatch.setenv("PAYWALL_LOG_FORMAT", "json")
    assert build_app().config["LOG_FORMAT"] == "json"
    monkeypatch.setenv("PAYWALL_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        build_app()


def test_metrics_with_a_token_set_answer_only_the_bearer(app: Flask) -> None:
    app.config["METRICS_TOKEN"] = "scrape-me-0123456789"
    client = app.test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401 and "paywall_" not in refused.get_data(as_text=True)
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    allowed = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-0123456789"})
    assert allowed.status_code == 200 and "paywall_premium_members" in allowed.get_data(
        as_text=True
    )
