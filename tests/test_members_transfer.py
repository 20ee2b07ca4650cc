"""Member imports and exports: the whole file checked first (every problem by line, nothing
written from a bad file), dry runs, members created or updated once, comps, newsletters,
Stripe customers linked and synced, exports streamed in batches that import back as they are,
and the staff screens."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import stripe
from sqlalchemy import event as sa_event
from sqlalchemy import func, insert, select

from paywall import audit, clock
from paywall.accounts.comp import grant_comp, running_comps
from paywall.accounts.models import CompGrant, User
from paywall.billing.models import Subscription as StripeSubscription
from paywall.extensions import db
from paywall.members import exports
from paywall.newsletters.models import ListSubscription
from paywall.newsletters.service import confirmed_lists, subscribe_confirmed
from tests.conftest import build_app
from tests.helpers import csrf_token, make_user, sign_in

PAYWALL = str(Path(sys.executable).parent / "paywall")
HEADER = "email,name,comp_until,stripe_customer_id,newsletters\n"


def write(tmp_path: Path, text: str, name: str = "members.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run_import(app, path: str, *flags: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=["members", "import", path, *flags])


def counts() -> tuple[int, ...]:
    db.session.expire_all()
    count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
    return count(User), count(CompGrant), count(ListSubscription), count(audit.AuditEntry)


@pytest.fixture
def cli_env(tmp_path):  # type: ignore[no-untyped-def]
    """A database migrated by `paywall db upgrade`, for the command as operators run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYWALL_")}
    env.update(PAYWALL_CONFIG="testing", PAYWALL_DATABASE_URL=f"sqlite:///{tmp_path}/cli.db")
    subprocess.run([PAYWALL, "db", "upgrade"], env=env, check=True, capture_output=True)
    return env


def test_a_dry_run_reports_every_problem_by_line_and_writes_nothing(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    linked = make_user(email="linked@example.com")
    linked.stripe_customer_id = "cus_taken"
    db.session.commit()
    path = write(tmp_path, HEADER
                 + "ok@example.com,Ok,,,takeaway\n"
                 + "not-an-address,,,,\n"
                 + "third@example.com,,2026-13-01,,\n"
                 + "fourth@example.com,,2001-01-01,,gulf;nope\n"
                 + "OK@Example.com,,,,\n"
                 + "sixth@example.com,,someday,cus_taken,\n"
                 + "seventh@example.com,,,card_123,\n"
                 + ",Nobody,,,\n"
                 + "tenth@example.com,Smith, Jo,,,gulf\n")  # fmt: skip
    before = counts()
    result = run_import(app, path, "--dry-run")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "line 3: email: 'not-an-address' is not a valid email address",
        "line 4: comp_until: 2026-13-01 is not a date (YYYY-MM-DD)",
        "line 5: comp_until: 2001-01-01 is in the past",
        "line 5: newsletters: there is no newsletter called 'nope'",
        "line 6: email: ok@example.com is also on line 2",
        "line 7: comp_until: someday is not a date (YYYY-MM-DD)",
        "line 7: stripe_customer_id: cus_taken is already linked to another account "
        "(linked@example.com)",
        "line 8: stripe_customer_id: 'card_123' is not a Stripe customer id (cus_...)",
        "line 9: email: missing",
        "line 10: 6 values for 5 columns (a comma unquoted?)",
        "line 10: comp_until: Jo is not a date (YYYY-MM-DD)",
        "Error: members.csv: 11 problem(s); nothing imported.",
    ]
    assert counts() == before


