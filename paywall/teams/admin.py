"""Staff screens for teams: requests from /teams, onboarding, each team's page (members, billing,
seats, domains, managers), the audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from paywall import audit
from paywall.accounts.forms import BaseForm, WholeNumberField, email_field
from paywall.dbtypes import parse_id
from paywall.errors import ValidationError
from paywall.extensions import db
from paywall.teams import invites, onboarding, service, staff
from paywall.teams.models import Team, TeamRequest

bp = Blueprint("admin_teams", __name__, url_prefix="/admin/teams")

Page = Response | str | tuple[str, int]


class OnboardForm(BaseForm):
    name = StringField("Team name", validators=[InputRequired("Name the team.")])
    seats = WholeNumberField("Seats", validators=[InputRequired("How many seats?")])
    manager_email = email_field("Manager's email")
    billing = SelectField(
        "Billing",
        choices=[
            SelectChoice("invoice", "Invoice (bank transfer, 30 days)"),
            SelectChoice("card", "Card (Checkout link mailed to the manager)"),
            SelectChoice("manual", "Manual (complimentary, paid until a date)"),
        ],
    )
    domains = StringField("Allowed email domains (optional, comma-separated)")
    manager_takes_seat = BooleanField("The manager takes a seat", default=True)
    paid_until = DateField("Paid until (manual teams)", validators=[Optional()])
    request_id = IntegerField(validators=[Optional()])


@bp.route("/", methods=["GET", "POST"])
def index() -> Page:
    form = OnboardForm()
    if request.method == "GET":
        wanted = db.session.get(TeamRequest, parse_id(request.args.get("request")) or 0)
        if wanted is not None:
            form.name.data, form.seats.data = wanted.organisation, wanted.seats
            form.manager_email.data, form.request_id.data = wanted.contact_email, wanted.id
        return _page(form)
    if not form.validate():
        return _page(form, 400)
    spec = onboarding.Onboarding(
        name=form.name.data,
        seats=form.seats.data,
        manager_email=form.manager_email.data,
        billing=form.billing.data,
        domains=form.domains.data or "",
        paid_until=_end_of(form.paid_until.data),
        manager_takes_seat=form.manager_takes_seat.data,
    )
    try:
        team = onboarding.create_team(spec, current_user)
    except ValidationError as error:
        db.session.rollback()
        form.add_error(error)
        return _page(form, 400)
    wanted = db.session.get(TeamRequest, parse_id(form.request_id.data) or 0)
    if wanted is not None:
        wanted.status, wanted.team_id = "onboarded", team.id
    db.session.commit()
    return redirect(url_for("admin_teams.index", created=team.id), code=303)


def _page(form: OnboardForm, status: int = 200) -> Page:
    teams = list(db.session.scalars(select(Team).order_by(Team.created_at.desc()).limit(200)))
    log = list(
        db.session.scalars(
            select(audit.AuditEntry)
            .where(audit.AuditEntry.team_id.is_not(None))
            .order_by(audit.AuditEntry.id.desc())
            .limit(50)
        )
    )
    return render_template(
        "admin/teams.html",
        form=form,
        teams=teams,
        log=log,
        created=request.args.get("created", type=int),
    ), status


@bp.get("/requests")
def requests() -> str:
    found = list(
        db.session.scalars(select(TeamRequest).order_by(TeamRequest.created_at.desc()).limit(200))
    )
    return render_template("admin/team_requests.html", requests=found)


class EditForm(BaseForm):
    name = StringField("Team name", validators=[InputRequired("Name the team.")])
    domains = StringField("Allowed email domains (comma-separated)")
    paid_until = DateField("Paid until (manual teams)", validators=[Optional()])


class SeatsForm(BaseForm):
    seats = WholeNumberField("Seats paid for", validators=[InputRequired("How many seats?")])


class ManagerForm(BaseForm):
    manager_email = email_field("Invite a manager")


@bp.get("/<int:team_id>")
def team(team_id: int) -> Page:
    found = staff.get(team_id)
    return _team_page(found, notice=request.args.get("notice"))


def _team_page(team: Team, status: int = 200, **forms: BaseForm | str | None) -> Page:
    edit = forms.pop("edit", None) or EditForm(
        formdata=None, name=team.name, domains=", ".join(team.domain_list()),
        paid_until=team.paid_until.date() if team.paid_until else None,
    )  # fmt: skip
    seats = forms.pop("seats", None) or SeatsForm(formdata=None, seats=team.seats)
    manager = forms.pop("manager", None) or ManagerForm(formdata=None)
    page = render_template(
        "admin/team.html", edit=edit, seats=seats, manager=manager, **forms,
        **staff.detail(team), access_in_words=staff.access_in_words,
    )  # fmt: skip
    return page, status


def _done(team: Team, notice: str) -> Response:
    db.session.commit()
    return redirect(url_for("admin_teams.team", team_id=team.id, notice=notice), code=303)


def _submit(team_id: int, name: str, form: BaseForm, change: Callable[[Team], object],
            notice: str) -> Page:  # fmt: skip
    """A staff form on the team page: checked, applied, or shown again with its error (400)."""
    found = staff.get(team_id)
    if not form.validate():
        return _team_page(found, 400, **{name: form})
    try:
        change(found)
    except ValidationError as error:
        db.session.rollback()
        form.add_error(error)
        return _team_page(staff.get(team_id), 400, **{name: form})
    return _done(found, notice)


def _end_of(day: date | None) -> datetime | None:
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC) if day else None


@bp.post("/<int:team_id>/edit")
def edit(team_id: int) -> Page:
    form = EditForm()

    def change(team: Team) -> None:
        changes = staff.Changes(form.name.data, form.domains.data or "",
                                _end_of(form.paid_until.data))  # fmt: skip
        staff.edit(team, changes, current_user)

    return _submit(team_id, "edit", form, change, "edited")


@bp.post("/<int:team_id>/seats")
def seats(team_id: int) -> Page:
    form = SeatsForm()

    def change(team: Team) -> None:
        staff.set_seats(team, form.seats.data, current_user)

    return _submit(team_id, "seats", form, change, "seats")


@bp.post("/<int:team_id>/managers")
def invite_manager(team_id: int) -> Page:
    form = ManagerForm()

    def change(team: Team) -> None:
        staff.invite_manager(team, form.manager_email.data, current_user)

    return _submit(team_id, "manager", form, change, "manager-invited")


@bp.post("/<int:team_id>/members/<int:member_id>/manager")
def make_manager(team_id: int, member_id: int) -> Response:
    found = staff.get(team_id)
    staff.make_manager(found, member_id, current_user)
    return _done(found, "manager-made")


@bp.post("/<int:team_id>/members/<int:member_id>/remove")
def remove_member(team_id: int, member_id: int) -> Response:
    found = staff.get(team_id)
    service.remove(found, member_id, current_user)
    return _done(found, "removed")


@bp.post("/<int:team_id>/invites/<int:invite_id>/revoke")
def revoke_invite(team_id: int, invite_id: int) -> Response:
    found = staff.get(team_id)
    invites.revoke(found, invite_id, current_user)
    return _done(found, "revoked")
