"""Staff and member pages at scale: an empty database against a million members, in one run.

    .venv/bin/python bench/scale.py [--members 1000000] [--requests 50]
                                    [--postgres postgresql+psycopg://…] [--sqlite-only]

For SQLite (a file in a temporary directory) and, given --postgres (default: the server of
PAYWALL_TEST_DATABASE_URL), PostgreSQL in its own database `paywall_bench` on that server
(created if missing, emptied each run; no other database is touched but its empty copy
`paywall_bench_empty`), it builds the schema with a staff account, a member with
complimentary access and one premium memo, and keeps a copy of that empty database. Then it
seeds N members, N/100 teams, 2N stored Stripe events and their subscriptions, invoices,
grants, sign-ins, newsletters and audit entries (SQLAlchemy Core executemany on SQLite, COPY
on PostgreSQL), runs ANALYZE (VACUUM ANALYZE on PostgreSQL, as autovacuum would have), and
times each request on the empty copy and the seeded database, alternating between them so
both meet the same load on a shared machine; then the rate of `paywall members export`.
Requests go through Flask's test client in this process (no gunicorn, no network), so the
figures are the app's and the database's time per request; the ratio seeded/empty is what
carries from machine to machine.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import JSON, create_engine, event, insert, text
from sqlalchemy.engine import Connection, make_url

from paywall import create_app
from paywall.extensions import db

PASSWORD = "bench-password-0123456789"
DAY = timedelta(days=1)
YEAR = 365 * DAY
CHUNK = 20_000
BUSY_EVENTS = 300
SYLLABLES = ("ka", "lo", "mi", "ra", "sa", "ne", "ti", "do", "be", "lu", "fa", "ri", "no", "ha",
             "ze", "ma", "ya", "ko", "di", "el", "an", "or", "us", "ve", "ji", "pa", "qu", "se",
             "to", "wi", "ba", "ce", "de", "ga", "hi", "jo", "le", "mo", "nu", "po")  # fmt: skip
DOMAINS = ("example.com", "mail.example", "inbox.example", "corp.example", "bank.example",
           "fund.example", "news.example", "gov.example", "energy.example")  # fmt: skip
EVENT_TYPES = ("customer.subscription.updated", "invoice.paid", "invoice.finalized",
               "customer.subscription.created", "checkout.session.completed",
               "invoice.payment_failed", "customer.subscription.deleted",
               "customer.subscription.trial_will_end")  # fmt: skip
STATUSES = ("processed", "ignored", "failed", "received")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per case")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("PAYWALL_TEST_DATABASE_URL"),
        help="a PostgreSQL URL: its server gets a database paywall_bench",
    )
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="paywall-scale-")
    databases = [("SQLite", f"sqlite:///{workdir}/scale.db")]
    if args.postgres and not args.sqlite_only:
        databases.append(("PostgreSQL", bench_database(args.postgres)))
    print(f"{args.members:,} members, {args.members // 100:,} teams, {2 * args.members:,} "
          f"Stripe events; {args.requests} requests per case; {os.cpu_count()} CPUs "
          f"(load average {os.getloadavg()[0]:.1f}); files in {workdir}")  # fmt: skip
    for name, url in databases:
        run(name, url, args.members, args.requests, workdir)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


def bench_database(url: str) -> str:
    """The URL of paywall_bench on the server of `url`, created if missing."""
    import psycopg

    server = make_url(url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(server.render_as_string(hide_password=False), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'paywall_bench'").fetchone():
            conn.execute("CREATE DATABASE paywall_bench")
    bench = make_url(url).set(drivername="postgresql+psycopg", database="paywall_bench")
    return bench.render_as_string(hide_password=False)


def run(name: str, url: str, members: int, requests: int, workdir: str) -> None:
    print(f"\n== {name}")
    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": url})
    with app.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.create_all()
        accounts = Accounts.create()
        db.session.remove()
        db.engine.dispose()  # no connection left open: PostgreSQL copies only an idle database
    twin = create_app({"ENV_NAME": "testing", "DATABASE_URL": empty_twin(url)})
    start = time.perf_counter()
    world = World.plan(members, accounts, random.Random(2026))
    print(f"  planned the seeded rows in {time.perf_counter() - start:.1f} s")
    seed(url, world)
    clients = {(phase, role): signed_in(phase_app, email)
               for phase, phase_app in (("empty", twin), ("seeded", app))
               for role, email in (("staff", accounts.staff_email),
                                   ("member", accounts.member_email))}  # fmt: skip
    print(f"{'case':<28}{'matches':>9}{'empty ms':>10}{'seeded ms':>11}{'p95 ms':>9}{'ratio':>8}")
    for label, role, path, baseline, matches in world.cases(accounts):
        empty, seeded, p95 = paired(clients["empty", role], baseline,
                                    clients["seeded", role], path, requests)  # fmt: skip
        print(f"{label:<28}{matches:>9}{empty:>10.1f}{seeded:>11.1f}{p95:>9.1f}"
              f"{seeded / empty:>8.2f}")  # fmt: skip
    print(export_rate(app, Path(workdir) / f"export-{name.lower()}.csv"))
    for each in (app, twin):
        with each.app_context():
            db.engine.dispose()


def empty_twin(url: str) -> str:
    """A copy of the database as it is now (schema and accounts), timed beside the seeded one
    so that both see the same load on a shared machine."""
    if url.startswith("sqlite:///"):
        original = url.removeprefix("sqlite:///")
        shutil.copyfile(original, original.replace(".db", "-empty.db"))
        return url.replace(".db", "-empty.db")
    import psycopg

    server = make_url(url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(server.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS paywall_bench_empty")
        conn.execute("CREATE DATABASE paywall_bench_empty TEMPLATE paywall_bench")
    return make_url(url).set(database="paywall_bench_empty").render_as_string(hide_password=False)


@dataclass
class Accounts:
    """What the empty database holds: staff, a member, a premium memo, one password hash."""

    staff_id: int
    staff_email: str
    member_id: int
    member_email: str
    memo_path: str
    password_hash: str

    @classmethod
    def create(cls) -> Accounts:
        from paywall.accounts.comp import grant_comp
        from paywall.accounts.models import User
        from paywall.accounts.passwords import hash_password
        from paywall.content.service import save_item
        from paywall.entitlements import refresh_access

        hashed, now = hash_password(PASSWORD), datetime.now(UTC)  # about 50 ms: once
        staff = User(email="staff@bench.example", password_hash=hashed, role="admin",
                     email_verified_at=now)  # fmt: skip
        member = User(email="member@bench.example", password_hash=hashed, email_verified_at=now)
        db.session.add_all([staff, member])
        db.session.flush()
        refresh_access(staff)
        grant_comp(member.email, until=None, reason="bench member", staff=staff)
        memo = save_item({"kind": "memo", "slug": "bench-memo", "title": "A premium memo",
                          "access": "premium", "teaser": "What anyone may read.",
                          "body_markdown": "The members' part.\n\n" * 20, "status": "published",
                          "published_at": "2026-01-01T00:00:00Z"})  # fmt: skip
        db.session.commit()
        return cls(staff.id, staff.email, member.id, member.email, f"/memos/{memo.slug}", hashed)


def signed_in(app: Flask, email: str) -> FlaskClient:
    """A test client signed in by POST /signin with the form's CSRF token, as a browser does."""
    import re

    client = app.test_client()
    page = client.get("/signin").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token, "no csrf_token on /signin"
    answer = client.post("/signin", data={"email": email, "password": PASSWORD,
                                          "csrf_token": token.group(1)})  # fmt: skip
    assert answer.status_code == 303, answer.status_code
    return client


