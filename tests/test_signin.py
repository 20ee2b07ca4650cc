"""Signing in and out: password, emailed link or code, remember me, session versions."""

from __future__ import annotations

import re
from datetime import timedelta

from paywall import clock
from paywall.accounts import passwords, service
from paywall.extensions import db
from tests.helpers import PASSWORD, code_in, link_in, post_form, sign_in


def me(client):
    return client.get("/api/v1/me").json


def test_password_sign_in_and_sign_out(client, make_user):
    make_user(email="reader@example.com")
    response = sign_in(client, "Reader@Example.com ")
    assert response.headers["Location"] == "/account"
    assert me(client)["email"] == "reader@example.com"
    assert post_form(client, "/signout", {}, form_page="/account").status_code == 303
    assert me(client)["authenticated"] is False


def test_wrong_password_unknown_email_and_disabled_account_get_one_answer(client, make_user):
    make_user(email="known@example.com")
    make_user(email="off@example.com", disabled=True)
    answers = [
        post_form(client, "/signin", {"email": email, "password": password})
        for email, password in [
            ("known@example.com", "wrong password here"),
            ("unknown@example.com", "wrong password here"),
            ("off@example.com", PASSWORD),
        ]
    ]
    bodies = {_strip(a.get_data(as_text=True)) for a in answers}
    assert {a.status_code for a in answers} == {400}
    assert len(bodies) == 1, "the answer reveals which accounts exist"
    assert "Invalid email or password." in bodies.pop()


def test_sign_in_hashes_once_for_unknown_addresses_too(client, make_user, monkeypatch):
    """No telling by timing whether an account exists: a password hash is checked for an
    unknown address too (against a dummy hash), as for a known one. Counted, not timed."""
    make_user(email="known@example.com")
    checks: list[str] = []
    real_check = passwords.check_password_hash
    monkeypatch.setattr(passwords, "check_password_hash",
                        lambda stored, pw: checks.append(stored) or real_check(stored, pw))  # fmt: skip
    for email in ("known@example.com", "ghost@example.com"):
        checks.clear()
        post_form(client, "/signin", {"email": email, "password": "not the password"})
        assert len(checks) == 1, email


def test_next_is_followed_only_on_site(client, make_user):
    make_user(email="reader@example.com")
    assert sign_in(client, "reader@example.com", next="/pro").headers["Location"] == "/pro"
    client.post("/signout")
    hostile = sign_in(client, "reader@example.com", next="//evil.test/x")
    assert hostile.headers["Location"] == "/account"


def test_session_is_rotated_at_sign_in(client, make_user):
    make_user(email="reader@example.com")
    client.get("/signin")
    before = client.get_cookie("session").value
    sign_in(client, "reader@example.com")
    after = client.get_cookie("session").value
    assert before != after
    # The anonymous cookie from before sign-in is still anonymous.
    client.set_cookie("session", before)
    assert me(client)["authenticated"] is False


def test_cookie_replayed_after_sign_out_is_anonymous(app, make_user):
    make_user(email="reader@example.com")
    browser = app.test_client()
    sign_in(browser, "reader@example.com")
    stolen = browser.get_cookie("session").value
    post_form(browser, "/signout", {}, form_page="/account")
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert me(thief)["authenticated"] is False


def test_sign_out_ends_sessions_on_every_device(app, make_user):
    make_user(email="reader@example.com")
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, "reader@example.com")
    sign_in(phone, "reader@example.com")
    post_form(laptop, "/signout", {}, form_page="/account")
    assert me(phone)["authenticated"] is False


def test_remember_me_survives_the_browser_closing_until_sign_out(app, make_user):
    make_user(email="reader@example.com")
    browser = app.test_client()
    sign_in(browser, "reader@example.com", remember="y")
    remember = browser.get_cookie("remember_token")
    assert remember is not None and remember.expires is not None
    restarted = app.test_client()  # a new browser session: only the remember cookie is kept
    restarted.set_cookie("remember_token", remember.value)
    assert me(restarted)["authenticated"] is True
    post_form(browser, "/signout", {}, form_page="/account")
    replay = app.test_client()
    replay.set_cookie("remember_token", remember.value)
    assert me(replay)["authenticated"] is False


