"""Staff see and control bulk mail: how each mailing went (on the content screens and the
newsletters page), a test of an issue to oneself before publishing, and the suppression list;
members whose server refused our mail resume it. Mail is read as a real SMTP server
(aiosmtpd) receives it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from paywall import audit, clock
from paywall.accounts.comp import end_comps
from paywall.accounts.models import User
from paywall.content import service
from paywall.extensions import db
from paywall.mail import bulk, worker
from paywall.mail.models import Delivery, Mailing, Suppression
from paywall.newsletters import mailings
from tests.conftest import PG_URL
from tests.helpers import CSRF, csrf_token, make_item, make_member, make_user, sign_in
from tests.test_industry_mail import SENTINEL, Refusing, choose, publish_issue
from tests.test_mail_smtp import free_port

STAFF = "staff@example.com"
ON_BOTH = pytest.mark.parametrize(
    "database", [None, pytest.param(PG_URL, marks=pytest.mark.postgres)]
)


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def database() -> str | None:
    return None


@pytest.fixture
def app_config(smtp_port: int, database: str | None) -> dict[str, Any]:
    return {"MAIL_URL": f"smtp://127.0.0.1:{smtp_port}", "MAIL_MAX_ATTEMPTS": 3,
            "BASE_URL": "https://news.example.com", "MAIL_RETRY_BASE_SECONDS": 60,
            **({"DATABASE_URL": database} if database else {})}  # fmt: skip


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    """The usual app; on PostgreSQL, its tables dropped after (as conftest's pg_app does)."""
    from tests.conftest import build_app

    app = build_app(**app_config)
    with app.app_context():
        yield app
        db.session.remove()
        if "DATABASE_URL" in app_config:
            db.drop_all()
        db.engine.dispose()


@pytest.fixture
def inbox(smtp_port: int) -> Iterator[Refusing]:
    from aiosmtpd.controller import Controller

    handler = Refusing({})
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield handler
    controller.stop()


@pytest.fixture
def staff(app: Flask) -> FlaskClient:
    make_user(email=STAFF, role="admin")
    client = app.test_client()
    sign_in(client, STAFF)
    return client


def page(client: FlaskClient, path: str) -> str:
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    return answer.get_data(as_text=True)


def post(client: FlaskClient, path: str, data: dict[str, Any], form_page: str) -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client, form_page), **data})


def cells(html: str, element_id: str) -> dict[str, str]:
    """The counts shown in one table or table row: {class of the cell: its text}."""
    start = html.index(f'id="{element_id}"')
    tag = html[html.rfind("<", 0, start) + 1 :].split(None, 1)[0]
    end = html.index(f"</{tag}>", start)
    return dict(re.findall(r'<td class="(\w+)">([^<]*)</td>', html[start:end]))


def shown_as(counts: dict[str, int]) -> dict[str, str]:
    names = ("recipients", "sent", "failed", "suppressed", "skipped", "cancelled", "unsubscribed")
    return {name: f"{counts[name]:,}" for name in names}


def user(email: str) -> User:
    found = db.session.scalar(select(User).where(User.email == email))
    assert found is not None
    return found


def suppression(email: str) -> Suppression | None:
    db.session.expire_all()  # the app's requests changed the rows this session may hold
    return db.session.get(Suppression, email)


def newest_audit(action: str) -> audit.AuditEntry | None:
    return db.session.scalars(
        select(audit.AuditEntry)
        .where(audit.AuditEntry.action == action)
        .order_by(audit.AuditEntry.id.desc())
    ).first()


def audits(action: str) -> int:
    query = select(func.count()).where(audit.AuditEntry.action == action)
    return int(db.session.scalar(query) or 0)


# --- a test of an issue, before it is published ------------------------------------------


