"""Team plans: onboarding, the manager's invitations, joining a seat, removal, the seat cap,
invitations that expire or are reused, and managers kept to their own team."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from paywall import audit, clock
from paywall.accounts.models import User
from paywall.billing.models import Subscription
from paywall.extensions import db
from paywall.mail.models import OutboxMail
from paywall.teams import joining
from paywall.teams.models import Team, TeamInvite, TeamMember, TeamRequest
from tests.helpers import csrf_token, link_in, make_item, make_user, sign_in

SENTINEL = "Sentence for team members only."
RACERS = 12
PG_POOL = RACERS + 2  # pg_app: a connection for each racing thread


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
        data={
            "csrf_token": csrf_token(client, "/team"),
            "emails": "d13@acme.example late@acme.example",
        },
    )
    day13_link, late_link = (
        invite_link(outbox, e) for e in ("d13@acme.example", "late@acme.example")
    )
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(days=13))
    colleague, on_day13 = accept(app, "d13@acme.example", day13_link)  # still good on day 13
    assert on_day13.status_code == 303 and "notice=team-joined" in on_day13.headers["Location"]
    page = colleague.get(on_day13.headers["Location"]).get_data(as_text=True)
    assert "You have joined your team" in page
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(days=15))
    late = app.test_client()
    assert late.get(late_link).status_code == 400
    make_user(email="late@acme.example")
    sign_in(late, "late@acme.example")
    on_day15 = late.post(late_link, data={"csrf_token": csrf_token(late, "/account")})
    assert on_day15.status_code == 400 and "has expired" in on_day15.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(Team)).seats_used == 2  # the manager and day 13 only


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
    """Every /team route that takes an id, walked from the URL map, with Globex's ids in the
    hands of Acme's manager: 404, and Globex is untouched."""
    onboard(app, name="Acme")
    result = app.test_cli_runner().invoke(args=["teams", "create", "--name", "Globex", "--seats", "5",
                                                "--manager", "chief@globex.example", "--billing", "manual",
                                                "--domain", "globex.example"])  # fmt: skip
    assert result.exit_code == 0, result.output
    acme, _ = accept(app, "boss@acme.example", invite_link(outbox, "boss@acme.example"))
    globex, _ = accept(app, "chief@globex.example", invite_link(outbox, "chief@globex.example"))
    token = csrf_token(globex, "/team")
    globex.post("/team/domain-join", data={"csrf_token": token, "on": "1"})
    globex.post("/team/invites", data={"csrf_token": token, "emails": "g@globex.example"})
    accept(app, "g@globex.example", invite_link(outbox, "g@globex.example"))
    globex.post("/team/invites", data={"csrf_token": token, "emails": "h@globex.example"})
    page = globex.get("/team").get_data(as_text=True)
    theirs = {
        "member_id": re.search(r"/team/members/(\d+)/remove", page).group(1),  # type: ignore[union-attr]
        "invite_id": re.search(r"/team/invites/(\d+)/revoke", page).group(1),  # type: ignore[union-attr]
        "team_id": db.session.scalar(select(Team.id).where(Team.name == "Globex")),
    }
    urls = app.url_map.bind("localhost")
    walked = []
    acme_token = csrf_token(acme, "/team")
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/team/") or not rule.arguments or rule.arguments == {"token"}:
            continue  # /team/join/<token> is a secret link, not an id: see the wrong-address test
        path = urls.build(rule.endpoint, {name: theirs[name] for name in rule.arguments})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):  # type: ignore[operator]
            answer = acme.open(path, method=method, data={"csrf_token": acme_token})
            assert answer.status_code == 404, (method, path, answer.status_code)
        walked.append(rule.rule)
    assert len(walked) >= 4, walked
    after = globex.get("/team").get_data(as_text=True)
    assert "g@globex.example" in after and "h@globex.example" in after
    assert "boss@acme.example" not in after and "2 of 5 seats used" in after
    assert "g@globex.example" not in acme.get("/team").get_data(as_text=True)
    # Someone who manages nothing sees no team page at all.
    reader = app.test_client()
    make_user(email="reader@example.com")
    sign_in(reader, "reader@example.com")
    assert reader.get("/team").status_code == 404


