"""Known devices: a signed cookie saying "this browser has signed in to this account before".

The per-account limit on wrong passwords stops strangers guessing, but on its own it also
stops the owner: five wrong guesses by anyone and the right password gets 429. OWASP's answer
("Slow Down Online Guessing Attacks with Device Cookies", in its Blocking Brute Force Attacks
guidance) is used here: after any sign-in the browser gets this cookie, and a password attempt
that carries one valid for the account it names is not held by that account's limit. Its own
wrong passwords count against a limit per device instead (RATELIMIT_SIGNIN_PER_DEVICE), so a
stolen cookie is no licence to guess, and per IP as anyone's do.

The cookie is signed with SECRET_KEY and holds the user id, a random id for this device, and a
stamp of the account's password hash: changing or resetting the password forgets every
device. It lasts KNOWN_DEVICE_DAYS from the sign-in that set it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from flask import Flask, current_app, g, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from paywall.accounts.emails import rate_limit_key
from paywall.accounts.models import User
from paywall.dbtypes import MAX_ID
from paywall.extensions import db

COOKIE = "known_device"
_SALT = "paywall.known-device"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _lifetime_seconds() -> int:
    return int(current_app.config["KNOWN_DEVICE_DAYS"]) * 86400


def _password_stamp(user: User) -> str:
    # Keyed, so the cookie says nothing about the hash; a new password gives a new stamp.
    key = current_app.config["SECRET_KEY"].encode()
    message = f"{user.id}:{user.password_hash or ''}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def remember(user: User) -> None:
    """Mark this browser as a known device of `user` (the cookie is set on the response)."""
    g.known_device_user = user


def _set_cookie(response: Response) -> Response:
    user = g.pop("known_device_user", None)
    if user is None:
        return response
    value = _serializer().dumps({"u": user.id, "d": secrets.token_urlsafe(16),
                                 "s": _password_stamp(user)})  # fmt: skip
    response.set_cookie(
        COOKIE,
        value,
        max_age=_lifetime_seconds(),
        path=url_for("accounts.signin"),  # only password sign-ins read it
        secure=current_app.config["SECURE_TRANSPORT"],
        httponly=True,
        samesite="Lax",
    )
    return response


def init_devices(app: Flask) -> None:
    app.after_request(_set_cookie)


def device_for_signin() -> str | None:
    """The id of this browser, when it is a known device of the account this sign-in form
    names (its `email`, in any spelling); None for everyone else. Read once per request."""
    if "known_device" not in g:
        g.known_device = _check(request.cookies.get(COOKIE), request.form.get("email"))
    found: str | None = g.known_device
    return found


def _check(raw: str | None, email: str | None) -> str | None:
    if request.method != "POST" or not raw or not email:
        return None
    try:
        data: Any = _serializer().loads(raw, max_age=_lifetime_seconds())
    except BadSignature:  # tampered, signed by another key, or older than KNOWN_DEVICE_DAYS
        return None
    if not isinstance(data, dict):
        return None
    user_id, device, stamp = data.get("u"), data.get("d"), data.get("s")
    if not (isinstance(user_id, int) and 0 < user_id <= MAX_ID):
        return None
    if not (isinstance(device, str) and isinstance(stamp, str)):
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.is_active or user.email != rate_limit_key(email):
        return None
    if not hmac.compare_digest(stamp, _password_stamp(user)):
        return None  # the password changed since this device signed in
    return device