@pytest.mark.parametrize("state", ["draft", "scheduled"])
def test_a_test_of_an_unpublished_issue_reaches_the_staff_member_alone_with_its_body(
    app: Flask, staff: FlaskClient, inbox: Refusing, state: str
) -> None:
    for name in ("ana", "ben"):
        choose(make_member(email=f"{name}@example.com"), ["oil-gas"], "each")
    later = (clock.now() + timedelta(days=2)).isoformat()
    when = {"published": False} if state == "draft" else {"published_at": later}
    item = make_item(kind="industry_newsletter", industry="oil-gas", title="Pipelines in 2027",
                     body=f"The whole issue. {SENTINEL}", **when)  # fmt: skip
    edit = page(staff, f"/admin/content/{item.id}/edit")
    assert "Send a test to me" in edit and "Not mailed yet" in edit

    token = CSRF.search(edit)
    assert token is not None
    answer = staff.post(f"/admin/content/{item.id}/test", data={"csrf_token": token.group(1)})
    assert answer.status_code == 303
    assert "A test is on its way to staff@example.com" in page(staff, answer.headers["Location"])
    worker.drain()

    assert inbox.recipients == [STAFF]
    (mail,) = inbox.messages
    assert mail["Subject"] == "[Test] Pipelines in 2027"
    assert SENTINEL.encode() in inbox.raw[0].replace(b"=\r\n", b"")
    assert bulk.find(f"issue:{item.id}") is None, "a test is no mailing to members"
    entry = newest_audit("content.test_sent")
    assert entry is not None and entry.actor_email == STAFF and entry.target == item.slug
    assert "delivered to the mail server" in page(staff, f"/admin/content/{item.id}/edit")

    # Once published, the issue still reaches its members (the test took nothing from them).
    service.publish(item)
    db.session.commit()
    worker.drain()
    assert sorted(inbox.recipients) == ["ana@example.com", "ben@example.com", STAFF]
    assert [m["Subject"] for m in inbox.to("ana@example.com")] == ["Pipelines in 2027"]


def test_a_test_send_needs_a_token_an_industry_issue_and_staff(
    app: Flask, staff: FlaskClient, inbox: Refusing
) -> None:
    issue = make_item(kind="industry_newsletter", published=False)
    memo = make_item(kind="memo", published=False)
    assert staff.post(f"/admin/content/{issue.id}/test").status_code == 400  # no CSRF token
    assert post(staff, f"/admin/content/{memo.id}/test", {}, "/admin/").status_code == 404
    assert "Send a test to me" not in page(staff, f"/admin/content/{memo.id}/edit")
    member = app.test_client()
    sign_in(member, make_member(email="ana@example.com").email)
    assert post(member, f"/admin/content/{issue.id}/test", {}, "/account").status_code == 404
    worker.drain()
    assert inbox.recipients == []
    assert db.session.scalar(select(func.count()).select_from(Mailing)) == 0


# --- how each mailing went -----------------------------------------------------------------


