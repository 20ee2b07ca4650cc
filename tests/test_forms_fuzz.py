"""Every form the URL map has, as every role, with hostile input: never a 5xx.

For each POST route (and each route a `<form method="get">` submits to), a property-based test
(hypothesis) posts the form's own field names, found in the rendered HTML of every page each
role can see, with a valid CSRF token. Each example leaves most fields valid and attacks a few
with arbitrary text, numbers, Unicode digits, huge numbers or dates at the edges. A save that
redirects is followed, and so are the links on the page it lands on (staff's "view as" pages,
an item's page), so a value that saves and then breaks a page is caught too.

Deterministic in CI: derandomized, no example database. The forms and the roles come from
tests/formwalk.py; the sample data is the URL-map walk's (tests/urlmap.py) plus a reader, a
member, a team manager and staff, made once and copied for each test.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from paywall import create_app
from paywall.content.models import ContentItem
from paywall.devstripe.server import RunningEmulator
from paywall.extensions import db
from tests.conftest import PG_URL, IsolatedClient, build_app
from tests.formwalk import ROLES, Field, Form, FormParser, Site, discover_forms, make_site
from tests.helpers import PASSWORD, csrf_token, make_item, make_user, sign_in
from tests.urlmap import item_arguments, routes

EXAMPLES = 25
# A valid value for fields known by name; others take the form's own value or options.
VALID = {
    "email": "member@example.com", "password": PASSWORD, "current_password": PASSWORD,
    "new_email": "new@example.com", "code": "123456", "name": "Fuzz Ltd",
    "organization": "Fuzz Ltd", "seats": "3", "message": "Hello", "emails": "ana@acme.example",
    "manager_email": "boss@fuzz.example", "paid_until": "2031-01-01", "until": "2031-01-01",
    "reason": "testing", "slug": "fuzz-item", "title": "Fuzz", "teaser": "Teaser",
    "body_markdown": "Body", "published_at": "2026-01-01T08:00", "starts_at": "2031-01-01T10:00",
    "duration_minutes": "60", "place": "Dubai", "author": "Ana",
    "stream_url": "https://stream.example.com/x", "replay_url": "https://replay.example.com/x",
    "q": "memo", "details": "Too dear", "domains": "fuzz.example", "plan": "pro_annual",
}  # fmt: skip
EDGE_DATES = ["0001-01-01", "9999-12-31", "0001-01-01T00:00", "9999-12-31T23:59",
              "9999-12-31T23:59:59Z", "0000-00-00", "2026-02-30", "1970-01-01T00:00",
              "2026-13-01", "2026-12-01T24:00", "0001-01-01T00:00:00-14:00"]  # fmt: skip
UNICODE_DIGITS = ["²", "٣", "１２", "௧௨", "𝟗𝟗", "Ⅻ", "½", "߀", "٠٠٠١"]
HUGE = [str(2**31), str(2**63), "9" * 40, "-1", "0", "-0", "1e309", "NaN", "+5", " 5 ", "05"]
ODD = ["", " ", "a\r\nBcc: x@evil.example", "x" * 3000, "<script>alert(1)</script>",
       "=cmd|'/Ccalc'!A0@example.com", "\x00", "reader@ｅxample.com", "../../etc/passwd"]  # fmt: skip


@pytest.fixture(scope="module")
def stripe_emulator() -> Iterator[RunningEmulator]:
    running = RunningEmulator(retry_backoff=0.05, max_backoff=0.2)
    running.start()
    yield running
    running.stop()


def stripe_settings(emulator: RunningEmulator) -> dict[str, Any]:
    return {"STRIPE_SECRET_KEY": emulator.api_key, "STRIPE_API_BASE": emulator.url}


@dataclass(frozen=True)
class Sample:
    database: Path  # a SQLite file with the sample data, copied for each test
    site: Site
    forms: dict[str, Form]


@pytest.fixture(scope="module")
def sample(stripe_emulator: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """The sample data, made once, and every form on every page each role can GET."""
    database = tmp_path_factory.mktemp("fuzz") / "sample.db"
    app = build_app(DATABASE_URL=f"sqlite:///{database}", **stripe_settings(stripe_emulator))
    with app.app_context():
        site = make_site(app)
        forms = discover_forms(site)
        db.session.remove()
        db.engine.dispose()
    return Sample(database, site, forms)


@pytest.fixture
def forms(sample: Sample) -> dict[str, Form]:
    return sample.forms


@pytest.fixture
def site(sample: Sample, stripe_emulator: RunningEmulator, tmp_path: Path) -> Iterator[Site]:
    """A fresh copy of the sample data for each test (quicker than making it again)."""
    shutil.copyfile(sample.database, tmp_path / "fuzz.db")
    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": f"sqlite:///{tmp_path / 'fuzz.db'}",
                      **stripe_settings(stripe_emulator)})  # fmt: skip
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield replace(sample.site, app=app)
        db.session.remove()
        db.engine.dispose()


def _form_endpoints() -> list[str]:
    """Every POST route, and every route a GET form submits to, by endpoint (at collection)."""
    app = create_app({"ENV_NAME": "testing"})
    posts = {rule.endpoint for rule in routes(app, "POST")}
    searched = {"content.search", "admin_members.search", "admin_logs.events",
                "admin_logs.audit_log", "admin_content.index",
                "admin_newsletters.suppressions_page"}  # fmt: skip
    return sorted(posts | searched)


# --- hostile values -----------------------------------------------------------------------


def _looks_like_date(name: str, sample: str) -> bool:
    return bool(re.match(r"\d{4}-\d\d-\d\d", sample)) or name.endswith(("_at", "until", "date"))


def hostile(name: str, spec: Field) -> st.SearchStrategy[Any]:
    sample = VALID.get(name, spec.value)
    generic = st.one_of(
        st.text(max_size=60),
        st.integers(min_value=-(10**40), max_value=10**40).map(str),
        st.sampled_from(UNICODE_DIGITS + HUGE + EDGE_DATES + ODD),
        st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=6),
        st.none(),  # the field left out
    )
    if spec.kind == "file":
        return st.binary(max_size=300).map(lambda data: (io.BytesIO(data), "fuzz.csv"))
    if _looks_like_date(name, sample):
        return st.one_of(st.sampled_from(EDGE_DATES), generic)
    if sample.isdigit():
        return st.one_of(st.sampled_from(UNICODE_DIGITS + HUGE), generic)
    return generic


def valid(name: str, spec: Field) -> st.SearchStrategy[Any]:
    if spec.kind == "file":
        return st.none()
    choices = spec.options or [VALID.get(name) or spec.value or "x"]
    return st.sampled_from(choices)


# --- the property ---------------------------------------------------------------------------


def _path(site: Site, endpoint: str, form: Form | None) -> tuple[str, str]:
    if form is not None:
        return form.method, form.path
    rule = next(r for r in site.app.url_map.iter_rules() if r.endpoint == endpoint)
    known = {**item_arguments(db.session.get(ContentItem, int(site.ids["item_id"]))), **site.ids}
    values = {name: known.get(name, "1") for name in rule.arguments}
    return "post", site.app.url_map.bind("localhost").build(endpoint, values, method="POST")


def _no_5xx(answer: TestResponse, what: str) -> None:
    assert answer.status_code < 500, f"{what} -> {answer.status_code}"
    # The token sent is valid: a fuzz that only ever met the CSRF check would test nothing.
    assert "This form has expired" not in answer.get_data(as_text=True), what


def _layout_links(client: FlaskClient) -> list[str]:
    """The links every page has for this browser (menus): following them tells nothing new."""
    if not hasattr(client, "layout_links"):
        layout = FormParser("/pro")
        layout.feed(client.get("/pro").get_data(as_text=True))
        client.layout_links = layout.links  # type: ignore[attr-defined]
    return client.layout_links  # type: ignore[attr-defined,no-any-return]


def _follow(client: FlaskClient, answer: TestResponse, what: str) -> None:
    """After a save: the page it lands on, and the links there that lead past the layout."""
    location = answer.headers.get("Location", "")
    if answer.status_code not in (301, 302, 303) or not location.startswith("/"):
        return
    landed = client.get(location)
    _no_5xx(landed, f"{what}, then GET {location}")
    parser = FormParser(location)
    parser.feed(landed.get_data(as_text=True))
    for link in dict.fromkeys(parser.links):
        if link not in _layout_links(client) and not link.startswith(("/static/", "/dev/")):
            _no_5xx(client.get(link), f"{what}, then GET {location}, then GET {link}")


@pytest.mark.parametrize("endpoint", _form_endpoints())
def test_no_form_answers_a_5xx_to_any_role_with_any_input(site: Site, forms: dict[str, Form],
                                                          endpoint: str) -> None:  # fmt: skip
    form = forms.get(endpoint)
    method, path = _path(site, endpoint, form)
    fields = (
        form.fields
        if form is not None
        else {name: spec for known in forms.values() for name, spec in known.fields.items()}
    )  # a route no page shows a form for (a webhook, a mailed link's POST): every known name
    names = sorted(fields)

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.data())
    def attempt(data: st.DataObject) -> None:
        role = data.draw(st.sampled_from(ROLES), label="role")
        attacked = data.draw(st.sets(st.sampled_from(names), max_size=3) if names
                             else st.just(set()), label="attacked")  # fmt: skip
        values = {name: data.draw(hostile(name, fields[name]) if name in attacked
                                  else valid(name, fields[name]), label=name)
                  for name in names}  # fmt: skip
        client, token = site.client(role)
        sent = {name: value for name, value in values.items() if value is not None}
        what = f"{method.upper()} {path} as {role} with {sent!r}"
        if method == "get":
            answer = client.get(path, query_string=sent)
        else:
            answer = client.post(path, data={"csrf_token": token, **sent})
        _no_5xx(answer, what)
        _follow(client, answer, what)

    attempt()


def test_the_walk_finds_the_forms_people_use(forms: dict[str, Form]) -> None:
    """A guard on the discovery itself: the fuzzing above is only as good as what it finds."""
    for endpoint, names in {
        "admin_content.create": {"kind", "slug", "starts_at", "duration_minutes", "action"},
        "admin.comp": {"email", "until", "reason"},
        "teams.pitch": {"organization", "seats"},
        "accounts.signin": {"email", "password"},
        "content.search": {"q"},
        "admin_newsletters.suppress": {"email", "reason"},
        "admin_newsletters.suppressions_page": {"q"},
    }.items():
        assert endpoint in forms and names <= set(forms[endpoint].fields), (
            endpoint,
            forms.get(endpoint),
        )


def _baseline(name: str, spec: Field) -> str:
    """A valid value; of several submit buttons the last, the form's main action (Publish)."""
    if spec.kind in ("button", "submit") and spec.options:
        return spec.options[-1]
    return VALID.get(name) or (spec.options or [spec.value])[0]


