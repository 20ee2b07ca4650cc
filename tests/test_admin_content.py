"""Staff content screens and complimentary access."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from paywall import clock
from paywall.content.models import ContentItem
from paywall.extensions import db
from tests.helpers import csrf_token, make_item, make_member, make_user, sign_in

SENTINEL = "Staff-screen-sentinel"
NEW = {"kind": "memo", "slug": "a-new-memo", "title": "A new memo", "access": "premium",
       "teaser": "The teaser.", "body_markdown": f"## Heading\n\n{SENTINEL}"}  # fmt: skip


@pytest.fixture
def staff(app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    sign_in(client, make_user(role="admin").email)
    return client


def submit(client, path: str, data: dict, **kw):  # type: ignore[no-untyped-def]
    return client.post(
        path, data={"csrf_token": csrf_token(client, "/admin/content/new"), **data}, **kw
    )


def test_content_screens_are_404_for_everyone_but_staff(app) -> None:  # type: ignore[no-untyped-def]
    item = make_item()
    reader = app.test_client()
    sign_in(reader, make_member().email)
    for client in (app.test_client(), reader):
        for path in ("/admin/content/", "/admin/content/new", f"/admin/content/{item.id}/edit",
                     f"/admin/content/{item.id}/view?as=member", "/admin/comp"):  # fmt: skip
            assert client.get(path).status_code == 404, path


def test_staff_preview_then_save_a_draft_then_publish(staff) -> None:  # type: ignore[no-untyped-def]
    preview = submit(staff, "/admin/content/new", {**NEW, "action": "preview"})
    assert preview.status_code == 200 and "<h2>Heading</h2>" in preview.get_data(as_text=True)
    assert db.session.scalar(select(ContentItem)) is None, "a preview saves nothing"
    saved = submit(staff, "/admin/content/new", {**NEW, "action": "draft"})
    assert saved.status_code == 303
    item = db.session.scalar(select(ContentItem))
    assert item.status == "draft" and staff.get("/memos/a-new-memo").status_code == 404
    submit(
        staff, f"/admin/content/{item.id}/edit", {**NEW, "title": "Renamed", "action": "publish"}
    )
    db.session.expire_all()
    assert item.title == "Renamed" and item.status == "published"
    assert SENTINEL in staff.get("/memos/a-new-memo").get_data(as_text=True)
    submit(staff, f"/admin/content/{item.id}/unpublish", {})
    assert staff.get("/memos/a-new-memo").status_code == 404


def test_a_scheduled_item_appears_at_its_time(staff, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    submit(
        staff,
        "/admin/content/new",
        {**NEW, "published_at": "2031-05-01T09:00", "action": "publish"},
    )
    listing = staff.get("/admin/content/").get_data(as_text=True)
    assert "Scheduled for 1 May 2031 09:00 UTC" in listing
    assert staff.get("/memos/a-new-memo").status_code == 404
    item = db.session.scalar(select(ContentItem))
    later = item.published_at + timedelta(seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert staff.get("/memos/a-new-memo").status_code == 200


@pytest.mark.parametrize(
    ("change", "field_id", "message"),
    [
        ({"slug": "Not A Slug"}, "slug", "slug must be lowercase"),
        ({"title": ""}, "title", "title is required"),
        ({"kind": "event"}, "starts_at", "starts_at is required"),
        ({"published_at": "tomorrow"}, "published_at", "must be a date and time"),
        ({"kind": "podcast"}, "kind", "Not a valid choice"),
        ({"title": "x" * 301}, "title", "Field cannot be longer than 300 characters"),
    ],
)
def test_bad_input_comes_back_on_its_field(staff, change, field_id, message) -> None:  # type: ignore[no-untyped-def]
    response = submit(staff, "/admin/content/new", {**NEW, **change, "action": "draft"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'id="{field_id}-error">{message}' in html.replace("&#39;", "'") or (
        f'id="{field_id}-error"' in html and message in html
    )
    assert db.session.scalar(select(ContentItem)) is None


def test_a_report_pdf_uploaded_by_staff_downloads_for_members_only(app, staff) -> None:  # type: ignore[no-untyped-def]
    data = {**NEW, "kind": "trend_report", "slug": "a-report", "action": "publish",
            "pdf": (io.BytesIO(b"%PDF-1.4 staff upload"), "Figures 2027.pdf")}  # fmt: skip
    assert (
        submit(staff, "/admin/content/new", data, content_type="multipart/form-data").status_code
        == 303
    )
    assert app.test_client().get("/reports/a-report/files/Figures2027.pdf").status_code == 404
    member = app.test_client()
    sign_in(member, make_member().email)
    assert member.get("/reports/a-report/files/Figures2027.pdf").data == b"%PDF-1.4 staff upload"
    bad = {**data, "pdf": (io.BytesIO(b"not a pdf"), "x.pdf")}
    answer = submit(staff, "/admin/content/new", bad, content_type="multipart/form-data")
    assert answer.status_code == 400 and "Upload a PDF file" in answer.get_data(as_text=True)


def test_view_as_shows_the_wall_to_visitors_and_the_body_to_members(staff) -> None:  # type: ignore[no-untyped-def]
    item = make_item(body=SENTINEL, published=False)
    as_visitor = staff.get(f"/admin/content/{item.id}/view?as=visitor").get_data(as_text=True)
    as_member = staff.get(f"/admin/content/{item.id}/view?as=member").get_data(as_text=True)
    assert "Viewing as a visitor" in as_visitor and 'id="paywall"' in as_visitor
    assert SENTINEL not in as_visitor and "Already a member?" in as_visitor
    assert "Viewing as a PRO member" in as_member and SENTINEL in as_member
    assert staff.get(f"/admin/content/{item.id}/view?as=nobody").status_code == 404


def test_complimentary_access_is_granted_and_ended_by_email(app, staff) -> None:  # type: ignore[no-untyped-def]
    user = make_user(email="press@example.com")
    reader = app.test_client()
    sign_in(reader, user.email)
    until = (clock.now() + timedelta(days=30)).date()
    answer = submit(staff, "/admin/comp", {"email": "Press@Example.com ", "until": until.isoformat(),
                                            "reason": "Press pass"})  # fmt: skip
    assert answer.status_code == 303
    me = reader.get("/api/v1/me").get_json()["access"]
    assert me["premium"] is True and me["source"] == "comp"
    assert me["until"] == f"{until.isoformat()}T23:59:59.999999Z"
    assert "press@example.com" in staff.get("/admin/comp").get_data(as_text=True)
    assert submit(staff, "/admin/comp/end", {"end-email": "press@example.com"}).status_code == 303
    assert reader.get("/api/v1/me").get_json()["access"]["premium"] is False


def test_complimentary_access_for_an_unknown_address_is_a_field_error(staff) -> None:  # type: ignore[no-untyped-def]
    answer = submit(staff, "/admin/comp", {"email": "nobody@example.com", "reason": "x"})
    assert answer.status_code == 400 and "No account uses that address." in answer.get_data(
        as_text=True
    )
    answer = submit(staff, "/admin/comp", {"email": "nobody@example.com", "reason": ""})
    assert answer.status_code == 400 and "Say why." in answer.get_data(as_text=True)
    answer = submit(staff, "/admin/comp/end", {"end-email": "nobody@example.com"})
    assert answer.status_code == 400 and "No running complimentary access" in answer.get_data(
        as_text=True
    )
