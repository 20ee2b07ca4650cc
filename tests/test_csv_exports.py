"""Every CSV the app writes, read as the raw bytes a spreadsheet would open: no cell starts
with something it would run as a formula, and the member export still imports back as it was.

`=cmd|'/Ccalc'!A0@example.com` is a valid address: it signs up and subscribes like any other.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from paywall.accounts.models import User
from paywall.csvsafe import FORMULA_STARTS, guard, unguard
from paywall.extensions import db
from paywall.newsletters.models import ListSubscription
from tests.conftest import build_app
from tests.helpers import csrf_token, link_in, make_user, post_form, sign_in

ADDRESSES = ["=cmd|'/Ccalc'!A0@example.com", "+441234@example.com", "-2+3@example.com"]


def cells(raw: bytes) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert rows and all(rows)
    return rows


def assert_nothing_runs(raw: bytes) -> None:
    """No cell of the file starts with =, +, -, @, a tab or a carriage return."""
    for row in cells(raw):
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), (cell, row)


def sign_up(client, run_worker, address: str) -> str:  # type: ignore[no-untyped-def]
    """Through /signup (the worker makes the account), as anyone could; the stored address."""
    answer = post_form(client, "/signup", {"email": address, "password": "a long private phrase"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    run_worker()
    stored = db.session.scalar(select(User.email).order_by(User.id.desc()).limit(1))
    assert stored is not None and stored.lower() == address.lower()
    return stored


def staff(app):  # type: ignore[no-untyped-def]
    make_user(email="staff@example.com", role="admin")
    client = app.test_client()
    sign_in(client, "staff@example.com")
    return client


def test_the_member_export_guards_every_cell_on_the_page_and_the_command_line(
    app, client, run_worker
) -> None:  # type: ignore[no-untyped-def]
    stored = [sign_up(client, run_worker, address) for address in ADDRESSES]
    named = make_user(email="named@example.com")
    named.name = "@SUM(1+1)*cmd|' /C calc'!A0"
    db.session.commit()
    desk = staff(app)
    download = desk.post("/admin/members/export.csv", data={"csrf_token": csrf_token(desk)})
    assert download.status_code == 200 and download.mimetype == "text/csv"
    command = app.test_cli_runner().invoke(args=["members", "export"])
    assert command.exit_code == 0, command.output
    for raw in (download.data, command.output.encode()):
        assert_nothing_runs(raw)
        lines = raw.splitlines()
        for address in stored:
            assert any(line.startswith(f"'{address},".encode()) for line in lines), address
        assert b"named@example.com,'@SUM(1+1)*cmd|' /C calc'!A0," in raw


def confirm_subscription(app, client, address: str, run_worker, outbox) -> str:  # type: ignore[no-untyped-def]
    answer = post_form(client, "/newsletters", {"email": address, "lists": ["gulf"]},
                       form_page="/newsletters")  # fmt: skip
    assert answer.status_code in (200, 303), answer.get_data(as_text=True)
    run_worker()
    [mail] = [m for m in outbox() if m.template == "newsletter_confirm"][-1:]
    path = link_in(mail.text_body, "/newsletters/confirm/")
    token = re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).get_data(as_text=True)
    )
    assert token and client.post(path, data={"csrf_token": token.group(1)}).status_code == 200
    db.session.expire_all()
    confirmed = db.session.scalar(select(ListSubscription.email).where(ListSubscription.email == mail.to_address,
                                                                   ListSubscription.status == "confirmed"))  # fmt: skip
    assert confirmed is not None
    return confirmed


def test_the_newsletter_export_guards_addresses_on_the_page_and_the_command_line(
    app, client, run_worker, outbox, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    stored = [confirm_subscription(app, client, a, run_worker, outbox) for a in ADDRESSES]
    download = staff(app).get("/admin/newsletters/gulf.csv")
    assert download.status_code == 200
    path = tmp_path / "gulf.csv"
    command = app.test_cli_runner().invoke(args=["newsletters", "export", "gulf", "-o", str(path)])
    assert command.exit_code == 0, command.output
    for raw in (download.data, path.read_bytes()):
        assert_nothing_runs(raw)
        assert [row[0] for row in cells(raw)[1:]] == [f"'{address}" for address in stored]


def test_a_guarded_export_imports_into_another_database_as_it_was(
    app, client, run_worker, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    stored = [sign_up(client, run_worker, address) for address in ADDRESSES]
    quoted = make_user(email="quoted@example.com")
    quoted.name = "'=already quoted by hand"  # a ' someone typed is theirs to keep
    db.session.commit()
    path = tmp_path / "members.csv"
    assert app.test_cli_runner().invoke(args=["members", "export", "-o", str(path)]).exit_code == 0
    exported = path.read_bytes()
    other = build_app()  # a second, empty database
    with other.app_context():
        result = other.test_cli_runner().invoke(args=["members", "import", str(path)])
        assert result.exit_code == 0, result.output
        assert "4 new, 0 updated, 0 unchanged" in result.output
        emails = set(db.session.scalars(select(User.email)))
        assert set(stored) <= emails  # the address itself, not the guarded cell
        assert db.session.scalar(select(User.name).where(User.email == "quoted@example.com")) == (
            "'=already quoted by hand"
        )
        again = other.test_cli_runner().invoke(args=["members", "export"]).output.encode()
        db.session.remove()
        db.engine.dispose()

    def without_times(raw: bytes) -> list[list[str]]:  # when each account was made differs
        return sorted(row[:5] for row in cells(raw) if row[0] != "staff@example.com")

    assert without_times(again) == without_times(exported)


@pytest.mark.parametrize(
    "text",
    ["=1+1", "+1", "-1", "@x", "\t=1", "\r=1", "'=1", "''-1", "'plain", "plain", "", "=", "'"],
)
def test_unguard_undoes_guard(text: str) -> None:
    assert not guard(text).startswith(FORMULA_STARTS)
    assert unguard(guard(text)) == text
