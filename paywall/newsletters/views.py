"""Free newsletter pages, and members' industry priorities and weekly review."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, g, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.utils import redirect
from werkzeug.wrappers import Response
from wtforms import SelectMultipleField

from paywall import access
from paywall.accounts import limits
from paywall.accounts.forms import BaseForm, email_field
from paywall.accounts.models import User
from paywall.accounts.service import reader_for
from paywall.content.kinds import INDUSTRIES
from paywall.errors import ValidationError
from paywall.extensions import csrf, db
from paywall.mail.models import Suppression
from paywall.newsletters import industries, mailings, service, suppressions
from paywall.newsletters.lists import NEWSLETTERS

bp = Blueprint("newsletters", __name__)
bp.record_once(lambda state: state.app.jinja_env.globals.update(newsletter_catalogue=NEWSLETTERS))

Page = Response | str | tuple[str, int]


class SubscribeForm(BaseForm):
    email = email_field()
    # Checked by the service (service.check_lists); here so its error shows beside the boxes.
    lists = SelectMultipleField(choices=list(NEWSLETTERS), validate_choice=False)


def _lists_page(form: SubscribeForm, chosen: list[str], status: int = 200) -> Page:
    page = render_template("newsletters/index.html", form=form, newsletters=NEWSLETTERS,
                           chosen=set(chosen))  # fmt: skip
    return page, status


@bp.route("/newsletters", methods=["GET", "POST"])
@limits.signup_per_ip
@limits.mail_per_address
def index() -> Page:
    form, chosen = SubscribeForm(), request.form.getlist("lists")
    if request.method == "GET":
        return _lists_page(form, request.args.getlist("lists"))
    if not form.validate():
        return _lists_page(form, chosen, 400)
    try:
        service.request_subscription(form.email.data, chosen)
    except ValidationError as error:
        db.session.rollback()
        form.add_error(error)
        return _lists_page(form, chosen, 400)
    db.session.commit()
    return render_template("newsletters/check_inbox.html", email=form.email.data)


@bp.route("/newsletters/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> Page:
    pending = service.peek_confirmation(token)
    if request.method == "GET":
        names = [NEWSLETTERS[s].name for s in pending.lists if s in NEWSLETTERS]
        return render_template("newsletters/confirm.html", form=FlaskForm(), names=names,
                               email=pending.email)  # fmt: skip
    lists = service.confirm(token)
    db.session.commit()
    return render_template("newsletters/confirmed.html", names=[NEWSLETTERS[s].name for s in lists])


@bp.route("/newsletters/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058: mail providers POST here with no form; the token is the credential
def unsubscribe(token: str) -> Page:
    if request.method == "GET":
        found = service.find_by_unsubscribe_token(token)
        return render_template("newsletters/unsubscribe.html", subscription=found,
                               newsletter=NEWSLETTERS.get(found.list_slug))  # fmt: skip
    found = service.unsubscribe(token)
    db.session.commit()
    return render_template("newsletters/unsubscribed.html",
                           newsletter=NEWSLETTERS.get(found.list_slug))  # fmt: skip


@bp.post("/account/newsletters")
@login_required
@limits.mail_per_user_when_sent
def account_lists() -> Page:
    try:
        sent = service.set_user_lists(current_user, request.form.getlist("lists"))
    except ValidationError as error:
        db.session.rollback()
        return render_template("errors/error.html", status=400, message=error.message), 400
    db.session.commit()
    g.mail_queued = sent
    notice = "newsletters-confirm-sent" if sent else "newsletters-saved"
    return redirect(url_for("accounts.account", notice=notice) + "#newsletters", code=303)


@bp.route("/account/industries", methods=["GET", "POST"])
@login_required
def account_industries() -> Page:
    """Checked boxes arrive in the order shown, so `industries` alone is the saved order.
    The up/down buttons (no JavaScript needed) re-show the list reordered, saving nothing."""
    if request.method == "GET":
        return _industries_page(industries.priorities(current_user),
                                saved=bool(request.args.get("saved")))  # fmt: skip
    chosen = request.form.getlist("industries")
    direction, _, industry = request.form.get("move", "").partition(":")
    try:
        delivery = industries.check_delivery(request.form.get("delivery"))
        if direction:
            order = industries.move(
                industries.check_order(request.form.getlist("order")), industry, direction
            )
            return _industries_page([(s, s in chosen) for s in order], delivery=delivery,
                                    moved=_moved(order, industry, direction))  # fmt: skip
        industries.save(current_user, chosen, delivery)
    except ValidationError as error:
        db.session.rollback()
        return _industries_page(industries.priorities(current_user), 400, error=error.message)
    db.session.commit()
    return redirect(url_for("newsletters.account_industries", saved=1), code=303)


def _industries_page(rows: list[tuple[str, bool]], status: int = 200,
                     delivery: str | None = None, **extra: object) -> Page:  # fmt: skip
    page = render_template("newsletters/industries.html", rows=rows, industries=INDUSTRIES,
                           form=FlaskForm(), deliveries=DELIVERY_LABELS,
                           delivery=delivery or industries.delivery(current_user),
                           **extra)  # fmt: skip
    return page, status


def _moved(order: list[str], industry: str, direction: str) -> dict[str, object]:
    """What the move did, for the notice (a screen reader hears where it went) and to put
    the keyboard focus back on the button that was pressed, after the page reloads."""
    if industry not in order:
        return {}
    return {"slug": industry, "direction": direction, "place": order.index(industry) + 1,
            "of": len(order)}  # fmt: skip


DELIVERY_LABELS = {
    "weekly": "The weekly review only",
    "each": "Each issue as it is published",
    "both": "Each issue and the weekly review",
    "none": "No industry mail (read them on the site)",
}


@dataclass(frozen=True)
class IndustrySummary:
    """A member's industries (names, in their order) and how they reach them, in words."""

    names: list[str]
    delivery: str


