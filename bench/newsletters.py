"""Bulk mail: an industry issue and the weekly review sent by one worker, at 10,000 and 100,000
members, on SQLite and PostgreSQL, against a bare smtplib loop sending the same bytes.

    .venv/bin/python bench/newsletters.py [--members 100000] [--small 10000] [--repeats 3]
                                          [--postgres postgresql+psycopg://…] [--sqlite-only]

The PostgreSQL URL comes from --postgres or PAYWALL_BENCH_DATABASE_URL; that database's public
schema is dropped and made again for each size, so give it one of its own. SQLite is a file in
a temporary directory.

For each database and each size (--small, then --members) it builds the schema, seeds the
members by bulk insert (SQLAlchemy Core executemany on SQLite, COPY on PostgreSQL) with a mix
of premium access (running, lapsed, never), delivery choices (each issue, weekly, both, none,
or never saved) and industries (chosen in their own order, all nine by default, none, or saved
before delivery choices existed), and five issues published earlier in the week. Then,
--repeats times, alternating:

- the bare loop: one smtplib connection sends the issue's message, built once by the same code
  the worker uses, to each member the issue goes to (`sendmail` per recipient, as ours does);
- ours: a new oil-and-gas issue is published through the content service (which starts its
  mailing), and a fresh worker process runs `paywall.mail.worker.drain()`: the fan-out pages
  and the sends, with the time of each kind of job, its CPU per mail (beside the bare loop's)
  and the process's peak RSS (VmHWM).

and last the weekly review (`start_weekly_review`) the same way. The SMTP server is aiosmtpd in
a process of its own (its event loop would otherwise share a GIL with whoever sends), counting
messages and recipients; after each send every address it received must be a delivery marked
sent, once, and every delivery marked sent must have reached it. The ratio of our mails per
second (the worker's whole drain, fan-out included) to the bare loop's, median of the repeats,
is what carries from machine to machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import smtplib
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, insert, select, text
from sqlalchemy.engine import Connection

from paywall import create_app
from paywall.extensions import db

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pages import free_port

DAY = timedelta(days=1)
CHUNK = 20_000
INDUSTRY = "oil-gas"
# Published three to six days ago: in this week's review, but too old to be mailed themselves.
EARLIER_IN_THE_WEEK = ("banking", "green-energy", "capital-markets", "real-estate", "supply-chain")
DELIVERY_MIX = {"each": 25, "weekly": 20, "both": 25, "none": 10, "default": 20}
BODY = "\n\n".join(
    f"Paragraph {n}: prices, volumes and who said what, in a member's words. " * 4
    for n in range(12)
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000, help="the size to compare RSS with")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("PAYWALL_BENCH_DATABASE_URL"),
                        help="a database of its own: its public schema is dropped")  # fmt: skip
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="paywall-newsletters-")
    databases = [("SQLite", f"sqlite:///{workdir}/newsletters.db")]
    if args.postgres and not args.sqlite_only:
        databases.append(("PostgreSQL", args.postgres))
    print(f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f}); "
          f"{args.repeats} repeats; files in {workdir}")  # fmt: skip
    sink = Sink.start()
    results: list[Result] = []
    try:
        for name, url in databases:
            for members in sorted({args.small, args.members}):
                results += run(name, url, members, args.repeats, sink)
    finally:
        sink.stop()
    summary(results)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


# --- the SMTP server, in a process of its own ---------------------------------------------


class Counting:
    """An aiosmtpd handler that accepts every message and keeps only its recipients."""

    def __init__(self) -> None:
        self.messages = 0
        self.recipients: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages += 1
        self.recipients += envelope.rcpt_tos
        return "250 OK"


def serve(port: int, pipe: Pipe) -> None:
    """The server process: answers `take` with (messages, recipients) since the last take."""
    from aiosmtpd.controller import Controller

    handler = Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    pipe.send("ready")
    while pipe.recv() == "take":
        pipe.send((handler.messages, handler.recipients))
        handler.messages, handler.recipients = 0, []
    controller.stop()


@dataclass
class Sink:
    port: int
    pipe: Pipe
    process: Any

    @classmethod
    def start(cls) -> Sink:
        port = free_port()
        ours, theirs = multiprocessing.get_context("spawn").Pipe()
        process = multiprocessing.get_context("spawn").Process(
            target=serve, args=(port, theirs), daemon=True
        )
        process.start()
        assert ours.poll(30) and ours.recv() == "ready", "the SMTP server did not start"
        return cls(port, ours, process)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def take(self) -> tuple[int, list[str]]:
        """What the server received since the last take."""
        self.pipe.send("take")
        messages, recipients = self.pipe.recv()
        return int(messages), list(recipients)

    def stop(self) -> None:
        self.pipe.send("stop")
        self.process.join(10)


# --- the worker, in a fresh process per send ----------------------------------------------


def app_config(url: str, mail_url: str) -> dict[str, Any]:
    return {"ENV_NAME": "testing", "DATABASE_URL": url, "MAIL_URL": mail_url,
            "BASE_URL": "https://news.example.com",
            "MAIL_FROM": "PRO Desk <pro@news.example.com>"}  # fmt: skip


def rss_mb(field: str) -> float:
    """VmRSS (resident memory now) or VmHWM (its peak) of this process, in MB.

    Not ru_maxrss: Linux carries it across exec, so a spawned worker would report the size of
    the (large, seeded) parent it was forked from before exec."""
    with open("/proc/self/status") as status:
        found = next(line for line in status if line.startswith(field + ":"))
    return int(found.split()[1]) / 1024


def drain_in_worker(url: str, mail_url: str) -> dict[str, float]:
    """A worker process's `drain()`, with the seconds spent in each kind of job (commit
    included), the whole drain, and the process's RSS when idle and at its peak."""
    from paywall.jobs import HANDLERS
    from paywall.mail import worker

    app = create_app(app_config(url, mail_url))
    spent: dict[str, float] = defaultdict(float)
    running = ["other"]
    for name, handler in list(HANDLERS.items()):
        HANDLERS[name] = _naming(name, handler, running)
    run_job = worker.run_job

    def timed(job_id: int) -> bool:
        start, running[0] = time.perf_counter(), "other"
        try:
            return run_job(job_id)
        finally:
            spent[running[0]] += time.perf_counter() - start

    worker.run_job = timed
    with app.app_context():
        idle = rss_mb("VmRSS")
        start, cpu = time.perf_counter(), time.process_time()
        worker.drain(max_passes=1_000_000)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu
        db.engine.dispose()
    return {"total": total, "cpu": cpu, "fan_out": spent["bulk.fan_out"],
            "send": spent["bulk.send"], "idle_mb": idle, "peak_mb": rss_mb("VmHWM")}  # fmt: skip