def _typed_edges(name: str, spec: Field) -> list[str]:
    sample = VALID.get(name, spec.value)
    if spec.kind in ("select", "checkbox", "radio", "file", "hidden", "button", "submit"):
        return []
    if _looks_like_date(name, sample):
        return EDGE_DATES
    return UNICODE_DIGITS + HUGE if sample.isdigit() else []


def sweep(site: Site, form: Form, values: Callable[[str, Field], list[str]],
          choices_of_first_list: bool = True) -> None:  # fmt: skip
    """Each field of the form alone at each of its values, the rest valid, as each role whose
    pages show the form; once for each choice of the form's first list (a content item's kind)
    unless told not to."""
    baseline = {name: _baseline(name, spec) for name, spec in form.fields.items()
                if spec.kind != "file"}  # fmt: skip
    first_list = next((n for n, spec in form.fields.items() if spec.kind == "select"), None)
    choices = form.fields[first_list].options if first_list and choices_of_first_list else [None]
    for role in form.roles:
        for name, spec in form.fields.items():
            for value in values(name, spec):
                for choice in choices:
                    client, token = site.client(role)
                    sent = {**baseline, name: value, **({first_list: choice} if choice else {})}
                    what = f"{form.method.upper()} {form.path} as {role} with {sent!r}"
                    if form.method == "get":
                        answer = client.get(form.path, query_string=sent)
                    else:
                        answer = client.post(form.path, data={"csrf_token": token, **sent})
                    _no_5xx(answer, what)
                    _follow(client, answer, what)


