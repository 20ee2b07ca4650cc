"""Responses that depend on who is signed in carry `Cache-Control: private, no-store`, so no
shared cache keeps them (`Vary: Cookie` alone is not enough: many caches and CDNs ignore it).

The walk covers every GET route of the URL map (tests/urlmap.py), as a member who manages a
team and as staff, reading the raw header. A 200 without the header must be the very response
a visitor gets (then it does not depend on who asks: feeds, the sitemap, static files).
A second test puts Varnish in front of a live server, as a cache would be in production.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from paywall.accounts.comp import grant_comp
from paywall.content.models import ContentItem
from paywall.extensions import db
from paywall.teams.models import Team, TeamMember
from tests.browser import LiveSite
from tests.helpers import CSRF, PASSWORD, csrf_token, make_item, make_member, make_user
from tests.urlmap import SECRET, make_manager, paths, sample_items, signed_in


def directives(response: TestResponse | requests.Response) -> set[str]:
    raw = response.headers.get("Cache-Control") or ""
    return {part.strip().lower() for part in raw.split(",") if part.strip()}


def is_private(response: TestResponse | requests.Response) -> bool:
    return {"private", "no-store"} <= directives(response)


def same_for_everyone(member: TestResponse, visitor: TestResponse) -> bool:
    return (
        visitor.status_code == member.status_code
        and visitor.get_data() == member.get_data()
        and "Set-Cookie" not in member.headers
    )


def unmarked(app: Flask, client: FlaskClient, ids: dict[str, str],
             items: list[ContentItem]) -> list[str]:  # fmt: skip
    """Paths whose 200 for this client depends on who asks yet is not private, no-store."""
    visitor = app.test_client()
    wrong = []
    for _, path in paths(app, items, ids=ids):
        answer = client.get(path)
        if answer.status_code != 200 or is_private(answer):
            continue
        if not same_for_everyone(answer, visitor.get(path)):
            wrong.append(f"{path}: {answer.headers.get('Cache-Control')!r}")
    return wrong


@pytest.fixture
def data(app: Flask) -> dict[str, object]:
    items = sample_items()
    manager = make_manager("boss@acme.example")
    grant_comp(manager.email, until=None, reason="test", staff=None)
    staff = make_user(email="staff@example.com", role="admin")
    db.session.commit()
    team = db.session.scalars(db.select(Team)).one()
    seat = db.session.scalars(db.select(TeamMember)).one()
    ids = {"item_id": str(items[0].id), "user_id": str(manager.id), "team_id": str(team.id),
           "member_id": str(seat.id)}  # fmt: skip
    return {"items": items, "ids": ids, "manager": manager, "staff": staff}


def test_every_page_a_member_or_staff_gets_is_private_and_not_stored(app, data) -> None:  # type: ignore[no-untyped-def]
    member = signed_in(app, "boss@acme.example")
    registered = member.post(
        data["items"][3].url_path("/register"), data={"csrf_token": csrf_token(member, "/account")}
    )
    assert registered.status_code == 303
    for path in ("/account", "/team", "/industry/weekly", "/api/v1/me"):
        answer = member.get(path)
        assert answer.status_code == 200 and is_private(answer), (path, answer.headers)
    assert unmarked(app, member, data["ids"], data["items"]) == []
    staff = signed_in(app, "staff@example.com")
    assert is_private(staff.get("/admin/"))
    assert unmarked(app, staff, data["ids"], data["items"]) == []


def test_the_api_item_a_member_reads_is_private(app) -> None:  # type: ignore[no-untyped-def]
    memo = make_item(kind="memo", body=SECRET)
    make_member(email="member@example.com")
    answer = signed_in(app, "member@example.com").get(f"/api/v1/items/memo/{memo.slug}")
    assert SECRET in answer.get_data(as_text=True)
    assert "private" in answer.headers["Cache-Control"] and is_private(answer)


def test_what_does_not_depend_on_the_reader_stays_cacheable(app, client) -> None:  # type: ignore[no-untyped-def]
    make_item(kind="article", access="public")
    for path in ("/feed.xml", "/sitemap.xml", "/static/site.css", "/healthz", "/api/v1/items"):
        answer = client.get(path)
        assert answer.status_code == 200 and "no-store" not in directives(answer), path


def test_a_page_that_says_who_is_signed_in_is_private_for_visitors_too(app, client) -> None:  # type: ignore[no-untyped-def]
    """The visitor's home page says "Sign in": a cache that handed it to a member would be
    wrong, and one that handed a member's page to a visitor would leak."""
    assert is_private(client.get("/"))
    assert is_private(client.get("/api/v1/me"))


