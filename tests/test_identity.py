"""One address, one identity: look-alike spellings are one account, one trial, one subscriber
and one rate-limit count; one sign-in code lives at a time; per-IP limits on the mail routes.

Spellings used below, all of `reader@example.com`: upper case, a full-width e (U+FF45) or a
mathematical bold e (U+1D41E) in the domain, a full-width local part, and a Unicode domain
(`bücher.de`, stored as its IDNA form `xn--bcher-kva.de`).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from paywall.accounts import tokens
from paywall.accounts.emails import canonical_address, normalise_email, rate_limit_key
from paywall.accounts.models import User
from paywall.accounts.service import SIGNIN_PURPOSES
from paywall.billing.trials import email_key
from paywall.errors import TokenInvalid
from paywall.extensions import db
from paywall.jobs import Job
from paywall.newsletters.models import ListSubscription
from paywall.teams.onboarding import check_domains
from tests.helpers import PASSWORD, code_in, csrf_token, link_in, post_form, sign_in

ADDRESS = "reader@example.com"
LOOK_ALIKES = [
    "READER@example.com",
    "reader@ｅxample.com",
    "reader@𝐞xample.com",
    "ｒｅａｄｅｒ@example.com",
    "𝐫𝐞𝐚𝐝𝐞𝐫@EXAMPLE.COM",
    "  Reader＠Example．com ",
]
IDN_ADDRESS = "reader@xn--bcher-kva.de"
IDN_LOOK_ALIKES = ["reader@bücher.de", "READER@BÜCHER.DE", "Reader@XN--BCHER-KVA.de"]


def me(client):
    return client.get("/api/v1/me").json


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.mark.parametrize("spelling", [ADDRESS, *LOOK_ALIKES])
def test_every_look_alike_has_the_one_canonical_spelling(spelling):
    assert canonical_address(spelling) == ADDRESS
    assert normalise_email(spelling) == ADDRESS
    assert rate_limit_key(spelling) == ADDRESS


@pytest.mark.parametrize("spelling", IDN_LOOK_ALIKES)
def test_a_unicode_domain_is_held_in_its_idna_form(spelling):
    assert normalise_email(spelling) == IDN_ADDRESS


def test_addresses_that_do_not_validate_still_fold_to_one_limit_key():
    # No dot in the domain: not a valid address, but every spelling must count as one.
    keys = {rate_limit_key(s) for s in ["reader@ｅxample", "READER@𝐞xample", "ｒeader＠example"]}
    assert keys == {"reader@example"}


def test_a_domain_whose_idna_form_differs_from_its_casefold_stays_itself():
    # straße.de and strasse.de are different registrable domains: IDNA keeps them apart.
    assert normalise_email("Straße@straße.de") == "strasse@xn--strae-oqa.de"
    assert normalise_email("strasse@strasse.de") == "strasse@strasse.de"


def test_password_sign_in_finds_the_account_whatever_the_spelling(app, make_user):
    make_user(email=ADDRESS)
    for spelling in LOOK_ALIKES:
        browser = app.test_client()
        sign_in(browser, spelling)
        assert me(browser)["email"] == ADDRESS


def test_sign_up_with_a_look_alike_of_an_account_makes_no_second_account(
    client, make_user, run_worker, outbox
):
    make_user(email=ADDRESS)
    answer = post_form(
        client, "/signup", {"email": "ｒｅａｄｅｒ@𝐞xample.com", "password": PASSWORD}
    )
    assert answer.status_code == 200
    run_worker()
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    # The owner is told someone tried; no mail goes to the look-alike spelling.
    assert [m.template for m in outbox(ADDRESS)] == ["account_exists"]
    assert len(outbox()) == 1


def test_a_new_account_is_stored_in_the_canonical_spelling(client, run_worker, outbox):
    post_form(client, "/signup", {"email": "𝐍𝐞𝐰@Bücher.DE", "password": PASSWORD})
    run_worker()
    assert list(db.session.scalars(select(User.email))) == ["new@xn--bcher-kva.de"]
    assert [m.template for m in outbox("new@xn--bcher-kva.de")] == ["verify_email"]


def test_sign_in_mails_per_address_count_across_look_alike_spellings(
    client, make_user, run_worker, outbox
):
    make_user(email=ADDRESS)
    for spelling in ["reader@ｅxample.com", "reader@𝐞xample.com", "READER@example.com"]:
        assert post_form(client, "/signin/link", {"email": spelling}).status_code == 200
    for spelling in [ADDRESS, *LOOK_ALIKES]:
        blocked = post_form(client, "/signin/link", {"email": spelling})
        assert blocked.status_code == 429, spelling
    assert db.session.scalar(select(func.count()).select_from(Job)) == 3
    run_worker()
    assert len(outbox(ADDRESS)) == 3
    assert len(outbox()) == 3


def test_sign_in_mails_count_across_spellings_of_a_unicode_domain(
    client, make_user, run_worker, outbox
):
    make_user(email="reader@bücher.de")
    for spelling in IDN_LOOK_ALIKES:
        assert post_form(client, "/signin/link", {"email": spelling}).status_code == 200
    assert post_form(client, "/signin/link", {"email": IDN_ADDRESS}).status_code == 429
    run_worker()
    assert len(outbox(IDN_ADDRESS)) == 3


def test_wrong_codes_count_against_the_account_whatever_the_spelling(
    client, make_user, run_worker, outbox
):
    make_user(email=ADDRESS)
    post_form(client, "/signin/link", {"email": ADDRESS})
    run_worker()
    code = code_in(outbox(ADDRESS)[0].text_body)
    for spelling in LOOK_ALIKES[:5]:
        answer = post_form(client, "/signin/code", {"email": spelling, "code": wrong(code)})
        assert answer.status_code == 400, spelling
    late = post_form(client, "/signin/code", {"email": LOOK_ALIKES[5], "code": code})
    assert late.status_code == 429
    assert me(client)["authenticated"] is False


def test_wrong_passwords_count_against_the_account_whatever_the_spelling(client, make_user):
    make_user(email=ADDRESS)
    for spelling in LOOK_ALIKES[:5]:
        answer = post_form(client, "/signin", {"email": spelling, "password": "wrong guess 1"})
        assert answer.status_code == 400, spelling
    assert (
        post_form(client, "/signin", {"email": LOOK_ALIKES[5], "password": "wrong guess 2"})
    ).status_code == 429


def test_only_the_newest_sign_in_code_and_link_work(client, make_user, run_worker, outbox):
    make_user(email=ADDRESS)
    post_form(client, "/signin/link", {"email": ADDRESS})
    run_worker()
    post_form(client, "/signin/link", {"email": "READER@example.com"})
    run_worker()
    first, second = (m.text_body for m in outbox(ADDRESS))
    # The first mail was spent when the second was issued: its code and link are dead.
    stale = post_form(client, "/signin/code", {"email": ADDRESS, "code": code_in(first)})
    assert stale.status_code == 400
    assert client.get(link_in(first, "/signin/link/")).status_code == 400
    fresh = post_form(client, "/signin/code", {"email": ADDRESS, "code": code_in(second)})
    assert fresh.status_code == 303
    assert me(client)["email"] == ADDRESS


def test_a_guess_is_tried_against_one_code_only(make_user):
    """Even when two sign-in mails race past the revocation, a guess tests the newest code."""
    user = make_user(email=ADDRESS)
    older = tokens.issue(user, "signin", lifetime=timedelta(minutes=15), with_code=True)
    newer = tokens.issue(user, "signin", lifetime=timedelta(minutes=15), with_code=True)
    db.session.commit()
    assert older.code and newer.code
    if older.code == newer.code:
        pytest.skip("the two random codes happen to match")
    with pytest.raises(TokenInvalid):
        tokens.match_code(user, older.code, SIGNIN_PURPOSES, 5)
    db.session.rollback()
    assert tokens.match_code(user, newer.code, SIGNIN_PURPOSES, 5).id == newer.token.id


def test_sign_in_mails_per_ip_are_limited_whatever_the_addresses(client):
    for n in range(20):
        answer = post_form(client, "/signin/link", {"email": f"someone{n}@example.com"})
        assert answer.status_code == 200
    blocked = post_form(client, "/signin/link", {"email": "one-more@example.com"})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0


def test_wrong_codes_per_ip_are_limited_whatever_the_addresses(client):
    for n in range(20):
        answer = post_form(client, "/signin/code", {"email": f"s{n}@example.com", "code": "123456"})
        assert answer.status_code == 400
    blocked = post_form(client, "/signin/code", {"email": "new@example.com", "code": "123456"})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0


def test_another_ip_is_not_held_by_one_ips_code_limit(app, client):
    for n in range(20):
        post_form(client, "/signin/code", {"email": f"s{n}@example.com", "code": "123456"})
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    answer = post_form(elsewhere, "/signin/code", {"email": "new@example.com", "code": "123456"})
    assert answer.status_code == 400


@pytest.mark.parametrize(
    "spelling",
    [ADDRESS, *LOOK_ALIKES, "Reader+news@example.com", "ｒｅａｄｅｒ＋ｔａｇ@ｅxample.com"],
)
def test_a_trial_claim_is_the_same_for_every_look_alike(spelling):
    assert email_key(spelling) == ADDRESS


def test_a_trial_claim_folds_gmail_look_alikes_too():
    spellings = ["Jane.Doe+news@GoogleMail.com", "ｊａｎｅ.ｄｏｅ@ｇmail.com", "𝐣𝐚𝐧𝐞𝐝𝐨𝐞@gmail.com"]
    assert {email_key(s) for s in spellings} == {"janedoe@gmail.com"}


def test_newsletter_subscription_is_kept_under_the_canonical_spelling(client, run_worker, outbox):
    answer = client.post(
        "/newsletters",
        data={
            "csrf_token": csrf_token(client, "/newsletters"),
            "email": "ｒｅａｄｅｒ@𝐞xample.com",
            "lists": ["takeaway"],
        },
    )
    assert answer.status_code == 200
    run_worker()
    (mail,) = outbox(ADDRESS)
    link = link_in(mail.text_body, "/newsletters/confirm/")
    assert post_form(client, link, {}, form_page=link).status_code in {200, 303}
    rows = list(db.session.scalars(select(ListSubscription)))
    assert [(r.email, r.list_slug, r.status) for r in rows] == [(ADDRESS, "takeaway", "confirmed")]


def test_team_domains_are_kept_in_the_form_canonical_addresses_hold():
    assert check_domains("Bücher.DE, @ＡＣＭＥ.com, acme.com") == ["xn--bcher-kva.de", "acme.com"]