@pytest.mark.parametrize("endpoint", _form_endpoints())
def test_every_date_and_number_field_takes_every_edge_value_without_a_5xx(
    site: Site, forms: dict[str, Form], endpoint: str
) -> None:
    """The systematic half: random search rarely lands on one field at one edge with the
    right kind chosen (a session starting at 9999-12-31T23:59), so each is tried."""
    if endpoint in forms:
        sweep(site, forms[endpoint], _typed_edges)


# PostgreSQL refuses what SQLite stores: NUL in text, integers past 32 bits in INTEGER columns.
REFUSED_BY_POSTGRESQL = ["\x00", "a\x00b", str(2**31), str(2**63)]


def _any_text(name: str, spec: Field) -> list[str]:
    plain = spec.kind in ("text", "textarea", "email", "password", "search", "hidden", "number")
    return REFUSED_BY_POSTGRESQL if plain else []


@pytest.mark.postgres
def test_every_text_field_takes_nul_and_numbers_past_32_bits_on_postgresql(
    sample: Sample, stripe_emulator: RunningEmulator
) -> None:
    app = build_app(DATABASE_URL=PG_URL or "", **stripe_settings(stripe_emulator))
    try:
        with app.app_context():
            site = make_site(app)
            for form in sample.forms.values():
                sweep(site, form, _any_text, choices_of_first_list=False)
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


