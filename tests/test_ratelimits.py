"""Rate limits: past a limit, a 429 page that says when to try again."""

from __future__ import annotations

from tests.helpers import PASSWORD, post_form


def test_failed_sign_ins_per_account_are_limited_then_429(client, make_user):
    make_user(email="reader@example.com")
    for _ in range(5):
        bad = post_form(
            client, "/signin", {"email": "reader@example.com", "password": "wrong guess 1"}
        )
        assert bad.status_code == 400
    blocked = post_form(client, "/signin", {"email": "READER@example.com", "password": PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Try again in 15 minutes" in blocked.get_data(as_text=True)
    # Another account from the same address is not locked out by this one.
    make_user(email="other@example.com")
    ok = post_form(client, "/signin", {"email": "other@example.com", "password": PASSWORD})
    assert ok.status_code == 303


def test_successful_sign_ins_do_not_count(client, make_user):
    make_user(email="reader@example.com")
    for _ in range(8):
        assert (
            post_form(
                client, "/signin", {"email": "reader@example.com", "password": PASSWORD}
            ).status_code
            == 303
        )
        client.post("/signout")


def test_failed_sign_ins_per_ip_are_limited(app_config, client):
    for n in range(30):
        response = post_form(
            client, "/signin", {"email": f"user{n}@example.com", "password": "nope nope"}
        )
        assert response.status_code == 400
    assert (
        post_form(client, "/signin", {"email": "new@example.com", "password": "x" * 9}).status_code
        == 429
    )


def test_mails_per_address_per_hour_across_link_reset_and_signup(client, run_worker, outbox):
    address = "target@example.com"
    assert post_form(client, "/signin/link", {"email": address}).status_code == 200
    assert post_form(client, "/password/forgot", {"email": address}).status_code == 200
    assert post_form(client, "/signup", {"email": address, "password": PASSWORD}).status_code == 200
    blocked = post_form(client, "/signin/link", {"email": address})
    assert blocked.status_code == 429
    assert "Try again in" in blocked.get_data(as_text=True)
    run_worker()
    assert len(outbox(address)) <= 3


def test_sign_ups_per_ip_are_limited(client):
    for n in range(10):
        assert (
            post_form(
                client, "/signup", {"email": f"s{n}@example.com", "password": PASSWORD}
            ).status_code
            == 200
        )
    assert (
        post_form(client, "/signup", {"email": "s99@example.com", "password": PASSWORD}).status_code
        == 429
    )


def test_code_guesses_per_account_are_limited(client, make_user):
    make_user(email="reader@example.com")
    for _ in range(5):
        assert (
            post_form(
                client, "/signin/code", {"email": "reader@example.com", "code": "000000"}
            ).status_code
            == 400
        )
    assert (
        post_form(
            client, "/signin/code", {"email": "reader@example.com", "code": "000000"}
        ).status_code
        == 429
    )
