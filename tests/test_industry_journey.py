"""A member's industry newsletters end to end: chosen and ordered in Chromium, an issue
published by staff in Chromium, and the mail as a real SMTP server (aiosmtpd) receives it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller

from paywall import clock
from paywall.content.kinds import INDUSTRIES
from tests.browser import LiveSite
from tests.helpers import make_item, make_member, make_user
from tests.test_journeys import sign_in_with_password
from tests.test_mail_smtp import Inbox, free_port

pytestmark = pytest.mark.browser

MEMBER = "mina.member@example.com"
STAFF = "staff@example.com"
ISSUE_TITLE = "Gulf banks brace for Basel IV"
MEMBERS_ONLY = "Members-only: which three banks raise capital first."
CHOSEN = ["oil-gas", "real-estate", "banking"]  # in the standard order; the member moves one


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def live_site_config(smtp_port: int) -> dict[str, Any]:
    return {"MAIL_URL": f"smtp://127.0.0.1:{smtp_port}"}


@pytest.fixture
def inbox(smtp_port: int) -> Iterator[Inbox]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield handler
    controller.stop()


def header_block(raw: bytes) -> str:
    """The message's header lines as sent, each line ending CRLF (so a match is a whole line)."""
    return "\r\n" + raw.split(b"\r\n\r\n", 1)[0].decode("ascii") + "\r\n"


def unfolded(raw: bytes) -> str:
    """The raw bytes with quoted-printable soft line breaks joined (the text is ASCII)."""
    return raw.replace(b"=\r\n", b"").decode("ascii")


def plain_text(inbox: Inbox, to: str, subject_start: str) -> str:
    (mail,) = [m for m in inbox.to(to) if str(m["Subject"]).startswith(subject_start)]
    return str(mail.get_body(("plain",)).get_content())


def seed_last_weeks_issues(site: LiveSite) -> None:
    """Issues from three days ago: in the review's week, too old to be mailed one by one."""
    earlier = (clock.now() - timedelta(days=3)).isoformat()
    for industry, title in [("oil-gas", "Refiners rethink Gulf margins"),
                            ("real-estate", "Office rents in Dubai"),
                            ("green-energy", "Solar tenders in Oman")]:  # fmt: skip
        site.run(make_item, kind="industry_newsletter", industry=industry, title=title,
                 body=f"The full {title} issue.", published_at=earlier)  # fmt: skip


def choose_industries(page: Any, site: LiveSite) -> None:
    """On /account/industries: keep three industries, pick `each`, move Banking up, save."""
    from playwright.sync_api import expect  # as tests/browser.py: only where Chromium runs

    page.goto(f"{site.url}/account")
    page.get_by_role("link", name="Change your industry newsletters").click()
    page.wait_for_url(f"{site.url}/account/industries")
    for slug, name in INDUSTRIES.items():
        if slug not in CHOSEN:
            page.get_by_label(name, exact=True).uncheck()
    page.get_by_label("Each issue as it is published").check()
    page.get_by_role("button", name="Move Banking up").click()
    moved = page.locator("#moved").inner_text()
    assert moved == "Banking is now number 8 of 9. Save to keep it."
    # The keyboard focus is back on the arrow pressed; the delivery and the ticks are kept.
    # (autofocus is applied after the page has loaded: expect() waits for it)
    expect(page.get_by_role("button", name="Move Banking up")).to_be_focused()
    assert page.get_by_label("Each issue as it is published").is_checked()
    assert page.get_by_label("Banking", exact=True).is_checked()
    assert not page.get_by_label("Capital markets", exact=True).is_checked()
    page.get_by_role("button", name="Save priorities").click()
    saved = page.locator("#saved").inner_text()
    assert saved == (
        "Your priorities are saved. Your industries, in this order: Oil and gas, Banking, "
        "Real estate. By mail: each issue as it is published."
    )