# --- the two 500s reported in issue 13, as field errors ----------------------------------

EVENT = {"kind": "event", "slug": "edge-event", "title": "Edge", "access": "public",
         "teaser": "T", "starts_at": "2031-01-01T10:00", "action": "publish"}  # fmt: skip


def _staff(app: Flask) -> tuple[FlaskClient, str]:
    make_user(email="staff@example.com", role="admin")
    client = app.test_client()
    sign_in(client, "staff@example.com")
    return client, csrf_token(client, "/admin/content/new")


@pytest.mark.parametrize("value", ["²", "٣٠", "１２", "100001", "0"])
def test_a_duration_that_is_no_ascii_whole_number_is_a_field_error(app: Flask, value: str) -> None:
    staff, token = _staff(app)
    answer = staff.post("/admin/content/new",
                        data={"csrf_token": token, **EVENT, "duration_minutes": value})  # fmt: skip
    assert answer.status_code == 400
    assert "duration_minutes must be a whole number from 1 to 100000" in answer.get_data(
        as_text=True
    )
    assert db.session.scalar(db.select(ContentItem)) is None


@pytest.mark.parametrize("value", ["9999-12-31T23:59", "0001-01-01T00:00", "3000-01-01T00:00"])
def test_a_start_past_what_a_page_can_show_is_a_field_error(app: Flask, value: str) -> None:
    staff, token = _staff(app)
    answer = staff.post(
        "/admin/content/new", data={"csrf_token": token, **EVENT, "starts_at": value}
    )
    assert answer.status_code == 400
    assert "starts_at must be in the years 1900 to 2999" in answer.get_data(as_text=True)
    assert db.session.scalar(db.select(ContentItem)) is None


def test_an_event_saved_at_the_end_of_time_before_the_rule_still_shows(app: Flask) -> None:
    """A row saved before the bound (or written by hand) never breaks its page."""
    event = make_item(kind="event", access="public", slug="old-edge")
    event.starts_at = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    db.session.commit()
    assert app.test_client().get("/events/old-edge").status_code == 200
    staff, _ = _staff(app)
    assert staff.get(f"/admin/content/{event.id}/view?as=member").status_code == 200