def _naming(name: str, handler: Callable[[dict[str, Any]], None],
            running: list[str]) -> Callable[[dict[str, Any]], None]:  # fmt: skip
    def named(payload: dict[str, Any]) -> None:
        running[0] = name
        handler(payload)

    return named


def in_worker(url: str, mail_url: str) -> dict[str, float]:
    # spawn, not fork: the worker must not start with this process's memory (the seeding).
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(drain_in_worker, (url, mail_url))


@dataclass
class Bare:
    rate: float
    cpu_ms: float  # this process's CPU per mail


def bare_loop(port: int, sender: str, recipients: list[str], data: bytes) -> Bare:
    """smtplib alone: the same bytes to each address over one connection."""
    client = smtplib.SMTP("127.0.0.1", port)
    start, cpu = time.perf_counter(), time.process_time()
    for to in recipients:
        client.sendmail(sender, [to], data)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    client.quit()
    return Bare(len(recipients) / seconds, 1000 * cpu / len(recipients))


# --- one database at one size ---------------------------------------------------------------


@dataclass
class Result:
    database: str
    members: int
    case: str
    mails: int
    worker: dict[str, float]
    bare: Bare | None
    check: str

    @property
    def rate(self) -> float:
        return self.mails / self.worker["total"]

    @property
    def ratio(self) -> float | None:
        return self.rate / self.bare.rate if self.bare else None


