"""Member imports from CSV: members moved in from another system (or from our own export).

An import checks the whole file (and the database, and Stripe) before it writes anything, so a
file with one bad line imports nothing, and says what is wrong on every line at once. Importing
the same file again changes nothing: each row only adds what the member does not have yet.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import IO, Any

from sqlalchemy import or_, select

from paywall import audit, clock, jobs
from paywall.accounts.comp import grant_comp
from paywall.accounts.emails import normalise_email
from paywall.accounts.models import CompGrant, User
from paywall.billing import gateway
from paywall.billing.sync import apply_subscription
from paywall.csvsafe import unguard
from paywall.errors import PaywallError, ValidationError
from paywall.extensions import db
from paywall.newsletters.models import ListSubscription
from paywall.newsletters.service import check_lists, subscribe_confirmed

log = logging.getLogger(__name__)

COLUMNS = ("email", "name", "comp_until", "stripe_customer_id", "newsletters")
# comp_until for complimentary access with no end date, so such grants survive a round trip.
FOREVER = "forever"
LOOKUP_CHUNK = 500  # well under every database's limit on bound parameters
NAME_MAX = 120
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
CUSTOMER_ID = re.compile(r"cus_[A-Za-z0-9]+")
LIST_SEPARATORS = re.compile(r"[\s;]+")

Problems = list[tuple[int, str]]  # (line, what is wrong), reported as "line N: what"


class ImportAborted(PaywallError):
    """Stripe stopped answering part-way; the caller rolls back, so nothing was imported."""

    status = 503
    code = "payments_unavailable"


@dataclass(frozen=True)
class Row:
    """One checked line of the file."""

    line: int
    email: str
    name: str
    comp: bool
    comp_ends: datetime | None  # None with comp: no end date
    stripe_customer_id: str
    newsletters: tuple[str, ...]


@dataclass
class Plan:
    """What importing one row changes for its member (nothing, for a member who has it all)."""

    row: Row
    user: User | None
    name: bool = False
    comp: bool = False
    lists: list[str] = field(default_factory=list)
    kept_off: list[str] = field(default_factory=list)
    link: bool = False

    @property
    def changes(self) -> bool:
        return self.user is None or self.name or self.comp or bool(self.lists) or self.link

    def describe(self) -> str:
        state = "new" if self.user is None else "updated" if self.changes else "unchanged"
        row, done = self.row, [state]
        if self.name and self.user is not None:
            done.append(f"name {row.name!r}")
        if self.comp:
            done.append(f"comp until {row.comp_ends.date() if row.comp_ends else FOREVER}")
        if self.lists:
            done.append(f"newsletters {' '.join(self.lists)}")
        if self.kept_off:
            done.append(f"stays off {' '.join(self.kept_off)} (unsubscribed)")
        if self.link:
            done.append(f"Stripe customer {row.stripe_customer_id} linked and synced")
        return f"line {row.line}: {row.email}: {'; '.join(done)}"


@dataclass
class Report:
    filename: str
    dry_run: bool
    problems: list[str]
    plans: list[Plan]

    @property
    def imported(self) -> bool:
        return not self.dry_run and not self.problems

    @property
    def new(self) -> int:
        return sum(1 for p in self.plans if p.user is None)

    @property
    def updated(self) -> int:
        return sum(1 for p in self.plans if p.user is not None and p.changes)

    @property
    def unchanged(self) -> int:
        return len(self.plans) - self.new - self.updated

    def lines(self) -> list[str]:
        """A line for each row that changes something, or that keeps a member off a list."""
        return [p.describe() for p in self.plans if p.changes or p.kept_off]

    def summary(self) -> str:
        if self.problems:
            return f"{self.filename}: {len(self.problems)} problem(s); nothing imported."
        counts = f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged"
        if self.dry_run:
            return f"Dry run of {self.filename}: {counts}; nothing written."
        return f"Imported {self.filename}: {counts}."


def import_members(
    source: IO[bytes], filename: str, *, dry_run: bool, actor: User | None
) -> Report:
    """Check the whole file; unless it is a dry run or has a problem, import every row."""
    problems: Problems = []
    plans = plan(read_rows(source, filename, problems), problems)
    problems.sort(key=lambda problem: problem[0])  # by line; a line's own in column order
    report = Report(filename, dry_run, [f"line {n}: {text}" for n, text in problems], plans)
    if not report.imported:
        return report
    for each in plans:
        if each.changes:
            _apply(each, actor)
    audit.record(actor, "members.imported", filename[:254], created=report.new,
                 updated=report.updated)  # fmt: skip
    db.session.flush()
    return report


def queue_import(data: bytes, filename: str, actor: User) -> None:
    """Hand a checked file to the worker, which imports it (in one transaction) or, if Stripe
    does not answer, retries it later."""
    jobs.enqueue("members.import", csv=data.decode("utf-8-sig"), filename=filename,
                 actor_id=actor.id)  # fmt: skip
    audit.record(actor, "members.import_queued", filename[:254])


@jobs.job("members.import")
def run_import_job(payload: dict[str, Any]) -> None:
    actor = db.session.get(User, payload["actor_id"])
    source = io.BytesIO(str(payload["csv"]).encode())
    report = import_members(source, payload["filename"], dry_run=False, actor=actor)
    if report.problems:  # the database changed since the check: nothing was imported
        audit.record(actor, "members.import_refused", payload["filename"][:254],
                     problems=report.problems[:20])  # fmt: skip
        log.warning("queued import %s refused: %s", payload["filename"], report.problems[:3])


def read_rows(source: IO[bytes], filename: str, problems: Problems) -> list[Row]:
    """The file's rows, each checked; a problem with the file as a whole is raised."""
    reader = csv.reader(_lines(source, filename))
    rows: list[Row] = []
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        if "email" not in header:
            raise ValidationError(
                f"{filename}: the header row has no email column (the first line names the "
                f"columns: {', '.join(COLUMNS)})",
                field="file",
            )
        columns = {name: header.index(name) for name in COLUMNS if name in header}
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # spreadsheets leave rows of empty cells behind
            row = _check_row(reader.line_num, values, columns, len(header), problems)
            if row is not None:
                rows.append(row)
    except csv.Error as error:
        raise ValidationError(
            f"{filename}: line {reader.line_num}: {error}", field="file"
        ) from None
    return _without_duplicates(rows, problems)


