"""What the worker does for account requests: decide whom to mail, and mail them.

These run away from the request, so whether an address has an account never shows in the
answer the requester got.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app

from paywall import clock
from paywall.accounts import tokens
from paywall.accounts.models import User
from paywall.accounts.service import SIGNIN_PURPOSES, find_user
from paywall.entitlements import refresh_access
from paywall.extensions import db
from paywall.jobs import job
from paywall.mail.outbox import absolute_url, queue_mail


def _minutes(setting: str) -> timedelta:
    return timedelta(minutes=current_app.config[setting])


def _signin_code(user: User, next_path: str | None) -> tokens.Issued:
    """A new sign-in link and code. Every older sign-in or verification link and code of the
    account is spent first: one live code per account, so each wrong guess tests one code."""
    tokens.revoke_all(user, *SIGNIN_PURPOSES)
    return tokens.issue(
        user,
        "signin",
        lifetime=_minutes("SIGNIN_LINK_MINUTES"),
        with_code=True,
        next_path=next_path,
    )


def mail_verification(user: User, next_path: str | None) -> None:
    """A link to confirm the address (valid for days) and a code to type (valid minutes)."""
    code = _signin_code(user, next_path)  # first: it spends the older links of both kinds
    link = tokens.issue(
        user,
        "verify",
        lifetime=timedelta(hours=current_app.config["VERIFY_EMAIL_HOURS"]),
        next_path=next_path,
    )
    queue_mail(
        user.email,
        "verify_email",
        subject="Confirm your email address",
        link=absolute_url("accounts.verify", token=link.raw),
        code=code.code,
        minutes=current_app.config["SIGNIN_LINK_MINUTES"],
    )


@job("accounts.signup")
def signup(payload: dict[str, Any]) -> None:
    existing = find_user(payload["email"])
    if existing is not None:
        # Someone (perhaps the owner) tried to sign up again: help the owner sign in instead.
        issued = _signin_code(existing, payload.get("next"))
        queue_mail(
            existing.email,
            "account_exists",
            subject="You already have an account",
            link=absolute_url("accounts.signin_link_confirm", token=issued.raw),
            code=issued.code,
            minutes=current_app.config["SIGNIN_LINK_MINUTES"],
        )
        return
    user = User(email=payload["email"], password_hash=payload["password_hash"])
    db.session.add(user)
    refresh_access(user)
    db.session.flush()
    mail_verification(user, payload.get("next"))


@job("accounts.verify")
def verify(payload: dict[str, Any]) -> None:
    user = db.session.get(User, payload["user_id"])
    if user is not None and not user.is_verified:
        mail_verification(user, None)


@job("accounts.signin_link")
def signin_link(payload: dict[str, Any]) -> None:
    user = find_user(payload["email"])
    if user is None or not user.is_active:
        return
    issued = _signin_code(user, payload.get("next"))
    queue_mail(
        user.email,
        "signin_link",
        subject="Your sign-in link",
        link=absolute_url("accounts.signin_link_confirm", token=issued.raw),
        code=issued.code,
        minutes=current_app.config["SIGNIN_LINK_MINUTES"],
    )


@job("accounts.password_reset")
def password_reset(payload: dict[str, Any]) -> None:
    user = find_user(payload["email"])
    if user is None or not user.is_active:
        return
    issued = tokens.issue(user, "reset", lifetime=_minutes("PASSWORD_RESET_MINUTES"))
    queue_mail(
        user.email,
        "password_reset",
        subject="Reset your password",
        link=absolute_url("accounts.reset_password", token=issued.raw),
        minutes=current_app.config["PASSWORD_RESET_MINUTES"],
    )


@job("accounts.email_change")
def email_change(payload: dict[str, Any]) -> None:
    user = db.session.get(User, payload["user_id"])
    if user is None or not user.is_active:
        return
    if find_user(payload["email"]) is not None:
        queue_mail(payload["email"], "email_in_use", subject="This address already has an account")
        return
    issued = tokens.issue(
        user,
        "email_change",
        email=payload["email"],
        lifetime=timedelta(hours=current_app.config["VERIFY_EMAIL_HOURS"]),
    )
    queue_mail(
        payload["email"],
        "email_change",
        subject="Confirm your new email address",
        link=absolute_url("accounts.verify", token=issued.raw),
        requested_at=clock.now(),
    )
