"""Staff screens for teams: requests from /teams, onboarding, the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from paywall import audit
from paywall.accounts.forms import BaseForm, email_field
from paywall.admin.views import staff_only
from paywall.errors import ValidationError
from paywall.extensions import db
from paywall.teams import service
from paywall.teams.models import Team, TeamRequest

bp = Blueprint("admin_teams", __name__, url_prefix="/admin/teams")
bp.before_request(staff_only)

Page = Response | str | tuple[str, int]


class OnboardForm(BaseForm):
    name = StringField("Team name", validators=[InputRequired("Name the team.")])
    seats = IntegerField("Seats", validators=[InputRequired("How many seats?")])
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
        wanted = db.session.get(TeamRequest, request.args.get("request", type=int) or 0)
        if wanted is not None:
            form.name.data, form.seats.data = wanted.organisation, wanted.seats
            form.manager_email.data, form.request_id.data = wanted.contact_email, wanted.id
        return _page(form)
    if not form.validate():
        return _page(form, 400)
    paid_until = form.paid_until.data
    spec = service.Onboarding(
        name=form.name.data,
        seats=form.seats.data,
        manager_email=form.manager_email.data,
        billing=form.billing.data,
        domains=form.domains.data or "",
        paid_until=datetime(
            paid_until.year, paid_until.month, paid_until.day, 23, 59, 59, tzinfo=UTC
        )
        if paid_until
        else None,
    )
    try:
        team = service.create_team(spec, current_user)
    except ValidationError as error:
        db.session.rollback()
        form.add_error(error)
        return _page(form, 400)
    wanted = db.session.get(TeamRequest, form.request_id.data or 0)
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