def _lines(source: IO[bytes], filename: str) -> Iterator[str]:
    """Decoded a line at a time, so a bad byte is reported on its own line (a newline byte
    never occurs inside a UTF-8 character). A byte order mark is tolerated."""
    for number, raw in enumerate(source, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(
                f"{filename}: line {number} is not UTF-8 text", field="file"
            ) from None
        yield text.removeprefix("\ufeff") if number == 1 else text


def _check_row(
    line: int, values: list[str], columns: dict[str, int], width: int, problems: Problems
) -> Row | None:
    def value(name: str) -> str:  # the export's guard against formulas taken off again
        at = columns.get(name)
        return unguard(values[at].strip()) if at is not None and at < len(values) else ""

    if any(v.strip() for v in values[width:]):
        problems.append((line, f"{len(values)} values for {width} columns (a comma unquoted?)"))
    email = ""
    try:
        email = normalise_email(value("email"))
    except ValidationError:
        raw = value("email")
        problems.append((line, f"email: {raw!r} is not a valid email address" if raw
                         else "email: missing"))  # fmt: skip
    name = value("name")
    if len(name) > NAME_MAX:
        problems.append((line, f"name: longer than {NAME_MAX} characters"))
    comp, comp_ends = _check_comp(line, value("comp_until"), problems)
    customer = value("stripe_customer_id")
    if customer and not CUSTOMER_ID.fullmatch(customer):
        problems.append((line, f"stripe_customer_id: {customer[:60]!r} is not a Stripe "
                               "customer id (cus_...)"))  # fmt: skip
        customer = ""
    lists = []
    for slug in LIST_SEPARATORS.split(value("newsletters")):
        try:
            lists += check_lists([slug], allow_none=True)
        except ValidationError:
            problems.append((line, f"newsletters: there is no newsletter called {slug[:40]!r}"))
    # A row with a good address goes on to the checks against the database and Stripe even
    # when another of its values is wrong, so one run reports all there is to fix (and a
    # problem anywhere means nothing is imported, so its partial Row is never applied).
    if not email:
        return None
    return Row(line, email, name, comp, comp_ends, customer, tuple(dict.fromkeys(lists)))


def _check_comp(line: int, raw: str, problems: Problems) -> tuple[bool, datetime | None]:
    """comp_until: access until the end of that day (UTC), or FOREVER, or empty for none."""
    if not raw:
        return False, None
    if raw.lower() == FOREVER:
        return True, None
    try:
        day = date.fromisoformat(raw) if DATE.fullmatch(raw) else None
    except ValueError:
        day = None
    if day is None:
        problems.append((line, f"comp_until: {raw[:40]} is not a date (YYYY-MM-DD)"))
        return False, None
    if day < clock.now().date():
        problems.append((line, f"comp_until: {raw} is in the past"))
        return False, None
    return True, datetime.combine(day, time.max, UTC)


def _without_duplicates(rows: list[Row], problems: Problems) -> list[Row]:
    emails: dict[str, int] = {}
    customers: dict[str, int] = {}
    kept = []
    for row in rows:
        first = emails.setdefault(row.email, row.line)
        taken = customers.setdefault(row.stripe_customer_id, row.line)
        if first != row.line:
            problems.append((row.line, f"email: {row.email} is also on line {first}"))
        elif row.stripe_customer_id and taken != row.line:
            problems.append((row.line, f"stripe_customer_id: {row.stripe_customer_id} is also "
                                       f"on line {taken}"))  # fmt: skip
        else:
            kept.append(row)
    return kept


@dataclass
class Known:
    """What the database holds about the file's rows, read a chunk of rows per query."""

    users: dict[str, User] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)  # Stripe customer id: account's email
    comps: dict[int, list[datetime | None]] = field(default_factory=dict)
    lists: dict[tuple[str, str], str] = field(default_factory=dict)  # (email, slug): status

    @classmethod
    def about(cls, rows: list[Row]) -> Known:
        known = cls()
        for start in range(0, len(rows), LOOKUP_CHUNK):
            chunk = rows[start : start + LOOKUP_CHUNK]
            emails = [r.email for r in chunk]
            found = list(db.session.scalars(select(User).where(User.email.in_(emails))))
            known.users.update((u.email, u) for u in found)
            if found:
                known.comps.update(comp_ends(CompGrant.user_id.in_([u.id for u in found])))
            customers = [r.stripe_customer_id for r in chunk if r.stripe_customer_id]
            owners = select(User.stripe_customer_id, User.email).where(
                User.stripe_customer_id.in_(customers)
            )
            for customer, email in db.session.execute(owners) if customers else []:
                known.owners[str(customer)] = email
            statuses = select(
                ListSubscription.email, ListSubscription.list_slug, ListSubscription.status
            )
            for email, slug, status in db.session.execute(
                statuses.where(ListSubscription.email.in_(emails))
            ):
                known.lists[(email, slug)] = status
        return known