def test_the_request_form(app, client, outbox) -> None:  # type: ignore[no-untyped-def]
    """Posted with exactly CONTRACT.md's field names, as a publisher's own page would."""
    make_user(email="staff@example.com", role="admin")
    page = client.get("/teams").get_data(as_text=True)
    form = page[page.index('<form method="post" action="/teams"') :]
    named = re.findall(r'name="([^"]+)"', form[: form.index("</form>")])
    assert named == ["csrf_token", "organization", "name", "email", "seats", "message"]
    token = csrf_token(client, "/teams")
    bad = client.post("/teams", data={"csrf_token": token, "organization": "", "name": "Dana",
                                      "email": "dana@initech.example", "seats": "0"})  # fmt: skip
    assert bad.status_code == 400 and "Name your organisation." in bad.get_data(as_text=True)
    assert "Between 1 and 10,000." in bad.get_data(as_text=True)
    words = client.post("/teams", data={"csrf_token": token, "organization": "Initech",
                                        "name": "Dana", "email": "dana@initech.example",
                                        "seats": "ten"}).get_data(as_text=True)  # fmt: skip
    assert "Enter a whole number." in words and "Between 1 and 10,000." not in words
    good = client.post("/teams", data={"csrf_token": token, "organization": "Initech", "name": "Dana",
                                       "email": "Dana@Initech.example", "seats": "25", "message": "Q1 start"})  # fmt: skip
    assert good.status_code == 200 and "25 seats for <strong>Initech</strong>" in good.get_data(
        as_text=True
    )
    wanted = db.session.scalar(select(TeamRequest))
    assert (wanted.organisation, wanted.contact_name, wanted.contact_email, wanted.seats,
            wanted.message) == ("Initech", "Dana", "dana@initech.example", 25, "Q1 start")  # fmt: skip
    assert outbox("staff@example.com")[0].subject == "Team plan request: Initech"
    staff = app.test_client()
    sign_in(staff, "staff@example.com")
    assert "Initech" in staff.get("/admin/teams/requests").get_data(as_text=True)


def test_the_request_form_still_takes_its_old_field_names(client) -> None:  # type: ignore[no-untyped-def]
    answer = client.post("/teams", data={"csrf_token": csrf_token(client, "/teams"), "organisation": "Umbrella",
                                         "contact_name": "Ada", "email": "ada@umbrella.example", "seats": "3"})  # fmt: skip
    assert answer.status_code == 200 and "<strong>Umbrella</strong>" in answer.get_data(
        as_text=True
    )
    assert db.session.scalar(select(TeamRequest.contact_name)) == "Ada"


ONE_LINE = "Keep this to one line of plain text."
SMUGGLED = "\r\nBcc: victim@example.com"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("organization", "Initech" + SMUGGLED, ONE_LINE),
        ("organization", "Initech\n", ONE_LINE),  # even at the end, where strip() would hide it
        ("organization", "Initech\u2028Bcc: victim@example.com", ONE_LINE),  # a Unicode line end
        ("name", "Dana" + SMUGGLED, ONE_LINE),
        ("email", "dana@initech.example" + SMUGGLED, "Enter a valid email address."),
    ],
)
def test_a_line_break_in_a_one_line_field_of_the_request_form_is_refused(
    app, client, outbox, field, value, message
) -> None:  # type: ignore[no-untyped-def]
    """These fields end up in the staff's mail (the organisation in its subject): a line break
    there could never be sent, so the form says so and nothing is stored or queued."""
    make_user(email="staff@example.com", role="admin")
    data = {"csrf_token": csrf_token(client, "/teams"), "organization": "Initech",
            "name": "Dana", "email": "dana@initech.example", "seats": "5", field: value}  # fmt: skip
    answer = client.post("/teams", data=data)
    assert answer.status_code == 400
    assert f'<p class="error" id="{field}-error">{message}</p>' in answer.get_data(as_text=True)
    assert db.session.scalar(select(TeamRequest)) is None and outbox() == []


