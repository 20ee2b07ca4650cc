"""Where premium access comes from: the registry of grant sources, and the stored decision.

Each package that gives access registers a function returning its grants for a user, the way
`@jobs.job` registers a job handler, naming the kinds of grant it gives:

    COMP = entitlements.Kind("comp", rank=1, label="complimentary")

    @entitlements.grants(COMP)
    def comp_grants(user: User) -> list[access.Grant]: ...

So adding a kind of grant (gifts, say) touches only the module that gives it, and this module
imports no domain: accounts, billing and teams import it, never each other, to change access.
`refresh_access` asks every source, lets paywall.access decide, and stores the answer on the
user row (so a page view needs no query) with a line in the member's access timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from paywall import access, clock
from paywall.dbtypes import UTCDateTime
from paywall.extensions import db


@dataclass(frozen=True)
class Kind:
    """One kind of grant: the `source` its grants carry, and how the answer names it."""

    name: str
    # When two grants last equally long, the answer names the kind with the higher rank.
    rank: int
    # The account page's words for it: "PRO (complimentary)".
    label: str
    # Whether having it once makes a member: a member with no grant left is lapsed, and is
    # offered to renew rather than to try (staff who lose the role are not).
    member: bool = True


class Holder(Protocol):
    """What a grant source is given and what the decision is stored on: the user row
    (paywall.accounts.models.User). `id` is None until the row is flushed."""

    id: int | None
    access_premium: bool
    access_source: str | None
    access_until: datetime | None
    first_premium_at: datetime | None


HolderT = TypeVar("HolderT", bound=Holder)
# A source reads the grants of one user; typed by its own package's user model.
Reads = Callable[[HolderT], Iterable[access.Grant]]


@dataclass(frozen=True)
class Source:
    kinds: tuple[Kind, ...]
    read: Reads[Any]


# By the registered function's module and name: importing a module twice replaces, never adds.
SOURCES: dict[str, Source] = {}
KINDS: dict[str, Kind] = {}


class AccessChange(db.Model):  # type: ignore[name-defined,misc]
    """Each change of a member's stored access decision, for their timeline on the staff page.
    Written by refresh_access, the one place the decision is stored."""

    __tablename__ = "access_changes"
    __table_args__ = (Index("ix_access_changes_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    premium: Mapped[bool] = mapped_column()
    source: Mapped[str | None] = mapped_column(String(20))
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())


def grants(*kinds: Kind) -> Callable[[Reads[HolderT]], Reads[HolderT]]:
    """Register a function as a source of grants of these kinds (and of no other)."""

    def register(read: Reads[HolderT]) -> Reads[HolderT]:
        for kind in kinds:
            known = KINDS.setdefault(kind.name, kind)
            if known != kind:
                raise ValueError(f"grant kind {kind.name!r} is registered already as {known}")
        SOURCES[f"{read.__module__}.{read.__qualname__}"] = Source(kinds, read)
        return read

    return register


def grants_for(user: Holder) -> list[access.Grant]:
    """Every reason this user has premium access, running or not, from every source."""
    found: list[access.Grant] = []
    for name, source in SOURCES.items():
        allowed = {kind.name for kind in source.kinds}
        for grant in source.read(user):
            if grant.source not in allowed:
                raise ValueError(f"{name} gave a {grant.source!r} grant it did not register")
            found.append(grant)
    return found


def rank(source: str) -> int:
    return KINDS[source].rank if source in KINDS else 0


def label(source: str | None) -> str:
    """How the account page names a kind of grant."""
    return KINDS[source].label if source in KINDS else (source or "")


def decide(grants_given: Iterable[access.Grant], now: datetime) -> access.Access:
    """paywall.access's decision over these grants, ties broken by the kinds' ranks."""
    return access.decide(grants_given, now, rank)


def refresh_access(user: Holder) -> access.Access:
    """Recompute and store the access decision; call whenever one of the grants changes."""
    now = clock.now()
    decision = decide(grants_for(user), now)
    stored = (user.access_premium, user.access_source, user.access_until)
    if user.id is not None and stored != (decision.premium, decision.source, decision.until):
        db.session.add(AccessChange(user_id=user.id, created_at=now, premium=decision.premium,
                                    source=decision.source, until=decision.until))  # fmt: skip
    user.access_premium = decision.premium
    user.access_source = decision.source
    user.access_until = decision.until
    if decision.premium and decision.source and KINDS[decision.source].member:
        user.first_premium_at = user.first_premium_at or now
    return decision
