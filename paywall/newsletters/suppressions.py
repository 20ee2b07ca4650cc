"""The suppression list, as staff and members change it: addresses bulk mail skips.

paywall.mail.bulk adds an address when its server refuses it for good (a 5xx to RCPT TO)
and skips listed addresses at send time; here staff list, add and remove them, and a member
whose server refused our mail lifts it for their own address. Every change is audited.
Transactional mail (sign-in links, receipts) is never suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from paywall import audit
from paywall.accounts.emails import MAX_LENGTH, canonical_address, normalise_email
from paywall.accounts.models import User
from paywall.accounts.service import find_user
from paywall.extensions import db
from paywall.mail import bulk
from paywall.mail.models import Suppression

PAGE = 100


@dataclass(frozen=True)
class Listed:
    email: str
    source: str
    reason: str
    created_at: datetime
    created_by: str | None  # the staff member's address, for those staff added


def listing(prefix: str = "", after: str | None = None, limit: int = PAGE) -> list[Listed]:
    """Suppressed addresses starting with `prefix` (in any spelling: it is folded as
    addresses are), in address order after `after` (keyset paging on the primary key)."""
    folded = canonical_address(prefix)[:MAX_LENGTH]
    query = (
        select(Suppression, User.email)
        .outerjoin(User, User.id == Suppression.created_by_id)
        .order_by(Suppression.email)
        .limit(limit)
    )
    if folded:
        query = query.where(Suppression.email.startswith(folded, autoescape=True))
    if after:
        query = query.where(Suppression.email > after[:MAX_LENGTH])
    return [
        Listed(row.email, row.source, row.reason, row.created_at, staff_email)
        for row, staff_email in db.session.execute(query)
    ]


def find(email: str) -> Suppression | None:
    """The listing of an address: as stored (a bounce keeps the address it was sent to), or
    in its canonical spelling."""
    exact = db.session.get(Suppression, email[:MAX_LENGTH])
    return exact or db.session.get(Suppression, canonical_address(email)[:MAX_LENGTH])


def add(raw: str, reason: str, staff: Any) -> bool:
    """Staff stop bulk mail to an address; False when it was listed already. An address
    that is not one raises ValidationError on the `email` field."""
    email = normalise_email(raw, field="email")
    if not bulk.suppress(email, "staff", reason.strip(), staff_id=getattr(staff, "id", None)):
        return False
    audit.record(staff, "mail.suppression_added", email, subject=find_user(email),
                 reason=reason.strip())  # fmt: skip
    return True


def remove(email: str, actor: Any) -> bool:
    """Let bulk mail go to the address again; False when it was not listed."""
    found = find(email)
    if found is None:
        return False
    db.session.delete(found)
    audit.record(actor, "mail.suppression_removed", found.email, subject=find_user(found.email),
                 source=found.source, reason=found.reason)  # fmt: skip
    return True


def resume_for_member(user: User) -> bool:
    """A member asks for mail again after their server refused it. Only a refusal (a bounce)
    is theirs to lift: an address staff listed stays listed until staff remove it."""
    found = find(user.email)
    if found is None or found.source != "bounce":
        return False
    return remove(user.email, user)