def test_a_nul_in_the_request_form_is_refused_before_the_form(app, client, outbox) -> None:  # type: ignore[no-untyped-def]
    """A NUL is refused for every route before any view (paywall.web's input guard), naming
    the field; nothing is stored or queued."""
    make_user(email="staff@example.com", role="admin")
    data = {"csrf_token": csrf_token(client, "/teams"), "organization": "Ini\x00tech",
            "name": "Dana", "email": "dana@initech.example", "seats": "5"}  # fmt: skip
    answer = client.post("/teams", data=data)
    assert answer.status_code == 400
    assert "organization holds a character that cannot be used." in answer.get_data(as_text=True)
    assert db.session.scalar(select(TeamRequest)) is None and outbox() == []


def test_a_team_name_with_a_line_break_is_refused_by_staff_screens_and_the_cli(app, outbox) -> None:  # type: ignore[no-untyped-def]
    """The team's name goes into the subject of every team mail (invitations, a full team)."""
    result = app.test_cli_runner().invoke(args=["teams", "create", "--name", "Acme" + SMUGGLED, "--seats", "3",
                                                "--manager", "boss@acme.example", "--billing", "manual"])  # fmt: skip
    assert result.exit_code == 1
    assert result.output == "Error: Write the team's name on one line.\n"
    team = onboard(app)
    staff = staff_client(app)
    home = f"/admin/teams/{team.id}"
    edited = staff.post(home + "/edit", data={"csrf_token": csrf_token(staff, home),
                                              "name": "Acme" + SMUGGLED, "paid_until": "2030-01-01"})  # fmt: skip
    assert edited.status_code == 400
    assert "Write the team&#39;s name on one line." in edited.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Team, team.id).name == "Acme"
    assert all("\n" not in mail.subject for mail in outbox())


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
    # Someone whose address at the domain is not confirmed is neither offered nor let in.
    unconfirmed = app.test_client()
    make_user(email="uma@acme.example", verified=False)
    sign_in(unconfirmed, "uma@acme.example")
    assert "Join Acme" not in unconfirmed.get("/account").get_data(as_text=True)
    refused = unconfirmed.post(
        f"/team/join-by-domain/{team_id}", data={"csrf_token": csrf_token(unconfirmed, "/account")}
    )
    assert refused.status_code == 404
    # Dave sees the offer too, but Carol takes the last seat first.
    outsider = app.test_client()
    make_user(email="dave@acme.example")
    sign_in(outsider, "dave@acme.example")
    assert "Join Acme" in outsider.get("/account").get_data(as_text=True)
    dave_token = csrf_token(outsider, "/account")
    joined = colleague.post(
        f"/team/join-by-domain/{team_id}", data={"csrf_token": csrf_token(colleague, "/account")}
    )
    assert joined.status_code == 303
    db.session.expire_all()
    assert db.session.get(Team, int(team_id)).seats_used == 2
    # The team is full now: Dave's click says so and tells the manager; no seat is taken.
    full = outsider.post(f"/team/join-by-domain/{team_id}", data={"csrf_token": dave_token})
    assert full.status_code == 409 and "Acme has no free seats" in full.get_data(as_text=True)
    assert outbox("boss@acme.example")[-1].subject == "Acme is out of seats"
    assert "Join Acme" not in outsider.get("/account").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Team, int(team_id)).seats_used == 2
    # Other domains never see it, nor get in.
    other = app.test_client()
    make_user(email="eve@elsewhere.example")
    sign_in(other, "eve@elsewhere.example")
    assert "Join Acme" not in other.get("/account").get_data(as_text=True)
    assert other.post(f"/team/join-by-domain/{team_id}",
                      data={"csrf_token": csrf_token(other, "/account")}).status_code == 404  # fmt: skip