def test_disabling_an_account_ends_its_sessions(app, make_user):
    user = make_user(email="reader@example.com")
    browser = app.test_client()
    sign_in(browser, "reader@example.com")
    service.disable(user)
    db.session.commit()
    assert me(browser)["authenticated"] is False


def test_sign_in_link_confirm_page_spends_nothing_until_posted(
    client, make_user, run_worker, outbox
):
    make_user(email="reader@example.com")
    sent = post_form(client, "/signin/link", {"email": "reader@example.com", "next": "/pro"})
    assert sent.status_code == 200 and "Check your email" in sent.get_data(as_text=True)
    run_worker()
    link = link_in(outbox("reader@example.com")[0].text_body, "/signin/link/")
    for _ in range(3):  # a mail scanner opening the link
        assert client.get(link).status_code == 200
    response = post_form(client, link, {}, form_page=link)
    assert response.status_code == 303 and response.headers["Location"] == "/pro"
    assert me(client)["email"] == "reader@example.com"
    assert client.get(link).status_code == 400


def test_sign_in_link_for_unknown_address_answers_the_same_and_sends_nothing(
    client, make_user, run_worker, outbox
):
    make_user(email="reader@example.com")
    known = post_form(client, "/signin/link", {"email": "reader@example.com"})
    unknown = post_form(client, "/signin/link", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert _strip(known.get_data(as_text=True)).replace("reader", "X") == _strip(
        unknown.get_data(as_text=True)
    ).replace("nobody", "X")
    run_worker()
    assert len(outbox("reader@example.com")) == 1
    assert outbox("nobody@example.com") == []


def test_code_signs_in_once_and_also_spends_the_link(client, make_user, run_worker, outbox):
    make_user(email="reader@example.com")
    post_form(client, "/signin/link", {"email": "reader@example.com"})
    run_worker()
    text = outbox("reader@example.com")[0].text_body
    code = code_in(text)
    ok = post_form(client, "/signin/code", {"email": "reader@example.com", "code": code})
    assert ok.status_code == 303
    client.post("/signout")
    again = post_form(client, "/signin/code", {"email": "reader@example.com", "code": code})
    assert again.status_code == 400
    assert client.get(link_in(text, "/signin/link/")).status_code == 400


def test_wrong_codes_burn_the_code_after_five_guesses(client, make_user, run_worker, outbox):
    make_user(email="reader@example.com")
    post_form(client, "/signin/link", {"email": "reader@example.com"})
    run_worker()
    code = code_in(outbox("reader@example.com")[0].text_body)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        response = post_form(client, "/signin/code", {"email": "reader@example.com", "code": wrong})
        assert response.status_code == 400
        assert "not right" in response.get_data(as_text=True)
    # Five wrong guesses: the real code is dead too (and the per-account limit now applies).
    late = post_form(client, "/signin/code", {"email": "reader@example.com", "code": code})
    assert late.status_code in {400, 429}
    assert me(client)["authenticated"] is False


def test_sign_in_link_expires_after_fifteen_minutes(
    client, make_user, run_worker, outbox, monkeypatch
):
    make_user(email="reader@example.com")
    post_form(client, "/signin/link", {"email": "reader@example.com"})
    run_worker()
    link = link_in(outbox("reader@example.com")[0].text_body, "/signin/link/")
    later = clock.now() + timedelta(minutes=15, seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert client.get(link).status_code == 400


def test_malformed_code_is_a_field_error(client):
    response = post_form(client, "/signin/code", {"email": "a@example.com", "code": "12ab"})
    assert response.status_code == 400
    assert "6-digit code" in response.get_data(as_text=True)


def _strip(html: str) -> str:
    return re.sub(r'value="[^"]*"', "", html)
