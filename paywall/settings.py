"""Loading settings: a config class, then PAYWALL_<NAME> variables, then production checks."""

from __future__ import annotations

import os
import re
import secrets
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask

CONFIGS = {
    "development": "config.development.DevelopmentConfig",
    "testing": "config.testing.TestingConfig",
    "production": "config.production.ProductionConfig",
}

# Values that people copy from tutorials; a production secret must not be one of them.
WEAK_SECRETS = {"dev", "secret", "changeme", "change-me", "password", "development", "test"}
MIN_SECRET_LENGTH = 32
MIN_METRICS_TOKEN_LENGTH = 16

# Stripe's secret and restricted keys; production takes test-mode ones only with ALLOW_TEST_KEYS
# (https://docs.stripe.com/keys).
LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")
TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
# The random part of a webhook signing secret. Stripe issues whsec_ and 32 alphanumeric
# characters for a dashboard endpoint (the Stripe CLI's `stripe listen` gives 64 hex ones), so
# anything shorter was typed by hand or copied from an example: stripe-python's own tests sign
# with "whsec_test_secret", and tutorials with "whsec_...".
MIN_WEBHOOK_SECRET_LENGTH = 32
# What Flask-Limiter's Redis storage accepts (redis+unix://, redis+sentinel://, ...).
REDIS_SCHEMES = ("redis://", "rediss://", "redis+")


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
    check_schedule(app.config)
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
    cfg["STRIPE_EMULATOR"] = not cfg.get("STRIPE_SECRET_KEY") and cfg["ENV_NAME"] != "production"
    if cfg["STRIPE_EMULATOR"]:
        # Imported here: an app that talks to Stripe itself never loads the emulator server.
        from paywall.devstripe.server import RunningEmulator
        from paywall.devstripe.webhooks import DEFAULT_SECRET

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


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CLOCK_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


def time_zone(cfg: Any) -> ZoneInfo:
    """TIMEZONE as a zone; ConfigError naming it when it is not an IANA time zone."""
    name = str(cfg.get("TIMEZONE") or "")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe", a folder
        raise ConfigError(
            f"TIMEZONE must be an IANA time zone such as UTC or Europe/Paris, not {name!r}"
        ) from None


def weekly_at(cfg: Any, name: str = "WEEKLY_REVIEW_AT") -> tuple[int, time]:
    """A weekly setting such as "mon 07:00" as (weekday, Monday 0, time of day)."""
    raw = str(cfg.get(name) or "")
    parts = raw.strip().lower().split()
    if len(parts) == 2 and (parts[0] in WEEKDAYS or parts[0] in WEEKDAY_NAMES):
        found = CLOCK_TIME.fullmatch(parts[1])
        if found:
            weekday = WEEKDAYS.index(parts[0][:3])
            return weekday, time(int(found[1]), int(found[2]))
    raise ConfigError(
        f"{name} must be a weekday and a 24-hour time such as 'mon 07:00', not {raw!r}"
    )


def check_schedule(cfg: Any) -> None:
    """The worker's scheduler settings, checked in every environment: a typo would otherwise
    surface only when the worker first computes a period."""
    time_zone(cfg)
    weekly_at(cfg)
    days = cfg.get("PRUNE_AFTER_DAYS")
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise ConfigError(
            f"PRUNE_AFTER_DAYS must be a whole number of days, at least 1, not {days!r}"
        )


def _looks_random(text: str, min_length: int) -> bool:
    """Long enough, and not a run of a few characters ("xxxx…", "abcabc…"): what a generated
    secret is and a typed placeholder is not."""
    return len(text) >= min_length and len(set(text)) >= 10


def check_production(cfg: Any) -> None:
    """Refuse to run production with settings that would be unsafe, naming the setting."""
    _check_secret_key(cfg)
    if not str(cfg.get("BASE_URL") or "").startswith("https://"):
        raise ConfigError("BASE_URL must be an https:// address in production")
    _check_stripe_key(cfg)
    _check_webhook_secret(cfg)
    _check_shared_limits(cfg)
    _check_metrics(cfg)
    if cfg.get("DEV_TOOLS"):
        raise ConfigError("DEV_TOOLS must be off in production")