def test_a_dry_run_of_a_good_file_says_what_would_happen_and_writes_nothing(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_user(email="known@example.com")
    path = write(tmp_path, HEADER + "new@example.com,New,2030-06-30,,takeaway gulf\n"
                 "known@example.com,Known,,,\n")  # fmt: skip
    before = counts()
    result = run_import(app, path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "line 2: new@example.com: new; comp until 2030-06-30; newsletters takeaway gulf",
        "line 3: known@example.com: updated; name 'Known'",
        "Dry run of members.csv: 1 new, 1 updated, 0 unchanged; nothing written.",
    ]
    assert counts() == before


def test_a_bad_line_anywhere_imports_nothing(cli_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, HEADER + "fine@example.com,,,,\nalso-fine@example.com,,,,\n"
                 "wrong@example.com,,31/12/2030,,\n")  # fmt: skip
    result = subprocess.run([PAYWALL, "members", "import", path], env=cli_env,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "line 4: comp_until: 31/12/2030 is not a date (YYYY-MM-DD)",
        "paywall: members.csv: 1 problem(s); nothing imported.",
    ]
    app = build_app(DATABASE_URL=f"sqlite:///{tmp_path}/cli.db")
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 0
        db.engine.dispose()


def test_a_good_file_creates_members_with_comp_access_and_newsletters(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_user(email="known@example.com")
    subscribe_confirmed("known@example.com", ["gulf"])
    db.session.execute(insert(ListSubscription).values(email="known@example.com", list_slug="iraq",
                                                   status="unsubscribed"))  # fmt: skip
    db.session.commit()
    path = write(tmp_path, "\ufeffEmail,Name,comp_until,newsletters,source\n"
                 "New.Member@Example.com,New Member,2030-06-30,takeaway; security,old crm\n"
                 "known@example.com,Known,forever,gulf iraq daily-briefing,old crm\n"
                 "plain@example.com,,,,old crm\n")  # fmt: skip
    result = run_import(app, path)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "Imported members.csv: 2 new, 1 updated, 0 unchanged."
    new = db.session.scalar(select(User).where(User.email == "new.member@example.com"))
    assert new.name == "New Member" and new.password_hash is None
    assert new.access.premium and new.access.source == "comp"
    assert new.access.until.date().isoformat() == "2030-06-30"
    assert [g.reason for g in running_comps(new)] == ["import"]
    assert confirmed_lists(new.email) == {"takeaway", "security"}
    known = db.session.scalar(select(User).where(User.email == "known@example.com"))
    assert known.name == "Known" and known.access.premium and known.access.until is None
    # Their own unsubscribe outlives the file.
    assert confirmed_lists(known.email) == {"gulf", "daily-briefing"}
    plain = db.session.scalar(select(User).where(User.email == "plain@example.com"))
    assert not plain.access.premium
    entry = db.session.scalars(select(audit.AuditEntry).where(
        audit.AuditEntry.action == "members.imported")).one()  # fmt: skip
    assert entry.target == "members.csv" and entry.actor_id is None
    assert entry.details == {"created": 2, "updated": 1}
    # Importing the same file again changes nothing.
    before = counts()
    again = run_import(app, path)
    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[-1] == "Imported members.csv: 0 new, 0 updated, 3 unchanged."
    users, comps, subscriptions, entries = counts()
    assert (users, comps, subscriptions, entries) == (*before[:3], before[3] + 1)


def test_existing_members_keep_a_longer_comp_and_their_name(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    member = make_user(email="vip@example.com")
    member.name = "Their Own Name"
    grant_comp(member.email, until=None, reason="founder", staff=None)
    db.session.commit()
    path = write(tmp_path, HEADER + "vip@example.com,From The File,2030-01-01,,\n")
    result = run_import(app, path)
    assert result.exit_code == 0, result.output
    assert "0 new, 0 updated, 1 unchanged" in result.output
    db.session.expire_all()
    assert member.name == "Their Own Name"
    assert [g.reason for g in running_comps(member)] == ["founder"]


def stripe_member(shop, email: str) -> str:  # type: ignore[no-untyped-def]
    """A customer with an active PRO subscription, made in Stripe directly (another system)."""
    client = stripe.StripeClient(shop.emulator.api_key, base_addresses={"api": shop.emulator.url})
    customer = client.v1.customers.create({"email": email})
    method = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(customer.id,
                               {"invoice_settings": {"default_payment_method": method.id}})  # fmt: skip
    price = next(shop.emulator.store.find("price", lookup_key="pro_annual"))["id"]
    client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price}]})
    shop.settle()
    return str(customer.id)


