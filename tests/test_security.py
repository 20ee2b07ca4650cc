"""The security bar that every route meets: CSRF, headers, redirects, read-only GETs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import flask_migrate
import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError

from paywall import audit, create_app
from paywall.extensions import db
from paywall.web import is_safe_next
from tests.conftest import build_app
from tests.helpers import PASSWORD, make_user, post_form, sign_in

# RFC 8058 one-click unsubscribe: mail providers POST with no form; the signed token is the
# credential (tests/test_newsletters.py covers it). The Stripe webhook joins with billing.
CSRF_EXEMPT: set[str] = {
    "/newsletters/unsubscribe/x",
    "/industry/unsubscribe/x",  # tests/test_industry_mail.py
    "/webhooks/stripe",
}


def concrete(rule) -> str:
    """A path the rule matches: an any() converter's first choice, 1 for ints, else 'x'."""
    path = re.sub(r"<any\(([^,)]+)[^>]*>", lambda m: m.group(1).strip(), rule.rule)
    path = re.sub(r"<int:[^>]+>", "1", path)
    return re.sub(r"<[^>]+>", "x", path)


def rules(app, method):
    return [r for r in app.url_map.iter_rules() if method in r.methods and r.endpoint != "static"]


def test_every_post_route_refuses_a_missing_csrf_token(app, client, make_user):
    make_user(email="staff@example.com", role="admin")
    sign_in(client, "staff@example.com")
    posts = rules(app, "POST")
    assert len(posts) >= 10
    for rule in posts:
        if concrete(rule) in CSRF_EXEMPT:
            continue
        response = client.post(concrete(rule), data={"email": "staff@example.com"})
        assert response.status_code == 400, rule.rule
        assert "This form has expired" in response.get_data(as_text=True), rule.rule


def _assert_security_headers(response, path, *, hsts: bool) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp, (path, csp)
    assert response.headers["X-Content-Type-Options"] == "nosniff", path
    assert response.headers["Referrer-Policy"], path
    assert ("Strict-Transport-Security" in response.headers) is hsts, path


@pytest.mark.parametrize("secure", [False, True])
def test_every_route_sends_security_headers_including_404_and_500(secure):
    app = build_app(SECURE_TRANSPORT=secure, PROPAGATE_EXCEPTIONS=False)

    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("a bug")

    client = app.test_client()
    for rule in rules(app, "GET"):
        path = concrete(rule)
        _assert_security_headers(client.get(path), path, hsts=secure)
    for path, status in [("/no/such/page", 404), ("/boom-for-test", 500), ("/api/v1/nope", 404)]:
        response = client.get(path)
        assert response.status_code == status
        _assert_security_headers(response, path, hsts=secure)
    assert "a bug" not in client.get("/boom-for-test").get_data(as_text=True)


def test_api_errors_are_json(client):
    response = client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_cookies_are_httponly_and_samesite_and_secure_in_production_settings(make_user):
    app = build_app(SECURE_TRANSPORT=True)
    with app.app_context():
        make_user(email="reader@example.com")
        client = app.test_client()
        response = sign_in(client, "reader@example.com", remember="y")
    cookies = response.headers.getlist("Set-Cookie")
    assert {c.split("=")[0] for c in cookies} >= {"session", "remember_token"}
    for cookie in cookies:
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie, cookie


HOSTILE_NEXT = [
    "//evil.test",
    "//evil.test/",
    "///evil.test",
    "////evil.test",
    "/\\evil.test",
    "\\\\evil.test",
    "/\\/evil.test",
    "\\/evil.test",
    "https://evil.test",
    "http://evil.test",
    "https:evil.test",
    "http:evil.test",
    "https:/evil.test",
    "//evil.test@good.test",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "jav\tascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "/\t/evil.test",
    "/\n/evil.test",
    "/\r\n/evil.test",
    "\t//evil.test",
    " //evil.test",
    "//evil.test%2f",
    "/ /evil.test",
    "/\x00/evil.test",
    "/\x0b/evil.test",
    "%2F%2Fevil.test",
    "%2f%2fevil.test",
    "evil.test",
    "evil.test/path",
    ".evil.test",
    "@evil.test",
    "//%65vil.test",
    "//evil%2etest",
    "/%09/evil.test",
    "https://good.test.evil.test",
    "//good.test.evil.test",
    "ftp://evil.test",
    "file:///etc/passwd",
    "mailto:a@evil.test",
    "//[::1]/",
    "//127.0.0.1",
    "http://127.0.0.1:5000/",
    "〱evil.test",
    "／／evil.test",
    "/\u3000/evil.test",
    "\u200b//evil.test",
    "/" + "a" * 600,
    "",
    "   ",
    "#//evil.test",
    "?next=//evil.test",
]


def test_the_hostile_next_corpus_is_large_enough():
    assert len(HOSTILE_NEXT) >= 50