@bp.app_template_global()
def industry_summary_of(user: User) -> IndustrySummary:
    """What the member receives (for the account page and the saved notice)."""
    label = DELIVERY_LABELS[industries.delivery(user)]
    names = [INDUSTRIES[slug] for slug, receives in industries.priorities(user) if receives]
    return IndustrySummary(names, label[:1].lower() + label[1:])


@bp.route("/industry/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058: mail providers POST here with no form; the signed token is the credential
def industry_unsubscribe(token: str) -> Page:
    """One-click unsubscribe from one industry's mail, or from the weekly review."""
    if request.method == "GET":
        link = mailings.read_unsubscribe(token)
        return render_template("newsletters/industry_unsubscribe.html", link=link,
                               industries=INDUSTRIES)  # fmt: skip
    _, link = mailings.unsubscribe(token)
    db.session.commit()
    return render_template("newsletters/industry_unsubscribed.html", link=link,
                           industries=INDUSTRIES)  # fmt: skip


@bp.get("/industry/weekly")
@login_required
def weekly() -> str:
    if not access.may_read("premium", reader_for(current_user)):
        return render_template("newsletters/weekly.html", issues=None, industries=INDUSTRIES)
    return render_template("newsletters/weekly.html", issues=industries.weekly_review(current_user),
                           industries=INDUSTRIES)  # fmt: skip


@bp.app_template_global()
def newsletter_lists_of(email: str) -> set[str]:
    """The lists an address is confirmed on (for the account page)."""
    return service.confirmed_lists(email)


@bp.app_template_global()
def mail_suppression_of(email: str) -> Suppression | None:
    """Why bulk mail to an address is paused, if it is (for the account page)."""
    return suppressions.find(email)


@bp.post("/account/mail/resume")
@login_required
def resume_mail() -> Response:
    """The member's mail server refused our mail once; they ask for it again."""
    resumed = suppressions.resume_for_member(current_user)
    db.session.commit()
    notice = "mail-resumed" if resumed else "mail-not-paused"
    return redirect(url_for("accounts.account", notice=notice) + "#newsletters", code=303)