def publish_as_staff(page: Any, site: LiveSite) -> None:
    sign_in_with_password(page, site, STAFF)
    page.goto(f"{site.url}/admin/content/new")
    page.get_by_label("Kind").select_option(label="Industry newsletter")
    page.get_by_label("Title", exact=True).fill(ISSUE_TITLE)
    page.get_by_label("Slug (in the address)").fill("gulf-banks-basel-iv")
    page.get_by_label("Who may read it").select_option(label="Premium")
    page.get_by_label("Industry (industry newsletters only)").select_option(label="Banking")
    page.get_by_label("Teaser (everyone sees it)").fill("Capital rules arrive in 2027.")
    page.get_by_label("Body (Markdown; members only)").fill(f"The rules.\n\n{MEMBERS_ONLY}")
    page.get_by_role("button", name="Publish", exact=True).click()
    assert "Saved and published." in page.locator("main").inner_text()


def test_a_member_orders_industries_gets_an_issue_then_the_weekly_review_in_that_order(
    live_site: LiveSite, chromium: Any, inbox: Inbox
) -> None:
    site = live_site
    site.run(make_member, email=MEMBER)
    site.run(make_user, email=STAFF, role="admin")
    seed_last_weeks_issues(site)
    member = chromium.new_context().new_page()
    sign_in_with_password(member, site, MEMBER)
    choose_industries(member, site)
    member.goto(f"{site.url}/account")
    assert "Oil and gas, Banking, Real estate. By mail: each issue as it is published." in (
        member.locator("#industry-newsletters").inner_text()
    )

    publish_as_staff(chromium.new_context().new_page(), site)
    site.drain()
    assert inbox.recipients == [MEMBER]  # staff and the rest get the review, not each issue
    (raw,) = inbox.raw
    head = header_block(raw)
    assert f"\r\nTo: {MEMBER}\r\n" in head
    assert f"\r\nSubject: {ISSUE_TITLE}\r\n" in head
    assert "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in head
    one_click = re.search(r"\r\nList-Unsubscribe: <(http://127\.0\.0\.1:\d+/industry/unsubscribe/"
                          r"[^>]+)>\r\n", head)  # fmt: skip
    assert one_click, head
    assert MEMBERS_ONLY in unfolded(raw)

    # The review too: `each` alone is issues only, so the member now picks both.
    member.goto(f"{site.url}/account/industries")
    member.get_by_label("Each issue and the weekly review").check()
    member.get_by_role("button", name="Save priorities").click()
    assert "By mail: each issue and the weekly review." in member.locator("#saved").inner_text()
    result = site.app.test_cli_runner().invoke(args=["newsletters", "weekly-review", "--now"])
    assert result.exit_code == 0 and "Queued the weekly review" in result.output, result.output
    site.drain()
    review = plain_text(inbox, MEMBER, "Your weekly industry review")
    sections = [review.index(name) for name in ("OIL AND GAS", "BANKING", "REAL ESTATE")]
    assert sections == sorted(sections), review  # Banking above Real estate, as moved
    assert "SOLAR" not in review.upper() and "GREEN ENERGY" not in review
    assert "The full Refiners rethink Gulf margins issue." in review  # the first in full
    assert ISSUE_TITLE in review and MEMBERS_ONLY not in review  # the rest as teasers

    # The issue's one-click link, as a mail provider uses it (RFC 8058), stops Banking only.
    stopped = requests.post(one_click.group(1), data={"List-Unsubscribe": "One-Click"}, timeout=30)
    assert stopped.status_code == 200
    member.goto(f"{site.url}/account")
    assert "Oil and gas, Real estate. By mail: each issue and the weekly review." in (
        member.locator("#industry-newsletters").inner_text()
    )


def test_enter_on_a_box_saves_the_page_rather_than_moving_an_industry(
    live_site: LiveSite, chromium: Any
) -> None:
    site = live_site
    site.run(make_member, email=MEMBER)
    page = chromium.new_context().new_page()
    sign_in_with_password(page, site, MEMBER)
    page.goto(f"{site.url}/account/industries")
    page.get_by_label("Capital markets", exact=True).uncheck()
    page.get_by_label("Banking", exact=True).press("Enter")
    page.wait_for_url(re.compile(r".*/account/industries\?saved=1$"))
    assert "Your industries, in this order: Venture capital, Green energy" in (
        page.locator("#saved").inner_text()
    )
