"""Settings: PAYWALL_* overrides, and production refusing unsafe settings by name."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from paywall import create_app
from paywall.devstripe.webhooks import DEFAULT_SECRET
from paywall.extensions import db
from paywall.settings import ConfigError
from tests.conftest import PRODUCTION_ENV

PAYWALL = str(Path(sys.executable).parent / "paywall")
EMULATOR_SECRET = DEFAULT_SECRET

# Each new production check, through create_app and through the `paywall` command.
REFUSALS = [
    ("PAYWALL_STRIPE_WEBHOOK_SECRET", EMULATOR_SECRET, "STRIPE_WEBHOOK_SECRET is the Stripe emulator's"),
    ("PAYWALL_STRIPE_WEBHOOK_SECRET", "whsec_", "STRIPE_WEBHOOK_SECRET is not one Stripe issued"),
    ("PAYWALL_STRIPE_WEBHOOK_SECRET", "whsec_test_secret", "STRIPE_WEBHOOK_SECRET is not one Stripe issued"),
    ("PAYWALL_STRIPE_WEBHOOK_SECRET", "whsec_Xq7mZ2vR9tLw4Pk8Nc3Hy6Jd1Fg5Sb0", "STRIPE_WEBHOOK_SECRET is not one Stripe issued"),
    ("PAYWALL_STRIPE_WEBHOOK_SECRET", "whsec_" + "ab" * 20, "STRIPE_WEBHOOK_SECRET is not one Stripe issued"),
    ("PAYWALL_STRIPE_SECRET_KEY", "sk_test_51abcdef", "STRIPE_SECRET_KEY is a test-mode key"),
    ("PAYWALL_STRIPE_SECRET_KEY", "rk_test_51abcdef", "STRIPE_SECRET_KEY is a test-mode key"),
    ("PAYWALL_STRIPE_SECRET_KEY", "pk_live_51abcdef", "STRIPE_SECRET_KEY must be a secret key"),
    ("PAYWALL_REDIS_URL", "", "REDIS_URL is missing: without it every process keeps its own"),
    ("PAYWALL_REDIS_URL", "memory://", "REDIS_URL must be a redis:// or rediss:// address"),
    ("PAYWALL_METRICS_TOKEN", "", "METRICS_TOKEN is missing: /metrics would be public"),
    ("PAYWALL_METRICS_TOKEN", "letmein", "METRICS_TOKEN is weak"),
]  # fmt: skip


def test_production_starts_with_good_settings(production_env):
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
    assert "devmail" not in app.blueprints
    assert app.test_client().get("/dev/mail").status_code == 404


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("PAYWALL_SECRET_KEY", "", "SECRET_KEY is missing"),
        ("PAYWALL_SECRET_KEY", "changeme", "SECRET_KEY is weak"),
        ("PAYWALL_SECRET_KEY", "a" * 40, "SECRET_KEY is weak"),
        ("PAYWALL_BASE_URL", "http://news.example.com", "BASE_URL must be an https://"),
        ("PAYWALL_STRIPE_SECRET_KEY", "", "STRIPE_SECRET_KEY is missing"),
        ("PAYWALL_STRIPE_WEBHOOK_SECRET", "", "STRIPE_WEBHOOK_SECRET is missing"),
        ("PAYWALL_DEV_TOOLS", "true", "DEV_TOOLS must be off"),
        *REFUSALS,
    ],
)
def test_production_refuses_to_start_naming_the_setting(production_env, name, value, named):
    production_env.setenv(name, value)
    with pytest.raises(ConfigError, match=re.escape(named)):
        create_app()


@pytest.mark.parametrize(("name", "value", "named"), REFUSALS)
def test_the_paywall_command_refuses_with_one_line(production_env, name, value, named):
    production_env.setenv(name, value)
    result = subprocess.run([PAYWALL, "routes"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"paywall: {named}"), line


def test_the_paywall_command_starts_with_good_settings(production_env):
    result = subprocess.run([PAYWALL, "routes"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "/webhooks/stripe" in result.stdout and "/dev/mail" not in result.stdout


def test_test_mode_keys_start_a_staging_site_when_allowed(production_env):
    production_env.setenv("PAYWALL_ALLOW_TEST_KEYS", "true")
    for key in ("sk_test_51abcdef", "rk_test_51abcdef"):
        production_env.setenv("PAYWALL_STRIPE_SECRET_KEY", key)
        assert create_app().config["STRIPE_SECRET_KEY"] == key
    # A staging site is still reachable by anyone: the emulator's public secret stays refused.
    production_env.setenv("PAYWALL_STRIPE_WEBHOOK_SECRET", EMULATOR_SECRET)
    with pytest.raises(ConfigError, match="emulator"):
        create_app()


def test_per_process_limits_start_only_when_the_operator_says_so(production_env):
    production_env.setenv("PAYWALL_REDIS_URL", "")
    production_env.setenv("PAYWALL_RATELIMIT_LOCAL_ONLY", "true")
    assert create_app().config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_public_metrics_start_only_when_the_operator_says_so(production_env):
    production_env.setenv("PAYWALL_METRICS_TOKEN", "")
    production_env.setenv("PAYWALL_METRICS_PUBLIC", "true")
    app = create_app()
    with app.app_context():
        db.create_all()
    assert app.test_client().get("/metrics").status_code == 200


def test_metrics_with_the_production_token_need_the_bearer(production_env):
    app = create_app()
    with app.app_context():
        db.create_all()
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    token = PRODUCTION_ENV["PAYWALL_METRICS_TOKEN"]
    allowed = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert allowed.status_code == 200


def test_environment_overrides_are_typed(monkeypatch):
    monkeypatch.setenv("PAYWALL_TRIAL_DAYS", "14")
    monkeypatch.setenv("PAYWALL_SECURE_TRANSPORT", "yes")
    monkeypatch.setenv("PAYWALL_MAIL_FROM", "Desk <desk@example.com>")
    app = create_app({"ENV_NAME": "testing"})
    assert app.config["TRIAL_DAYS"] == 14
    assert app.config["SECURE_TRANSPORT"] is True
    assert app.config["MAIL_FROM"] == "Desk <desk@example.com>"


def test_a_bad_override_names_the_variable(monkeypatch):
    monkeypatch.setenv("PAYWALL_TRIAL_DAYS", "a week")
    with pytest.raises(ConfigError, match="PAYWALL_TRIAL_DAYS must be a whole number"):
        create_app({"ENV_NAME": "testing"})


def test_postgres_urls_use_psycopg(monkeypatch):
    monkeypatch.setenv("PAYWALL_DATABASE_URL", "postgres://u:p@db/paywall")
    app = create_app("testing")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db/paywall"


def test_production_password_hashing_is_slow_scrypt():
    from config.default import Config

    method, n, r, _p = Config.PASSWORD_HASH_METHOD.split(":")
    assert method == "scrypt" and int(n) >= 2**15 and int(r) >= 8


def test_stored_hashes_are_scrypt(app, make_user):
    user = make_user(email="reader@example.com")
    assert user.password_hash.startswith("scrypt:")
