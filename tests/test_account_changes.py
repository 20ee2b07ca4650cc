"""Changing password and email: fresh sign-in, the current password, and a mail to the old address."""

from __future__ import annotations

from paywall.accounts.models import User
from paywall.extensions import db
from tests.helpers import PASSWORD, link_in, post_form, sign_in


def test_changing_password_needs_the_current_one(client, make_user):
    make_user(email="reader@example.com")
    sign_in(client, "reader@example.com")
    response = post_form(
        client,
        "/account/password",
        {"current_password": "not it at all", "password": "new and long password"},
        form_page="/account",
    )
    assert response.status_code == 400
    assert "current password is not right" in response.get_data(as_text=True)


def test_changing_password_keeps_this_session_and_ends_the_others(
    app, make_user, run_worker, outbox
):
    make_user(email="reader@example.com")
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, "reader@example.com")
    sign_in(elsewhere, "reader@example.com")
    response = post_form(
        here,
        "/account/password",
        {"current_password": PASSWORD, "password": "new and long password"},
        form_page="/account",
    )
    assert response.status_code == 303
    assert here.get("/api/v1/me").json["authenticated"] is True
    assert elsewhere.get("/api/v1/me").json["authenticated"] is False
    run_worker()
    assert outbox("reader@example.com")[-1].subject == "Your password was changed"


def test_a_remembered_session_must_sign_in_again_to_change_settings(app, make_user):
    make_user(email="reader@example.com")
    browser = app.test_client()
    sign_in(browser, "reader@example.com", remember="y")
    restored = app.test_client()
    restored.set_cookie("remember_token", browser.get_cookie("remember_token").value)
    assert restored.get("/api/v1/me").json["authenticated"] is True
    response = post_form(
        restored,
        "/account/password",
        {"current_password": PASSWORD, "password": "new and long password"},
        form_page="/account",
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/signin")


def test_email_change_is_confirmed_from_the_new_address_and_told_to_the_old(
    client, make_user, run_worker, outbox
):
    user = make_user(email="old@example.com")
    sign_in(client, "old@example.com")
    response = post_form(
        client,
        "/account/email",
        {"current_password": PASSWORD, "new_email": "New@Example.com"},
        form_page="/account",
    )
    assert response.status_code == 303
    run_worker()
    (confirm,) = outbox("new@example.com")
    link = link_in(confirm.text_body, "/verify/")
    assert db.session.get(User, user.id).email == "old@example.com"  # not before confirming
    assert post_form(client, link, {}, form_page=link).status_code == 303
    db.session.expire_all()
    assert db.session.get(User, user.id).email == "new@example.com"
    run_worker()
    assert outbox("old@example.com")[-1].subject == "Your email address was changed"
    sign_in(client, "new@example.com")


def test_email_change_to_a_taken_address_changes_nothing(client, make_user, run_worker, outbox):
    make_user(email="me@example.com")
    make_user(email="taken@example.com")
    sign_in(client, "me@example.com")
    post_form(
        client,
        "/account/email",
        {"current_password": PASSWORD, "new_email": "taken@example.com"},
        form_page="/account",
    )
    run_worker()
    assert [m.subject for m in outbox("taken@example.com")] == [
        "This address already has an account"
    ]


def test_email_change_with_a_bad_address_is_a_field_error(client, make_user):
    make_user(email="me@example.com")
    sign_in(client, "me@example.com")
    response = post_form(
        client,
        "/account/email",
        {"current_password": PASSWORD, "new_email": "nope"},
        form_page="/account",
    )
    assert response.status_code == 400
    assert "Enter a valid email address." in response.get_data(as_text=True)


def test_account_page_shows_email_verification_and_access(client, make_user):
    make_user(email="me@example.com", verified=False)
    sign_in(client, "me@example.com")
    page = client.get("/account").get_data(as_text=True)
    assert "me@example.com" in page and "not confirmed yet" in page and "Free reader" in page
    assert client.get("/account", follow_redirects=False).status_code == 200


def test_account_needs_sign_in(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/signin?next=/account"
