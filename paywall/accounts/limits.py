"""Rate limits for account routes; in Redis when REDIS_URL is set, so every instance shares them."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, g, request
from flask_login import current_user
from werkzeug.wrappers import Response

from paywall.accounts.devices import device_for_signin
from paywall.accounts.emails import rate_limit_key
from paywall.extensions import limiter


def _setting(name: str) -> Callable[[], str]:
    return lambda: str(current_app.config[name])


def _address_key() -> str:
    return "address:" + rate_limit_key(request.form.get("email"))


def _failed(response: Response) -> bool:
    return response.status_code == 400


def _accepted(response: Response) -> bool:
    return response.status_code < 400


def _device_key() -> str:
    return f"device:{device_for_signin()}"


def _is_known_device() -> bool:
    return device_for_signin() is not None


# Failed password sign-ins: a few per account, more per IP (one office may share an address).
# A known device of the account (accounts.devices) is held by a limit of its own instead of
# the account's, so a stranger's guesses never lock the owner's own browser out.
signin_per_account = limiter.limit(
    _setting("RATELIMIT_SIGNIN_PER_ACCOUNT"),
    key_func=_address_key,
    methods=["POST"],
    deduct_when=_failed,
    exempt_when=_is_known_device,
)
signin_per_device = limiter.limit(
    _setting("RATELIMIT_SIGNIN_PER_DEVICE"),
    key_func=_device_key,
    methods=["POST"],
    deduct_when=_failed,
    exempt_when=lambda: not _is_known_device(),
)
signin_per_ip = limiter.limit(
    _setting("RATELIMIT_SIGNIN_PER_IP"), methods=["POST"], deduct_when=_failed
)
# Wrong 6-digit codes per account, on top of the attempts each code allows. The key is the
# canonical address, so every spelling of one address draws on the same count.
code_per_account = limiter.limit(
    _setting("RATELIMIT_CODE_PER_ACCOUNT"),
    key_func=_address_key,
    methods=["POST"],
    deduct_when=_failed,
)
# Wrong codes from one IP over every account: one guess at each of many accounts' codes.
code_per_ip = limiter.limit(
    _setting("RATELIMIT_CODE_PER_IP"), methods=["POST"], deduct_when=_failed
)
# Sign-in mails asked for from one IP, whatever the addresses (each address has its own
# budget as well, below): one client cannot make the site mail a long list of strangers.
signin_link_per_ip = limiter.limit(
    _setting("RATELIMIT_SIGNIN_LINK_PER_IP"), methods=["POST"], deduct_when=_accepted
)
# Mails to one address per hour, counted across sign-up, sign-in links and resets.
mail_per_address = limiter.shared_limit(
    _setting("RATELIMIT_MAIL_PER_ADDRESS"),
    scope="mail-per-address",
    key_func=_address_key,
    methods=["POST"],
    deduct_when=_accepted,
)
signup_per_ip = limiter.limit(
    _setting("RATELIMIT_SIGNUP_PER_IP"), methods=["POST"], deduct_when=_accepted
)


def _user_key() -> str:
    return f"user:{current_user.get_id()}"


# Mails a signed-in user can cause (email change, verification resend) per hour.
mail_per_user = limiter.shared_limit(
    _setting("RATELIMIT_MAIL_PER_ADDRESS"),
    scope="mail-per-user",
    key_func=_user_key,
    methods=["POST"],
    deduct_when=_accepted,
)


# The same budget, spent only when the view says it queued a mail (flask.g.mail_queued):
# for forms that mail only sometimes, like choosing newsletters before the address is confirmed.
mail_per_user_when_sent = limiter.shared_limit(
    _setting("RATELIMIT_MAIL_PER_ADDRESS"),
    scope="mail-per-user",
    key_func=_user_key,
    methods=["POST"],
    deduct_when=lambda response: bool(g.get("mail_queued")),
)