def plan(rows: list[Row], problems: Problems) -> list[Plan]:
    """What each row would change, from what the database (and Stripe) hold now."""
    known, plans = Known.about(rows), []
    for row in rows:
        user = known.users.get(row.email)
        each = Plan(row, user, name=bool(row.name and user is not None and not user.name))
        each.comp = row.comp and not _covered(known.comps.get(user.id, []) if user else [], row)
        for slug in row.newsletters:
            status = known.lists.get((row.email, slug))
            if status == "unsubscribed":
                each.kept_off.append(slug)  # their choice outlives an old file
            elif status != "confirmed":
                each.lists.append(slug)
        each.link = _check_link(row, user, known.owners.get(row.stripe_customer_id), problems)
        plans.append(each)
    _check_customers_in_stripe([p.row for p in plans if p.link], problems)
    return plans


def _covered(running: list[datetime | None], row: Row) -> bool:
    """Whether a running grant already lasts as long as the row asks (to the second: a
    database may keep fewer digits than time.max has)."""
    if row.comp_ends is None:
        return None in running
    return any(u is None or u >= row.comp_ends - timedelta(seconds=1) for u in running)


def _check_link(row: Row, user: User | None, owner: str | None, problems: Problems) -> bool:
    """Whether this row links a Stripe customer to its member (False if already linked)."""
    customer = row.stripe_customer_id
    if not customer or owner == row.email:
        return False
    if owner is not None:
        problems.append((row.line, f"stripe_customer_id: {customer} is already linked to "
                                   f"another account ({owner})"))  # fmt: skip
        return False
    if user is not None and user.stripe_customer_id:
        problems.append((row.line, f"stripe_customer_id: {row.email} is already linked to "
                                   f"{user.stripe_customer_id}"))  # fmt: skip
        return False
    return True


