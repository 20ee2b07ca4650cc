"""Sign-up: the same answer for every address; the mail finishes the job."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from paywall.accounts import service
from paywall.accounts.models import User
from paywall.extensions import db
from tests.helpers import PASSWORD, code_in, link_in, post_form


def signup(client, email, password=PASSWORD, **extra):
    return post_form(client, "/signup", {"email": email, "password": password, **extra})


def test_sign_up_then_confirm_by_link_signs_in_and_verifies(client, run_worker, outbox):
    response = signup(client, "  New.Reader@Example.COM ")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Check your email" in page
    # The page says what the mail says: the confirmation link lasts longer than the code.
    assert "The code works for 15 minutes, the link for 2 days" in page

    run_worker()
    user = db.session.scalar(select(User).where(User.email == "new.reader@example.com"))
    assert user is not None and not user.is_verified
    (mail,) = outbox("new.reader@example.com")
    link = link_in(mail.text_body, "/verify/")

    page = client.get(link)
    assert page.status_code == 200 and "Confirm my email" in page.get_data(as_text=True)
    assert not db.session.get(User, user.id).is_verified  # GET spends nothing
    confirmed = post_form(client, link, {}, form_page=link)
    assert confirmed.status_code == 303
    db.session.expire_all()
    assert db.session.get(User, user.id).is_verified
    assert client.get("/api/v1/me").json["email"] == "new.reader@example.com"


def test_sign_up_code_signs_in_and_continues_to_next(client, run_worker, outbox):
    signup(client, "coder@example.com", next="/pro")
    run_worker()
    code = code_in(outbox("coder@example.com")[0].text_body)
    response = post_form(client, "/signin/code", {"email": "coder@example.com", "code": code})
    assert response.status_code == 303
    assert response.headers["Location"] == "/pro"
    assert client.get("/api/v1/me").json["authenticated"] is True


def test_used_verification_link_does_not_work_twice(client, run_worker, outbox):
    signup(client, "twice@example.com")
    run_worker()
    link = link_in(outbox("twice@example.com")[0].text_body, "/verify/")
    assert post_form(client, link, {}, form_page=link).status_code == 303
    client.post("/signout", data={})
    again = client.get(link)
    assert again.status_code == 400
    assert "expired or has already been used" in again.get_data(as_text=True)


def test_sign_up_for_existing_address_answers_the_same_and_mails_the_owner(
    client, make_user, run_worker, outbox
):
    owner = make_user(email="taken@example.com")
    fresh = signup(client, "fresh@example.com")
    taken = signup(client, "Taken@example.com", password="another long password")
    assert fresh.status_code == taken.status_code == 200
    assert _body(fresh).replace("fresh@example.com", "X") == _body(taken).replace(
        "Taken@example.com", "X"
    )
    run_worker()
    (mail,) = outbox("taken@example.com")
    assert mail.subject == "You already have an account"
    db.session.refresh(owner)
    assert owner.password_hash is not None
    assert db.session.scalar(select(db.func.count(User.id))) == 2


def test_sign_up_does_the_same_work_whether_or_not_the_address_exists(
    client, make_user, monkeypatch
):
    """No telling by timing whether an address has an account: the request hashes the password
    and runs the very same SQL for both (the worker decides what to mail). Counted, not timed:
    a wall-clock comparison fails on a busy machine."""
    make_user(email="exists@example.com")
    hashed: list[str] = []
    real_hash = service.hash_password
    monkeypatch.setattr(service, "hash_password", lambda pw: hashed.append(pw) or real_hash(pw))

    def work_for(address: str) -> tuple[list[str], int]:
        statements: list[str] = []

        def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
            statements.append(statement)

        hashed.clear()
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert signup(client, address).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        return statements, len(hashed)

    signup(client, "warm-up@example.com")  # first-request work aside
    existing, fresh = work_for("exists@example.com"), work_for("nobody@example.com")
    assert existing == fresh
    assert existing[0] and existing[1] == 1, existing


@pytest.mark.parametrize(
    ("email", "password", "field_error"),
    [
        ("", PASSWORD, "Enter your email address."),
        ("not-an-address", PASSWORD, "Enter a valid email address."),
        ("a" * 250 + "@example.com", PASSWORD, "too long"),
        ("short@example.com", "short", "at least 8 characters"),
        ("long@example.com", "x" * 129, "at most 128 characters"),
        ("common@example.com", "password123", "most common"),
        ("common@example.com", "Qwertyuiop", "most common"),
    ],
)
def test_bad_sign_up_comes_back_with_the_field_error(client, email, password, field_error):
    response = signup(client, email, password)
    assert response.status_code == 400
    assert field_error in response.get_data(as_text=True)
    assert 'name="email"' in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "password", ["8 chars!", "x" * 128, "pässwörd mit Ümläuten", "🔒🔑 emoji 🗝️ pass", " spaces  "]
)
def test_any_password_of_allowed_length_round_trips_as_typed(client, run_worker, password):
    assert signup(client, "typed@example.com", password).status_code == 200
    run_worker()
    signed_in = post_form(client, "/signin", {"email": "typed@example.com", "password": password})
    assert signed_in.status_code == 303


def test_a_128_character_password_is_not_truncated(client, make_user):
    long = "y" * 127 + "z"
    make_user(email="long@example.com", password=long)
    wrong_last = post_form(client, "/signin", {"email": "long@example.com", "password": "y" * 128})
    assert wrong_last.status_code == 400
    right = post_form(client, "/signin", {"email": "long@example.com", "password": long})
    assert right.status_code == 303


def _body(response) -> str:
    import re

    return re.sub(r'value="[^"]*"', "", response.get_data(as_text=True))
