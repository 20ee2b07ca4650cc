"""A stranger's wrong guesses never lock the owner out (OWASP's device cookies).

Five wrong passwords for an account hold every browser without a known-device cookie for it
(429, with the emailed link and code offered instead); the owner's browser that signed in
before is not held by that limit, and its own wrong passwords have a limit of their own.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from paywall import clock
from paywall.accounts import devices, service
from paywall.extensions import db
from tests.helpers import PASSWORD, code_in, link_in, post_form, sign_in

OWNER = "reader@example.com"
WRONG = "a stranger's guess"


def me(client: FlaskClient) -> dict:
    return client.get("/api/v1/me").json


def password(client: FlaskClient, email: str = OWNER, pw: str = PASSWORD) -> int:
    return post_form(client, "/signin", {"email": email, "password": pw}).status_code


def device_cookie_of(client: FlaskClient) -> str:
    cookie = client.get_cookie(devices.COOKIE, path="/signin")
    assert cookie is not None, "no known-device cookie after signing in"
    return cookie.value


def owners_browser(app, email: str = OWNER) -> FlaskClient:
    """A browser that signed in to the account before, and signed out again."""
    browser = app.test_client()
    sign_in(browser, email)
    post_form(browser, "/signout", {}, form_page="/account")
    assert me(browser)["authenticated"] is False
    return browser


def owners_browser_signed_in(app) -> FlaskClient:
    browser = app.test_client()
    sign_in(browser, OWNER)
    return browser


def stranger_guesses(app, email: str = OWNER, times: int = 5) -> None:
    stranger = app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "203.0.113.66"
    assert [password(stranger, email, WRONG) for _ in range(times)] == [400] * times
    assert password(stranger, email, PASSWORD) == 429


def test_signing_in_sets_a_signed_http_only_lax_device_cookie(app, make_user):
    make_user(email=OWNER)
    browser = app.test_client()
    response = sign_in(browser, OWNER)
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("known_device")]
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert {"httponly", "max-age", "path"} <= attributes
    assert "SameSite=Lax" in header and "Path=/signin" in header
    assert f"Max-Age={180 * 86400}" in header
    assert "secure" not in attributes  # plain http in testing; see the next test


@pytest.mark.parametrize("app_config", [{"SECURE_TRANSPORT": True}])
def test_the_device_cookie_is_secure_when_the_site_is(app, make_user):
    make_user(email=OWNER)
    browser = app.test_client()
    browser.environ_base["wsgi.url_scheme"] = "https"
    response = sign_in(browser, OWNER)
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("known_device")]
    assert "Secure" in header


def test_every_way_of_signing_in_marks_the_device(app, make_user, run_worker, outbox):
    make_user(email=OWNER)
    by_link, by_code = app.test_client(), app.test_client()
    post_form(by_link, "/signin/link", {"email": OWNER})
    run_worker()
    link = link_in(outbox(OWNER)[-1].text_body, "/signin/link/")
    assert post_form(by_link, link, {}, form_page=link).status_code == 303
    device_cookie_of(by_link)
    post_form(by_code, "/signin/link", {"email": OWNER})
    run_worker()
    code = code_in(outbox(OWNER)[-1].text_body)
    assert post_form(by_code, "/signin/code", {"email": OWNER, "code": code}).status_code == 303
    device_cookie_of(by_code)


def test_owner_on_a_known_device_signs_in_after_a_stranger_tripped_the_limit(app, make_user):
    make_user(email=OWNER)
    browser = owners_browser(app)
    stranger_guesses(app)
    response = post_form(browser, "/signin", {"email": OWNER, "password": PASSWORD})
    assert response.status_code == 303
    assert me(browser)["email"] == OWNER


def test_a_known_device_is_known_in_any_spelling_of_the_address(app, make_user):
    make_user(email=OWNER)
    browser = owners_browser(app)
    stranger_guesses(app, "READER@ｅxample.com")
    assert password(browser, "ＲＥＡＤＥＲ@example.com") == 303


def test_a_browser_without_the_cookie_gets_429_offering_the_emailed_link(app, make_user):
    make_user(email=OWNER)
    stranger_guesses(app)
    newcomer = app.test_client()
    response = post_form(newcomer, "/signin", {"email": OWNER, "password": PASSWORD})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    page = response.get_data(as_text=True)
    assert "Try again in 15 minutes" in page
    assert 'action="/signin/link"' in page and 'method="post"' in page
    assert 'name="csrf_token"' in page and f'value="{OWNER}"' in page
    assert "link and a 6-digit code" in page


def test_the_429_page_form_mails_a_link_and_code_that_sign_the_owner_in(
    app, make_user, run_worker, outbox
):
    make_user(email=OWNER)
    stranger_guesses(app)
    owner = app.test_client()  # a new browser: the password is held for it
    blocked = post_form(owner, "/signin", {"email": OWNER, "password": PASSWORD})
    assert blocked.status_code == 429
    # Post the form exactly as the 429 page offers it (its own CSRF token).
    token = _field(blocked.get_data(as_text=True), "csrf_token")
    sent = owner.post("/signin/link", data={"csrf_token": token, "email": OWNER})
    assert sent.status_code == 200
    run_worker()
    code = code_in(outbox(OWNER)[-1].text_body)
    assert post_form(owner, "/signin/code", {"email": OWNER, "code": code}).status_code == 303
    assert me(owner)["email"] == OWNER
    # The link of a second mail works as well while the password stays held.
    other = app.test_client()
    post_form(other, "/signin/link", {"email": OWNER})
    run_worker()
    link = link_in(outbox(OWNER)[-1].text_body, "/signin/link/")
    assert post_form(other, link, {}, form_page=link).status_code == 303
    assert me(other)["email"] == OWNER
    assert password(app.test_client()) == 429


def test_429_pages_of_other_routes_offer_no_sign_in_form(app, client):
    for n in range(10):
        post_form(client, "/signup", {"email": f"s{n}@example.com", "password": PASSWORD})
    page = post_form(client, "/signup", {"email": "late@example.com", "password": PASSWORD})
    assert page.status_code == 429
    assert "/signin/link" not in page.get_data(as_text=True)


def test_a_tampered_device_cookie_is_no_bypass(app, make_user):
    make_user(email=OWNER)
    value = device_cookie_of(owners_browser_signed_in(app))
    stranger_guesses(app)
    for forged in [value[:-2] + ("AA" if not value.endswith("AA") else "BB"), "x" + value, "junk"]:
        thief = app.test_client()
        thief.set_cookie(devices.COOKIE, forged, path="/signin")
        assert password(thief) == 429


def test_a_device_cookie_signed_with_another_key_is_no_bypass(app, make_user):
    user = make_user(email=OWNER)
    stranger_guesses(app)
    forged = URLSafeTimedSerializer("some other secret key", salt="paywall.known-device").dumps(
        {"u": user.id, "d": "mine", "s": "0" * 32}
    )
    thief = app.test_client()
    thief.set_cookie(devices.COOKIE, forged, path="/signin")
    assert password(thief) == 429


def test_another_accounts_device_cookie_is_no_bypass(app, make_user):
    make_user(email=OWNER)
    make_user(email="mallory@example.com")
    mallory = owners_browser(app, "mallory@example.com")  # a known device, of her own account
    stranger_guesses(app)
    assert password(mallory) == 429
    assert password(mallory, "mallory@example.com") == 303


def test_a_device_is_forgotten_when_the_password_changes(app, make_user):
    user = make_user(email=OWNER)
    browser = owners_browser(app)
    service.change_password(user, PASSWORD, "another long password 2")
    db.session.commit()
    stranger_guesses(app)
    assert password(browser, pw="another long password 2") == 429


def test_a_device_cookie_older_than_its_lifetime_is_no_bypass(app, make_user, monkeypatch):
    """Replayed after KNOWN_DEVICE_DAYS (a browser would have dropped it; a thief might not)."""
    make_user(email=OWNER)
    browser = owners_browser(app)
    stranger_guesses(app)
    later = int((clock.now() + timedelta(days=181)).timestamp())
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)
    assert password(browser) == 429


def test_wrong_passwords_from_a_known_device_have_their_own_limit(app, make_user):
    make_user(email=OWNER)
    browser = owners_browser(app)
    assert [password(browser, pw=WRONG) for _ in range(5)] == [400] * 5
    # The device's own limit holds it now, right password or not ...
    assert password(browser) == 429
    # ... and it did not spend the account's: a stranger still has all five tries.
    stranger = app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "203.0.113.67"
    assert [password(stranger, pw=WRONG) for _ in range(5)] == [400] * 5
    assert password(stranger) == 429


def test_a_known_device_still_counts_against_the_per_ip_limit(app, make_user):
    make_user(email=OWNER)
    browser = owners_browser(app)
    for n in range(30):
        assert password(browser, f"user{n}@example.com", WRONG) == 400
    assert password(browser) == 429


def _field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]+)"', html)
    assert match, f"no {name} in the page"
    return match.group(1)
