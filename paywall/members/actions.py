"""What staff do to a member from the member page. Every action is written to the audit log,
with the member as its subject, so it shows in their timeline too."""

from __future__ import annotations

from datetime import datetime

from paywall import audit
from paywall.accounts import comp
from paywall.accounts.models import User
from paywall.accounts.service import disable, request_signin_link
from paywall.entitlements import refresh_access
from paywall.errors import NotFound, ValidationError
from paywall.extensions import db

ROLES = {"reader": "Reader", "admin": "Staff (admin)"}


def get(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such member.")
    return user


def grant_comp(user: User, until: datetime | None, reason: str, staff: User) -> None:
    if not reason.strip():
        raise ValidationError("Say why.", field="reason")
    comp.grant_comp(user.email, until=until, reason=reason, staff=staff)


def end_comp(user: User, staff: User) -> None:
    if not comp.end_comps(user, staff=staff):
        raise ValidationError("There is no running complimentary access to end.")


def send_signin_link(user: User, staff: User) -> None:
    if not user.is_active:
        raise ValidationError("This account is disabled: enable it first.")
    request_signin_link(user.email, None)
    audit.record(staff, "member.signin_link_sent", user.email, subject=user)


def set_disabled(user: User, disabled: bool, staff: User) -> bool:
    """Disabling ends every session at once (the session version moves on). False (and
    nothing audited) when the account already was that way."""
    if user.id == staff.id:
        raise ValidationError("You cannot disable your own account.")
    if disabled and user.is_active:
        disable(user)
        audit.record(staff, "member.disabled", user.email, subject=user)
    elif not disabled and not user.is_active:
        user.disabled_at = None
        audit.record(staff, "member.enabled", user.email, subject=user)
    else:
        return False
    return True


def set_role(user: User, role: str, staff: User) -> bool:
    """False (and nothing audited) when the member already has that role."""
    if role not in ROLES:
        raise ValidationError("Choose a role from the list.", field="role")
    if user.id == staff.id:
        raise ValidationError("Ask another admin to change your own role.", field="role")
    if role == user.role:
        return False
    audit.record(staff, "member.role_changed", user.email, subject=user, role=[user.role, role])
    user.role = role
    refresh_access(user)  # the staff role is itself a grant
    return True