def test_a_stripe_customer_is_linked_and_synced_so_the_member_reads(shop, tmp_path) -> None:  # type: ignore[no-untyped-def]
    customer_id = stripe_member(shop, "payer@example.com")
    shop.site.run(make_user, email="other@example.com")
    path = write(tmp_path, HEADER + f"payer@example.com,Payer,,{customer_id},\n")
    missing = write(tmp_path, HEADER + f"other@example.com,,,{customer_id}x,\n", "missing.csv")
    runner = shop.app.test_cli_runner()
    result = runner.invoke(args=["members", "import", missing])
    assert result.exit_code == 1
    assert f"line 2: stripe_customer_id: {customer_id}x was not found in Stripe" in result.stderr
    result = runner.invoke(args=["members", "import", path])
    assert result.exit_code == 0, result.output
    assert f"Stripe customer {customer_id} linked and synced" in result.output
    premium, source, until = shop.access("payer@example.com")
    assert premium and source == "subscription" and until > clock.now()
    assert shop.user("payer@example.com").stripe_customer_id == customer_id
    # The same customer for another account is refused; the same file again changes nothing.
    taken = write(tmp_path, HEADER + f"other@example.com,,,{customer_id},\n", "taken.csv")
    result = runner.invoke(args=["members", "import", taken])
    assert "is already linked to another account (payer@example.com)" in result.stderr
    result = runner.invoke(args=["members", "import", path])
    assert result.output.splitlines()[-1] == "Imported members.csv: 0 new, 0 updated, 1 unchanged."


def test_stripe_failing_half_way_imports_nothing(shop, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    first, second = stripe_member(shop, "one@example.com"), stripe_member(shop, "two@example.com")
    path = write(tmp_path, HEADER + f"one@example.com,,2030-01-01,{first},takeaway\n"
                 f"two@example.com,,,{second},\n")  # fmt: skip
    service = type(stripe.StripeClient("sk_test_x").v1.subscriptions)
    real_list, calls = service.list, []

    def flaky(self, params=None, options=None):  # type: ignore[no-untyped-def]
        calls.append(params)
        if len(calls) > 1:
            raise stripe.APIConnectionError("the network went away")
        return real_list(self, params, options)

    monkeypatch.setattr(service, "list", flaky)
    result = shop.app.test_cli_runner().invoke(args=["members", "import", path])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (  # after the gateway's log line
        f"Error: Stripe did not answer while syncing {second} (line 3): nothing was imported. "
        "Try again in a minute."
    )
    assert len(calls) > 1

    def nothing_stayed() -> None:
        assert db.session.scalar(select(func.count(User.id))) == 0
        assert db.session.scalar(select(func.count(CompGrant.id))) == 0
        assert db.session.scalar(select(func.count(ListSubscription.id))) == 0
        owners = db.session.scalars(select(StripeSubscription.user_id)).all()
        assert owners and set(owners) == {None}  # the webhooks' rows, still without a member

    shop.site.run(nothing_stayed)


def export(app) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(args=["members", "export"])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.output)))