def _check_secret_key(cfg: Any) -> None:
    secret = cfg.get("SECRET_KEY") or ""
    if not secret:
        raise ConfigError("SECRET_KEY is missing: set PAYWALL_SECRET_KEY to a random string")
    if not _looks_random(secret, MIN_SECRET_LENGTH) or secret.lower() in WEAK_SECRETS:
        raise ConfigError(
            f"SECRET_KEY is weak: use at least {MIN_SECRET_LENGTH} random characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )


def _check_stripe_key(cfg: Any) -> None:
    key = str(cfg.get("STRIPE_SECRET_KEY") or "")
    if not key:
        raise ConfigError("STRIPE_SECRET_KEY is missing: production never uses the Stripe emulator")
    if key.startswith(TEST_KEY_PREFIXES):
        if not cfg.get("ALLOW_TEST_KEYS"):
            raise ConfigError(
                "STRIPE_SECRET_KEY is a test-mode key: use the sk_live_ key, or set "
                "PAYWALL_ALLOW_TEST_KEYS=true for a staging site on Stripe test mode"
            )
    elif not key.startswith(LIVE_KEY_PREFIXES):
        raise ConfigError(
            "STRIPE_SECRET_KEY must be a secret key (sk_live_…) or a restricted key (rk_live_…)"
        )


def _check_webhook_secret(cfg: Any) -> None:
    from paywall.devstripe.webhooks import DEFAULT_SECRET

    secret = str(cfg.get("STRIPE_WEBHOOK_SECRET") or "")
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise ConfigError(
            "STRIPE_WEBHOOK_SECRET is missing: set it to the endpoint's whsec_… signing secret"
        )
    if secret == DEFAULT_SECRET:
        raise ConfigError(
            "STRIPE_WEBHOOK_SECRET is the Stripe emulator's, which is public: anyone could sign "
            "webhooks with it. Set the endpoint's signing secret from the Stripe dashboard"
        )
    random_part = secret.removeprefix(WEBHOOK_SECRET_PREFIX)
    if not _looks_random(random_part, MIN_WEBHOOK_SECRET_LENGTH):
        raise ConfigError(
            f"STRIPE_WEBHOOK_SECRET is not one Stripe issued (whsec_ and at least "
            f"{MIN_WEBHOOK_SECRET_LENGTH} random characters): copy the endpoint's signing secret"
        )


def _check_shared_limits(cfg: Any) -> None:
    """Rate limits kept in memory live in one process: gunicorn -w 4 gives each worker its own
    counters (four times every limit) and a second app instance shares none of them."""
    url = str(cfg.get("REDIS_URL") or "")
    if not url:
        if cfg.get("RATELIMIT_LOCAL_ONLY"):
            return
        raise ConfigError(
            "REDIS_URL is missing: without it every process keeps its own rate limits (gunicorn "
            "-w 4 allows four times each limit). Set PAYWALL_REDIS_URL=redis://…, or "
            "PAYWALL_RATELIMIT_LOCAL_ONLY=true to accept per-process limits"
        )
    if not url.startswith(REDIS_SCHEMES):
        raise ConfigError(f"REDIS_URL must be a redis:// or rediss:// address, not {url!r}")


def _check_metrics(cfg: Any) -> None:
    """/metrics shows business figures (premium members, trials, failed webhooks)."""
    token = str(cfg.get("METRICS_TOKEN") or "")
    if not token:
        if cfg.get("METRICS_PUBLIC"):
            return
        raise ConfigError(
            "METRICS_TOKEN is missing: /metrics would be public. Set PAYWALL_METRICS_TOKEN (the "
            "bearer token Prometheus sends), or PAYWALL_METRICS_PUBLIC=true when /metrics is "
            "closed off in front of the app"
        )
    if not _looks_random(token, MIN_METRICS_TOKEN_LENGTH):
        raise ConfigError(
            f"METRICS_TOKEN is weak: use at least {MIN_METRICS_TOKEN_LENGTH} random characters"
        )
