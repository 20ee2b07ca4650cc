"""Industry issues and the weekly review by mail, as a real SMTP server (aiosmtpd) receives
them: who gets what, once, in whose order, with a one-click unsubscribe that works."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import func, select

from paywall import clock, jobs
from paywall.accounts.comp import end_comps
from paywall.extensions import db
from paywall.mail import bulk, worker
from paywall.mail.models import Delivery, Mailing, Suppression
from paywall.mail.outbox import queue_mail
from paywall.newsletters import industries, mailings
from paywall.newsletters.models import IndustryPriority
from tests.helpers import make_item, make_member, make_user
from tests.test_mail_smtp import Inbox, free_port

SENTINEL = "SENTINEL-premium-body-7f3a"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def app_config(smtp_port: int) -> dict[str, Any]:
    return {"MAIL_URL": f"smtp://127.0.0.1:{smtp_port}", "MAIL_MAX_ATTEMPTS": 3,
            "BASE_URL": "https://news.example.com", "MAIL_RETRY_BASE_SECONDS": 60}  # fmt: skip


class Refusing(Inbox):
    """Refuses RCPT TO for some addresses, permanently (550) or for now (451)."""

    def __init__(self, refuse: dict[str, int]) -> None:
        super().__init__()
        self.refuse = refuse
        self.rcpt_attempts: list[str] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: Any) -> str:  # fmt: skip
        self.rcpt_attempts.append(address)
        code = self.refuse.get(address)
        if code == 550:
            return "550 5.1.1 No such mailbox"
        if code == 451:
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def inbox(smtp_port: int) -> Iterator[Refusing]:
    handler = Refusing({})
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield handler
    controller.stop()


def publish_issue(industry: str = "oil-gas", **fields: Any) -> Any:
    """An industry issue published now (as `paywall content import` or Publish would)."""
    return make_item(kind="industry_newsletter", industry=industry,
                     body=f"The whole issue. {SENTINEL}",
                     published_at=clock.now().isoformat(), **fields)  # fmt: skip


def choose(user: Any, chosen: list[str], delivery: str) -> None:
    industries.save(user, chosen, delivery)
    db.session.commit()


def test_a_published_issue_reaches_exactly_the_entitled_members_who_chose_it_once(
    app: Flask, inbox: Refusing
) -> None:
    each = make_member(email="each@example.com")
    choose(each, ["oil-gas", "banking"], "each")
    both = make_member(email="both@example.com")
    choose(both, ["banking", "oil-gas"], "both")
    weekly_only = make_member(email="weekly@example.com")  # the default: the review only
    other_industry = make_member(email="other@example.com")
    choose(other_industry, ["banking"], "each")
    free = make_user(email="free@example.com")
    choose(free, ["oil-gas"], "each")
    lapsed = make_member(email="lapsed@example.com")
    choose(lapsed, ["oil-gas"], "each")
    end_comps(lapsed, staff=None)
    disabled = make_member(email="disabled@example.com")
    choose(disabled, ["oil-gas"], "each")
    disabled.disabled_at = clock.now()
    db.session.commit()

    item = publish_issue()
    worker.drain()

    assert sorted(inbox.recipients) == ["both@example.com", "each@example.com"]
    for raw in inbox.raw:
        assert SENTINEL.encode() in raw.replace(b"=\r\n", b"")
    # Publishing again, or importing it again, mails no one again.
    mailings.mail_issue(item)
    make_item(kind="industry_newsletter", industry="oil-gas", slug=item.slug, title=item.title,
              body=f"The whole issue. {SENTINEL}", published_at=item.published_at.isoformat())  # fmt: skip
    db.session.commit()
    worker.drain()
    assert sorted(inbox.recipients) == ["both@example.com", "each@example.com"]
    del weekly_only, free


def test_the_one_click_unsubscribe_on_the_raw_bytes_stops_that_industry_only(
    app: Flask, inbox: Refusing
) -> None:
    member = make_member(email="each@example.com")
    choose(member, ["banking", "oil-gas", "green-energy"], "each")
    publish_issue()
    worker.drain()
    (raw,) = inbox.raw
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii") + "\r\n"
    assert "\r\nPrecedence: bulk\r\n" in head
    assert re.search(r"\r\nList-Id: PRO Oil and gas <oil-gas\.news\.example\.com>\r\n", head)
    assert "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in head
    url = re.search(r"\r\nList-Unsubscribe: <(https://news\.example\.com/[^>]+)>\r\n", head)
    assert url, head
    client = app.test_client()
    # RFC 8058: the provider POSTs the body below, with no cookie and no CSRF token.
    response = client.post(url.group(1).removeprefix("https://news.example.com"),
                           data={"List-Unsubscribe": "One-Click"})  # fmt: skip
    assert response.status_code == 200
    db.session.expire_all()
    assert [s for s, on in industries.priorities(member) if on] == ["banking", "green-energy"]
    assert industries.delivery(member) == "each"
    mailing = db.session.scalar(select(Mailing))
    assert bulk.counts(mailing.id)["unsubscribed"] == 1
    publish_issue()
    worker.drain()
    assert len(inbox.raw) == 1  # the next oil and gas issue does not come


def test_a_5xx_recipient_is_suppressed_and_skipped_next_time_a_4xx_is_retried(
    app: Flask, inbox: Refusing, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("gone", "busy", "fine"):
        choose(make_member(email=f"{name}@example.com"), ["oil-gas"], "each")
    inbox.refuse = {"gone@example.com": 550, "busy@example.com": 451}
    publish_issue()
    worker.drain()
    assert inbox.recipients == ["fine@example.com"]
    assert db.session.get(Suppression, "gone@example.com") is not None
    statuses = dict(db.session.execute(select(Delivery.email, Delivery.status)).all())
    assert statuses == {"gone@example.com": "failed", "busy@example.com": "queued",
                        "fine@example.com": "sent"}  # fmt: skip
    # Later, the busy server takes it.
    inbox.refuse = {"gone@example.com": 550}
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(hours=1))
    worker.drain()
    assert sorted(inbox.recipients) == ["busy@example.com", "fine@example.com"]
    # The next issue skips the suppressed address without asking the server.
    inbox.rcpt_attempts.clear()
    publish_issue()
    worker.drain()
    assert "gone@example.com" not in inbox.rcpt_attempts
    second = db.session.scalar(select(Mailing).order_by(Mailing.id.desc()).limit(1))
    assert bulk.counts(second.id)["suppressed"] == 1


def test_unpublishing_before_the_send_cancels_what_is_not_sent(app: Flask, inbox: Refusing) -> None:
    from paywall.content import service

    for n in range(3):
        choose(make_member(email=f"m{n}@example.com"), ["oil-gas"], "each")
    item = publish_issue()
    worker.run_pending()  # one pass: the fan-out page runs, the send is queued
    service.unpublish(item)
    db.session.commit()
    worker.drain()
    assert inbox.recipients == []
    mailing = db.session.scalar(select(Mailing))
    assert mailing.status == "cancelled"
    assert bulk.counts(mailing.id)["cancelled"] == 3


def test_the_weekly_review_holds_the_weeks_issues_in_the_members_order(
    app: Flask, inbox: Refusing, monkeypatch: pytest.MonkeyPatch
) -> None:
    ordered = make_member(email="ordered@example.com")
    choose(ordered, ["green-energy", "banking", "oil-gas"], "weekly")
    make_member(email="default@example.com")  # all nine, standard order
    nothing_new = make_member(email="nothing@example.com")
    choose(nothing_new, ["real-estate"], "weekly")
    each_only = make_member(email="each@example.com")
    choose(each_only, ["oil-gas"], "each")
    make_user(email="free@example.com")
    old = clock.now() - timedelta(days=10)
    make_item(kind="industry_newsletter", industry="oil-gas", title="Old oil",
              published_at=old.isoformat())  # fmt: skip
    for industry, title in [("oil-gas", "Oil this week"), ("banking", "Banks this week"),
                            ("green-energy", "Green this week")]:  # fmt: skip
        make_item(kind="industry_newsletter", industry=industry, title=title,
                  body=f"Body of {title}", published_at=(clock.now() - timedelta(days=3)).isoformat())  # fmt: skip
    worker.drain()
    inbox.recipients.clear()
    inbox.messages.clear()
    inbox.raw.clear()

    runner = app.test_cli_runner()
    result = runner.invoke(args=["newsletters", "weekly-review", "--now"])
    assert result.exit_code == 0, result.output
    worker.drain()
    again = runner.invoke(args=["newsletters", "weekly-review", "--now"])
    assert again.exit_code == 0 and "Already sent" in again.output
    worker.drain()

    assert sorted(inbox.recipients) == ["default@example.com", "ordered@example.com"]
    (mail,) = inbox.to("ordered@example.com")
    text = mail.get_body(("plain",)).get_content()
    positions = [text.index(t) for t in ("Green this week", "Banks this week", "Oil this week")]
    assert positions == sorted(positions)
    assert "Body of Green this week" in text  # the top one in full
    assert "Body of Banks this week" not in text
    assert "Old oil" not in text
    (mail,) = inbox.to("default@example.com")
    text = mail.get_body(("plain",)).get_content()
    standard = [text.index(t) for t in ("Green this week", "Oil this week", "Banks this week")]
    assert standard == sorted(standard)
    assert db.session.scalar(select(func.count()).select_from(Mailing)) >= 1


ISSUE_FILE = """---
kind: industry_newsletter
slug: {slug}
title: Oil and gas this week
access: premium
industry: oil-gas
teaser: Refiners hedge.
published_at: {published_at}
---
The whole issue. {sentinel}
"""


def import_issue(app: Flask, tmp_path: Any, slug: str, published_at: str) -> None:
    path = tmp_path / f"{slug}.md"
    path.write_text(ISSUE_FILE.format(slug=slug, published_at=published_at, sentinel=SENTINEL))
    result = app.test_cli_runner().invoke(args=["content", "import", str(path)])
    assert result.exit_code == 0, result.output


def test_content_import_mails_a_new_issue_once_and_an_archive_issue_never(
    app: Flask, inbox: Refusing, tmp_path: Any
) -> None:
    choose(make_member(email="each@example.com"), ["oil-gas"], "each")
    import_issue(app, tmp_path, "oil-now", clock.now().isoformat())
    import_issue(app, tmp_path, "oil-now", clock.now().isoformat())  # imported again
    import_issue(app, tmp_path, "oil-2025", "2025-06-01T06:00:00Z")  # a backfilled archive
    worker.drain()
    (mail,) = inbox.messages
    assert mail["Subject"] == "Oil and gas this week"


def test_a_scheduled_issue_is_mailed_when_its_time_comes(
    app: Flask, inbox: Refusing, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paywall import scheduler

    choose(make_member(email="each@example.com"), ["oil-gas"], "each")
    at = clock.now() + timedelta(hours=2)
    import_issue(app, tmp_path, "oil-later", at.isoformat())
    # Each periodic task runs (publish-due finds nothing due; the review has nothing new).
    assert worker.run_once()[1] == 0
    assert inbox.messages == []
    monkeypatch.setattr(clock, "now", lambda: at + timedelta(seconds=30))
    periodic = scheduler.Scheduler()
    assert periodic.run_due() >= 1
    worker.drain()
    assert inbox.recipients == ["each@example.com"]


def test_access_is_asked_again_at_send_time(app: Flask, inbox: Refusing) -> None:
    stays = make_member(email="stays@example.com")
    goes = make_member(email="goes@example.com")
    for member in (stays, goes):
        choose(member, ["oil-gas"], "each")
    publish_issue()
    worker.run_pending()  # the fan-out page: both have a delivery row
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 2
    end_comps(goes, staff=None)  # lapses before the send job runs
    db.session.commit()
    worker.drain()
    assert inbox.recipients == ["stays@example.com"]
    statuses = dict(db.session.execute(select(Delivery.email, Delivery.status)).all())
    assert statuses["goes@example.com"] == "skipped"


def test_the_weekly_review_waits_for_its_hour_unless_told_now(app: Flask, inbox: Refusing,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    make_member(email="member@example.com")
    # The next Monday, noon (the clock only moves forward: rows take their defaults from the
    # real one). WEEKLY_REVIEW_AT is mon 07:00 UTC.
    today = clock.now().replace(hour=12, minute=0, second=0, microsecond=0)
    monday_noon = today + timedelta(days=7 - today.weekday())
    monkeypatch.setattr(clock, "now", lambda: monday_noon)
    make_item(kind="industry_newsletter", industry="banking", title="Banks",
              published_at=(monday_noon - timedelta(days=1)).isoformat())  # fmt: skip
    runner = app.test_cli_runner()
    late = runner.invoke(args=["newsletters", "weekly-review"])
    assert late.exit_code == 0 and late.output.startswith("Not sent:"), late.output
    worker.drain()
    assert inbox.messages == []
    monkeypatch.setattr(clock, "now", lambda: monday_noon.replace(hour=7, minute=5))
    on_time = runner.invoke(args=["newsletters", "weekly-review"])
    week = "{}-W{:02d}".format(*monday_noon.isocalendar()[:2])
    assert f"Queued the weekly review of {week}" in on_time.output, on_time.output
    worker.drain()
    (mail,) = inbox.messages
    assert "Banks" in mail.get_body(("plain",)).get_content()


def test_a_member_who_changes_address_after_the_fan_out_is_not_mailed_at_the_old_one(
    app: Flask, inbox: Refusing
) -> None:
    member = make_member(email="old@corp.example")
    choose(member, ["oil-gas"], "each")
    publish_issue()
    worker.run_pending()  # the fan-out: a delivery to old@corp.example, its send queued
    member.email = "new@home.example"  # as confirming an email change does
    db.session.commit()
    make_user(email="old@corp.example")  # the old address is free: someone else takes it
    worker.drain()
    leaked = [raw for raw in inbox.raw if SENTINEL.encode() in raw.replace(b"=\r\n", b"")]
    assert "old@corp.example" not in inbox.recipients and leaked == []


def test_an_issue_unpublished_while_the_review_goes_out_is_not_in_the_rest_of_it(
    app: Flask, inbox: Refusing, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paywall.content import service

    choose(make_member(email="first@example.com"), ["oil-gas", "banking"], "weekly")
    choose(make_member(email="later@example.com"), ["oil-gas", "banking"], "weekly")
    three_days_ago = (clock.now() - timedelta(days=3)).isoformat()
    withdrawn = make_item(kind="industry_newsletter", industry="oil-gas", title="Withdrawn",
                          body=f"Embargoed. {SENTINEL}", published_at=three_days_ago)  # fmt: skip
    make_item(kind="industry_newsletter", industry="banking", title="Banks this week",
              body="Body of Banks this week", published_at=three_days_ago)  # fmt: skip
    inbox.refuse = {"later@example.com": 451}  # this one's server asks us to come back later
    mailings.start_weekly_review(clock.now(), "2026-W49")
    db.session.commit()
    worker.drain()
    assert inbox.recipients == ["first@example.com"]
    service.unpublish(withdrawn)  # staff withdraw the issue before the retry
    db.session.commit()
    inbox.refuse = {}
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(hours=1))
    worker.drain()
    (later,) = inbox.raw_to("later@example.com")
    # The rest of the review still comes, without the withdrawn issue: Banks now first, in full.
    assert b"Body of Banks this week" in later.replace(b"=\r\n", b"")
    assert b"Withdrawn" not in later
    assert SENTINEL.encode() not in later.replace(b"=\r\n", b"")


@jobs.job("tests.queue_a_signin_link")
def _queue_a_signin_link(payload: dict[str, Any]) -> None:
    """Stands for a request that queues a transactional mail while the worker is busy."""
    queue_mail(payload["to"], "signin_link", subject="Your sign-in link",
               link="https://news.example.com/signin/x", code="123456", minutes=15)  # fmt: skip


def test_mail_queued_while_the_worker_is_busy_goes_before_the_next_bulk_page(
    app: Flask, inbox: Refusing, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        choose(make_member(email=f"m{n}@example.com"), ["oil-gas"], "each")
    publish_issue()
    # A job (with a lower id than the page's send) that queues a sign-in link, due next pass.
    first = jobs.enqueue("tests.queue_a_signin_link", to="reader@example.com")
    first.run_after = clock.now() + timedelta(seconds=1)
    db.session.commit()
    worker.run_pending()  # the fan-out: the page's send job is queued after it
    later = clock.now() + timedelta(seconds=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    worker.run_pending()  # the link's job, then the page
    order = [m["To"] for m in inbox.messages]
    assert order == ["reader@example.com", "m0@example.com", "m1@example.com", "m2@example.com"]


def test_a_fan_out_in_many_small_pages_reaches_every_member_once_past_long_runs_of_others(
    app: Flask, inbox: Refusing, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of two recipients, members looked at two ids at a time: a run of members who do
    # not get the issue, longer than a span, must not end the fan-out early.
    app.config["BULK_PAGE_SIZE"] = 2
    monkeypatch.setattr(bulk, "SEND_GROUP", 2)
    monkeypatch.setattr(mailings, "MEMBER_SPAN", 2)
    wanted = []
    for n in range(12):
        if 2 <= n < 8:  # six in a row, after a full first page, who get no issue by mail
            choose(make_member(email=f"other{n}@example.com"), ["banking"], "each")
            continue
        member = make_member(email=f"m{n}@example.com")
        choose(member, ["banking", "oil-gas"], "both")
        wanted.append(member.email)
    before = make_member(email="before@example.com")  # saved before delivery choices existed
    db.session.add(IndustryPriority(user_id=before.id, industry="oil-gas", position=0))
    db.session.commit()

    publish_issue()
    worker.drain()

    assert sorted(inbox.recipients) == sorted(wanted)
    mailing = db.session.scalar(select(Mailing))
    assert bulk.counts(mailing.id)["sent"] == len(wanted)
    assert mailing.status == "done"


def test_each_members_issue_goes_out_as_crlf_lines_of_76_characters_with_their_own_link(
    app: Flask, inbox: Refusing
) -> None:
    for name in ("ann", "bob"):
        choose(make_member(email=f"{name}@example.com"), ["oil-gas"], "each")
    paragraph = " ".join(["a-paragraph-written-on-one-long-line"] * 40) + " (café — ok) " + SENTINEL
    make_item(kind="industry_newsletter", industry="oil-gas", body=paragraph,
              published_at=clock.now().isoformat())  # fmt: skip
    worker.drain()

    links = set()
    for raw, message in zip(inbox.raw, inbox.messages, strict=True):
        body = raw.split(b"\r\n\r\n", 1)[1]
        assert b"\n" not in body.replace(b"\r\n", b"") and b"\r" not in body.replace(b"\r\n", b"")
        assert max(len(line) for line in body.split(b"\r\n")) <= 76
        link = re.search(r"<(https://[^>]+)>", message["List-Unsubscribe"]).group(1)
        links.add(link)
        for part in ("plain", "html"):
            text = message.get_body((part,)).get_content()
            assert paragraph.split(" (")[0] in text.replace("\n", " ")
            assert "(café — ok)" in text and SENTINEL in text
            assert link in text.replace("&amp;", "&")
    assert len(links) == 2
