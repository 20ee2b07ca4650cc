"""Account tables: users and the single-use tokens mailed to them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, ForeignKey, Index, String, and_, func, or_
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from paywall import clock
from paywall.access import Access, effective
from paywall.accounts.emails import canonical_address
from paywall.dbtypes import UTCDateTime
from paywall.extensions import db

STAFF_ROLES = frozenset({"admin"})


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"
    __table_args__ = (
        # The dashboard counts premium members by source from this index alone.
        Index("ix_users_access", "access_premium", "access_source", "access_until"),
        # Staff search by email prefix: PostgreSQL needs pattern ops for LIKE 'abc%' under a
        # non-C collation (SQLite searches the plain email index by range instead).
        Index("ix_users_email_pattern", "email", postgresql_ops={"email": "text_pattern_ops"}),
        Index("ix_users_created", "created_at"),
        # Staff search by surname: "quinn" finds Alice Quinn (see name_last).
        Index("ix_users_name_last", "name_last", postgresql_ops={"name_last": "text_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored in its canonical spelling (accounts.emails.canonical_address), so the unique index
    # holds one row per mailbox however the address was typed, on every database.
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    name: Mapped[str | None] = mapped_column(String(120))
    # The name's last word, lower-cased in Python (so "Émile" matches "émile" on SQLite too),
    # for search by surname with an index; kept by the validator below, None for one word.
    name_last: Mapped[str | None] = mapped_column(String(120))
    # None for accounts that only ever sign in by link or code.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    role: Mapped[str] = mapped_column(String(20), default="reader")
    # Part of every session and remember-me cookie: bumping it ends all of them at once.
    session_version: Mapped[int] = mapped_column(default=1)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    last_signin_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # The stored answer of paywall.access.decide(), recomputed whenever a grant changes
    # (paywall.entitlements.refresh_access).
    access_premium: Mapped[bool] = mapped_column(default=False)
    access_source: Mapped[str | None] = mapped_column(String(20))
    access_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When a grant other than staff first gave premium: a reader without access now who has
    # this set is a lapsed member, and is offered to renew rather than to try.
    first_premium_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # One trial per person: set when this account starts a trial (billing).
    trial_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # One Stripe customer per user, created once (with an idempotency key) and reused.
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True, index=True)

    tokens: Mapped[list[EmailToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    # Flask-Login's user protocol. The id carries the session version (see get_id).
    is_anonymous = False

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def access(self) -> Access:
        """Premium access as it stands now, from the stored decision (no query)."""
        stored = Access(
            premium=self.access_premium,
            source=self.access_source,
            until=self.access_until,
        )
        return effective(stored, clock.now())

    @property
    def is_lapsed(self) -> bool:
        """Had premium from a grant once, and has none now."""
        return self.first_premium_at is not None and not self.access.premium

    @validates("email")
    def _keep_email_canonical(self, _: str, email: str) -> str:
        # The services store canonical addresses already; this keeps any other writer (an
        # import, a factory, a shell) from storing a second spelling of a mailbox.
        return canonical_address(email)

    @validates("name")
    def _keep_name_last(self, _: str, name: str | None) -> str | None:
        self.name_last = last_name_word(name)
        return name

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


def premium_now(now: datetime) -> ColumnElement[bool]:
    """In SQL, what `User.access.premium` says in Python (paywall.access.effective over the
    stored decision), for an account that is not disabled: who bulk mail of premium text may
    go to, decided for a page of members in one query."""
    return and_(
        User.access_premium.is_(True),
        or_(User.access_until.is_(None), User.access_until > now),
        User.disabled_at.is_(None),
    )


def last_name_word(name: str | None) -> str | None:
    """What search by surname matches: the last of two or more words, lower-cased."""
    words = (name or "").split()
    return words[-1].lower()[:120] if len(words) > 1 else None


# Staff search by name, from the start, case-insensitive: an index on lower(name), with pattern
# ops on PostgreSQL (for LIKE 'abc%'); SQLite searches it by range (see members.profile).
Index(
    "ix_users_name_lower",
    func.lower(User.name).label("name_lower"),
    postgresql_ops={"name_lower": "text_pattern_ops"},
)


class SignIn(db.Model):  # type: ignore[name-defined,misc]
    """Each successful sign-in, for the member's history on the staff page."""

    __tablename__ = "signins"
    __table_args__ = (Index("ix_signins_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    method: Mapped[str] = mapped_column(String(10))  # password | link | code
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class CompGrant(db.Model):  # type: ignore[name-defined,misc]
    """Complimentary premium access given by staff, until `ends_at` (None: no end).

    Ending a grant early sets `ended_at`; rows are kept, so the member's history shows it.
    """

    __tablename__ = "comp_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    def until(self) -> datetime | None:
        """When this grant stops giving access (None: never, unless ended)."""
        if self.ended_at is not None:
            return self.ended_at if self.ends_at is None else min(self.ended_at, self.ends_at)
        return self.ends_at


class EmailToken(db.Model):  # type: ignore[name-defined,misc]
    """A single-use link (and, for sign-in, a 6-digit code) mailed to an address.

    Only hashes are stored, so a database leak gives no working links. A token is used up by a
    guarded UPDATE (`used_at IS NULL`), so two requests racing for one token get one success.
    """

    __tablename__ = "email_tokens"
    __table_args__ = (Index("ix_email_tokens_user_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # signin | verify | reset | email_change
    purpose: Mapped[str] = mapped_column(String(20))
    # The address the mail went to: the new one for an email change.
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_attempts: Mapped[int] = mapped_column(default=0)
    next_path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="tokens")

    def is_live(self, now: datetime) -> bool:
        return self.used_at is None and self.expires_at > now