def run(name: str, url: str, members: int, repeats: int, sink: Sink) -> list[Result]:
    print(f"\n== {name}, {members:,} members")
    url = url.replace(".db", f"-{members}.db")  # SQLite: a new file for each size
    app = create_app(app_config(url, sink.url))
    with app.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.create_all()
        db.session.remove()
        seed(url, members, random.Random(2026))
        publish_earlier_issues()
        print(f"{'case':<15}{'mails':>7}{'fan-out s':>10}{'send s':>8}{'total s':>8}"
              f"{'mails/s':>8}{'bare/s':>7}{'ratio':>6}{'CPU ms/mail':>13}{'RSS MB':>7}"
              "  check")  # fmt: skip
        results = []
        for n in range(repeats):
            results.append(industry_issue(name, url, members, n, sink))
            show(results[-1])
        results.append(weekly_review(name, url, members, sink))
        show(results[-1])
        db.session.remove()
        db.engine.dispose()
    return results


def show(result: Result) -> None:
    """One line: the worker's figures, and beside them the bare loop's (ours / bare CPU)."""
    w, bare = result.worker, result.bare
    cpu = f"{1000 * w['cpu'] / max(result.mails, 1):.2f}"
    if bare is not None:
        cpu = f"{cpu} / {bare.cpu_ms:.2f}"
    rates = f"{bare.rate:>7.0f}{result.ratio:>6.2f}" if bare else f"{'':>13}"
    print(f"{result.case:<15}{result.mails:>7,}{w['fan_out']:>10.1f}{w['send']:>8.1f}"
          f"{w['total']:>8.1f}{result.rate:>8.0f}{rates}{cpu:>13}{w['peak_mb']:>7.0f}"
          f"  {result.check}")  # fmt: skip


def industry_issue(name: str, url: str, members: int, n: int, sink: Sink) -> Result:
    """The bare loop, then one issue published and drained by a worker."""
    from paywall.content.service import save_item
    from paywall.mail import bulk
    from paywall.newsletters.mailings import IndustryIssue

    item = save_item({"kind": "industry_newsletter", "industry": INDUSTRY, "access": "premium",
                      "slug": f"bench-issue-{n}", "title": f"Refining margins, week {n + 1}",
                      "teaser": "What anyone may read.", "body_markdown": BODY,
                      "status": "published", "published_at": now().isoformat()})  # fmt: skip
    db.session.commit()
    mailing = bulk.find(f"issue:{item.id}")
    assert mailing is not None, "publishing the issue started no mailing"
    mailing_id = mailing.id
    audience = [r.email for r in IndustryIssue().recipients(mailing, 0, members + 1)]
    sender, data = sample_message(mailing)
    db.session.remove()  # no transaction open while the worker writes (SQLite)
    bare = bare_loop(sink.port, sender, audience, data)
    assert sink.take() == (len(audience), audience), "the bare loop's mail did not all arrive"
    worker = in_worker(url, sink.url)
    check = checked(mailing_id, sink.take(), set(audience))
    return Result(name, members, f"issue {n + 1}", len(audience), worker, bare, check)


def weekly_review(name: str, url: str, members: int, sink: Sink) -> Result:
    from paywall.newsletters.mailings import start_weekly_review

    mailing, made = start_weekly_review(now() + timedelta(minutes=1), f"bench-{members}")
    assert made
    db.session.commit()
    mailing_id = mailing.id
    db.session.remove()
    worker = in_worker(url, sink.url)
    received = sink.take()
    check = checked(mailing_id, received, None)
    return Result(name, members, "weekly review", received[0], worker, None, check)


def sample_message(mailing: Any) -> tuple[str, bytes]:
    """The mailing's message as the worker builds it, for a member it goes to."""
    from paywall.mail import bulk
    from paywall.newsletters.mailings import unsubscribe_link

    composed, template = bulk.COMPOSED.get(mailing)
    link = unsubscribe_link(1, mailing.list_slug, 1)
    piece = composed.piece(composed.text, composed.html, link)
    return template.sender, template.render("member@bench.example", piece, template.message_id())


