"""Free newsletters: double opt-in, the same answer for everyone, one-click unsubscribe,
choosing lists on the account page, staff counts and exports."""

from __future__ import annotations

import csv
import io
import re

import pytest

from paywall.extensions import db
from paywall.mail import bulk
from paywall.newsletters import service
from paywall.newsletters.mailings import send_free_issue
from paywall.newsletters.models import ListSubscription
from tests.helpers import csrf_token, link_in, make_user, post_form, sign_in


def subscribe(client, email: str, *lists: str):  # type: ignore[no-untyped-def]
    return post_form(client, "/newsletters", {"email": email, "lists": list(lists)},
                     form_page="/newsletters")  # fmt: skip


def confirmed(email: str) -> set[str]:
    db.session.expire_all()
    return service.confirmed_lists(email)


def confirm_from_mail(client, mail) -> str:  # type: ignore[no-untyped-def]
    path = link_in(mail.text_body, "/newsletters/confirm/")
    page = client.get(path)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    assert token
    answer = client.post(path, data={"csrf_token": token.group(1)})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_data(as_text=True)


def test_double_opt_in(app, client, outbox, run_worker) -> None:  # type: ignore[no-untyped-def]
    page = subscribe(client, "  Reader@Example.com ", "takeaway", "gulf")
    assert page.status_code == 200 and "Check your inbox" in page.get_data(as_text=True)
    assert confirmed("reader@example.com") == set()  # nothing until the address is proven
    run_worker()
    [mail] = outbox("reader@example.com")
    assert "The Takeaway" in mail.text_body and "Gulf" in mail.html_body
    # Opening the link only shows a button (mail scanners follow links); the POST confirms.
    path = link_in(mail.text_body, "/newsletters/confirm/")
    client.get(path)
    assert confirmed("reader@example.com") == set()
    assert "You're subscribed" in confirm_from_mail(client, mail)
    assert confirmed("reader@example.com") == {"takeaway", "gulf"}
    # The link is single-use.
    assert client.get(path).status_code == 400


def test_the_answer_never_says_whether_an_address_is_subscribed(
    app, client, outbox, run_worker
) -> None:  # type: ignore[no-untyped-def]
    service.subscribe_confirmed("known@example.com", ["takeaway"])
    db.session.commit()
    known = subscribe(client, "known@example.com", "takeaway")
    unknown = subscribe(app.test_client(), "new@example.com", "takeaway")
    assert known.status_code == unknown.status_code == 200
    strip = lambda r, e: r.get_data(as_text=True).replace(e, "")  # noqa: E731
    assert re.sub(r'value="[^"]+"', "", strip(known, "known@example.com")) == re.sub(
        r'value="[^"]+"', "", strip(unknown, "new@example.com")
    )
    run_worker()
    assert outbox("known@example.com") == []  # already on the list: no mail at all
    assert len(outbox("new@example.com")) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "not-an-address", "lists": ["takeaway"]}, "valid email"),
        ({"email": "a@example.com"}, "Choose at least one newsletter."),
        ({"email": "a@example.com", "lists": ["takeaway", "nope"]}, "no newsletter called"),
    ],
)
def test_bad_input_comes_back_with_the_fields_error(app, client, outbox, data, message) -> None:  # type: ignore[no-untyped-def]
    response = post_form(client, "/newsletters", data, form_page="/newsletters")
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and message in body
    if "lists" in data:  # the boxes the reader ticked stay ticked
        assert 'value="takeaway" checked' in body
    assert outbox() == []


def test_mails_to_one_address_are_rate_limited(app, client) -> None:  # type: ignore[no-untyped-def]
    answers = [subscribe(client, "spam@example.com", "takeaway").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]


