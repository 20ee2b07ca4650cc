"""Staff screens for members: search, the member page, and what staff may do from it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from paywall.accounts.forms import BaseForm
from paywall.accounts.models import User
from paywall.billing.plans import money
from paywall.errors import ValidationError
from paywall.extensions import db
from paywall.members import actions, profile

bp = Blueprint("admin_members", __name__, url_prefix="/admin/members")

Page = Response | str | tuple[str, int]


class CompForm(BaseForm):
    until = DateField("Until (inclusive; empty for no end)", validators=[Optional()])
    reason = StringField(
        "Reason", validators=[InputRequired("Say why."), Length(max=300, message="Keep it short.")]
    )


class RoleForm(BaseForm):
    role = SelectField("Role", choices=[SelectChoice(k, v) for k, v in actions.ROLES.items()])


@bp.get("/")
def search() -> str:
    query = request.args.get("q", "")
    return render_template("admin/members.html", query=query, found=profile.search(query))


@bp.get("/<int:user_id>")
def member(user_id: int) -> Page:
    return _page(actions.get(user_id), notice=request.args.get("notice"))


def _page(user: User, status: int = 200, **forms: object) -> Page:
    comp = forms.pop("comp", None) or CompForm(formdata=None)
    role = forms.pop("role", None) or RoleForm(formdata=None, role=user.role)
    page = render_template("admin/member.html", comp_form=comp, role_form=role, money=money,
                           **forms, **profile.page(user))  # fmt: skip
    return page, status


def _done(user: User, notice: str) -> Response:
    db.session.commit()
    return redirect(url_for("admin_members.member", user_id=user.id, notice=notice), code=303)


def _submit(user_id: int, change: Callable[[User], object], notice: str,
            form: tuple[str, BaseForm] | None = None) -> Page:  # fmt: skip
    """Run a staff action (checking its form first, if it has one); a ValidationError comes
    back on the member page, on the form's field or at the top, with a 400. An action that
    answers False changed nothing, and the notice says so."""
    user = actions.get(user_id)
    if form is not None and not form[1].validate():
        return _page(user, 400, **dict([form]))
    try:
        if change(user) is False:
            notice = f"unchanged-{notice}"
    except ValidationError as error:
        db.session.rollback()
        if form is None:
            return _page(actions.get(user_id), 400, error=error.message)
        form[1].add_error(error)
        return _page(actions.get(user_id), 400, **dict([form]))
    return _done(user, notice)


@bp.post("/<int:user_id>/comp")
def grant_comp(user_id: int) -> Page:
    form = CompForm()

    def change(user: User) -> None:
        day = form.until.data
        until = datetime.combine(day, time.max, UTC) if day else None
        actions.grant_comp(user, until, form.reason.data, current_user)

    return _submit(user_id, change, "comp-granted", ("comp", form))


@bp.post("/<int:user_id>/comp/end")
def end_comp(user_id: int) -> Page:
    return _submit(user_id, lambda user: actions.end_comp(user, current_user), "comp-ended")


@bp.post("/<int:user_id>/signin-link")
def signin_link(user_id: int) -> Page:
    return _submit(user_id, lambda user: actions.send_signin_link(user, current_user), "link-sent")


@bp.post("/<int:user_id>/disable")
def disable(user_id: int) -> Page:
    return _submit(user_id, lambda u: actions.set_disabled(u, True, current_user), "disabled")


@bp.post("/<int:user_id>/enable")
def enable(user_id: int) -> Page:
    return _submit(user_id, lambda u: actions.set_disabled(u, False, current_user), "enabled")


@bp.post("/<int:user_id>/role")
def role(user_id: int) -> Page:
    form = RoleForm()
    return _submit(user_id, lambda user: actions.set_role(user, form.role.data, current_user),
                   "role", ("role", form))  # fmt: skip