def test_a_full_team_tells_its_manager_once_an_hour_however_often_colleagues_try(
    app, outbox, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(args=["teams", "create", "--name", "Acme", "--seats", "2",
                                                "--manager", "boss@acme.example", "--billing", "manual",
                                                "--domain", "acme.example"])  # fmt: skip
    assert result.exit_code == 0, result.output
    manager, _ = accept(app, "boss@acme.example", invite_link(outbox, "boss@acme.example"))
    token = csrf_token(manager, "/team")
    manager.post("/team/domain-join", data={"csrf_token": token, "on": "1"})
    manager.post("/team/invites", data={"csrf_token": token, "emails": "two@acme.example"})
    team_id = db.session.scalar(select(Team.id))
    join_path = f"/team/join-by-domain/{team_id}"
    carol = app.test_client()
    make_user(email="carol@acme.example")
    sign_in(carol, "carol@acme.example")
    assert (
        carol.post(join_path, data={"csrf_token": csrf_token(carol, "/account")}).status_code == 303
    )
    dave = app.test_client()
    make_user(email="dave@acme.example")
    sign_in(dave, "dave@acme.example")
    dave_token = csrf_token(dave, "/account")

    def told() -> list[str]:
        db.session.expire_all()
        return [m.text_body.split(" tried")[0] for m in outbox("boss@acme.example")
                if m.subject == "Acme is out of seats"]  # fmt: skip

    # The team is full: every attempt is refused, by domain or by invitation alike, and the
    # manager hears about it once.
    for _ in range(5):
        assert dave.post(join_path, data={"csrf_token": dave_token}).status_code == 409
    invited, refused = accept(app, "two@acme.example", invite_link(outbox, "two@acme.example"))
    assert refused.status_code == 409 and "no free seats" in refused.get_data(as_text=True)
    assert told() == ["dave@acme.example"]
    assert manager.get("/team").get_data(as_text=True).count("no free seat") == 1
    # An hour later the next attempt tells the manager again, and that is all for that hour.
    later = clock.now() + timedelta(hours=1, seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    join_link = invite_link(outbox, "two@acme.example")
    again = invited.post(join_link, data={"csrf_token": csrf_token(invited, join_link)})
    assert again.status_code == 409
    assert dave.post(join_path, data={"csrf_token": dave_token}).status_code == 409
    assert told() == ["dave@acme.example", "two@acme.example"]


@pytest.mark.postgres
def test_colleagues_meeting_a_full_team_at_once_tell_its_manager_once(pg_app) -> None:  # type: ignore[no-untyped-def]
    """The once-an-hour rule holds when the attempts come at the same moment, from any number
    of app instances: the check is in the database, behind a lock on the team's row."""
    with pg_app.app_context():
        boss = make_user(email="boss@acme.example")
        people = [make_user(email=f"p{i}@acme.example").id for i in range(RACERS)]
        team = Team(name="Acme", seats=1, seats_used=1, billing="manual",
                    paid_until=clock.now() + timedelta(days=30))  # fmt: skip
        db.session.add(team)
        db.session.flush()
        db.session.add(TeamMember(team_id=team.id, user_id=boss.id, role="manager"))
        db.session.commit()
        team_id, start = team.id, threading.Barrier(RACERS)

        def attempt(user_id: int) -> bool:
            with pg_app.app_context():
                try:
                    found, who = db.session.get(Team, team_id), db.session.get(User, user_id)
                    start.wait()
                    told = joining.tell_manager_full(found, who)
                    db.session.commit()
                    return told
                finally:
                    db.session.remove()

        with ThreadPoolExecutor(RACERS) as pool:
            told = list(pool.map(attempt, people))
        mails = db.session.scalar(select(func.count()).select_from(OutboxMail)
                                  .where(OutboxMail.template == "team_full"))  # fmt: skip
        assert sum(told) == 1 and mails == 1


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


def test_invitation_mail_is_limited_per_address_and_per_day(app, outbox, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    onboard(app, seats=3)
    manager, _ = accept(app, "boss@acme.example", invite_link(outbox, "boss@acme.example"))
    token = csrf_token(manager, "/team")
    manager.post("/team/invites", data={"csrf_token": token, "emails": "x@acme.example"})
    first_link = invite_link(outbox, "x@acme.example")
    page = manager.get("/team").get_data(as_text=True)
    invite_id = re.search(r"/team/invites/(\d+)/resend", page).group(1)  # type: ignore[union-attr]
    # At once again: refused, by the resend button and by the invite form, and no mail goes.
    again = manager.post(f"/team/invites/{invite_id}/resend", data={"csrf_token": token})
    assert again.status_code == 429 and "invited a few minutes ago" in again.get_data(as_text=True)
    report = manager.post("/team/invites", data={"csrf_token": token, "emails": "x@acme.example"})
    assert 'x@acme.example: <span class="error">not invited — invited a few minutes ago' in (
        report.get_data(as_text=True)
    )
    assert len(outbox("x@acme.example")) == 1
    # Ten minutes on, a resend mails a fresh link and the old one stops working.
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(minutes=11))
    resent = manager.post(f"/team/invites/{invite_id}/resend", data={"csrf_token": token})
    assert resent.status_code == 303 and len(outbox("x@acme.example")) == 2
    assert app.test_client().get(first_link).status_code == 400
    assert app.test_client().get(invite_link(outbox, "x@acme.example")).status_code == 200
    # A rolling day allows max(50, 2 x seats) invitations per team; three are spent already.
    many = " ".join(f"p{n}@acme.example" for n in range(60))
    report = manager.post("/team/invites", data={"csrf_token": token, "emails": many})
    text = report.get_data(as_text=True)
    assert text.count(": invited</li>") == 47
    assert text.count("over today&#39;s limit of 50 invitations") == 13


def staff_client(app):  # type: ignore[no-untyped-def]
    staff = app.test_client()
    make_user(email="staff@example.com", role="admin")
    sign_in(staff, "staff@example.com")
    return staff


def test_whether_the_manager_takes_a_seat_is_set_per_team(app, outbox) -> None:  # type: ignore[no-untyped-def]
    staff = staff_client(app)
    form = {"name": "Seatless", "seats": "2", "manager_email": "lead@seatless.example",
            "billing": "manual", "csrf_token": csrf_token(staff, "/admin/teams/")}  # fmt: skip
    assert staff.post("/admin/teams/", data=form).status_code == 303  # box unticked
    result = app.test_cli_runner().invoke(args=["teams", "create", "--name", "Seated", "--seats", "2",
                                                "--manager", "lead@seated.example", "--billing", "manual"])  # fmt: skip
    assert result.exit_code == 0, result.output
    result = app.test_cli_runner().invoke(args=["teams", "create", "--name", "CliSeatless", "--seats", "2",
                                                "--manager", "lead@cli.example", "--billing", "manual",
                                                "--no-manager-seat"])  # fmt: skip
    assert result.exit_code == 0, result.output
    for email in ("lead@seatless.example", "lead@seated.example", "lead@cli.example"):
        accept(app, email, invite_link(outbox, email))
    db.session.expire_all()
    used = {t.name: t.seats_used for t in db.session.scalars(select(Team))}
    assert used == {"Seatless": 0, "Seated": 1, "CliSeatless": 0}


def test_staff_run_a_team_from_its_page(app, outbox) -> None:  # type: ignore[no-untyped-def]
    memo = make_item(kind="memo", body=SENTINEL).url_path()
    team = onboard(app, seats=3)
    manager, _ = accept(app, "boss@acme.example", invite_link(outbox, "boss@acme.example"))
    manager.post("/team/invites", data={"csrf_token": csrf_token(manager, "/team"),
                                        "emails": "ana@acme.example pending@acme.example"})  # fmt: skip
    member, _ = accept(app, "ana@acme.example", invite_link(outbox, "ana@acme.example"))
    staff = staff_client(app)
    assert f'/admin/teams/{team.id}"' in staff.get("/admin/teams/").get_data(as_text=True)
    home = f"/admin/teams/{team.id}"
    page = staff.get(home).get_data(as_text=True)
    assert "2 of 3 used" in page and "ana@acme.example" in page and "pending@acme.example" in page
    assert "Members have access until" in page
    token = csrf_token(staff, home)

    def post(path: str, **data: str):  # type: ignore[no-untyped-def]
        return staff.post(home + path, data={"csrf_token": token, **data})

    # Seats: never below those in use; a manual team's seats are set directly.
    refused = post("/seats", seats="1")
    assert refused.status_code == 400 and "Between 2 (seats in use)" in refused.get_data(
        as_text=True
    )
    assert post("/seats", seats="5").status_code == 303
    # Domains are checked; a public mail service is refused; paid-until moves members' access.
    for bad, why in (("acme", "is not an email domain"), ("gmail.com", "public mail service")):
        answer = post("/edit", name="Acme", domains=bad, paid_until="2027-12-31")
        assert answer.status_code == 400 and why in answer.get_data(as_text=True)
    assert (
        post(
            "/edit", name="Acme Corp", domains="@Acme.example", paid_until="2030-06-30"
        ).status_code
        == 303
    )
    db.session.expire_all()
    assert (team.name, team.domains, team.seats) == ("Acme Corp", "acme.example", 5)
    assert "30 June 2030" in member.get("/account").get_data(as_text=True)
    # Managers: a member made one, a new one invited by mail.
    ana = re.search(r"/members/(\d+)/manager", staff.get(home).get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    assert post(f"/members/{ana}/manager").status_code == 303
    assert member.get("/team").status_code == 200
    assert post("/managers", manager_email="new@acme.example").status_code == 303
    assert "manage Acme Corp" in outbox("new@acme.example")[-1].subject
    # Revoke a pending invitation; remove a member (access ends on the next request).
    page = staff.get(home).get_data(as_text=True)
    invite_id = re.search(r"/invites/(\d+)/revoke", page).group(1)  # type: ignore[union-attr]
    assert post(f"/invites/{invite_id}/revoke").status_code == 303
    assert post(f"/members/{ana}/remove").status_code == 303
    assert SENTINEL not in member.get(memo).get_data(as_text=True)
    # Every change is in the team's audit log, with staff as the actor.
    actions = [e for e in db.session.scalars(select(audit.AuditEntry).where(
        audit.AuditEntry.actor_email == "staff@example.com"))]  # fmt: skip
    assert [e.action for e in actions] == ["team.seats_set", "team.edited", "team.manager_made",
                                           "team.invited", "team.invite_revoked", "team.removed"]  # fmt: skip
    assert all(e.team_id == team.id for e in actions)
    assert actions[1].details["paid_until"][1] == "2030-06-30"
    # One team's member under another team's page answers 404, and nothing changes.
    other = onboard(app, name="Globex", manager="chief@globex.example")
    boss = re.search(r"/members/(\d+)/remove", staff.get(home).get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    for action in ("remove", "manager"):
        assert staff.post(f"/admin/teams/{other.id}/members/{boss}/{action}",
                          data={"csrf_token": token}).status_code == 404  # fmt: skip
    assert "boss@acme.example" in staff.get(home).get_data(as_text=True)


def test_pasting_more_than_the_cap_reports_the_addresses_left_out(app, outbox) -> None:  # type: ignore[no-untyped-def]
    onboard(app, seats=150)  # a day's limit of 300 invitations: only the paste cap applies
    manager, _ = accept(app, "boss@acme.example", invite_link(outbox, "boss@acme.example"))
    many = "\n".join(f"p{n}@acme.example" for n in range(205))
    report = manager.post(
        "/team/invites", data={"csrf_token": csrf_token(manager, "/team"), "emails": many}
    ).get_data(as_text=True)
    assert report.count(": invited</li>") == 200
    for n in range(200, 205):
        assert (
            f'p{n}@acme.example: <span class="error">not invited — too many at once; '
            "at most 200 per paste" in report
        )
    assert not outbox("p200@acme.example") and outbox("p199@acme.example")


@pytest.mark.parametrize(
    "app_config", [{"STRIPE_SECRET_KEY": "sk_test_down", "STRIPE_API_BASE": "http://127.0.0.1:9"}]
)
def test_teams_create_says_in_one_line_when_stripe_is_down(app) -> None:  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(args=["teams", "create", "--name", "Acme", "--seats", "3",
                                                "--manager", "boss@acme.example", "--billing", "invoice"])  # fmt: skip
    assert result.exit_code == 1
    said = [line for line in result.stderr.splitlines() if line.startswith("Error")]  # not logs
    assert said == [
        "Error: Payments are not answering right now. Nothing was charged; please try again in "
        "a minute."
    ]
    assert db.session.scalar(select(Team)) is None


def own_subscription(user_id: int, days: int) -> Subscription:
    row = Subscription(stripe_subscription_id=f"sub_own_{user_id}", stripe_customer_id=f"cus_{user_id}",
                       user_id=user_id, plan="pro_annual", status="active",
                       current_period_end=clock.now() + timedelta(days=days))  # fmt: skip
    db.session.add(row)
    db.session.commit()
    return row


def test_a_manual_team_past_paid_until_ends_team_access_only(app, outbox, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Team access ends on the next request after paid-until; a member's own subscription is
    not touched and keeps them reading. The offer to stop paying twice is made once."""
    memo = make_item(kind="memo", body=SENTINEL).url_path()
    team = onboard(app, seats=3)  # paid until a year from now
    manager, _ = accept(app, "boss@acme.example", invite_link(outbox, "boss@acme.example"))
    token = csrf_token(manager, "/team")
    manager.post(
        "/team/invites", data={"csrf_token": token, "emails": "ana@acme.example pay@acme.example"}
    )
    ana, _ = accept(app, "ana@acme.example", invite_link(outbox, "ana@acme.example"))
    payer_id = make_user(email="pay@acme.example").id
    own = own_subscription(payer_id, days=500)
    payer = app.test_client()
    sign_in(payer, "pay@acme.example")
    link = invite_link(outbox, "pay@acme.example")
    joined = payer.post(link, data={"csrf_token": csrf_token(payer, link)})
    assert joined.headers["Location"].endswith("/team/welcome")  # offered, once
    assert SENTINEL in ana.get(memo).get_data(as_text=True)
    # Removed and invited again, the payer joins again: not offered a second time.
    page = manager.get("/team").get_data(as_text=True)
    row = re.search(r"pay@acme\.example</td>.*?/team/members/(\d+)/remove", page, re.S)
    manager.post(f"/team/members/{row.group(1)}/remove", data={"csrf_token": token})  # type: ignore[union-attr]
    manager.post("/team/invites", data={"csrf_token": token, "emails": "pay@acme.example"})
    link = invite_link(outbox, "pay@acme.example")
    again = payer.post(link, data={"csrf_token": csrf_token(payer, link)})
    assert again.status_code == 303 and not again.headers["Location"].endswith("/team/welcome")
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(days=366))
    assert SENTINEL not in ana.get(memo).get_data(as_text=True)
    assert ana.get("/api/v1/me").json["access"]["premium"] is False
    assert SENTINEL in payer.get(memo).get_data(as_text=True)
    assert payer.get("/api/v1/me").json["access"]["source"] == "subscription"
    db.session.expire_all()
    kept = db.session.get(Subscription, own.id)
    assert (kept.status, kept.cancel_at_period_end, kept.canceled_at) == ("active", False, None)
    staff = staff_client(app)
    assert "No access: the team has lapsed" in staff.get(f"/admin/teams/{team.id}").get_data(
        as_text=True
    )
