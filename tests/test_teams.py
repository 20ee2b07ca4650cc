"""Team plans: onboarding, the manager's invitations, joining a seat, removal, the seat cap,
invitations that expire or are reused, and managers kept to their own team."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from paywall import clock
from paywall.extensions import db
from paywall.teams.models import Team, TeamInvite, TeamRequest
from tests.helpers import csrf_token, link_in, make_item, make_user, sign_in

SENTINEL = "Sentence for team members only."


def onboard(app, *, name="Acme", seats=3, manager="boss@acme.example", billing="manual"):  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(args=["teams", "create", "--name", name, "--seats", str(seats),
                                                "--manager", manager, "--billing", billing])  # fmt: skip
    assert result.exit_code == 0, result.output
    return db.session.scalar(select(Team).where(Team.name == name))


def invite_link(outbox, email: str) -> str:
    return link_in(outbox(email)[-1].text_body, "/team/join/")


def accept(app, email: str, link: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    make_user(email=email)
    sign_in(client, email)
    page = client.get(link)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    assert token, page.get_data(as_text=True)
    return client, client.post(link, data={"csrf_token": token.group(1)})


def test_manual_team_from_onboarding_to_a_member_reading(app, outbox) -> None:  # type: ignore[no-untyped-def]
    memo = make_item(kind="memo", body=SENTINEL).url_path()
    team = onboard(app)
    manager, answer = accept(app, "boss@acme.example", invite_link(outbox, "boss@acme.example"))
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/team")
    page = manager.get("/team").get_data(as_text=True)
    assert "1 of 3 seats used" in page
    token = csrf_token(manager, "/team")
    invited = manager.post("/team/invites", data={"csrf_token": token,
                                                  "emails": "ana@acme.example, not-an-address\nbo@acme.example"})  # fmt: skip
    report = invited.get_data(as_text=True)
    assert "ana@acme.example: invited" in report and "bo@acme.example: invited" in report
    assert 'not-an-address: <span class="error">not invited' in report
    member, joined = accept(app, "ana@acme.example", invite_link(outbox, "ana@acme.example"))
    assert joined.status_code == 303
    assert SENTINEL in member.get(memo).get_data(as_text=True)
    page = manager.get("/team").get_data(as_text=True)
    assert "2 of 3 seats used" in page and "ana@acme.example" in page and "invited" in page
    # Removal: the seat is free and access ends on the member's next request.
    member_id = re.search(r"/team/members/(\d+)/remove", page).group(1)  # type: ignore[union-attr]
    manager.post(f"/team/members/{member_id}/remove", data={"csrf_token": token})
    assert SENTINEL not in member.get(memo).get_data(as_text=True)
    db.session.expire_all()
    assert team.seats_used == 1
    log = manager.get("/team").get_data(as_text=True)
    for action in ("created", "invited", "joined", "removed"):
        assert f"<td>{action}</td>" in log


def test_invitations_are_single_use_and_expire(app, outbox, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    onboard(app)
    link = invite_link(outbox, "boss@acme.example")
    client, answer = accept(app, "boss@acme.example", link)
    assert answer.status_code == 303
    again = client.post(link, data={"csrf_token": csrf_token(client, "/team")})
    assert again.status_code == 400 and "not valid" in again.get_data(as_text=True)
    client.post(
        "/team/invites",
        data={"csrf_token": csrf_token(client, "/team"), "emails": "late@acme.example"},
    )
    late_link = invite_link(outbox, "late@acme.example")
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(days=15))
    late = app.test_client()
    assert late.get(late_link).status_code == 400


def test_the_wrong_address_cannot_use_an_invitation(app, outbox) -> None:  # type: ignore[no-untyped-def]
    onboard(app)
    _, answer = accept(app, "intruder@example.com", invite_link(outbox, "boss@acme.example"))
    assert (
        answer.status_code == 400
        and "This invitation is for boss@acme.example" in answer.get_data(as_text=True)
    )


def test_a_full_team_says_so_and_tells_the_manager(app, outbox) -> None:  # type: ignore[no-untyped-def]
    onboard(app, seats=2)
    manager, _ = accept(app, "boss@acme.example", invite_link(outbox, "boss@acme.example"))
    manager.post("/team/invites", data={"csrf_token": csrf_token(manager, "/team"),
                                        "emails": "one@acme.example two@acme.example"})  # fmt: skip
    _, first = accept(app, "one@acme.example", invite_link(outbox, "one@acme.example"))
    assert first.status_code == 303
    _, second = accept(app, "two@acme.example", invite_link(outbox, "two@acme.example"))
    assert second.status_code == 409 and "no free seats" in second.get_data(as_text=True)
    assert any(m.subject == "Acme is out of seats" for m in outbox("boss@acme.example"))
    # The refused invitation was not spent: it works once a seat is free.
    db.session.expire_all()
    assert (
        db.session.scalar(select(TeamInvite).where(TeamInvite.email == "two@acme.example")).used_at
        is None
    )


def test_a_manager_reaches_nothing_of_another_team(app, outbox) -> None:  # type: ignore[no-untyped-def]
    onboard(app, name="Acme")
    onboard(app, name="Globex", manager="chief@globex.example")
    acme, _ = accept(app, "boss@acme.example", invite_link(outbox, "boss@acme.example"))
    globex, _ = accept(app, "chief@globex.example", invite_link(outbox, "chief@globex.example"))
    globex.post(
        "/team/invites",
        data={"csrf_token": csrf_token(globex, "/team"), "emails": "g@globex.example"},
    )
    page = globex.get("/team").get_data(as_text=True)
    member_id = re.search(r"/team/members/(\d+)/remove", page)
    invite_id = re.search(r"/team/invites/(\d+)/revoke", page).group(1)  # type: ignore[union-attr]
    token = csrf_token(acme, "/team")
    for path in (f"/team/invites/{invite_id}/revoke", f"/team/invites/{invite_id}/resend"):
        assert acme.post(path, data={"csrf_token": token}).status_code == 404
    globex_members = re.findall(r"/team/members/(\d+)/remove", page) or ["999"]
    assert (
        acme.post(
            f"/team/members/{globex_members[0]}/remove", data={"csrf_token": token}
        ).status_code
        == 404
    )
    assert "g@globex.example" not in acme.get("/team").get_data(as_text=True)
    del member_id
    # Someone who manages nothing sees no team page at all.
    reader = app.test_client()
    make_user(email="reader@example.com")
    sign_in(reader, "reader@example.com")
    assert reader.get("/team").status_code == 404


def test_the_request_form(app, client, outbox) -> None:  # type: ignore[no-untyped-def]
    make_user(email="staff@example.com", role="admin")
    token = csrf_token(client, "/teams")
    bad = client.post("/teams", data={"csrf_token": token, "organisation": "", "contact_name": "Dana",
                                      "email": "dana@initech.example", "seats": "0"})  # fmt: skip
    assert bad.status_code == 400 and "Name your organisation." in bad.get_data(as_text=True)
    good = client.post("/teams", data={"csrf_token": token, "organisation": "Initech", "contact_name": "Dana",
                                       "email": "Dana@Initech.example", "seats": "25", "message": "Q1 start"})  # fmt: skip
    assert good.status_code == 200 and "25 seats for <strong>Initech</strong>" in good.get_data(
        as_text=True
    )
    assert db.session.scalar(select(TeamRequest.contact_email)) == "dana@initech.example"
    assert outbox("staff@example.com")[0].subject == "Team plan request: Initech"
    staff = app.test_client()
    sign_in(staff, "staff@example.com")
    assert "Initech" in staff.get("/admin/teams/requests").get_data(as_text=True)


@pytest.mark.parametrize("bad", [["--seats", "0"], ["--manager", "nope"], ["--billing", "barter"]])
def test_teams_create_refuses_bad_input_in_one_line(app, bad) -> None:  # type: ignore[no-untyped-def]
    args = {
        "--name": "Acme",
        "--seats": "3",
        "--manager": "boss@acme.example",
        "--billing": "manual",
    }
    args.update(dict(zip(bad[::2], bad[1::2], strict=True)))
    result = app.test_cli_runner().invoke(
        args=["teams", "create", *[x for kv in args.items() for x in kv]]
    )
    assert result.exit_code != 0


def test_domain_join_within_the_seat_cap(app, outbox) -> None:  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(args=["teams", "create", "--name", "Acme", "--seats", "2",
                                                "--manager", "boss@acme.example", "--billing", "manual",
                                                "--domain", "acme.example"])  # fmt: skip
    assert result.exit_code == 0, result.output
    manager, _ = accept(app, "boss@acme.example", invite_link(outbox, "boss@acme.example"))
    colleague = app.test_client()
    make_user(email="carol@acme.example")
    sign_in(colleague, "carol@acme.example")
    assert "domain-join" not in colleague.get("/account").get_data(as_text=True)  # off by default
    manager.post("/team/domain-join", data={"csrf_token": csrf_token(manager, "/team"), "on": "1"})
    page = colleague.get("/account").get_data(as_text=True)
    assert "Join Acme" in page
    team_id = re.search(r"/team/join-by-domain/(\d+)", page).group(1)  # type: ignore[union-attr]
    joined = colleague.post(
        f"/team/join-by-domain/{team_id}", data={"csrf_token": csrf_token(colleague, "/account")}
    )
    assert joined.status_code == 303
    db.session.expire_all()
    assert db.session.get(Team, int(team_id)).seats_used == 2
    # The team is full now: nobody else is offered a seat, and a direct post is refused.
    outsider = app.test_client()
    make_user(email="dave@acme.example")
    sign_in(outsider, "dave@acme.example")
    assert "Join Acme" not in outsider.get("/account").get_data(as_text=True)
    refused = outsider.post(
        f"/team/join-by-domain/{team_id}", data={"csrf_token": csrf_token(outsider, "/account")}
    )
    assert refused.status_code == 404
    # Other domains never see it.
    other = app.test_client()
    make_user(email="eve@elsewhere.example")
    sign_in(other, "eve@elsewhere.example")
    assert "Join Acme" not in other.get("/account").get_data(as_text=True)


def test_a_manual_team_asks_staff_for_more_seats(app, outbox) -> None:  # type: ignore[no-untyped-def]
    make_user(email="staff@example.com", role="admin")
    onboard(app)
    manager, _ = accept(app, "boss@acme.example", invite_link(outbox, "boss@acme.example"))
    answer = manager.post(
        "/team/seats", data={"csrf_token": csrf_token(manager, "/team"), "seats": "4"}
    )
    assert answer.status_code == 303 and "seats-requested" in answer.headers["Location"]
    assert outbox("staff@example.com")[-1].subject == "Acme asks for 4 more seats"
    bad = manager.post(
        "/team/seats", data={"csrf_token": csrf_token(manager, "/team"), "seats": "0"}
    )
    assert bad.status_code == 400 and "Add between 1 and 10,000 seats." in bad.get_data(
        as_text=True
    )
