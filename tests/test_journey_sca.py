"""A reader whose bank checks the card (3-D Secure, test card 4000 0025 0000 3155) starts the
free week in a real Chromium: failing the bank's check leaves them on the site without a
membership and says so; passing it starts the trial."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.billing import Shop
from tests.helpers import make_item
from tests.test_journeys import READER, SENTINEL, sign_up_and_confirm

pytestmark = pytest.mark.browser

CHECKOUT = re.compile(r".*/checkout/cs_test_[A-Za-z0-9]+$")
CHALLENGE = re.compile(r".*/checkout/cs_test_[A-Za-z0-9]+/authenticate$")


def type_card_and_start(page: Any, number: str) -> None:
    """On the emulator's Checkout page: a card, then "Start trial"."""
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name="Start trial").click()


def test_the_bank_checks_the_card_the_reader_fails_then_passes(shop: Shop, chromium: Any) -> None:
    site = shop.site
    memo_url = site.url + site.run(
        lambda: make_item(kind="memo", title="Banks and the Gulf", body=SENTINEL).url_path()
    )
    page = chromium.new_context().new_page()
    page.goto(f"{site.url}/pro")
    page.get_by_role("link", name="Start my free week").click()
    sign_up_and_confirm(page, site, READER)
    page.get_by_role("button", name="Continue to secure checkout").click()
    page.wait_for_url(CHECKOUT)
    type_card_and_start(page, "4000 0025 0000 3155")
    page.wait_for_url(CHALLENGE)  # the bank's check, Stripe's test page for it
    assert "Visa •••• 3155" in page.locator("#challenge").inner_text()
    page.get_by_role("button", name="Fail authentication").click()

    page.wait_for_url(CHECKOUT)
    assert "We are unable to authenticate your payment method" in (
        page.get_by_role("alert").inner_text()
    )
    page.get_by_role("link", name="← Back").click()
    page.wait_for_url(f"{site.url}/pro?checkout=cancelled")
    notice = page.locator("#checkout-cancelled").inner_text()
    assert "no PRO membership yet and nothing was charged" in notice
    assert shop.access(READER)[0] is False
    page.goto(memo_url)
    assert SENTINEL not in page.content()
    page.goto(f"{site.url}/account")
    assert "Free reader" in page.locator("#access").inner_text()

    page.goto(f"{site.url}/pro")
    page.get_by_role("button", name="Start my free week").click()
    page.wait_for_url(CHECKOUT)
    type_card_and_start(page, "4000 0025 0000 3155")
    page.wait_for_url(CHALLENGE)
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(re.compile(r".*/billing/success\?session_id=cs_test_.*"))
    assert "Your free week has started" in page.locator("#trial-end").inner_text()
    page.goto(memo_url)
    assert SENTINEL in page.locator("main").inner_text()
    page.goto(f"{site.url}/account")
    assert "Your trial ends on" in page.locator("#plan-state").inner_text()
    premium, source, _ = shop.access(READER)
    assert premium and source == "trial"
