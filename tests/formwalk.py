"""Forms as a browser finds them: every form on every page each role can see, with its field
names and choices, and a site whose role accounts a test can sign in as at any moment
(tests/test_forms_fuzz.py)."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import flask
from flask import Flask
from flask.testing import FlaskClient
from flask_login import login_user
from flask_wtf.csrf import generate_csrf
from werkzeug.exceptions import HTTPException

from paywall.accounts.models import User
from paywall.billing.catalog import sync_catalog
from paywall.content import registrations
from paywall.content.models import ContentItem
from paywall.extensions import db
from paywall.teams import invites
from paywall.teams.models import Team, TeamInvite, TeamMember
from tests.helpers import make_member, make_user
from tests.urlmap import make_manager, paths, sample_items

ROLES = ("visitor", "reader", "member", "manager", "staff")
EMAILS = {"reader": "reader@example.com", "member": "member@example.com",
          "manager": "boss@acme.example", "staff": "staff@example.com"}  # fmt: skip


@dataclass
class Field:
    kind: str  # text, select, checkbox, file, hidden, textarea, button
    options: list[str] = field(default_factory=list)
    value: str = ""


@dataclass
class Form:
    method: str
    path: str
    fields: dict[str, Field] = field(default_factory=dict)
    roles: list[str] = field(default_factory=list)  # the roles whose pages show it


class FormParser(HTMLParser):
    """The forms of one page: method, action and each named field with its options."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page, self.forms, self._select = page, list[Form](), ""
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href", "").startswith("/"):
            self.links.append(a["href"])
        if tag == "form":
            action = a.get("action") or self.page
            self.forms.append(Form(a.get("method", "get").lower(), action))
            return
        if tag == "option" and self._select and self.forms:
            self.forms[-1].fields[self._select].options.append(a.get("value", ""))
        if not self.forms or not a.get("name") or a["name"] == "csrf_token":
            return
        fields, name = self.forms[-1].fields, a["name"]
        if tag in ("input", "textarea", "button"):
            kind = tag if tag != "input" else a.get("type", "text")
            known = fields.setdefault(name, Field(kind, value=a.get("value", "")))
            if kind in ("checkbox", "radio", "button", "submit") and a.get("value"):
                known.options.append(a["value"])
        elif tag == "select":
            self._select = name
            fields.setdefault(name, Field("select"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = ""


@dataclass
class Site:
    app: Flask
    users: dict[str, int]
    ids: dict[str, str]
    saved: dict[str, tuple[str, str | None]]  # each role user's email and password hash

    def client(self, role: str) -> tuple[FlaskClient, str]:
        """A new browser signed in as the role (from a session minted as Flask-Login and
        Flask-WTF make one), and a valid CSRF token for it."""
        self._restore_users()
        # In a context of its own, as IsolatedClient does: Flask would reuse the test's app
        # context, and with it the CSRF token Flask-WTF caches in `g` for the first session.
        token, minted = contextvars.Context().run(self._mint, self.users.get(role))
        client = self.app.test_client()
        with client.session_transaction() as session:
            session.update(minted)
        return client, token

    def _mint(self, user_id: int | None) -> tuple[str, dict[str, Any]]:
        with self.app.test_request_context():
            if user_id is not None:
                login_user(db.session.get(User, user_id), fresh=True)
            token = generate_csrf()
            minted = dict(flask.session)
            db.session.remove()
        return token, minted

    def _restore_users(self) -> None:
        """Undo what an earlier example did to the role accounts themselves (disabled, demoted,
        new address or password), so every example starts as the role it names."""
        db.session.rollback()
        db.session.expire_all()
        for role, user_id in self.users.items():
            user = db.session.get(User, user_id)
            assert user is not None
            user.email, user.password_hash = self.saved[role]
            user.disabled_at = None
            user.role = "admin" if role == "staff" else "reader"
        db.session.commit()


def populate() -> tuple[dict[str, int], dict[str, str]]:
    items = sample_items()
    users = {
        "reader": make_user(email=EMAILS["reader"]).id,
        "member": make_member(email=EMAILS["member"]).id,
        "manager": make_manager(EMAILS["manager"]).id,
        "staff": make_user(email=EMAILS["staff"], role="admin").id,
    }
    team = db.session.scalars(db.select(Team)).one()
    invites.invite(team, ["ana@acme.example"], None)
    member = db.session.get(User, users["member"])
    registrations.register(items[3], member)  # so the member's page shows "cancel"
    db.session.commit()
    invite = db.session.scalars(db.select(TeamInvite).where(TeamInvite.used_at.is_(None))).first()
    seat = db.session.scalars(db.select(TeamMember)).one()
    ids = {"item_id": str(items[3].id), "user_id": str(users["reader"]), "team_id": str(team.id),
           "member_id": str(seat.id), "invite_id": str(invite.id if invite else 1)}  # fmt: skip
    return users, ids


def make_site(app: Flask) -> Site:
    """The sample data in this app's database, and the role accounts as they start."""
    list(sync_catalog())
    users, ids = populate()
    saved = {role: (u.email, u.password_hash) for role, i in users.items()
             if (u := db.session.get(User, i)) is not None}  # fmt: skip
    return Site(app, users, ids, saved)


def discover_forms(site: Site) -> dict[str, Form]:
    """Every form on every page each role can GET, by the endpoint it submits to."""
    app = site.app
    found: dict[str, Form] = {}
    items = list(db.session.scalars(db.select(ContentItem)))
    urls = app.url_map.bind("localhost")
    for role in ROLES:
        client, _ = site.client(role)
        for _, path in paths(app, items, ids=site.ids):
            parser = FormParser(path)
            parser.feed(client.get(path).get_data(as_text=True))
            for form in parser.forms:
                try:
                    rule, _ = urls.match(urlsplit(form.path).path, method=form.method.upper(),
                                         return_rule=True)  # fmt: skip
                except HTTPException:
                    continue
                known = found.setdefault(rule.endpoint, Form(form.method, form.path))
                if role not in known.roles:
                    known.roles.append(role)
                for name, spec in form.fields.items():
                    known.fields.setdefault(name, spec)
    return found
