"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the wiring, as parsed."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from paywall import create_app
from paywall.settings import CONFIGS, ConfigError
from tests.conftest import PRODUCTION_ENV

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SETTINGS = {
    "SECRET_KEY",
    "DATABASE_URL",
    "BASE_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "MAIL_URL",
    "MAIL_FROM",
    "REDIS_URL",
    "TRIAL_DAYS",
    "PAST_DUE_GRACE_DAYS",
    "FREE_ARTICLES_PER_MONTH",
    "PROXY_FIX_HOPS",
    "ALLOW_TEST_KEYS",
    "METRICS_TOKEN",
    "METRICS_PUBLIC",
    "RATELIMIT_LOCAL_ONLY",
}
REQUIRED_FROM_ENVIRONMENT = (
    "SECRET_KEY",
    "BASE_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "METRICS_TOKEN",
)
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?message}, with `environ` as the shell's."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if environ.get(name):
            return environ[name]
        if op in (":?", "?"):
            raise LookupError(f"{name}: {arg}")
        return arg if op in (":-", "-") else ""

    return VARIABLE.sub(replace, value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command", [])
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def test_the_stack_has_its_services(services: dict[str, Any]) -> None:
    assert {"app", "worker", "postgres", "redis"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")


@pytest.mark.parametrize("name", ["app", "worker"])
def test_app_and_worker_wait_for_healthy_servers(services: dict[str, Any], name: str) -> None:
    deps = depends_on(services[name])
    assert deps.get("postgres") == "service_healthy"
    assert deps.get("redis") == "service_healthy"


# Ids that are not marker names: conftest skips by `marker in item.keywords`, and parameter
# ids are keywords too, so an id "postgres" would skip this test whenever PostgreSQL is absent.
@pytest.mark.parametrize("name", ["postgres", "redis"], ids=["postgres-service", "redis-service"])
def test_servers_have_healthchecks(services: dict[str, Any], name: str) -> None:
    check = services[name].get("healthcheck", {})
    assert check.get("test"), f"{name} has no healthcheck"
    assert not check.get("disable", False)
    if name == "postgres":
        assert "pg_isready" in " ".join(check["test"])
        assert any(":/var/lib/postgresql/data" in volume for volume in services[name]["volumes"])
    else:
        assert "redis-cli" in " ".join(check["test"])


def test_app_and_worker_share_one_configuration(services: dict[str, Any]) -> None:
    app, worker = environment(services["app"]), environment(services["worker"])
    assert app == worker
    assert app["PAYWALL_CONFIG"] == "production"
    assert app["PAYWALL_CONFIG"] in CONFIGS
    names = {key.removeprefix("PAYWALL_") for key in app if key != "PAYWALL_CONFIG"}
    assert all(key.startswith("PAYWALL_") for key in app)
    assert names <= SETTINGS, f"not settings: {names - SETTINGS}"


def test_database_and_redis_urls_name_the_compose_services(services: dict[str, Any]) -> None:
    env = environment(services["app"])
    database = urlsplit(interpolate(env["PAYWALL_DATABASE_URL"], {}))
    assert database.scheme == "postgresql+psycopg"
    assert database.hostname == "postgres"
    assert database.port in (None, 5432)

    # The credentials and database are the ones the postgres service creates.
    postgres = environment(services["postgres"])
    assert database.username == interpolate(postgres["POSTGRES_USER"], {})
    assert database.password == interpolate(postgres["POSTGRES_PASSWORD"], {})
    assert database.path == "/" + interpolate(postgres["POSTGRES_DB"], {})
    chosen = {"POSTGRES_PASSWORD": "s3cret"}
    assert urlsplit(interpolate(env["PAYWALL_DATABASE_URL"], chosen)).password == (
        interpolate(postgres["POSTGRES_PASSWORD"], chosen)
    )

    redis = urlsplit(interpolate(env["PAYWALL_REDIS_URL"], {}))
    assert redis.scheme == "redis"
    assert redis.hostname == "redis"
    assert redis.port in (None, 6379)


@pytest.mark.parametrize("setting", REQUIRED_FROM_ENVIRONMENT)
def test_secrets_come_from_the_environment_and_are_required(
    services: dict[str, Any], setting: str
) -> None:
    value = environment(services["app"])[f"PAYWALL_{setting}"]
    match = VARIABLE.fullmatch(value)
    assert match, f"PAYWALL_{setting} should be ${{PAYWALL_{setting}:?...}}, not {value!r}"
    assert match["name"] == f"PAYWALL_{setting}"
    assert match["op"] == ":?" and match["arg"].strip(), "say what is missing"
    with pytest.raises(LookupError):
        interpolate(value, {})
    assert interpolate(value, {f"PAYWALL_{setting}": "given"}) == "given"


def started_from_compose(
    services: dict[str, Any], shell: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """create_app() in the app container: the compose environment, interpolated from `shell`."""
    for name in [name for name in os.environ if name.startswith("PAYWALL_")]:
        monkeypatch.delenv(name)
    for name, value in environment(services["app"]).items():
        monkeypatch.setenv(name, interpolate(value, shell))
    return create_app()


def test_the_stack_passes_the_production_checks(services, monkeypatch):
    """Given what the header asks the operator for, app and worker start: every setting
    production requires is set or passed through (REDIS_URL for shared limits)."""
    shell = {
        name: PRODUCTION_ENV[name] for name in map("PAYWALL_{}".format, REQUIRED_FROM_ENVIRONMENT)
    }
    app = started_from_compose(services, shell, monkeypatch)
    assert app.config["ENV_NAME"] == "production"
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://redis:6379/0"
    assert app.config["METRICS_TOKEN"] == PRODUCTION_ENV["PAYWALL_METRICS_TOKEN"]


def test_a_staging_stack_on_test_keys_starts_only_when_allowed(services, monkeypatch):
    shell = {
        name: PRODUCTION_ENV[name] for name in map("PAYWALL_{}".format, REQUIRED_FROM_ENVIRONMENT)
    }
    shell["PAYWALL_STRIPE_SECRET_KEY"] = "sk_test_51staging"
    with pytest.raises(ConfigError, match="STRIPE_SECRET_KEY is a test-mode key"):
        started_from_compose(services, shell, monkeypatch)
    app = started_from_compose(services, {**shell, "PAYWALL_ALLOW_TEST_KEYS": "true"}, monkeypatch)
    assert app.config["STRIPE_SECRET_KEY"] == "sk_test_51staging"


def test_app_serves_the_factory_with_gunicorn(services: dict[str, Any]) -> None:
    cmd = command(services["app"])
    assert cmd[0] == "gunicorn"
    assert "paywall:create_app()" in cmd
    bind = cmd[cmd.index("--bind") + 1] if "--bind" in cmd else None
    bind = bind or next(part.split("=", 1)[1] for part in cmd if part.startswith("--bind="))
    assert bind == "0.0.0.0:8000"
    assert any(str(port).endswith(":8000") for port in services["app"].get("ports", []))


def test_worker_runs_the_worker(services: dict[str, Any]) -> None:
    assert command(services["worker"]) == ["paywall", "worker"]


def test_migrations_run_before_the_app_and_worker(services: dict[str, Any]) -> None:
    """Either a one-shot `migrate` service both wait for, or an app command that upgrades first."""
    if "migrate" in services:
        migrate = services["migrate"]
        assert command(migrate) == ["paywall", "db", "upgrade"]
        assert environment(migrate) == environment(services["app"])
        assert depends_on(migrate).get("postgres") == "service_healthy"
        for name in ("app", "worker"):
            assert depends_on(services[name]).get("migrate") == "service_completed_successfully"
    else:
        joined = " ".join(command(services["app"]))
        assert joined.index("paywall db upgrade") < joined.index("gunicorn")


def test_mail_catcher_is_only_in_the_dev_profile(services: dict[str, Any]) -> None:
    catchers = [
        name for name, service in services.items() if "mail" in str(service.get("image", ""))
    ]
    assert catchers, "no mail catcher service"
    for name in catchers:
        assert services[name].get("profiles") == ["dev"], name
    for name in ("app", "worker", "postgres", "redis"):
        assert not services[name].get("profiles"), f"{name} must run without a profile"


def test_services_build_or_use_the_project_image(services: dict[str, Any]) -> None:
    for name in ("app", "worker"):
        service = services[name]
        build = service.get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        assert context in (".", "./"), f"{name} should build the Dockerfile at the root"


def test_dockerfile_installs_the_project() -> None:
    assert DOCKERFILE.is_file()
    lines = [
        line.strip()
        for line in DOCKERFILE.read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0].upper().startswith("FROM PYTHON:3.11"), lines[0]
    runs = [line for line in lines if line.upper().startswith("RUN ")]
    assert any(re.search(r"\bpip install (?:[^&;]* )?\.(?:\s|$)", run) for run in runs), runs
    copied = " ".join(line for line in lines if line.upper().startswith("COPY "))
    # What the app reads at run time, beside the package.
    for path in ("pyproject.toml", "paywall", "config", "migrations", "templates", "static"):
        assert re.search(rf"(?:\s|^){path}\b", copied), f"the image lacks {path}/"
    assert any(line.upper().startswith("USER ") and "root" not in line for line in lines)
    assert "EXPOSE 8000" in lines
