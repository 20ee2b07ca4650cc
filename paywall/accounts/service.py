"""Account rules: signing up, in and out, resets, verification, and changes to an account.

Requests that could reveal whether an address has an account (sign-up, sign-in link, password
reset) do the same work either way: validate, hash when a password is given, and queue one
job. The worker decides what to mail (see paywall.accounts.jobs). So the status, the body and
the time of the answer are the same for every address.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import has_request_context, request
from sqlalchemy import select

from paywall import access, clock, entitlements, jobs
from paywall.accounts import tokens
from paywall.accounts.emails import canonical_address, normalise_email
from paywall.accounts.models import SignIn, User
from paywall.accounts.passwords import check_policy, hash_password, verify_password
from paywall.errors import TokenInvalid, ValidationError
from paywall.extensions import db
from paywall.mail.outbox import queue_mail

BAD_CREDENTIALS = "Invalid email or password."
SIGNIN_PURPOSES = ("signin", "verify")


@dataclass(frozen=True)
class SignedIn:
    user: User
    next_path: str | None


def find_user(email: str) -> User | None:
    """The account of an address, in whichever spelling it comes (see accounts.emails)."""
    return db.session.scalar(select(User).where(User.email == canonical_address(email)))


def request_signup(email: str, password: str, next_path: str | None) -> None:
    """Check the input and queue the sign-up; the mail says what happens next."""
    address = normalise_email(email)
    check_policy(password)
    jobs.enqueue(
        "accounts.signup", email=address, password_hash=hash_password(password), next=next_path
    )


def request_signin_link(email: str, next_path: str | None) -> None:
    """Queue a sign-in link and code for this address (sent only if it has an account)."""
    jobs.enqueue("accounts.signin_link", email=normalise_email(email), next=next_path)


def request_password_reset(email: str) -> None:
    """Queue a reset link for this address (sent only if it has an account)."""
    jobs.enqueue("accounts.password_reset", email=normalise_email(email))


def authenticate(email: str, password: str) -> User:
    """The account these credentials open, or one message whatever was wrong."""
    try:
        address = normalise_email(email)
    except ValidationError:
        address = ""
    user = find_user(address) if address else None
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise ValidationError(BAD_CREDENTIALS, field="email")
    return user


def record_signin(user: User, method: str) -> None:
    now = clock.now()
    user.last_signin_at = now
    # Where it came from, when there is a request (staff read this to spot a shared account).
    ip = request.remote_addr if has_request_context() else None
    agent = request.user_agent.string[:200] if has_request_context() else None
    db.session.add(SignIn(user_id=user.id, created_at=now, method=method, ip=ip, user_agent=agent))


def peek_token(raw: str, purposes: tuple[str, ...]) -> User:
    """Whose live token this is, without spending it (for the confirm pages)."""
    return tokens.find_live(raw, purposes).user


def signin_with_link(raw: str) -> SignedIn:
    """Spend a sign-in or verification link; it proves the mailbox, so the email is verified."""
    token = tokens.find_live(raw, SIGNIN_PURPOSES)
    tokens.use(token)
    return _signed_in_by_mail(token.user, token.next_path, "link")


def signin_with_code(email: str, code: str, max_attempts: int) -> SignedIn:
    """Sign in with the 6-digit code from a sign-in or sign-up mail."""
    code = (code or "").strip().replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        raise ValidationError("Enter the 6-digit code from the email.", field="code")
    try:
        user = find_user(normalise_email(email))
    except ValidationError:
        user = None
    if user is None:
        raise ValidationError("That code is not right, or it has expired.", field="code")
    try:
        token = tokens.match_code(user, code, SIGNIN_PURPOSES, max_attempts)
        tokens.use(token)
    except TokenInvalid as error:
        raise ValidationError(error.message, field="code") from None
    return _signed_in_by_mail(user, token.next_path, "code")


def _signed_in_by_mail(user: User, next_path: str | None, method: str) -> SignedIn:
    if not user.is_active:
        raise TokenInvalid(tokens.INVALID_MESSAGE)
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()
    # One mail's link and code are one credential: using either ends every sign-in mail sent.
    tokens.revoke_all(user, *SIGNIN_PURPOSES)
    record_signin(user, method)
    return SignedIn(user=user, next_path=next_path)


def reset_password(raw: str, password: str) -> User:
    """Set a new password from a reset link; every session and reset link ends with it."""
    check_policy(password)
    token = tokens.find_live(raw, ("reset",))
    tokens.use(token)
    user = token.user
    _set_password(user, password)
    tokens.revoke_all(user, "reset")
    # The link proved the mailbox as well as a verification link would.
    user.email_verified_at = user.email_verified_at or clock.now()
    return user


def change_password(user: User, current: str, new: str) -> None:
    """Change the password of a signed-in user who knows the current one."""
    if not verify_password(user.password_hash, current):
        raise ValidationError("Your current password is not right.", field="current_password")
    check_policy(new, field="password")
    _set_password(user, new)


def _set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    end_all_sessions(user)
    queue_mail(user.email, "password_changed", subject="Your password was changed", user=user)


def request_email_change(user: User, current: str, new_email: str) -> None:
    """Mail a confirmation link to the new address; the change happens when it is used."""
    if not verify_password(user.password_hash, current):
        raise ValidationError("Your current password is not right.", field="current_password")
    address = normalise_email(new_email, field="new_email")
    if address == user.email:
        raise ValidationError("That is already your email address.", field="new_email")
    jobs.enqueue("accounts.email_change", user_id=user.id, email=address)


def confirm_email_token(raw: str) -> SignedIn:
    """Use a link from a verification or email-change mail."""
    token = tokens.find_live(raw, ("verify", "email_change"))
    if token.purpose == "verify":
        return signin_with_link(raw)
    if find_user(token.email) is not None:
        raise TokenInvalid("Another account already uses that address.")
    tokens.use(token)
    user, old_address = token.user, token.user.email
    user.email, user.email_verified_at = token.email, clock.now()
    queue_mail(
        old_address, "email_changed", subject="Your email address was changed", new=token.email
    )
    return SignedIn(user=user, next_path=None)


def resend_verification(user: User) -> None:
    if not user.is_verified:
        jobs.enqueue("accounts.verify", user_id=user.id)


def end_all_sessions(user: User) -> None:
    """Bump the session version: every cookie issued before now stops working."""
    user.session_version += 1


def disable(user: User) -> None:
    user.disabled_at = clock.now()
    end_all_sessions(user)


def create_admin(email: str, password: str | None) -> tuple[User, bool]:
    """Create a staff admin, or promote an existing account. Returns (user, created)."""
    address = normalise_email(email)
    user = find_user(address)
    created = user is None
    if user is None:
        user = User(email=address, email_verified_at=clock.now())
        db.session.add(user)
    if password is not None:
        check_policy(password)
        user.password_hash = hash_password(password)
    elif created:
        raise ValidationError("A new admin needs a password (--password).", field="password")
    user.role = "admin"
    entitlements.refresh_access(user)
    db.session.flush()
    return user, created


STAFF = entitlements.Kind("staff", rank=5, label="staff", member=False)


@entitlements.grants(STAFF)
def staff_grant(user: User) -> list[access.Grant]:
    """The staff role gives premium for as long as it is held."""
    return [access.Grant(source="staff", until=None)] if user.is_staff else []


def reader_for(user: object) -> access.Reader:
    """The access view of whoever is reading (a User or Flask-Login's anonymous user)."""
    if not isinstance(user, User):
        return access.VISITOR
    return access.Reader(
        signed_in=True,
        access=user.access,
        trial_used=user.trial_used_at is not None,
        lapsed=user.is_lapsed,
    )
