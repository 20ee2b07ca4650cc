"""Live Q&A and events: members register and cancel, capacity holds, calendar files."""

from __future__ import annotations

from datetime import timedelta

import pytest

from paywall import clock
from paywall.content.registrations import Registration
from paywall.extensions import db
from tests.helpers import csrf_token, make_item, make_member, make_user, sign_in

STREAM = "https://stream.example.com/members-room-77"
REPLAY = "https://www.youtube.com/watch?v=Ab3dE5gH7jK"


def signed_in(app, user):  # type: ignore[no-untyped-def]
    client = app.test_client()
    sign_in(client, user.email)
    return client


def post(client, path: str):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": csrf_token(client, "/account")})


@pytest.fixture
def event(app):  # type: ignore[no-untyped-def]
    return make_item(kind="event", capacity=2, stream_url=STREAM, place="DIFC, Dubai",
                     duration_minutes=90)  # fmt: skip


def test_a_member_registers_sees_the_stream_and_cancels(app, event) -> None:  # type: ignore[no-untyped-def]
    member = signed_in(app, make_member())
    page = member.get(event.url_path()).get_data(as_text=True)
    assert "2 of 2 places left" in page and STREAM not in page
    answer = post(member, event.url_path("/register"))
    assert answer.status_code == 303
    page = member.get(answer.headers["Location"]).get_data(as_text=True)
    assert "You are registered" in page and STREAM in page and "1 of 2 places left" in page
    post(member, event.url_path("/cancel"))
    page = member.get(event.url_path()).get_data(as_text=True)
    assert STREAM not in page and "2 of 2 places left" in page
    # Registering again after cancelling takes a seat again, on the same row.
    post(member, event.url_path("/register"))
    db.session.expire_all()
    assert event.registered_count == 1 and db.session.query(Registration).count() == 1


def test_registering_twice_takes_one_seat(app, event) -> None:  # type: ignore[no-untyped-def]
    member = signed_in(app, make_member())
    post(member, event.url_path("/register"))
    post(member, event.url_path("/register"))
    db.session.expire_all()
    assert event.registered_count == 1


def test_a_full_event_says_so_and_never_overfills(app, event) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):
        assert post(signed_in(app, make_member()), event.url_path("/register")).status_code == 303
    late = signed_in(app, make_member())
    answer = post(late, event.url_path("/register"))
    assert answer.status_code == 409 and "This event is full." in answer.get_data(as_text=True)
    assert "This event is full." in late.get(event.url_path()).get_data(as_text=True)
    db.session.expire_all()
    assert event.registered_count == 2


def test_free_readers_and_visitors_cannot_register_or_see_the_stream(app, event) -> None:  # type: ignore[no-untyped-def]
    reader = signed_in(app, make_user())
    answer = post(reader, event.url_path("/register"))
    assert answer.status_code == 403 and "for PRO members" in answer.get_data(as_text=True)
    visitor = app.test_client()
    answer = visitor.post(event.url_path("/register"), data={"csrf_token": csrf_token(visitor)})
    assert answer.status_code == 302 and "/signin" in answer.headers["Location"]
    for client in (reader, visitor):
        assert STREAM not in client.get(event.url_path()).get_data(as_text=True)
        assert client.get(event.url_path("/calendar.ics")).status_code in (302, 404)


def test_registering_after_the_session_ended_is_refused(app, event, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    later = event.starts_at + timedelta(hours=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    answer = post(signed_in(app, make_member()), event.url_path("/register"))
    assert answer.status_code == 409 and "already taken place" in answer.get_data(as_text=True)


def test_only_sessions_take_registrations(app) -> None:  # type: ignore[no-untyped-def]
    memo = make_item(kind="memo")
    answer = post(signed_in(app, make_member()), f"/events/{memo.slug}/register")
    assert answer.status_code == 404


def test_the_calendar_file_is_for_registered_members(app, event) -> None:  # type: ignore[no-untyped-def]
    member = signed_in(app, make_member())
    assert member.get(event.url_path("/calendar.ics")).status_code == 404
    post(member, event.url_path("/register"))
    answer = member.get(event.url_path("/calendar.ics"))
    assert (
        answer.mimetype == "text/calendar" and "attachment" in answer.headers["Content-Disposition"]
    )
    text = answer.get_data(as_text=True)
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    unfolded = text.replace("\r\n ", "")
    lines = unfolded.split("\r\n")
    assert "DTSTART:20300101T100000Z" in lines and "DTEND:20300101T113000Z" in lines
    assert "LOCATION:DIFC\\, Dubai" in lines and f"URL:{STREAM}" in lines
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))


def test_replays_are_for_members(app) -> None:  # type: ignore[no-untyped-def]
    past = make_item(kind="live_qa", starts_at="2026-01-05T14:00:00Z", stream_url=STREAM,
                     replay_url=REPLAY, body="Watch below.")  # fmt: skip
    member_page = signed_in(app, make_member()).get(past.url_path()).get_data(as_text=True)
    assert "Watch the replay" in member_page and REPLAY in member_page
    for client in (app.test_client(), signed_in(app, make_user())):
        page = client.get(past.url_path()).get_data(as_text=True)
        assert REPLAY not in page and STREAM not in page and "Replays are for PRO members" in page
