"""Loading settings: a config class, then PAYWALL_<NAME> variables, then production checks."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

CONFIGS = {
    "development": "config.development.DevelopmentConfig",
    "testing": "config.testing.TestingConfig",
    "production": "config.production.ProductionConfig",
}

# Values that people copy from tutorials; a production secret must not be one of them.
WEAK_SECRETS = {"dev", "secret", "changeme", "change-me", "password", "development", "test"}
MIN_SECRET_LENGTH = 32


class ConfigError(RuntimeError):
    """The settings cannot work; the message names the setting."""


def load_settings(app: Flask, config: str | type | dict[str, Any] | None) -> None:
    """Fill app.config from a config name, class or dict, then from PAYWALL_* variables."""
    overrides: dict[str, Any] = {}
    if config is None or isinstance(config, str):
        name = config or os.environ.get("PAYWALL_CONFIG", "development")
        if name not in CONFIGS:
            raise ConfigError(f"PAYWALL_CONFIG must be one of {', '.join(CONFIGS)}, not {name!r}")
        app.config.from_object(CONFIGS[name])
    elif isinstance(config, dict):
        app.config.from_object(CONFIGS[config.get("ENV_NAME", "testing")])
        overrides = config
    else:
        app.config.from_object(config)
    _apply_environment(app)
    app.config.update(overrides)
    _fill_derived(app)
    if app.config["ENV_NAME"] == "production":
        check_production(app.config)


def _apply_environment(app: Flask) -> None:
    for key, raw in os.environ.items():
        if not key.startswith("PAYWALL_") or key == "PAYWALL_CONFIG":
            continue
        name = key.removeprefix("PAYWALL_")
        if name.startswith("TEST_"):
            continue  # the test suite's own settings, not the app's
        app.config[name] = _coerce(name, raw, app.config.get(name))


def _coerce(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"PAYWALL_{name} must be true or false, not {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"PAYWALL_{name} must be a whole number, not {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"PAYWALL_{name} must be a number, not {raw!r}") from None
    return raw or None


EMULATOR_API_BASE = "http://127.0.0.1:12111"


def _fill_stripe(cfg: Any) -> None:
    """Without a Stripe key (never in production), the offline emulator stands in for Stripe."""
    from paywall.devstripe.server import RunningEmulator
    from paywall.devstripe.webhooks import DEFAULT_SECRET

    cfg["STRIPE_EMULATOR"] = not cfg.get("STRIPE_SECRET_KEY") and cfg["ENV_NAME"] != "production"
    if cfg["STRIPE_EMULATOR"]:
        cfg["STRIPE_SECRET_KEY"] = RunningEmulator.api_key
        cfg["STRIPE_API_BASE"] = cfg.get("STRIPE_API_BASE") or EMULATOR_API_BASE
        cfg["STRIPE_WEBHOOK_SECRET"] = cfg.get("STRIPE_WEBHOOK_SECRET") or DEFAULT_SECRET


def _fill_derived(app: Flask) -> None:
    cfg = app.config
    instance = Path(app.instance_path)
    if not cfg.get("SECRET_KEY") and cfg["ENV_NAME"] != "production":
        cfg["SECRET_KEY"] = _instance_secret(instance)
    url = cfg.get("DATABASE_URL") or f"sqlite:///{instance / 'paywall.db'}"
    if url.startswith("sqlite:///"):
        instance.mkdir(parents=True, exist_ok=True)
    cfg["DATABASE_URL"] = normalise_database_url(url)
    cfg["SQLALCHEMY_DATABASE_URI"] = cfg["DATABASE_URL"]
    cfg["BASE_URL"] = (cfg.get("BASE_URL") or "").rstrip("/")
    _fill_stripe(cfg)
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["SESSION_COOKIE_SECURE"] = cfg["SECURE_TRANSPORT"]
    cfg["REMEMBER_COOKIE_HTTPONLY"] = True
    cfg["REMEMBER_COOKIE_SAMESITE"] = "Lax"
    cfg["REMEMBER_COOKIE_SECURE"] = cfg["SECURE_TRANSPORT"]
    cfg["REMEMBER_COOKIE_DURATION"] = cfg["REMEMBER_DAYS"] * 86400
    cfg["RATELIMIT_STORAGE_URI"] = cfg.get("REDIS_URL") or "memory://"
    cfg["RATELIMIT_HEADERS_ENABLED"] = True
    # CSRF tokens live as long as the session, so a form left open for hours still submits.
    cfg["WTF_CSRF_TIME_LIMIT"] = None


def normalise_database_url(url: str) -> str:
    """Send PostgreSQL URLs through psycopg 3, whatever scheme they were written with."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _instance_secret(instance: Path) -> str:
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def check_production(cfg: Any) -> None:
    """Refuse to run production with settings that would be unsafe, naming the setting."""
    secret = cfg.get("SECRET_KEY") or ""
    if not secret:
        raise ConfigError("SECRET_KEY is missing: set PAYWALL_SECRET_KEY to a random string")
    if len(secret) < MIN_SECRET_LENGTH or secret.lower() in WEAK_SECRETS or len(set(secret)) < 10:
        raise ConfigError(
            f"SECRET_KEY is weak: use at least {MIN_SECRET_LENGTH} random characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    if not str(cfg.get("BASE_URL") or "").startswith("https://"):
        raise ConfigError("BASE_URL must be an https:// address in production")
    if not cfg.get("STRIPE_SECRET_KEY"):
        raise ConfigError("STRIPE_SECRET_KEY is missing: production never uses the Stripe emulator")
    if not str(cfg.get("STRIPE_WEBHOOK_SECRET") or "").startswith("whsec_"):
        raise ConfigError(
            "STRIPE_WEBHOOK_SECRET is missing: set it to the endpoint's whsec_… signing secret"
        )
    if cfg.get("DEV_TOOLS"):
        raise ConfigError("DEV_TOOLS must be off in production")
