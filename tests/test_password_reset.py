"""Forgot and reset password: one answer for every address, single-use links, sessions end."""

from __future__ import annotations

import re
from datetime import timedelta

from paywall import clock
from tests.helpers import PASSWORD, link_in, post_form, sign_in

NEW_PASSWORD = "a brand new passphrase"


def forgot(client, email):
    return post_form(client, "/password/forgot", {"email": email})


def test_forgot_answers_the_same_whether_or_not_the_account_exists(
    client, make_user, run_worker, outbox
):
    make_user(email="reader@example.com")
    known, unknown = forgot(client, "reader@example.com"), forgot(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert _strip(known) == _strip(unknown)
    run_worker()
    assert [m.subject for m in outbox("reader@example.com")] == ["Reset your password"]
    assert outbox("nobody@example.com") == []


def test_reset_sets_the_password_once_and_ends_other_sessions(app, make_user, run_worker, outbox):
    make_user(email="reader@example.com")
    other_device = app.test_client()
    sign_in(other_device, "reader@example.com")
    client = app.test_client()
    forgot(client, "reader@example.com")
    run_worker()
    link = link_in(outbox("reader@example.com")[0].text_body, "/password/reset/")

    response = post_form(client, link, {"password": NEW_PASSWORD}, form_page=link)
    assert response.status_code == 303
    assert client.get("/api/v1/me").json["authenticated"] is True
    assert other_device.get("/api/v1/me").json["authenticated"] is False
    assert client.get(link).status_code == 400  # used up
    assert (
        post_form(
            app.test_client(), "/signin", {"email": "reader@example.com", "password": PASSWORD}
        ).status_code
        == 400
    )
    sign_in(app.test_client(), "reader@example.com", NEW_PASSWORD)
    run_worker()
    assert "Your password was changed" in [m.subject for m in outbox("reader@example.com")]


def test_a_reset_voids_older_reset_links(client, make_user, run_worker, outbox):
    make_user(email="reader@example.com")
    forgot(client, "reader@example.com")
    forgot(client, "reader@example.com")
    run_worker()
    first, second = (link_in(m.text_body, "/password/reset/") for m in outbox("reader@example.com"))
    assert (
        post_form(client, second, {"password": NEW_PASSWORD}, form_page=second).status_code == 303
    )
    assert client.get(first).status_code == 400


def test_reset_link_expires_after_an_hour(client, make_user, run_worker, outbox, monkeypatch):
    make_user(email="reader@example.com")
    forgot(client, "reader@example.com")
    run_worker()
    link = link_in(outbox("reader@example.com")[0].text_body, "/password/reset/")
    assert client.get(link).status_code == 200
    later = clock.now() + timedelta(minutes=60, seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert client.get(link).status_code == 400


def test_weak_new_password_comes_back_with_the_error(client, make_user, run_worker, outbox):
    make_user(email="reader@example.com")
    forgot(client, "reader@example.com")
    run_worker()
    link = link_in(outbox("reader@example.com")[0].text_body, "/password/reset/")
    response = post_form(client, link, {"password": "iloveyou"}, form_page=link)
    assert response.status_code == 400
    assert "most common" in response.get_data(as_text=True)
    assert client.get(link).status_code == 200  # still usable after a refused password


def test_unknown_reset_token_is_a_clear_400(client):
    response = client.get("/password/reset/not-a-token")
    assert response.status_code == 400
    assert "expired or has already been used" in response.get_data(as_text=True)


def _strip(response) -> str:
    return re.sub(r'value="[^"]*"', "", response.get_data(as_text=True))
