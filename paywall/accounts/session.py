"""Sessions: which cookie belongs to whom, and starting or ending one."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app, redirect, request, session, url_for
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response

from paywall.accounts import devices
from paywall.accounts.models import User
from paywall.dbtypes import parse_id
from paywall.extensions import db, login_manager
from paywall.web import error_response


def load_user(cookie_id: str) -> User | None:
    """The user a session or remember-me cookie names, if that cookie is still current.

    The cookie carries "<user id>:<session version>". Sign-out, a password change or reset and
    disabling the account bump the version, so every older cookie, even a copied one, is dead.
    """
    user_id, _, version = cookie_id.partition(":")
    number = parse_id(user_id)
    if number is None or not version.isascii() or not version.isdigit():
        return None
    user = db.session.get(User, number)
    if user is None or not user.is_active or user.session_version != int(version):
        return None
    return user


def unauthorized() -> Response:
    """Anonymous visitors go to sign in, and come back to where they were going."""
    if request.path.startswith("/api/"):
        return error_response(401, "Sign in first.", "unauthorized")
    return redirect(url_for("accounts.signin", next=request.full_path.rstrip("?")))


def init_sessions(app: Flask) -> None:
    login_manager.user_loader(load_user)
    login_manager.unauthorized_handler(unauthorized)
    login_manager.refresh_view = "accounts.signin"
    login_manager.needs_refresh_message = "Please sign in again to change these settings."
    login_manager.session_protection = "basic"
    app.permanent_session_lifetime = timedelta(days=app.config["REMEMBER_DAYS"])
    devices.init_devices(app)


def start_session(user: User, *, remember: bool = False) -> None:
    """Sign in with a brand-new session: nothing from the anonymous one is carried over.
    The browser becomes a known device of the account (see accounts.devices)."""
    session.clear()  # also drops the old CSRF token, so a new one is issued
    login_user(user, remember=remember, fresh=True, duration=_remember_for())
    devices.remember(user)


def restart_session(user: User) -> None:
    """After the session version changed (password change), keep this one session going."""
    remember = bool(
        request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token"))
    )
    start_session(user, remember=remember)


def end_session() -> None:
    logout_user()
    session.clear()


def _remember_for() -> timedelta:
    return timedelta(days=current_app.config["REMEMBER_DAYS"])