# --- a real cache in front ---------------------------------------------------------------

VARNISHD = shutil.which("varnishd") or (
    "/usr/sbin/varnishd" if Path("/usr/sbin/varnishd").exists() else None
)

# A cache set to "cache everything", as CDNs often are: cookies do not stop a lookup and Vary is
# not honoured, so only the response's own Cache-Control keeps a member's page out of it.
# Varnish's built-in rules run after these and refuse to store private / no-store responses.
VCL = """vcl 4.1;
backend site { .host = "127.0.0.1"; .port = "%(port)d"; }
sub vcl_recv { if (req.method == "GET" || req.method == "HEAD") { return (hash); } }
sub vcl_backend_response { unset beresp.http.Vary; }
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def varnish(live_site: LiveSite, tmp_path: Path) -> Iterator[str]:
    """Varnish (Debian's varnishd, no jail, its own work directory) in front of the live site."""
    backend = int(live_site.url.rsplit(":", 1)[1])
    (tmp_path / "site.vcl").write_text(VCL % {"port": backend})
    port = free_port()
    command = [VARNISHD or "varnishd", "-F", "-j", "none", "-n", str(tmp_path / "varnish"),
               "-a", f"127.0.0.1:{port}", "-f", str(tmp_path / "site.vcl"), "-s", "malloc,16m",
               "-T", "none"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60  # compiling the VCL takes a few seconds
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stdout.read()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "varnishd did not start listening"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()  # type: ignore[union-attr]


@pytest.mark.skipif(VARNISHD is None, reason="no varnishd (apt-get install varnish)")
def test_a_cache_in_front_never_hands_a_members_page_to_a_visitor(
    live_site, varnish, request
) -> None:  # type: ignore[no-untyped-def]
    memo = live_site.run(lambda: make_item(kind="memo", body=SECRET).slug)
    live_site.run(make_member, email="member@example.com")
    member, visitor = requests.Session(), requests.Session()
    request.addfinalizer(member.close)
    request.addfinalizer(visitor.close)
    token = CSRF.search(member.get(f"{varnish}/signin", timeout=10).text).group(1)  # type: ignore[union-attr]
    signed = member.post(f"{varnish}/signin", timeout=10, allow_redirects=False, data={
        "csrf_token": token, "email": "member@example.com", "password": PASSWORD})  # fmt: skip
    assert signed.status_code == 303, signed.text[:300]
    personal = (f"/api/v1/items/memo/{memo}", f"/memos/{memo}", "/api/v1/me", "/account")
    answers = {path: member.get(varnish + path, timeout=10) for path in personal}
    assert SECRET in answers[f"/api/v1/items/memo/{memo}"].text
    for path in personal:
        answer = visitor.get(varnish + path, timeout=10, allow_redirects=False)
        assert SECRET not in answer.text and "member@example.com" not in answer.text, path
    for path, answer in answers.items():
        assert answer.status_code == 200 and is_private(answer), (path, answer.headers)
    assert visitor.get(f"{varnish}/api/v1/me", timeout=10).json()["authenticated"] is False
    # The cache does work: what is the same for everyone is stored and served again.
    first = visitor.get(f"{varnish}/feed.xml", timeout=10)
    again = visitor.get(f"{varnish}/feed.xml", timeout=10)
    assert int(again.headers.get("Age", "0")) >= 0 and again.headers.get("X-Varnish", "").count(" ")
    assert first.text == again.text
