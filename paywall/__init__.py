"""The paywall application factory."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from markupsafe import Markup, escape
from werkzeug.middleware.proxy_fix import ProxyFix

from paywall.logs import init_logging
from paywall.settings import load_settings

__all__ = ["create_app"]


def create_app(config: str | type | dict[str, Any] | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, error pages, CLI. Nothing else."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    load_settings(app, config)
    init_logging(app)  # first, so every later hook and log line already has the request id
    register_staff_gate(app)  # before CSRF and every other check: see paywall.web
    register_extensions(app)
    register_url_converters(app)
    register_blueprints(app)
    register_web(app)
    register_cli(app)
    return app


def register_extensions(app: Flask) -> None:
    from paywall.accounts.session import init_sessions
    from paywall.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.config.get("MIGRATIONS_DIR") or _migrations()))
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    init_sessions(app)
    if app.config.get("PROXY_FIX_HOPS"):
        hops = int(app.config["PROXY_FIX_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    # Importing these modules registers what they offer: job handlers and periodic tasks with
    # the worker, grant sources with paywall.entitlements, listeners to the signals billing
    # and content send; and every model, so the metadata is complete for create_all() and
    # Alembic. A module left out here would silently give nothing (no access, no seats).
    import paywall.accounts.comp
    import paywall.accounts.jobs
    import paywall.accounts.service
    import paywall.audit
    import paywall.billing.grants
    import paywall.billing.models
    import paywall.billing.webhooks
    import paywall.content.models
    import paywall.content.registrations
    import paywall.entitlements
    import paywall.jobs
    import paywall.members.imports
    import paywall.newsletters.mailings
    import paywall.newsletters.models
    import paywall.newsletters.service
    import paywall.pruning
    import paywall.scheduler
    import paywall.teams.models
    import paywall.teams.seats
    import paywall.teams.team_billing  # noqa: F401


def register_staff_gate(app: Flask) -> None:
    from paywall.web import register_staff_gate as register

    register(app)


def register_url_converters(app: Flask) -> None:
    from paywall.web import register_url_converters as register

    register(app)


def register_blueprints(app: Flask) -> None:
    from paywall.accounts.views import bp as accounts
    from paywall.admin.content import bp as admin_content
    from paywall.admin.logs import bp as admin_logs
    from paywall.admin.members import bp as admin_members
    from paywall.admin.views import bp as admin
    from paywall.api.views import bp as api
    from paywall.billing.views import bp as billing
    from paywall.content.feeds import bp as feeds
    from paywall.content.registration_views import bp as registrations
    from paywall.content.views import bp as content
    from paywall.mail.views import bp as devmail
    from paywall.members.admin import bp as admin_members_transfer
    from paywall.newsletters.admin import bp as admin_newsletters
    from paywall.newsletters.views import bp as newsletters
    from paywall.ops import bp as ops
    from paywall.teams.admin import bp as admin_teams
    from paywall.teams.views import bp as teams

    for blueprint in (
        content,
        feeds,
        registrations,
        newsletters,
        billing,
        teams,
        admin_teams,
        accounts,
        api,
        admin,
        admin_content,
        admin_members,
        admin_members_transfer,
        admin_logs,
        admin_newsletters,
        ops,
    ):
        app.register_blueprint(blueprint)
    if app.config["DEV_TOOLS"]:
        app.register_blueprint(devmail)


def register_web(app: Flask) -> None:
    from paywall.ops import init_metrics
    from paywall.web import register_error_handlers, register_input_guard, register_security_headers

    register_security_headers(app)
    register_input_guard(app)
    register_error_handlers(app)
    init_metrics(app)
    app.jinja_env.filters["linkify"] = linkify


def register_cli(app: Flask) -> None:
    from paywall.commands import register_commands

    register_commands(app)


URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """Escape text, then turn the web addresses in it into links (for /dev/mail)."""
    escaped = str(escape(text))
    return Markup(URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped))  # noqa: S704


def _migrations() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parent.parent / "migrations")
