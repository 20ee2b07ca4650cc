"""Team pages: the /teams pitch and request form, the manager's /team, and joining."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from paywall.accounts import limits
from paywall.accounts.emails import normalise_email
from paywall.accounts.models import User
from paywall.errors import PaywallError, ValidationError
from paywall.extensions import db
from paywall.mail.outbox import absolute_url, queue_mail
from paywall.teams import invites, joining, onboarding, service, team_billing
from paywall.teams.forms import RequestForm
from paywall.teams.models import Team, TeamRequest

bp = Blueprint("teams", __name__)

Page = Response | str | tuple[str, int]


# Names the form used before it followed the contract; pages that post them keep working.
OLD_REQUEST_FIELDS = {"organisation": "organization", "contact_name": "name"}


def _request_formdata() -> MultiDict[str, str]:
    data = MultiDict(request.form)
    for old, new in OLD_REQUEST_FIELDS.items():
        if old in data and new not in data:
            data.setlist(new, data.poplist(old))
    return data


@bp.route("/teams", methods=["GET", "POST"])
@limits.signup_per_ip
@limits.mail_per_address
def pitch() -> Page:
    form = RequestForm(formdata=_request_formdata() if request.method == "POST" else None)
    if request.method == "GET":
        return render_template("teams/pitch.html", form=form)
    if not form.validate():
        return render_template("teams/pitch.html", form=form), 400
    try:
        email = normalise_email(form.email.data)
    except ValidationError as error:
        form.add_error(error)
        return render_template("teams/pitch.html", form=form), 400
    wanted = TeamRequest(
        organisation=form.organization.data.strip(),
        contact_name=form.name.data.strip(),
        contact_email=email,
        seats=form.seats.data,
        message=(form.message.data or "").strip(),
    )
    db.session.add(wanted)
    db.session.flush()
    for staff in db.session.scalars(select(User).where(User.role == "admin")):
        queue_mail(
            staff.email,
            "team_request",
            subject=f"Team plan request: {wanted.organisation}",
            request=wanted,
            link=absolute_url("admin_teams.requests"),
        )
    db.session.commit()
    return render_template("teams/requested.html", wanted=wanted)


@bp.get("/team")
@login_required
def manage() -> Page:
    return _manage_page(service.managed_team(current_user), 200, notice=request.args.get("notice"))


@bp.post("/team/invites")
@login_required
def invite() -> Page:
    team = service.managed_team(current_user)
    emails = request.form.get("emails", "").replace(",", " ").replace(";", " ").split()
    if not emails:
        return _manage_page(team, 400, error="Paste at least one email address.")
    report = invites.invite_pasted(team, emails, current_user)
    db.session.commit()
    return _manage_page(team, 200, report=report)


def _manage_page(team: Team, status: int, **extra: object) -> Page:
    """The manager's page; `extra` may carry a notice, an error or an invitation report."""
    page = render_template(
        "teams/manage.html", form=FlaskForm(), **extra, **service.page_data(team)
    )
    return page, status


def _action(change: Callable[[Team, int, User], object], target_id: int, notice: str) -> Response:
    team = service.managed_team(current_user)
    change(team, target_id, current_user)
    db.session.commit()
    return redirect(url_for("teams.manage", notice=notice), code=303)


@bp.post("/team/invites/<int:invite_id>/revoke")
@login_required
def revoke(invite_id: int) -> Response:
    return _action(invites.revoke, invite_id, "revoke")


@bp.post("/team/invites/<int:invite_id>/resend")
@login_required
def resend(invite_id: int) -> Page:
    try:
        return _action(invites.resend, invite_id, "resend")
    except invites.TooSoon as error:
        db.session.rollback()
        return _manage_page(service.managed_team(current_user), 429, error=error.message)


@bp.post("/team/members/<int:member_id>/remove")
@login_required
def remove(member_id: int) -> Response:
    return _action(service.remove, member_id, "remove")


def _take_seat(team: Team | None, take: Callable[[], object]) -> None:
    """Join; when the team is full, say so (409) and tell its managers (at most once an hour;
    that mail is kept)."""
    try:
        take()
    except joining.TeamFull:
        db.session.rollback()
        if team is not None:
            joining.tell_manager_full(team, current_user)
            db.session.commit()
        raise