def test_an_export_imports_into_another_database_as_it_was(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ann = make_user(email="ann@example.com")
    ann.name = "Ann, with a comma"
    grant_comp(ann.email, until=datetime(2031, 3, 1, 12, tzinfo=UTC), reason="press", staff=None)
    subscribe_confirmed(ann.email, ["takeaway", "gulf"])
    grant_comp(make_user(email="bo@example.com").email, until=None, reason="founder", staff=None)
    cy = make_user(email="cy@example.com")
    cy.name = '=HYPERLINK("http://evil.example")'  # a spreadsheet would run it
    subscribe_confirmed("cy@example.com", ["iraq"])
    db.session.commit()
    exported = export(app)
    assert exported[2]["name"] == '\'=HYPERLINK("http://evil.example")'
    assert list(exported[0]) == ["email", "name", "comp_until", "stripe_customer_id",
                                 "newsletters", "premium", "access_source", "access_until",
                                 "created_at"]  # fmt: skip
    assert [(r["email"], r["comp_until"], r["newsletters"], r["premium"]) for r in exported] == [
        ("ann@example.com", "2031-03-01", "takeaway gulf", "yes"),
        ("bo@example.com", "forever", "", "yes"),
        ("cy@example.com", "", "iraq", "no"),
    ]
    path = tmp_path / "export.csv"
    assert app.test_cli_runner().invoke(args=["members", "export", "-o", str(path)]).exit_code == 0
    other = build_app()  # a second, empty database
    with other.app_context():
        result = other.test_cli_runner().invoke(args=["members", "import", str(path)])
        assert result.exit_code == 0, result.output
        assert "3 new, 0 updated, 0 unchanged" in result.output
        imported = export(other)
        name = db.session.scalar(select(User.name).where(User.email == "cy@example.com"))
        assert name == '=HYPERLINK("http://evil.example")'  # as it was, without the guard
        db.session.remove()
        db.engine.dispose()
    # Only the times differ: when the account was made, and a comp now ends at the end of its day.
    for rows in (imported, exported):
        for row in rows:
            del row["created_at"], row["access_until"]
    assert imported == exported


def test_the_export_reads_members_in_batches_not_one_by_one(app) -> None:  # type: ignore[no-untyped-def]
    now = clock.now()
    db.session.execute(insert(User), [{"email": f"m{n:04}@example.com", "created_at": now}
                                      for n in range(2500)])  # fmt: skip
    for n in (5, 1500, 2400):
        grant_comp(f"m{n:04}@example.com", until=None, reason="test", staff=None)
        subscribe_confirmed(f"m{n:04}@example.com", ["gulf"])
    db.session.commit()
    statements = []

    def count(conn, cursor, sql, *args):  # type: ignore[no-untyped-def]
        statements.append(sql)

    sa_event.listen(db.engine, "before_cursor_execute", count)
    try:
        chunks = list(exports.export_csv())
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", count)
    rows = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert len(rows) == 2500 and len(chunks) == 1 + 3  # the header, then one chunk per batch
    assert len(statements) <= 3 * 3  # members, comps and newsletters, per batch of 1,000
    assert [r["email"] for r in rows if r["comp_until"] == "forever"] == [
        "m0005@example.com", "m1500@example.com", "m2400@example.com"]  # fmt: skip
    assert sum(1 for r in rows if r["newsletters"] == "gulf") == 3


def staff_client(app):  # type: ignore[no-untyped-def]
    make_user(email="staff@example.com", role="admin")
    staff = app.test_client()
    sign_in(staff, "staff@example.com")
    return staff


def upload(client, text: str, dry_run: bool = True):  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf_token(client, "/admin/members/import"),
            "file": (io.BytesIO(text.encode()), "from-crm.csv")}  # fmt: skip
    if dry_run:
        data["dry_run"] = "y"
    return client.post("/admin/members/import", data=data, content_type="multipart/form-data")


