"""Staff screens for newsletters: subscribers per list, and export."""

from __future__ import annotations

import io
from collections.abc import Iterator

from flask import Blueprint, Response, abort, render_template, stream_with_context
from flask_login import current_user

from paywall import audit
from paywall.csvsafe import Writer
from paywall.extensions import db
from paywall.newsletters import service
from paywall.newsletters.lists import NEWSLETTERS

bp = Blueprint("admin_newsletters", __name__, url_prefix="/admin/newsletters")


@bp.get("/")
def index() -> str:
    return render_template(
        "admin/newsletters.html", counts=service.counts(), newsletters=NEWSLETTERS
    )


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
