"""Settings: PAYWALL_* overrides, and production refusing unsafe settings by name."""

from __future__ import annotations

import pytest

from paywall import create_app
from paywall.settings import ConfigError

GOOD = {
    "PAYWALL_CONFIG": "production",
    "PAYWALL_SECRET_KEY": "kq3X9vZr7Lw2Pm8Tn4Yc6Hd1Jf5Gs0Ab",
    "PAYWALL_BASE_URL": "https://news.example.com",
    "PAYWALL_STRIPE_SECRET_KEY": "sk_live_example",
    "PAYWALL_STRIPE_WEBHOOK_SECRET": "whsec_example_signing_secret",
    "PAYWALL_DATABASE_URL": "sqlite://",
}


@pytest.fixture
def production_env(monkeypatch):
    for key, value in GOOD.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_production_starts_with_good_settings(production_env):
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
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
    ],
)
def test_production_refuses_to_start_naming_the_setting(production_env, name, value, named):
    production_env.setenv(name, value)
    with pytest.raises(ConfigError, match=named):
        create_app()


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