def _check_customers_in_stripe(rows: list[Row], problems: Problems) -> None:
    for row in rows:
        customer_id = row.stripe_customer_id
        try:
            customer = gateway.call(
                lambda: gateway.client().v1.customers.retrieve(customer_id),  # noqa: B023
                "checking an imported customer",
            )
        except gateway.StripeRefused:  # no such customer
            customer = None
        except gateway.StripeUnavailable:
            raise ImportAborted(
                f"Stripe did not answer while checking {customer_id} (line {row.line}): "
                "nothing was imported. Try again in a minute."
            ) from None
        # Stripe still answers for a deleted customer, with `deleted: true`.
        if customer is None or getattr(customer, "deleted", False):
            problems.append((row.line, f"stripe_customer_id: {customer_id} was not found in "
                                       "Stripe"))  # fmt: skip


def _apply(each: Plan, actor: User | None) -> None:
    row, user = each.row, each.user
    if user is None:
        # No password: they sign in by an emailed link, which also verifies the address.
        user = User(email=row.email, name=row.name or None)
        db.session.add(user)
        db.session.flush()
    elif each.name:
        user.name = row.name
    if each.comp:
        grant_comp(user.email, until=row.comp_ends, reason="import", staff=actor)
    if each.lists:
        subscribe_confirmed(user.email, each.lists)
    if each.link:
        user.stripe_customer_id = row.stripe_customer_id
        db.session.flush()  # apply_subscription finds the member by this link
        for subscription in _subscriptions_of(row):
            apply_subscription(subscription)


def _subscriptions_of(row: Row) -> list[Any]:
    """Every subscription of the row's customer, ended ones too (a lapsed member stays
    lapsed, not new). Their card comes along for the trial ledger's one-trial-per-card check."""
    customer_id = row.stripe_customer_id

    def read_all() -> list[Any]:
        first = gateway.client().v1.subscriptions.list(
            {
                "customer": customer_id,
                "status": "all",
                "limit": 100,
                "expand": ["data.default_payment_method"],
            }
        )
        return list(first.auto_paging_iter())

    try:
        return gateway.call(read_all, "reading an imported customer's subscriptions")
    except gateway.StripeUnavailable:
        raise ImportAborted(
            f"Stripe did not answer while syncing {customer_id} (line {row.line}): "
            "nothing was imported. Try again in a minute."
        ) from None


def comp_ends(which: Any) -> dict[int, list[datetime | None]]:
    """When each member's running complimentary grants end (None: no end), by user id."""
    now = clock.now()
    grants = db.session.scalars(
        select(CompGrant).where(
            which,
            or_(CompGrant.ended_at.is_(None), CompGrant.ended_at > now),
            or_(CompGrant.ends_at.is_(None), CompGrant.ends_at > now),
        )
    )
    found: dict[int, list[datetime | None]] = {}
    for grant in grants:
        found.setdefault(grant.user_id, []).append(grant.until())
    return found