def paired(empty: FlaskClient, empty_path: str, seeded: FlaskClient, seeded_path: str,
           requests: int) -> tuple[float, float, float]:  # fmt: skip
    """Median ms on each database and the seeded 95th percentile, after a warm-up; the
    requests alternate between the two so that both meet the same machine load."""
    pairs = ((empty, empty_path), (seeded, seeded_path))
    for _ in range(max(3, requests // 10)):
        for client, path in pairs:
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.status_code)
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(requests):
        for (client, path), spent in zip(pairs, times, strict=True):
            start = time.perf_counter()
            client.get(path)
            spent.append((time.perf_counter() - start) * 1000)
    after = sorted(times[1])
    p95 = after[min(len(after) - 1, round(0.95 * len(after)))]
    return statistics.median(times[0]), statistics.median(after), p95


def export_rate(app: Flask, path: Path) -> str:
    """Rows per second of `paywall members export`, when that command exists."""
    group = app.cli.commands.get("members")
    if "export" not in getattr(group, "commands", {}):
        return "export: skipped (no `paywall members export` command in this tree yet)"
    start = time.perf_counter()
    result = app.test_cli_runner().invoke(args=["members", "export", "-o", str(path)])
    seconds = time.perf_counter() - start
    if result.exit_code != 0:
        return f"export: failed ({result.exception or result.output.strip()})"
    with path.open(encoding="utf-8", newline="") as written:
        rows = sum(1 for _ in csv.reader(written)) - 1
    return f"export: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s"


Row = tuple[Any, ...]


@dataclass
class World:
    """The seeded rows, decided once (from a fixed seed) so every table agrees."""

    now: datetime
    staff: tuple[int, str]
    users: list[Row] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    teams: list[Row] = field(default_factory=list)
    subscriptions: list[Row] = field(default_factory=list)
    seats: list[Row] = field(default_factory=list)
    comps: list[Row] = field(default_factory=list)
    changes: list[Row] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)
    busy: tuple[int, str] = (0, "")
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def plan(cls, members: int, accounts: Accounts, rng: random.Random) -> World:
        world = cls(datetime.now(UTC), (accounts.staff_id, accounts.staff_email), rng=rng)
        first_user, first_team = accounts.member_id + 1, 1
        world.plan_teams(first_team, max(1, members // 100))
        for n in range(members):
            world.plan_user(first_user + n, n, members, accounts.password_hash)
        world.finish_teams()
        return world

    def plan_teams(self, first: int, count: int) -> None:
        """Teams get their seat count once their members are known (finish_teams)."""
        for team_id in range(first, first + count):
            billing = self.rng.choices(("invoice", "card", "manual"), (60, 15, 25))[0]
            running = self.rng.random() < 0.85
            until = self.now + (1 if running else -1) * self.rng.uniform(1, 365) * DAY
            self.teams.append((team_id, billing, until, running, []))
            if billing != "manual":
                self.customers.append(f"cus_T{team_id:08d}")

    def finish_teams(self) -> None:
        done = []
        for team_id, billing, until, running, members in self.teams:
            seats = max(len(members), self.rng.randint(3, 50))
            name = f"{self.word().title()} {self.rng.choice(('Capital', 'Energy', 'Partners'))}"
            stripe = (f"cus_T{team_id:08d}", f"sub_T{team_id:08d}") if billing != "manual" else (
                None, None)  # fmt: skip
            done.append((team_id, name, seats, len(members), billing,
                         until if billing == "manual" else None, *stripe, None, True, "", False,
                         self.now - 2 * YEAR * self.rng.random()))  # fmt: skip
            if billing != "manual":
                self.team_subscription(team_id, seats, until, running)
        self.teams = done

    def team_subscription(self, team_id: int, seats: int, until: datetime, running: bool) -> None:
        start = until - YEAR if running else until - YEAR * self.rng.uniform(1, 2)
        self.subscriptions.append((
            f"sub_T{team_id:08d}", f"cus_T{team_id:08d}", None, "team_annual",
            "active" if running else "canceled", seats, "send_invoice", until - YEAR, until,
            None, None, False, None, None if running else until, None if running else until,
            None, start, {}, False, start, self.now))  # fmt: skip

    def word(self) -> str:
        return "".join(self.rng.choices(SYLLABLES, k=self.rng.choice((2, 2, 3))))

    def plan_user(self, user_id: int, n: int, members: int, password_hash: str) -> None:
        first, last = self.word(), self.word()
        email = f"{first}.{last}{n}@{self.rng.choice(DOMAINS)}"
        created = self.now - 3 * YEAR * (1 - n / members) - self.rng.uniform(0, 1) * DAY
        kind = n % 100
        if kind < 30:
            grant = self.plan_subscription(user_id, created)
        elif kind < 36:
            grant = self.plan_seat(user_id, created)
        elif kind < 38:
            grant = self.plan_comp(user_id, email, created)
        else:
            grant = (False, None, None, None, None, None)
        premium, source, until, first_premium, trial_used, customer = grant
        self.emails.append(email)
        self.users.append((
            user_id, email, None if n % 10 == 9 else f"{first.title()} {last.title()}",
            password_hash, None if n % 10 == 7 else created + DAY / 24, "reader", 1,
            created + DAY if n % 500 == 499 else None, created,
            self.now - self.rng.uniform(0, 90) * DAY if n % 3 else None, premium, source, until,
            first_premium, trial_used, customer, None if n % 10 == 9 else last))  # fmt: skip

    def plan_subscription(self, user_id: int, created: datetime) -> Row:
        """A pro_annual subscription: 70% start with a 7-day trial; some lapse, some churn."""
        rng, now = self.rng, self.now
        start = created + (now - created) * rng.random()
        trial_end = start + 7 * DAY if rng.random() < 0.7 else None
        paid_since = ended = past_due = None
        period_start, period_end = start, trial_end or start + YEAR
        if trial_end and trial_end > now:
            status = "trialing"
        elif trial_end and rng.random() < 0.45:
            status, ended = "canceled", trial_end
        else:
            paid_since = trial_end or start
            period_start = paid_since + YEAR * int((now - paid_since) / YEAR)
            period_end, churn = period_start + YEAR, rng.random()
            if churn < 0.5:
                status, ended = "canceled", paid_since + (now - paid_since) * rng.random()
            elif churn < 0.53:
                status, past_due = "past_due", now - rng.uniform(0, 5) * DAY
            else:
                status = "active"
        customer = f"cus_{user_id:010d}"
        self.customers.append(customer)
        if self.busy == (0, ""):
            self.busy = (user_id, customer)
        self.subscriptions.append((
            f"sub_{user_id:010d}", customer, user_id, "pro_annual", status, 1,
            "charge_automatically", period_start, period_end, start if trial_end else None,
            trial_end, False, None, ended, ended, past_due, paid_since, {}, bool(trial_end),
            start, now))  # fmt: skip
        source, until = {"trialing": ("trial", period_end), "active": ("subscription", period_end),
                         "past_due": ("subscription", (past_due or now) + 3 * DAY)}.get(
            status, (None, None))  # fmt: skip
        premium = until is not None and until > now
        self.change(user_id, start, "trial" if trial_end else "subscription", period_end)
        if not premium:
            self.change(user_id, ended or now, None, None)
        return (premium, source if premium else None, until if premium else None, start,
                start if trial_end else None, customer)  # fmt: skip

    def plan_seat(self, user_id: int, created: datetime) -> Row:
        team = self.rng.choice(self.teams)
        joined = created + (self.now - created) * self.rng.random()
        team[4].append(user_id)
        role = "manager" if len(team[4]) == 1 else "member"
        self.seats.append((team[0], user_id, role, True, joined, None, False))
        running, until = team[3], team[2]
        self.change(user_id, joined, "team", until)
        if not running:
            self.change(user_id, until, None, None)
        return running, "team" if running else None, until if running else None, joined, None, None

    def plan_comp(self, user_id: int, email: str, created: datetime) -> Row:
        given = created + (self.now - created) * self.rng.random()
        ends = None if self.rng.random() < 0.2 else self.now + self.rng.uniform(-180, 365) * DAY
        self.comps.append((user_id, self.staff[0], "press and partners", given, ends, None, None))
        self.change(user_id, given, "comp", ends)
        running = ends is None or ends > self.now
        if not running:
            self.change(user_id, ends or self.now, None, None)
        return running, "comp" if running else None, ends if running else None, given, None, None

    def change(self, user_id: int, at: datetime, source: str | None, until: Any) -> None:
        self.changes.append((user_id, at, source is not None, source, until))

    def cases(self, accounts: Accounts) -> list[tuple[str, str, str, str, str]]:
        """(label, who, path, path on the empty database, matches): the requests timed."""
        # A member whose first name has two syllables, so the prefixes have fixed lengths.
        probe = next(e for e in self.emails[len(self.emails) // 2 :] if e.index(".") == 4)
        broad, narrow = probe[:4], probe[:7]
        count = sum(e.startswith(broad) for e in self.emails)
        few = sum(e.startswith(narrow) for e in self.emails)
        surname = probe.split("@")[0].split(".")[1].rstrip("0123456789")[:4]
        by_surname = sum(1 for u in self.users if u[16] and u[16].startswith(surname))
        member, busy = f"/admin/members/{accounts.member_id}", f"/admin/members/{self.busy[0]}"
        return [
            ("premium memo, member", "member", accounts.memo_path, accounts.memo_path, ""),
            ("search, 4-letter prefix", "staff", f"/admin/members/?q={broad}",
             f"/admin/members/?q={broad}", f"{count:,}"),
            ("search, 7-letter prefix", "staff", f"/admin/members/?q={narrow}",
             f"/admin/members/?q={narrow}", f"{few:,}"),
            ("search, full address", "staff", f"/admin/members/?q={probe}",
             f"/admin/members/?q={probe}", "1"),
            ("search, 4-letter surname", "staff", f"/admin/members/?q={surname}",
             f"/admin/members/?q={surname}", f"{by_surname:,}"),
            ("dashboard", "staff", "/admin/", "/admin/", ""),
            ("member page, bench member", "staff", member, member, ""),
            # On the empty database there is no busy member: the bench member stands in.
            ("member page, busy member", "staff", busy, member, f"{BUSY_EVENTS} ev"),
        ]  # fmt: skip

    def tables(self) -> Iterator[tuple[str, Iterable[Row]]]:
        """Each table and its rows, parents first, in the order of COLUMNS."""
        yield "users", self.users
        yield "teams", self.teams
        yield "subscriptions", self.subscriptions
        yield "invoices", self.invoices()
        yield "comp_grants", self.comps
        yield "team_members", self.seats
        yield "access_changes", self.changes
        yield "signins", self.signins()
        yield "newsletter_subscriptions", self.newsletters()
        yield "stripe_events", self.events()
        yield "audit_log", self.audit()

    def invoices(self) -> Iterator[Row]:
        """One paid invoice per year paid, for every subscription that ever paid."""
        for sub in self.subscriptions:
            sub_id, customer, quantity, paid_since, ended = sub[0], sub[1], sub[5], sub[16], sub[14]
            if paid_since is None:
                continue
            years = 1 + int(((ended or self.now) - paid_since) / YEAR)
            for year in range(min(years, 3)):
                at = paid_since + year * YEAR
                yield (f"in_{sub_id[4:]}_{year}", customer, sub_id, f"PW-{sub_id[4:]}-{year}",
                       "paid", "usd", 30000 * quantity, 30000 * quantity,
                       f"https://invoice.stripe.com/i/{sub_id}", None, None, at)  # fmt: skip

    def signins(self) -> Iterator[Row]:
        agent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
        for user in self.users:
            if user[9] is not None:
                yield user[0], user[9], "password", f"198.51.100.{user[0] % 250}", agent
        for n in range(30):
            yield self.busy[0], self.now - n * DAY, "link", "203.0.113.9", agent

    def newsletters(self) -> Iterator[Row]:
        from paywall.newsletters.lists import NEWSLETTERS

        rng, slugs = random.Random(11), list(NEWSLETTERS)
        for n, email in enumerate(self.emails):
            if n % 10 >= 3:
                continue
            for slug in rng.sample(slugs, rng.choice((1, 1, 2))):
                at = self.now - rng.uniform(0, 700) * DAY
                status = rng.choices(("confirmed", "unsubscribed", "pending"), (85, 10, 5))[0]
                yield (email, slug, status, at, at + DAY / 24 if status != "pending" else None,
                       at + 30 * DAY if status == "unsubscribed" else None)  # fmt: skip

    def events(self) -> Iterator[Row]:
        """2N stored deliveries about the customers, the busy member's first."""
        rng, customers = random.Random(13), self.customers
        for k in range(2 * len(self.users)):
            customer = self.busy[1] if k < BUSY_EVENTS else customers[rng.randrange(len(customers))]
            event_id, kind = f"evt_{rng.getrandbits(64):016x}{k:08x}", rng.choice(EVENT_TYPES)
            created = self.now - 2 * YEAR * rng.random()
            status = rng.choices(STATUSES, (960, 20, 15, 5))[0]
            about = {"id": "sub_" + customer[4:], "customer": customer}
            payload = {"id": event_id, "object": "event", "type": kind, "data": {"object": about}}
            yield (event_id, customer, kind, created, payload, status,
                   "StripeUnavailable: timed out" if status == "failed" else None,
                   3 if status == "failed" else 1, created + timedelta(seconds=2),
                   created + timedelta(seconds=3) if status == "processed" else None)  # fmt: skip

    def audit(self) -> Iterator[Row]:
        first = self.users[0][0]
        staff_id, staff_email = self.staff
        for user_id, _, reason, given, ends, _, _ in self.comps:
            yield (staff_id, staff_email, "member.comp_granted", self.emails[user_id - first],
                   None, user_id, {"reason": reason, "until": ends and ends.date().isoformat()},
                   given)  # fmt: skip
        for team_id, user_id, _, _, joined, _, _ in self.seats:
            email = self.emails[user_id - first]
            yield user_id, email, "team.member_joined", email, team_id, user_id, {}, joined


COLUMNS = {
    "users": ("id", "email", "name", "password_hash", "email_verified_at", "role",
              "session_version", "disabled_at", "created_at", "last_signin_at", "access_premium",
              "access_source", "access_until", "first_premium_at", "trial_used_at",
              "stripe_customer_id", "name_last"),
    "teams": ("id", "name", "seats", "seats_used", "billing", "paid_until", "stripe_customer_id",
              "stripe_subscription_id", "checkout_url", "manager_takes_seat", "domains",
              "domain_join", "created_at"),
    "subscriptions": ("stripe_subscription_id", "stripe_customer_id", "user_id", "plan", "status",
                      "quantity", "collection_method", "current_period_start",
                      "current_period_end", "trial_start", "trial_end", "cancel_at_period_end",
                      "cancel_at", "canceled_at", "ended_at", "past_due_since", "paid_since",
                      "metadata_json", "trial_started_mail_sent", "created_at", "synced_at"),
    "invoices": ("stripe_invoice_id", "stripe_customer_id", "stripe_subscription_id", "number",
                 "status", "currency", "total", "amount_paid", "hosted_invoice_url",
                 "invoice_pdf", "due_date", "created"),
    "comp_grants": ("user_id", "granted_by_id", "reason", "created_at", "ends_at", "ended_at",
                    "ended_by_id"),
    "team_members": ("team_id", "user_id", "role", "takes_seat", "joined_at", "removed_at",
                     "offered_end_own"),
    "access_changes": ("user_id", "created_at", "premium", "source", "until"),
    "signins": ("user_id", "created_at", "method", "ip", "user_agent"),
    "newsletter_subscriptions": ("email", "list_slug", "status", "created_at", "confirmed_at",
                                 "unsubscribed_at"),
    "stripe_events": ("id", "customer_id", "type", "created", "payload", "status", "error",
                      "attempts", "received_at", "processed_at"),
    "audit_log": ("actor_id", "actor_email", "action", "target", "team_id", "subject_id",
                  "details", "created_at"),
}  # fmt: skip


def seed(url: str, world: World) -> None:
    """Bulk-load every table (one transaction each), then refresh the planner's statistics."""
    postgres = url.startswith("postgresql")
    engine = create_engine(url)
    if not postgres:
        event.listen(engine, "connect", _fast_sqlite)
    started = time.perf_counter()
    for table, rows in world.tables():
        start = time.perf_counter()
        with engine.begin() as conn:
            count = (copy_rows if postgres else insert_rows)(conn, table, rows)
        print(f"  seeded {table:<26}{count:>11,} rows{time.perf_counter() - start:>8.1f} s")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        start = time.perf_counter()
        if postgres:
            for table in ("users", "teams"):  # their ids were given, so move the sequences on
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))  # fmt: skip
        conn.execute(text("VACUUM ANALYZE" if postgres else "ANALYZE"))
        print(f"  {'VACUUM ANALYZE' if postgres else 'ANALYZE':<33}"
              f"{time.perf_counter() - start:>16.1f} s")  # fmt: skip
    print(f"  seeding took {time.perf_counter() - started:.0f} s in all")
    engine.dispose()


def _fast_sqlite(dbapi_connection: Any, _: Any) -> None:
    # Only while seeding: a crash leaves a broken file, which a bench throws away anyway.
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000"):
        dbapi_connection.execute(f"PRAGMA {pragma}")


def chunks(rows: Iterable[Row]) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def insert_rows(conn: Connection, table: str, rows: Iterable[Row]) -> int:
    """SQLAlchemy Core executemany, CHUNK rows at a time (the column types convert values)."""
    statement, columns, count = insert(db.metadata.tables[table]), COLUMNS[table], 0
    for batch in chunks(rows):
        conn.execute(statement, [dict(zip(columns, row, strict=True)) for row in batch])
        count += len(batch)
    return count


def copy_rows(conn: Connection, table: str, rows: Iterable[Row]) -> int:
    """PostgreSQL's COPY through psycopg, row by row; JSON columns are wrapped for psycopg."""
    from psycopg.types.json import Json

    columns, count = COLUMNS[table], 0
    json_at = [n for n, name in enumerate(columns)
               if isinstance(db.metadata.tables[table].c[name].type, JSON)]  # fmt: skip
    raw: Any = conn.connection.driver_connection
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            if json_at:
                row = tuple(Json(v) if n in json_at else v for n, v in enumerate(row))
            copy.write_row(row)
            count += 1
    return count


if __name__ == "__main__":
    main()