def checked(mailing_id: int, received: tuple[int, list[str]], audience: set[str] | None) -> str:
    """'ok' when the server got each delivery marked sent exactly once and nothing else (and,
    for an issue, exactly its audience); else what is wrong."""
    from paywall.mail import bulk
    from paywall.mail.models import Delivery

    messages, recipients = received
    sent = set(db.session.scalars(
        select(Delivery.email).where(Delivery.mailing_id == mailing_id, Delivery.status == "sent")
    ))  # fmt: skip
    counts = bulk.counts(mailing_id)
    db.session.remove()
    got = set(recipients)
    problems = {
        f"{messages:,} messages for {len(recipients):,} recipients": messages != len(recipients),
        f"{len(recipients) - len(got):,} received twice": len(got) != len(recipients),
        f"{len(got - sent):,} received but not marked sent": bool(got - sent),
        f"{len(sent - got):,} marked sent but never received": bool(sent - got),
        f"{len((audience or set()) - sent):,} of the audience not sent": bool(
            audience and audience - sent),
        f"left {counts['queued']} queued, {counts['sending']} sending, {counts['failed']} failed":
            bool(counts["queued"] or counts["sending"] or counts["failed"]),
    }  # fmt: skip
    wrong = [problem for problem, found in problems.items() if found]
    return "; ".join(wrong) if wrong else f"ok: {len(sent):,} sent = {messages:,} received"


def now() -> datetime:
    return datetime.now(UTC)


def publish_earlier_issues() -> None:
    from paywall.content.service import save_item

    for n, industry in enumerate(EARLIER_IN_THE_WEEK):
        save_item({"kind": "industry_newsletter", "industry": industry, "access": "premium",
                   "slug": f"bench-earlier-{industry}", "title": f"Earlier this week: {industry}",
                   "teaser": "What anyone may read.", "body_markdown": BODY,
                   "status": "published",
                   "published_at": (now() - (3 + n / 2) * DAY).isoformat()})  # fmt: skip
    db.session.commit()


# --- seeding ----------------------------------------------------------------------------------

Row = tuple[Any, ...]
COLUMNS = {
    "users": ("id", "email", "role", "session_version", "created_at", "disabled_at",
              "access_premium", "access_source", "access_until", "first_premium_at"),
    "industry_mail_preferences": ("user_id", "each_issue", "weekly_review", "industries_chosen",
                                  "updated_at"),
    "industry_priorities": ("user_id", "industry", "position"),
}  # fmt: skip


@dataclass
class Members:
    """The seeded rows, decided once from a fixed seed."""

    users: list[Row]
    preferences: list[Row]
    priorities: list[Row]

    @classmethod
    def plan(cls, count: int, rng: random.Random) -> Members:
        planned = cls([], [], [])
        at = now()
        for user_id in range(1, count + 1):
            planned.users.append(user_row(user_id, rng, at))
            planned.choices(user_id, rng, at)
        return planned

    def choices(self, user_id: int, rng: random.Random, at: datetime) -> None:
        from paywall.content.kinds import INDUSTRIES
        from paywall.newsletters.industries import DEFAULT_DELIVERY, DELIVERIES

        delivery = rng.choices(list(DELIVERY_MIX), list(DELIVERY_MIX.values()))[0]
        industries, saved, before_choices = rng.random(), True, False
        if industries < 0.55:  # chose some, in their own order
            for position, slug in enumerate(rng.sample(list(INDUSTRIES), rng.randint(1, 5))):
                self.priorities.append((user_id, slug, position))
            # Some saved their industries before delivery choices existed (migration 0012).
            before_choices = delivery == "default" and rng.random() < 0.5
        elif industries < 0.95:  # never chose: all nine
            saved = False
        if (delivery != "default" or saved) and not before_choices:
            each, weekly = DELIVERIES[DEFAULT_DELIVERY if delivery == "default" else delivery]
            self.preferences.append((user_id, each, weekly, saved, at))

    def tables(self) -> Iterator[tuple[str, list[Row]]]:
        yield "users", self.users
        yield "industry_mail_preferences", self.preferences
        yield "industry_priorities", self.priorities