def unsubscribe_from(app: Flask, raw: bytes) -> None:
    """Use a mail's one-click unsubscribe, as a mail provider does (RFC 8058)."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    url = re.search(r"\r\nList-Unsubscribe: <https://news\.example\.com(/[^>]+)>", head)
    assert url, head
    answer = app.test_client().post(url.group(1), data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200


def mail_an_issue_every_way(app: Flask, inbox: Refusing) -> Any:
    """An issue whose deliveries end every way: sent, refused (5xx), suppressed beforehand,
    skipped (access ended between fan-out and send), and one unsubscribe from it."""
    for name in ("sent", "quitter", "gone", "listed", "leaver"):
        choose(make_member(email=f"{name}@example.com"), ["oil-gas"], "each")
    bulk.suppress("listed@example.com", "staff", "asked us")
    db.session.commit()
    inbox.refuse = {"gone@example.com": 550}
    item = publish_issue(title="Refineries")
    worker.run_pending()  # the fan-out: every member has a delivery, none is sent yet
    end_comps(user("leaver@example.com"), staff=None)
    db.session.commit()
    worker.drain()
    unsubscribe_from(app, inbox.raw_to("quitter@example.com")[0])
    return item


def test_the_content_screens_show_an_issues_mailing_and_its_counts(
    app: Flask, staff: FlaskClient, inbox: Refusing
) -> None:
    item = mail_an_issue_every_way(app, inbox)
    expected = {"recipients": "5", "sent": "2", "failed": "1", "suppressed": "1",
                "skipped": "1", "cancelled": "0", "unsubscribed": "1"}  # fmt: skip
    mailing = bulk.find(f"issue:{item.id}")
    assert mailing is not None
    assert {k: str(v) for k, v in bulk.counts(mailing.id).items() if k in expected} == expected

    edit = page(staff, f"/admin/content/{item.id}/edit")
    assert cells(edit, "issue-mailing") == {"status": "Sent", **expected}
    listing = page(staff, "/admin/content/")
    assert ("Sent: 5 recipients, 2 sent, 1 failed, 1 suppressed, 1 skipped, 1 unsubscribed"
            in listing)  # fmt: skip
    memo = make_item(kind="memo")
    assert f'id="mail-{memo.id}"></td>' in page(staff, "/admin/content/")


def test_the_newsletters_page_lists_mailings_of_every_kind_with_their_counts(
    app: Flask, staff: FlaskClient, inbox: Refusing
) -> None:
    issue = mail_an_issue_every_way(app, inbox)
    cancelled = publish_issue(title="Pulled")
    worker.run_pending()
    service.unpublish(cancelled)
    db.session.commit()
    mailings.send_free_issue("gulf", "Gulf this week", "Text", "<p>Text</p>")
    mailings.start_weekly_review(clock.now() + timedelta(minutes=1), "2099-W01")
    mailings.send_test(issue, user(STAFF))
    db.session.commit()
    worker.drain()

    html = page(staff, "/admin/newsletters/")
    rows = {m.key: m for m in db.session.scalars(select(Mailing))}
    shown = {key: cells(html, f"mailing-{m.id}") for key, m in rows.items()}
    assert shown[f"issue:{issue.id}"] == {"status": "Sent", "recipients": "5", "sent": "2",
                                         "failed": "1", "suppressed": "1", "skipped": "1",
                                         "cancelled": "0", "unsubscribed": "1"}  # fmt: skip
    pulled = shown[f"issue:{cancelled.id}"]
    assert pulled["status"] == "Cancelled" and pulled["cancelled"] == pulled["recipients"] != "0"
    assert {key.split(":")[0] for key in rows} == {"issue", "free", "weekly", "test"}
    test_key = next(key for key in rows if key.startswith("test:"))
    test_row = html[html.index(f'id="mailing-{rows[test_key].id}"') :].split("</tr>")[0]
    assert "Test of industry issue" in test_row and "to staff@example.com" in test_row
    assert shown[test_key]["sent"] == "1"
    # Every row shows what counts() says of its mailing, and the grouped helper agrees.
    many = bulk.counts_for(m.id for m in rows.values())
    for key, mailing in rows.items():
        assert many[mailing.id] == bulk.counts(mailing.id), key
        assert {k: v for k, v in shown[key].items() if k != "status"} == shown_as(
            bulk.counts(mailing.id)
        ), key


def count_queries(app: Flask, action: Callable[[], Any]) -> int:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(seen)


def test_listing_more_mailings_costs_no_more_queries(
    app: Flask, staff: FlaskClient, inbox: Refusing
) -> None:
    choose(make_member(email="ana@example.com"), ["oil-gas"], "each")
    for n in range(2):
        publish_issue(title=f"Issue {n}")
    worker.drain()
    paths = ("/admin/newsletters/", "/admin/content/")
    for path in paths:
        page(staff, path)  # once first: what a first request sets up is not counted
    few = {path: count_queries(app, lambda p=path: page(staff, p))
           for path in paths}  # fmt: skip
    for n in range(2, 12):
        publish_issue(title=f"Issue {n}")
    worker.drain()
    assert db.session.scalar(select(func.count()).select_from(Mailing)) == 12
    for path, queries in few.items():
        assert count_queries(app, lambda p=path: page(staff, p)) == queries, path


# --- the suppression list ------------------------------------------------------------------


@ON_BOTH
def test_the_suppression_list_is_searched_by_prefix_and_paged_by_100(
    app: Flask, staff: FlaskClient
) -> None:
    for n in range(205):
        bulk.suppress(f"user{n:03d}@example.com", "bounce", "550 5.1.1 No such mailbox")
    for address in ("a_b@example.com", "axb@example.com", "a%c@example.com"):
        bulk.suppress(address, "staff", "asked", staff_id=None)
    db.session.commit()

    seen: list[str] = []
    path: str | None = "/admin/newsletters/suppressions?q=user"
    while path:
        html = page(staff, path)
        found = re.findall(r'<td class="email">([^<]+)</td>', html)
        assert len(found) <= 100
        seen += found
        after = re.search(r'href="(/admin/newsletters/suppressions\?[^"]+)">Next 100', html)
        path = after.group(1).replace("&amp;", "&") if after else None
    assert seen == [f"user{n:03d}@example.com" for n in range(205)]

    def search(query: str) -> list[str]:
        html = page(staff, f"/admin/newsletters/suppressions?q={query}")
        return re.findall(r'<td class="email">([^<]+)</td>', html)

    assert search("USER00") == [f"user00{n}@example.com" for n in range(10)]
    assert search("a_b") == ["a_b@example.com"]  # _ and % are letters here, not wildcards
    assert search("a%25") == ["a%c@example.com"]
    assert search("nobody") == []
    first = page(staff, "/admin/newsletters/suppressions")
    assert "550 5.1.1 No such mailbox" in first and "mail server" in first


def test_staff_add_and_remove_an_address_with_field_errors_for_what_is_no_address(
    app: Flask, staff: FlaskClient
) -> None:
    form_page = "/admin/newsletters/suppressions"
    for bad, message in [("", "Enter the address to suppress."),
                         ("not an address", "Enter a valid email address."),
                         ("@example.com", "Enter a valid email address."),
                         ("x" * 300 + "@example.com", "This email address is too long.")]:  # fmt: skip
        answer = post(staff, "/admin/newsletters/suppressions", {"email": bad}, form_page)
        assert answer.status_code == 400, bad
        assert f'<p class="error" id="email-error">{message}</p>' in answer.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0

    answer = post(staff, "/admin/newsletters/suppressions",
                  {"email": "  Ana@EXAMPLE.com ", "reason": "complained"}, form_page)  # fmt: skip
    assert answer.status_code == 303
    assert "The address is suppressed." in page(staff, answer.headers["Location"])
    row = suppression("ana@example.com")
    assert row is not None and row.source == "staff" and row.reason == "complained"
    listed = page(staff, form_page)
    assert "<td>complained</td>" in listed and f"<td>{STAFF}</td>" in listed
    entry = newest_audit("mail.suppression_added")
    assert entry is not None and entry.actor_email == STAFF and entry.target == "ana@example.com"

    again = post(staff, "/admin/newsletters/suppressions", {"email": "ana@example.com"}, form_page)
    assert "was on the list already" in page(staff, again.headers["Location"])
    assert audits("mail.suppression_added") == 1

    removed = post(staff, "/admin/newsletters/suppressions/remove",
                   {"email": "ana@example.com"}, form_page)  # fmt: skip
    assert "bulk mail goes to it again" in page(staff, removed.headers["Location"])
    assert suppression("ana@example.com") is None
    entry = newest_audit("mail.suppression_removed")
    assert entry is not None and entry.actor_email == STAFF and entry.details["source"] == "staff"
    gone = post(staff, "/admin/newsletters/suppressions/remove", {"email": "ana@x.com"}, form_page)
    assert "was not on the list" in page(staff, gone.headers["Location"])
    assert audits("mail.suppression_removed") == 1


def test_a_suppressed_address_gets_no_issue_and_gets_the_next_once_removed(
    app: Flask, staff: FlaskClient, inbox: Refusing
) -> None:
    choose(make_member(email="ana@example.com"), ["oil-gas"], "each")
    choose(make_member(email="ben@example.com"), ["oil-gas"], "each")
    form_page = "/admin/newsletters/suppressions"
    post(staff, "/admin/newsletters/suppressions", {"email": "Ana@example.com"}, form_page)
    publish_issue(title="First")
    worker.drain()
    assert inbox.recipients == ["ben@example.com"]
    assert "ana@example.com" not in inbox.rcpt_attempts
    status = db.session.scalar(select(Delivery.status).where(Delivery.email == "ana@example.com"))
    assert status == "suppressed"

    post(staff, "/admin/newsletters/suppressions/remove", {"email": "ana@example.com"}, form_page)
    publish_issue(title="Second")
    worker.drain()
    assert [m["Subject"] for m in inbox.to("ana@example.com")] == ["Second"]


def test_the_suppression_screens_are_404_for_everyone_but_staff(app: Flask) -> None:
    member = app.test_client()
    sign_in(member, make_member(email="ana@example.com").email)
    for client in (app.test_client(), member):
        assert client.get("/admin/newsletters/suppressions").status_code == 404
        for path in ("/admin/newsletters/suppressions", "/admin/newsletters/suppressions/remove"):
            assert client.post(path, data={"email": "x@example.com"}).status_code == 404


# --- a member whose server refused our mail -------------------------------------------------


def test_a_member_whose_server_refused_mail_sees_why_and_resumes_it(
    app: Flask, inbox: Refusing
) -> None:
    ana = make_member(email="ana@example.com")
    choose(ana, ["oil-gas"], "each")
    choose(make_member(email="ben@example.com"), ["oil-gas"], "each")
    inbox.refuse = {"ana@example.com": 550}
    publish_issue(title="First")
    worker.drain()
    assert suppression("ana@example.com").source == "bounce"

    ben = app.test_client()
    sign_in(ben, "ben@example.com")
    assert "mail-paused" not in page(ben, "/account")
    client = app.test_client()
    sign_in(client, "ana@example.com")
    account = page(client, "/account")
    assert "your mail server refused them" in account and "Resume my mail" in account

    inbox.refuse = {}  # their mailbox works again
    answer = post(client, "/account/mail/resume", {}, "/account")
    assert answer.status_code == 303
    after = page(client, answer.headers["Location"])
    assert "Your newsletters and industry mail are on again." in after
    assert "Resume my mail" not in after
    entry = newest_audit("mail.suppression_removed")
    assert entry is not None and entry.actor_email == "ana@example.com"
    assert entry.subject_id == ana.id and entry.details["source"] == "bounce"

    publish_issue(title="Second")
    worker.drain()
    assert [m["Subject"] for m in inbox.to("ana@example.com")] == ["Second"]


def test_an_address_staff_suppressed_stays_suppressed_whatever_its_member_posts(
    app: Flask, inbox: Refusing
) -> None:
    make_member(email="ana@example.com")
    bulk.suppress("ana@example.com", "staff", "spam complaints")
    db.session.commit()
    client = app.test_client()
    sign_in(client, "ana@example.com")
    account = page(client, "/account")
    assert "paused by our staff" in account and "Resume my mail" not in account
    answer = post(client, "/account/mail/resume", {}, "/account")
    assert "nothing changed" in page(client, answer.headers["Location"])
    assert suppression("ana@example.com") is not None
    assert audits("mail.suppression_removed") == 0
    assert app.test_client().post("/account/mail/resume").status_code in (302, 400)


# --- in a browser ---------------------------------------------------------------------------


@pytest.mark.browser
def test_staff_send_a_test_of_a_draft_from_its_page_in_chromium(
    live_site: Any, chromium: Any, smtp_port: int, inbox: Refusing
) -> None:
    site = live_site
    site.app.config["MAIL_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    site.run(make_user, email=STAFF, role="admin")
    site.run(lambda: choose(make_member(email="ana@example.com"), ["oil-gas"], "each"))
    item_id = site.run(lambda: make_item(kind="industry_newsletter", title="Draft on LNG",
                                         body=SENTINEL, published=False).id)  # fmt: skip
    browser = chromium.new_context()
    tab = browser.new_page()
    tab.goto(f"{site.url}/signin")
    form = tab.locator("form[action='/signin']")
    form.get_by_label("Email").fill(STAFF)
    form.get_by_label("Password").fill("correct horse battery")
    form.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(re.compile(r"^(?!.*/signin).*$"))

    tab.goto(f"{site.url}/admin/content/{item_id}/edit")
    tab.get_by_role("button", name="Send a test to me").click()
    assert "A test is on its way" in tab.get_by_role("status").inner_text()
    site.drain()
    assert inbox.recipients == [STAFF]
    assert inbox.messages[0]["Subject"] == "[Test] Draft on LNG"
    tab.goto(f"{site.url}/admin/newsletters/")
    row = tab.locator("#mailing-list tbody tr").first
    assert "Test of industry issue" in row.inner_text() and STAFF in row.inner_text()
    browser.close()