def test_issue_mail_carries_one_click_unsubscribe(app, outbox, run_worker) -> None:  # type: ignore[no-untyped-def]
    service.subscribe_confirmed("one@example.com", ["gulf"])
    service.subscribe_confirmed("two@example.com", ["gulf", "iraq"])
    service.subscribe_confirmed("other@example.com", ["iraq"])
    db.session.commit()
    mailing, made = send_free_issue("gulf", "Gulf this week", "Oil and *diplomacy*.", "<p>Oil</p>")
    db.session.commit()
    run_worker()  # without MAIL_URL, each recipient's mail is kept in the outbox
    assert made and bulk.counts(mailing.id)["sent"] == 2
    [mail] = outbox("one@example.com")
    assert mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = mail.headers["List-Unsubscribe"].strip("<>")
    assert link.startswith("http") and link in mail.text_body and link in mail.html_body
    assert outbox("other@example.com") == []
    # A mail provider POSTs to the link with no cookie and no CSRF token (RFC 8058).
    path = link_in(link, "/newsletters/unsubscribe/")
    answer = app.test_client().post(path, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert confirmed("one@example.com") == set()
    assert confirmed("two@example.com") == {"gulf", "iraq"}  # only that address, that list
    # Twice is the same as once; the page then says so.
    assert app.test_client().post(path).status_code == 200
    assert "is not subscribed" in app.test_client().get(path).get_data(as_text=True)


def test_a_forged_unsubscribe_link_is_refused(app) -> None:  # type: ignore[no-untyped-def]
    service.subscribe_confirmed("one@example.com", ["gulf"])
    db.session.commit()
    assert app.test_client().post("/newsletters/unsubscribe/1").status_code == 404
    assert confirmed("one@example.com") == {"gulf"}


def test_a_verified_reader_chooses_lists_on_the_account_page(app, client, outbox) -> None:  # type: ignore[no-untyped-def]
    user = make_user()
    sign_in(client, user.email)
    token = csrf_token(client, "/account")
    answer = client.post("/account/newsletters",
                         data={"csrf_token": token, "lists": ["takeaway", "turkey"]})  # fmt: skip
    assert answer.status_code == 303 and "newsletters-saved" in answer.headers["Location"]
    assert confirmed(user.email) == {"takeaway", "turkey"}
    page = client.get("/account").get_data(as_text=True)
    assert 'value="takeaway" checked' in page and 'value="gulf" checked' not in page
    # Unticking a list takes the address off it; nothing is mailed to a proven address.
    client.post("/account/newsletters", data={"csrf_token": token, "lists": ["turkey"]})
    assert confirmed(user.email) == {"turkey"}
    client.post("/account/newsletters", data={"csrf_token": token})
    assert confirmed(user.email) == set()
    assert outbox(user.email) == []
    bad = client.post("/account/newsletters", data={"csrf_token": token, "lists": ["x"]})
    assert bad.status_code == 400 and "no newsletter called" in bad.get_data(as_text=True)


def test_an_unverified_reader_confirms_by_mail(app, client, outbox, run_worker) -> None:  # type: ignore[no-untyped-def]
    user = make_user(verified=False)
    sign_in(client, user.email)
    token = csrf_token(client, "/account")
    answer = client.post("/account/newsletters", data={"csrf_token": token, "lists": ["iraq"]})
    assert "newsletters-confirm-sent" in answer.headers["Location"]
    assert confirmed(user.email) == set()
    run_worker()
    [mail] = outbox(user.email)
    confirm_from_mail(client, mail)
    assert confirmed(user.email) == {"iraq"}


def test_staff_see_counts_and_export_csv(app, client) -> None:  # type: ignore[no-untyped-def]
    service.subscribe_confirmed("a@example.com", ["gulf"])
    service.subscribe_confirmed("b@example.com", ["gulf", "iraq"])
    db.session.add(ListSubscription(email="pending@example.com", list_slug="gulf"))
    db.session.commit()
    make_user(email="staff@example.com", role="admin")
    sign_in(client, "staff@example.com")
    page = client.get("/admin/newsletters/").get_data(as_text=True)
    assert re.search(r'id="list-gulf">.*?class="count">2<', page, re.S)
    assert re.search(r'id="list-iraq">.*?class="count">1<', page, re.S)
    export = client.get("/admin/newsletters/gulf.csv")
    assert export.headers["Content-Disposition"] == 'attachment; filename="gulf-subscribers.csv"'
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True))))
    assert rows[0] == ["email", "subscribed_at"]
    assert [r[0] for r in rows[1:]] == ["a@example.com", "b@example.com"]
    assert client.get("/admin/newsletters/nope.csv").status_code == 404


def test_readers_cannot_see_the_staff_screens(app, client) -> None:  # type: ignore[no-untyped-def]
    user = make_user()
    sign_in(client, user.email)
    assert client.get("/admin/newsletters/").status_code == 404
    assert client.get("/admin/newsletters/gulf.csv").status_code == 404


def test_cli_export_and_send(app, tmp_path, outbox, run_worker) -> None:  # type: ignore[no-untyped-def]
    service.subscribe_confirmed("a@example.com", ["iraq"])
    db.session.commit()
    runner = app.test_cli_runner()
    out = tmp_path / "iraq.csv"
    result = runner.invoke(args=["newsletters", "export", "iraq", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines()[1].startswith("a@example.com,")
    issue = tmp_path / "issue.md"
    issue.write_text("# Iraq this week\n\nBaghdad's budget, at last.\n")
    result = runner.invoke(args=["newsletters", "send", "iraq", str(issue), "--subject", "Iraq"])
    assert result.exit_code == 0 and "Queued 1 mail" in result.output
    run_worker()
    [mail] = outbox("a@example.com")
    assert (
        "Baghdad's budget" in mail.text_body
        and "<p>Baghdad's budget, at last.</p>" in mail.html_body
    )


def test_an_issue_subject_with_a_line_break_is_refused_in_one_line(app, tmp_path, outbox) -> None:  # type: ignore[no-untyped-def]
    """Every subscriber's mail would carry it, and none could be sent."""
    service.subscribe_confirmed("a@example.com", ["iraq"])
    db.session.commit()
    issue = tmp_path / "issue.md"
    issue.write_text("Baghdad's budget, at last.\n")
    result = app.test_cli_runner().invoke(
        args=[
            "newsletters",
            "send",
            "iraq",
            str(issue),
            "--subject",
            "Iraq\nBcc: victim@example.com",
        ]
    )
    assert result.exit_code == 1 and result.output == "Error: --subject must be one line of text\n"
    assert outbox() == []