@bp.route("/team/join/<token>", methods=["GET", "POST"])
def join(token: str) -> Page:
    found = invites.peek_invite(token)
    team = db.session.get(Team, found.team_id)
    assert team is not None
    if request.method == "GET" or not current_user.is_authenticated:
        return render_template(
            "teams/join.html", invite=found, team=team, form=FlaskForm(), token=token
        )
    _take_seat(team, lambda: invites.accept(token, current_user))
    return _joined(manager=found.role == "manager")


@bp.post("/team/seats")
@login_required
def seats() -> Page:
    team = service.managed_team(current_user)
    try:
        extra = request.form.get("seats", type=int) or 0
        outcome = team_billing.add_seats(team, extra, current_user)
    except PaywallError as error:  # refused, or Stripe refusing or not answering
        db.session.rollback()
        return _manage_page(team, error.status, error=error.message)
    db.session.commit()
    return redirect(url_for("teams.manage", notice=f"seats-{outcome}"), code=303)


@bp.post("/team/pay")
@login_required
def pay() -> Page:
    team = service.managed_team(current_user)
    try:
        url = onboarding.renew_card_checkout(team, current_user)
    except PaywallError as error:
        db.session.rollback()
        return _manage_page(team, error.status, error=error.message)
    db.session.commit()
    return redirect(url, code=303)


@bp.get("/teams/paid")
def paid() -> str:
    """Where a team's Checkout returns; no sign-in needed (whoever paid may not have one)."""
    team = onboarding.finish_card_checkout(request.args.get("session_id", ""))
    db.session.commit()
    return render_template("teams/paid.html", team=team)


@bp.post("/team/billing")
@login_required
def billing_portal() -> Response:
    team = service.managed_team(current_user)
    url = team_billing.portal_url(team)
    return redirect(url, code=303)


@bp.post("/team/domain-join")
@login_required
def domain_join() -> Page:
    team = service.managed_team(current_user)
    try:
        joining.set_domain_join(team, request.form.get("on") == "1", current_user)
    except ValidationError as error:
        db.session.rollback()
        return _manage_page(team, 400, error=error.message)
    db.session.commit()
    return redirect(url_for("teams.manage"), code=303)


@bp.post("/team/join-by-domain/<int:team_id>")
@login_required
def join_by_domain(team_id: int) -> Page:
    _take_seat(db.session.get(Team, team_id), lambda: joining.join_by_domain(team_id, current_user))
    return _joined(manager=False)


def _joined(manager: bool) -> Response:
    """After a seat is taken: the once-only offer to end one's own subscription if it applies,
    else the team page for a manager, else the account page saying so."""
    offer = service.offer_to_end_own(current_user)
    db.session.commit()
    if offer:
        return redirect(url_for("teams.welcome"), code=303)
    if manager:
        return redirect(url_for("teams.manage"), code=303)
    return redirect(url_for("accounts.account", notice="team-joined"), code=303)


@bp.get("/team/welcome")
@login_required
def welcome() -> str:
    """After joining: the offer to end one's own subscription (shown while it still applies)."""
    return render_template(
        "teams/welcome.html", own=service.own_subscription(current_user), form=FlaskForm()
    )


@bp.post("/team/end-own-subscription")
@login_required
def end_own() -> Response:
    service.end_own_at_period_end(current_user)
    db.session.commit()
    return redirect(url_for("accounts.account", notice="own-ending") + "#billing", code=303)


@bp.app_template_filter()
def team_log_details(details: dict[str, object] | None) -> str:
    """An activity entry's details in words: seats 4 → 6, extra 2, status canceled."""
    words = []
    for key, value in (details or {}).items():
        if isinstance(value, list) and len(value) == 2:
            value = " → ".join("none" if v is None else str(v) for v in value)
        words.append(f"{key.replace('_', ' ')} {'none' if value is None else value}")
    return ", ".join(words)


@bp.app_template_global()
def teams_to_join(user: object) -> list[Team]:
    """Teams the account page offers to join by email domain."""
    return joining.domain_teams(user) if isinstance(user, User) else []