def test_the_upload_screen_checks_then_imports_and_shows_the_report(app, run_worker) -> None:  # type: ignore[no-untyped-def]
    staff = staff_client(app)
    page = staff.get("/admin/members/import").get_data(as_text=True)
    assert re.search(r'<input[^>]* checked [^>]*name="dry_run"', page), "dry run is ticked at first"
    bad = upload(staff, HEADER + "x@example.com,,2026-02-30,,\n")
    assert bad.status_code == 400
    assert "line 2: comp_until: 2026-02-30 is not a date (YYYY-MM-DD)" in bad.get_data(as_text=True)
    good = HEADER + "crm@example.com,From CRM,2030-01-01,,takeaway\n"
    checked = upload(staff, good)
    assert checked.status_code == 200
    assert "Dry run of from-crm.csv: 1 new, 0 updated, 0 unchanged" in checked.get_data(
        as_text=True
    )
    assert db.session.scalar(select(User).where(User.email == "crm@example.com")) is None
    done = upload(staff, good, dry_run=False)
    assert done.status_code == 200
    assert "The worker is importing it now" in done.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "crm@example.com")) is None
    run_worker()  # the import itself runs in the worker
    member = db.session.scalar(select(User).where(User.email == "crm@example.com"))
    assert member.access.premium
    entry = db.session.scalars(select(audit.AuditEntry).where(
        audit.AuditEntry.action == "members.imported")).one()  # fmt: skip
    assert entry.actor_email == "staff@example.com"
    no_file = staff.post("/admin/members/import",
                         data={"csrf_token": csrf_token(staff, "/admin/members/import")})  # fmt: skip
    assert no_file.status_code == 400 and "Choose a CSV file." in no_file.get_data(as_text=True)
    no_email = upload(staff, "name,comp_until\nAnn,\n")
    assert no_email.status_code == 400
    assert "the header row has no email column" in no_email.get_data(as_text=True)


def download(client):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/signin")
    return client.post("/admin/members/export.csv", data={"csrf_token": token})


def test_the_download_is_a_csv_attachment_for_staff_only(app) -> None:  # type: ignore[no-untyped-def]
    make_user(email="reader@example.com")
    reader = app.test_client()
    sign_in(reader, "reader@example.com")
    assert download(reader).status_code == 404
    assert reader.get("/admin/members/import").status_code == 404
    staff = staff_client(app)
    assert 'action="/admin/members/export.csv"' in staff.get("/admin/members/import").get_data(
        as_text=True
    )
    answer = download(staff)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="members-')
    emails = [r["email"] for r in csv.DictReader(io.StringIO(answer.get_data(as_text=True)))]
    assert emails == ["reader@example.com", "staff@example.com"]
    entry = db.session.scalars(
        select(audit.AuditEntry).where(audit.AuditEntry.action == "members.exported")
    ).one()
    assert entry.actor_email == "staff@example.com"
    # Without the form's token it is refused, like every other POST.
    refused = staff.post("/admin/members/export.csv")
    assert refused.status_code == 400


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "paywall: Invalid value for 'FILE.csv': File"),
        (b"name,comp_until\nAnn,\n", "paywall: people.csv: the header row has no email column"),
        (b"", "paywall: people.csv: the header row has no email column"),
        (
            b"email\nok@example.com\n\xff\xfe@example.com\n",
            "paywall: people.csv: line 3 is not UTF-8",
        ),
    ],
)
def test_bad_input_on_the_command_line_is_one_clear_line(
    cli_env, tmp_path, content, message
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "people.csv"
    if content is not None:
        path.write_bytes(content)
    result = subprocess.run([PAYWALL, "members", "import", str(path)], env=cli_env,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr


def test_a_queued_import_that_no_longer_checks_out_imports_nothing(
    app, run_worker, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    staff = staff_client(app)
    tomorrow = (clock.now() + timedelta(days=1)).date().isoformat()
    queued = upload(staff, HEADER + f"late@example.com,,{tomorrow},,\n", dry_run=False)
    assert queued.status_code == 200 and "The worker is importing it now" in queued.get_data(
        as_text=True
    )
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(days=3))  # the date passed
    run_worker()
    assert db.session.scalar(select(User).where(User.email == "late@example.com")) is None
    refused = db.session.scalars(select(audit.AuditEntry).where(
        audit.AuditEntry.action == "members.import_refused")).one()  # fmt: skip
    assert "comp_until" in refused.details["problems"][0]
