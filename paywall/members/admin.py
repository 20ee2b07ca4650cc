"""Staff screens for member imports (an upload, dry run first) and the export download."""

from __future__ import annotations

import io

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from werkzeug.utils import secure_filename
from wtforms import BooleanField

from paywall import audit, clock
from paywall.accounts.forms import BaseForm
from paywall.errors import PaywallError, ValidationError
from paywall.extensions import db
from paywall.members import exports, imports

bp = Blueprint("admin_members_transfer", __name__, url_prefix="/admin/members")

Page = str | tuple[str, int]


class ImportForm(BaseForm):
    file = FileField(
        "CSV file",
        validators=[FileRequired("Choose a CSV file.")],
        render_kw={"accept": ".csv,text/csv"},
    )
    dry_run = BooleanField("Dry run: check the file and show what would change", default=True)


@bp.route("/import", methods=["GET", "POST"])
def import_members() -> Page:
    form = ImportForm()
    if request.method == "GET":
        return _page(form)
    if not form.validate():
        return _page(form, status=400)
    upload = form.file.data
    name = secure_filename(upload.filename or "") or "upload.csv"  # shown, and in the audit log
    data = upload.stream.read()
    try:
        # Always checked here first (a dry run), so problems come back at once, line by line.
        report = imports.import_members(io.BytesIO(data), name, dry_run=True, actor=current_user)
    except PaywallError as error:
        db.session.rollback()
        form.add_error(ValidationError(error.message, field="file"))
        return _page(form, status=error.status)
    if report.problems or form.dry_run.data:
        return _page(form, report, 400 if report.problems else 200)
    # The import itself may take minutes: the worker runs it (imports.run_import_job).
    imports.queue_import(data, name, current_user)
    db.session.commit()
    return _page(form, report, queued=True)


def _page(
    form: ImportForm, report: imports.Report | None = None, status: int = 200, queued: bool = False
) -> Page:
    page = render_template("admin/members_import.html", form=form, report=report, queued=queued)
    return page, status


# A POST (with its CSRF token), not a GET: the download is written to the audit log, and no
# GET changes anything on this site (tests/test_security.py walks every GET route).
@bp.post("/export.csv")
def export() -> Response:
    """Every member as CSV, streamed a batch at a time (see exports.export_batches)."""
    filename = f"members-{clock.now():%Y-%m-%d}.csv"
    audit.record(current_user, "members.exported", filename)
    db.session.commit()
    response = Response(stream_with_context(exports.export_csv()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"  # every member's address is in it
    return response