@pytest.mark.parametrize("value", HOSTILE_NEXT)
def test_hostile_next_values_never_leave_the_site(client, make_user, value):
    assert not is_safe_next(value)
    make_user(email="reader@example.com")
    if "\x00" in value:  # a NUL anywhere refuses the whole request (paywall.web input guard)
        data = {"email": "reader@example.com", "password": PASSWORD, "next": value}
        response = post_form(client, "/signin", data)
        assert response.status_code == 400 and "Location" not in response.headers
        return
    response = sign_in(client, "reader@example.com", next=value)
    assert response.headers["Location"] == "/account"


@pytest.mark.parametrize("value", ["/pro", "/account", "/memos/gulf-lng?x=1", "/a/b#frag"])
def test_on_site_next_values_are_kept(value):
    assert is_safe_next(value)


def test_get_requests_change_nothing(app, client, make_user, run_worker):
    make_user(email="staff@example.com", role="admin")
    sign_in(client, "staff@example.com")

    def counts():
        db.session.expire_all()
        return {
            t.name: db.session.scalar(select(func.count()).select_from(t))
            for t in db.metadata.sorted_tables
        }

    before = counts()
    for rule in rules(app, "GET"):
        client.get(concrete(rule))
    after = counts()
    # Downloads of member data are recorded in the audit log (and that is all they write).
    exported = db.session.scalar(
        select(func.count()).select_from(audit.AuditEntry)
        .where(audit.AuditEntry.action.endswith(".exported"))
    )  # fmt: skip
    assert after == {**before, "audit_log": before["audit_log"] + exported}


def _assert_the_audit_log_refuses_changes() -> None:
    """Through the ORM (object and bulk) and in raw SQL; only a foreign key's SET NULL passes."""
    entry = audit.record(None, "member.disabled", "ana@example.com", note="kept")
    db.session.commit()
    for attempt in (lambda: setattr(entry, "action", "member.enabled"),
                    lambda: db.session.delete(entry)):  # fmt: skip
        with pytest.raises(audit.AppendOnlyError):  # refused before any SQL is sent
            attempt()
            db.session.flush()
        db.session.rollback()
    for bulk in (update(audit.AuditEntry).values(target="someone else"),
                 delete(audit.AuditEntry)):  # fmt: skip
        with pytest.raises(IntegrityError, match="append-only"):  # the database's triggers
            db.session.execute(bulk)
        db.session.rollback()
    for sql in ("UPDATE audit_log SET action = 'member.enabled'", "DELETE FROM audit_log",
                "UPDATE audit_log SET details = '{}'", "UPDATE audit_log SET team_id = 7"):  # fmt: skip
        with pytest.raises(IntegrityError, match="append-only"):
            db.session.execute(text(sql))
        db.session.rollback()
    db.session.expire_all()
    kept = db.session.scalars(select(audit.AuditEntry)).one()
    assert (kept.action, kept.details) == ("member.disabled", {"note": "kept"})
    if db.engine.dialect.name == "postgresql":  # SQLite here does not enforce foreign keys
        _assert_deleting_a_user_only_unlinks_their_entries()


def _assert_deleting_a_user_only_unlinks_their_entries() -> None:
    gone = make_user(email="gone@example.com", role="admin")
    audit.record(gone, "member.role_changed", gone.email, subject=gone)
    db.session.commit()
    db.session.execute(text("DELETE FROM users WHERE email = 'gone@example.com'"))
    db.session.commit()
    entry = db.session.scalars(select(audit.AuditEntry).order_by(audit.AuditEntry.id)).all()[-1]
    assert (entry.actor_id, entry.subject_id, entry.actor_email) == (None, None, "gone@example.com")
    # The foreign key's own UPDATE may null them; a client may not.
    audit.record(make_user(email="here@example.com"), "member.disabled")
    db.session.commit()
    with pytest.raises(IntegrityError, match="append-only"):
        db.session.execute(text("UPDATE audit_log SET actor_id = NULL"))
    db.session.rollback()


def test_the_audit_log_refuses_updates_and_deletes(app):
    _assert_the_audit_log_refuses_changes()


@pytest.mark.postgres
def test_the_audit_log_refuses_updates_and_deletes_on_postgres(pg_app):
    with pg_app.app_context():
        _assert_the_audit_log_refuses_changes()


@contextmanager
def _logging_kept() -> Iterator[None]:
    """migrations/env.py runs fileConfig(), which replaces the root logger's handlers."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("sqlalchemy", "alembic")}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, was in levels.items():
            logging.getLogger(name).setLevel(was)


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_migrations_make_the_audit_log_append_only(database, tmp_path):
    from tests.test_migrations import PG_URL, _drop_everything

    url = f"sqlite:///{tmp_path / 'migrated.db'}" if database == "sqlite" else PG_URL
    if database == "postgresql":
        _drop_everything(url)
    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": url})
    try:
        with app.app_context(), _logging_kept():
            flask_migrate.upgrade()
            _assert_the_audit_log_refuses_changes()
            db.session.remove()  # its read lock would keep the downgrade waiting
            flask_migrate.downgrade(revision="0007")  # and the downgrade lifts the refusal
            db.session.execute(text("DELETE FROM audit_log"))
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
    finally:
        if database == "postgresql":
            _drop_everything(url)