def user_row(user_id: int, rng: random.Random, at: datetime) -> Row:
    """Premium now (62%), lapsed with the stored answer not yet recomputed (10%), lapsed and
    recomputed (10%), never premium (18%); 1% of them disabled."""
    kind = rng.random()
    created = at - rng.uniform(1, 1000) * DAY
    premium, source, until, first = False, None, None, None
    if kind < 0.62:
        premium, first = True, created
        source = rng.choices(("subscription", "team", "comp", "trial"), (70, 15, 10, 5))[0]
        until = None if source == "comp" and rng.random() < 0.3 else at + rng.uniform(2, 365) * DAY
    elif kind < 0.72:
        premium, source, first = True, "subscription", created
        until = at - rng.uniform(0.1, 60) * DAY
    elif kind < 0.82:
        first = created
    disabled = at - DAY if rng.random() < 0.01 else None
    domain = ("example.com", "mail.example", "corp.example")[user_id % 3]
    return (user_id, f"member{user_id}@{domain}", "reader", 1, created, disabled, premium, source,
            until, first)  # fmt: skip


def seed(url: str, count: int, rng: random.Random) -> None:
    """Bulk-load the members, then refresh the planner's statistics."""
    postgres = url.startswith("postgresql")
    engine = create_engine(url)
    if not postgres:
        event.listen(engine, "connect", _fast_sqlite)
    start = time.perf_counter()
    planned = Members.plan(count, rng)
    for table, rows in planned.tables():
        with engine.begin() as conn:
            (copy_rows if postgres else insert_rows)(conn, table, rows)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if postgres:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('users', 'id'), "
                              "(SELECT max(id) FROM users))"))  # fmt: skip
        conn.execute(text("VACUUM ANALYZE" if postgres else "ANALYZE"))
        premium = conn.scalar(select(func.count()).select_from(db.metadata.tables["users"])
                              .where(text("access_premium")))  # fmt: skip
    engine.dispose()
    print(f"  seeded {count:,} members ({premium:,} with access_premium set, some lapsed), "
          f"{len(planned.preferences):,} delivery choices, {len(planned.priorities):,} "
          f"industry priorities in {time.perf_counter() - start:.1f} s")  # fmt: skip


def _fast_sqlite(dbapi_connection: Any, _: Any) -> None:
    # Only while seeding: a crash leaves a broken file, which a bench throws away anyway.
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-200000"):
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


def insert_rows(conn: Connection, table: str, rows: Iterable[Row]) -> None:
    """SQLAlchemy Core executemany, CHUNK rows at a time (the column types convert values)."""
    statement, columns = insert(db.metadata.tables[table]), COLUMNS[table]
    for batch in chunks(rows):
        conn.execute(statement, [dict(zip(columns, row, strict=True)) for row in batch])


def copy_rows(conn: Connection, table: str, rows: Iterable[Row]) -> None:
    """PostgreSQL's COPY through psycopg."""
    raw: Any = conn.connection.driver_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


# --- the summary ------------------------------------------------------------------------------


def summary(results: list[Result]) -> None:
    """Per database: the median ratio of each size, and the worker's peak RSS by size."""
    print(f"\n{'database':<12}{'members':>9}{'median ratio':>14}{'worst':>7}"
          f"{'peak RSS MB':>13}{'idle RSS MB':>13}")  # fmt: skip
    by_run: dict[tuple[str, int], list[Result]] = defaultdict(list)
    for result in results:
        by_run[result.database, result.members].append(result)
    for (database, members), done in by_run.items():
        ratios = [r.ratio for r in done if r.ratio is not None]
        peak = max(r.worker["peak_mb"] for r in done)
        idle = max(r.worker["idle_mb"] for r in done)
        print(f"{database:<12}{members:>9,}{statistics.median(ratios):>14.2f}{min(ratios):>7.2f}"
              f"{peak:>13.0f}{idle:>13.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
