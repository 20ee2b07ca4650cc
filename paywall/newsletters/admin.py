"""Staff screens for newsletters: subscribers per list and export, the bulk mailings with
how each went, and the suppression list."""

from __future__ import annotations

import io
from collections.abc import Iterator

from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response as Redirect
from wtforms import StringField
from wtforms.validators import InputRequired, Length, Optional

from paywall import audit
from paywall.accounts.emails import MAX_LENGTH as EMAIL_MAX
from paywall.accounts.forms import BaseForm
from paywall.csvsafe import Writer
from paywall.dbtypes import parse_id
from paywall.errors import ValidationError
from paywall.extensions import db
from paywall.newsletters import reports, service, suppressions
from paywall.newsletters.lists import NEWSLETTERS

bp = Blueprint("admin_newsletters", __name__, url_prefix="/admin/newsletters")

Page = Redirect | str | tuple[str, int]


class SuppressForm(BaseForm):
    email = StringField("Address", validators=[
        InputRequired("Enter the address to suppress."),
        Length(max=EMAIL_MAX, message="This email address is too long."),
    ], render_kw={"type": "email", "maxlength": EMAIL_MAX})  # fmt: skip
    reason = StringField("Reason (optional)", validators=[
        Optional(), Length(max=300, message="Keep it under 300 characters."),
    ])  # fmt: skip


@bp.get("/")
def index() -> str:
    before = parse_id(request.args.get("before"))  # keyset paging; a bad cursor starts over
    return render_template("admin/newsletters.html", counts=service.counts(),
                           newsletters=NEWSLETTERS, reports=reports.recent(before),
                           page=reports.PAGE)  # fmt: skip


@bp.get("/suppressions")
def suppressions_page() -> Page:
    return _suppressions_page(SuppressForm(formdata=None))


def _suppressions_page(form: SuppressForm, status: int = 200) -> Page:
    query = request.args.get("q", "").strip()[:EMAIL_MAX]
    after = request.args.get("after", "")[:EMAIL_MAX]
    page = render_template("admin/suppressions.html", form=form, query=query, after=after,
                           rows=suppressions.listing(query, after), page=suppressions.PAGE,
                           notice=request.args.get("notice"))  # fmt: skip
    return page, status


@bp.post("/suppressions")
def suppress() -> Page:
    """Staff stop bulk mail to an address (a complaint, a known trap): a field error for
    input that is no address."""
    form = SuppressForm()
    if not form.validate():
        return _suppressions_page(form, 400)
    try:
        added = suppressions.add(form.email.data, form.reason.data or "", current_user)
    except ValidationError as error:
        db.session.rollback()
        form.add_error(error)
        return _suppressions_page(form, 400)
    db.session.commit()
    notice = "added" if added else "already"
    return redirect(url_for("admin_newsletters.suppressions_page", notice=notice), code=303)


@bp.post("/suppressions/remove")
def unsuppress() -> Redirect:
    removed = suppressions.remove(request.form.get("email", "")[:EMAIL_MAX], current_user)
    db.session.commit()
    notice = "removed" if removed else "not-listed"
    return redirect(url_for("admin_newsletters.suppressions_page", notice=notice), code=303)


def csv_lines(slug: str) -> Iterator[str]:
    """The subscribers of a list as CSV text, a line at a time; an address a spreadsheet
    would run as a formula (=cmd|…@example.com is valid) is guarded (paywall.csvsafe)."""
    buffer = io.StringIO()
    writer = Writer(buffer)
    writer.writerow(["email", "subscribed_at"])
    for row in service.export_rows(slug):
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


@bp.get("/<slug>.csv")
def export(slug: str) -> Response:
    if slug not in NEWSLETTERS:
        abort(404)
    audit.record(current_user, "newsletters.exported", slug)  # personal data left the building
    db.session.commit()
    response = Response(stream_with_context(csv_lines(slug)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{slug}-subscribers.csv"'
    return response
