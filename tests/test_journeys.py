"""User journeys in a real Chromium against a live site (see tests/browser.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser import LiveSite
from tests.helpers import PASSWORD, make_item, make_user

pytestmark = pytest.mark.browser

SENTINEL = "Sentinel: the premium paragraph only members may read."
READER = "new.reader@example.com"
PHRASE = "a long and private phrase"


def open_mail_link(page: Any, site: LiveSite, to: str, path_prefix: str) -> None:
    """Open /dev/mail, as a developer would, and follow the newest link of that kind to `to`."""
    site.drain()
    page.goto(f"{site.url}/dev/mail")
    mail = page.locator("article.mail", has_text=f"to {to}").first
    mail.locator(f"a[href*='{path_prefix}']").first.click()


def sign_up_and_confirm(page: Any, site: LiveSite, email: str, password: str = PHRASE) -> None:
    """On the sign-up form: create the account, then confirm it from /dev/mail."""
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Create account").click()
    assert "Check your email" in page.locator("h1").inner_text()
    open_mail_link(page, site, email, "/verify/")
    page.get_by_role("button", name="Confirm my email").click()


def sign_in_with_password(page: Any, site: LiveSite, email: str) -> None:
    page.goto(f"{site.url}/signin")
    form = page.locator("form[action='/signin']")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"^(?!.*/signin).*$"))


def test_a_visitor_meets_the_paywall_signs_up_and_reads_after_a_grant(live_site, chromium) -> None:  # type: ignore[no-untyped-def]
    site = live_site
    memo_url = site.url + site.run(
        lambda: make_item(kind="memo", title="Gulf sovereign funds turn inward",
                          teaser="Why the funds are buying at home.", body=SENTINEL).url_path()
    )  # fmt: skip
    site.run(make_user, email="staff@example.com", role="admin")

    reader = chromium.new_context().new_page()
    reader.goto(memo_url)
    assert reader.locator("#paywall").is_visible()
    assert "Why the funds are buying at home." in reader.content()
    assert SENTINEL not in reader.content()

    reader.locator("#paywall").get_by_role("link", name="Start my free week").click()
    sign_up_and_confirm(reader, site, READER)
    reader.wait_for_url(re.compile(r".*/billing/checkout\?plan=pro_annual$"))  # on to checkout

    # Signed in and confirmed, but not a member: still the wall, now offering the trial.
    reader.goto(memo_url)
    wall = reader.locator("#paywall")
    assert wall.is_visible() and wall.get_by_role("link", name="Start my free week").is_visible()
    assert SENTINEL not in reader.content()

    staff = chromium.new_context().new_page()
    sign_in_with_password(staff, site, "staff@example.com")
    staff.goto(f"{site.url}/admin/comp")
    staff.get_by_label("Member's email").first.fill(READER)
    staff.get_by_label("Reason").fill("Press pass for the journey test")
    staff.get_by_role("button", name="Grant access").click()
    assert "Complimentary access granted." in staff.content()
    assert READER in staff.locator("#grants").inner_text()

    # The grant takes effect on the reader's next request.
    reader.goto(memo_url)
    assert SENTINEL in reader.locator("main").inner_text()
    assert reader.locator("#paywall").count() == 0


def test_sign_up_confirm_sign_out_and_sign_in_with_an_emailed_link(live_site, chromium) -> None:  # type: ignore[no-untyped-def]
    site = live_site
    page = chromium.new_context().new_page()
    page.goto(f"{site.url}/signup")
    page.get_by_label("Email").fill(READER)
    page.get_by_label("Password").fill("password")  # one of the most common: refused
    page.get_by_role("button", name="Create account").click()
    assert "most common" in page.locator(".field.has-error").inner_text()
    page.get_by_label("Password").fill("a long and private phrase")
    page.get_by_role("button", name="Create account").click()

    open_mail_link(page, site, READER, "/verify/")
    page.get_by_role("button", name="Confirm my email").click()
    page.goto(f"{site.url}/account")
    assert READER in page.locator("main").inner_text()
    assert "confirmed" in page.locator("main").inner_text()

    page.locator("form[action='/signout'] button").click()
    page.goto(f"{site.url}/account")
    assert "/signin" in page.url  # signed out: the account page asks to sign in

    page.goto(f"{site.url}/signin")
    page.locator("#link-email").fill(READER)
    page.get_by_role("button", name="Email me a link").click()
    assert "Check your email" in page.locator("h1").inner_text()
    open_mail_link(page, site, READER, "/signin/link/")
    page.get_by_role("button").filter(has_text=re.compile("Sign in|Continue")).click()
    page.goto(f"{site.url}/account")
    assert "/account" in page.url and READER in page.locator("main").inner_text()


def test_a_visitor_starts_a_trial_and_reads_the_memo(shop, chromium) -> None:  # type: ignore[no-untyped-def]
    site = shop.site
    memo_url = site.url + site.run(
        lambda: make_item(kind="memo", title="Oil majors rethink the Gulf",
                          teaser="Where the capital goes next.", body=SENTINEL).url_path()
    )  # fmt: skip
    page = chromium.new_context().new_page()
    page.goto(f"{site.url}/pro")
    page.get_by_role("link", name="Start my free week").click()
    sign_up_and_confirm(page, site, READER)
    page.get_by_role("button", name="Continue to secure checkout").click()
    # Stripe's hosted checkout (the emulator's page, on its own origin).
    page.wait_for_url(re.compile(r".*/checkout/cs_test_.*"))
    assert "7 days free" in page.locator("#price").inner_text()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name="Start trial").click()
    page.wait_for_url(re.compile(r".*/billing/success\?session_id=cs_test_.*"))
    assert page.locator("#trial-end").count() == 1, page.locator("main").inner_text()
    trial_end = page.locator("#trial-end").inner_text()
    assert "Your free week has started" in trial_end
    page.goto(memo_url)
    assert SENTINEL in page.locator("main").inner_text()
    page.goto(f"{site.url}/account")
    assert "Your trial ends on" in page.locator("#plan-state").inner_text()
    assert trial_end.split("ends on ")[1].split(";")[0] in page.locator("#plan-state").inner_text()


def test_staff_onboard_a_team_and_a_colleague_reads(live_site, chromium) -> None:  # type: ignore[no-untyped-def]
    site = live_site
    memo_url = site.url + site.run(
        lambda: make_item(kind="memo", title="Ports and politics", body=SENTINEL).url_path()
    )
    site.run(make_user, email="staff@example.com", role="admin")
    # A company asks for a team plan.
    buyer = chromium.new_context().new_page()
    buyer.goto(f"{site.url}/teams")
    buyer.get_by_label("Organisation").fill("Acme Shipping")
    buyer.get_by_label("Your name").fill("Bea Manager")
    buyer.get_by_label("Work email").fill("bea@acme.example")
    buyer.get_by_label("Seats wanted").fill("5")
    buyer.get_by_role("button", name="Send the request").click()
    assert "Thank you" in buyer.locator("h1").inner_text()
    # Staff onboard it from the request (manual billing: no Stripe needed here).
    staff = chromium.new_context().new_page()
    sign_in_with_password(staff, site, "staff@example.com")
    staff.goto(f"{site.url}/admin/teams/requests")
    staff.get_by_role("link", name="Onboard").click()
    assert staff.get_by_label("Team name").input_value() == "Acme Shipping"
    staff.get_by_label("Billing").select_option("manual")
    staff.get_by_role("button", name="Create the team").click()
    staff.get_by_text("Team created").first.wait_for()  # the click returns before the page loads
    assert "Team created" in staff.content()
    # The manager accepts (signing up with the invited address) and invites two colleagues.
    manager = chromium.new_context().new_page()
    open_mail_link(manager, site, "bea@acme.example", "/team/join/")
    manager.get_by_role("link", name="Create an account").click()
    sign_up_and_confirm(manager, site, "bea@acme.example")
    manager.get_by_role("button", name="Accept and manage the team").click()
    manager.wait_for_url(f"{site.url}/team")
    manager.get_by_label("Email addresses").fill("cy@acme.example\ndee@acme.example")
    manager.get_by_role("button", name="Send invitations").click()
    assert "cy@acme.example: invited" in manager.locator("#invite-report").inner_text()
    # One colleague joins and reads the memo.
    colleague = chromium.new_context().new_page()
    open_mail_link(colleague, site, "cy@acme.example", "/team/join/")
    colleague.get_by_role("link", name="Create an account").click()
    sign_up_and_confirm(colleague, site, "cy@acme.example", "another long private phrase")
    colleague.get_by_role("button", name="Join the team").click()
    colleague.goto(memo_url)
    assert SENTINEL in colleague.locator("main").inner_text()
    manager.goto(f"{site.url}/team")
    assert "2 of 5 seats used" in manager.locator("#seats").inner_text()
    assert "cy@acme.example" in manager.locator("#members").inner_text()


def test_staff_find_a_member_see_why_they_cannot_read_and_fix_it(live_site, chromium) -> None:  # type: ignore[no-untyped-def]
    site = live_site
    memo_url = site.url + site.run(
        lambda: make_item(kind="memo", title="Shipping rates", body=SENTINEL).url_path()
    )
    site.run(make_user, email="staff@example.com", role="admin")
    site.run(make_user, email="dana.writer@example.com")
    member = chromium.new_context().new_page()
    sign_in_with_password(member, site, "dana.writer@example.com")
    member.goto(memo_url)
    assert SENTINEL not in member.content()

    staff = chromium.new_context().new_page()
    sign_in_with_password(staff, site, "staff@example.com")
    staff.goto(f"{site.url}/admin/")
    assert staff.locator("svg.chart").count() == 3  # trials, conversions, cancellations
    staff.get_by_role("link", name="Members", exact=True).click()
    staff.get_by_label("Email or name").fill("DANA")
    staff.get_by_role("button", name="Search").click()
    staff.get_by_role("link", name="dana.writer@example.com").click()
    assert "No PRO access." in staff.locator("#access").inner_text()
    assert "password" in staff.locator("#signins").inner_text()
    staff.get_by_label("Until (inclusive; empty for no end)").fill("2099-12-31")
    staff.get_by_label("Reason").fill("Contributor")
    staff.get_by_role("button", name="Grant", exact=True).click()
    assert "Complimentary access granted." in staff.content()
    assert "PRO by comp until 31 December 2099" in staff.locator("#access").inner_text()
    assert "member.comp_granted by staff@example.com" in staff.locator("#timeline").inner_text()

    member.goto(memo_url)
    assert SENTINEL in member.locator("main").inner_text()
    # The audit log has it too, filtered by action.
    staff.goto(f"{site.url}/admin/audit?action=member.")
    assert "dana.writer@example.com" in staff.locator("#audit").inner_text()
