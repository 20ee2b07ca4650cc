"""Staff console. Non-staff get 404, not 403, so the console's existence is not advertised."""

from __future__ import annotations

from datetime import UTC, datetime, time

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from paywall import clock
from paywall.accounts.comp import end_comps, grant_comp, running_comps
from paywall.accounts.models import CompGrant, User
from paywall.accounts.service import find_user
from paywall.admin import charts as charts_svg
from paywall.admin import dashboard, forms
from paywall.billing.plans import money
from paywall.errors import PaywallError, ValidationError
from paywall.extensions import db
from paywall.mail.models import OutboxMail

# Staff only, like everything under /admin: paywall.web's staff gate answers 404 to others.
bp = Blueprint("admin", __name__, url_prefix="/admin")

Page = Response | str | tuple[str, int]


@bp.get("/")
def index() -> str:
    now = clock.now()
    series = dashboard.daily(now)
    charts = {
        name: charts_svg.bars(points, f"{label} per day, last {dashboard.CHART_DAYS} days")
        for (name, points), label in zip(
            series.items(), ("Trials started", "Conversions", "Cancellations"), strict=True
        )
    }
    queued_mail = db.session.scalar(
        select(func.count(OutboxMail.id)).where(OutboxMail.status == "queued")
    )
    return render_template(
        "admin/index.html",
        figures=dashboard.figures(now),
        charts=charts,
        totals={name: sum(count for _, count in points) for name, points in series.items()},
        queued_mail=queued_mail,
        money=money,
    )


@bp.route("/comp", methods=["GET", "POST"])
def comp() -> Page:
    """Give a member complimentary access until a date (end of that day, UTC)."""
    form, end_form = forms.CompForm(), forms.EndCompForm(prefix="end")
    if request.method == "POST":
        if not form.validate():
            return _comp_page(form, end_form, 400)
        until = form.until.data
        try:
            grant_comp(
                form.email.data,
                until=datetime.combine(until, time.max, UTC) if until else None,
                reason=form.reason.data,
                staff=current_user,
            )
        except PaywallError as error:
            db.session.rollback()
            form.add_error(
                ValidationError(error.message, field="email" if error.field == "email" else "until")
            )
            return _comp_page(form, end_form, 400)
        db.session.commit()
        return redirect(url_for("admin.comp", notice="granted"), code=303)
    return _comp_page(form, end_form)


@bp.post("/comp/end")
def end_comp() -> Page:
    form, end_form = forms.CompForm(formdata=None), forms.EndCompForm(prefix="end")
    user = find_user(end_form.email.data or "") if end_form.validate() else None
    if user is None or not running_comps(user):
        end_form.email.errors = [
            *end_form.email.errors,
            "No running complimentary access for that address.",
        ]
        return _comp_page(form, end_form, 400)
    end_comps(user, staff=current_user)
    db.session.commit()
    return redirect(url_for("admin.comp", notice="ended"), code=303)


def _comp_page(form: forms.CompForm, end_form: forms.EndCompForm, status: int = 200) -> Page:
    now = clock.now()
    grants = db.session.execute(
        select(CompGrant, User.email)
        .join(User, User.id == CompGrant.user_id)
        .where(CompGrant.ended_at.is_(None))
        .where((CompGrant.ends_at.is_(None)) | (CompGrant.ends_at > now))
        .order_by(CompGrant.created_at.desc())
        .limit(500)
    ).all()
    page = render_template("admin/comp.html", form=form, end_form=end_form, grants=grants,
                           notice=request.args.get("notice"))  # fmt: skip
    return page, status
