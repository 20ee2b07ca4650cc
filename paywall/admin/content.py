"""Staff content screens: list, create, edit with preview, publish, schedule, view as; for
industry issues, how their mailing went and a test send to oneself."""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as Redirect

from paywall import access, audit, clock
from paywall.admin.forms import ContentForm
from paywall.content import markdown, service
from paywall.content.kinds import KINDS
from paywall.content.models import ContentItem
from paywall.content.reading import ItemView
from paywall.content.views import page_context
from paywall.errors import ValidationError
from paywall.extensions import db
from paywall.newsletters import mailings, reports, suppressions

bp = Blueprint("admin_content", __name__, url_prefix="/admin/content")

Page = Response | Redirect | str | tuple[str, int]
MAX_PDF = 900 * 1024  # under the app's 1 MiB request limit; bigger reports go through import
READERS = {
    "visitor": access.VISITOR,
    "free": access.Reader(signed_in=True, access=access.NO_ACCESS),
    "member": access.Reader(
        signed_in=True, access=access.Access(premium=True, source="comp", until=None)
    ),
}


def _item(item_id: int) -> ContentItem:
    return db.session.get(ContentItem, item_id) or abort(404)


@bp.get("/")
def index() -> str:
    kind = request.args.get("kind")
    query = select(ContentItem).order_by(ContentItem.updated_at.desc()).limit(200)
    if kind in KINDS:
        query = query.where(ContentItem.kind == kind)
    items = list(db.session.scalars(query))
    return render_template("admin/content_list.html", items=items, kind=kind, now=clock.now(),
                           mailings=reports.of_issues(items))  # fmt: skip


@bp.route("/new", methods=["GET", "POST"])
def create() -> Page:
    return _edit(None)


@bp.route("/<int:item_id>/edit", methods=["GET", "POST"])
def edit(item_id: int) -> Page:
    return _edit(_item(item_id))


def _edit(item: ContentItem | None) -> Page:
    form = ContentForm(obj=item) if request.method == "GET" else ContentForm()
    if request.method == "GET":
        if item is not None and item.published_at:
            form.published_at.data = item.published_at.strftime("%Y-%m-%dT%H:%M")
        if item is not None and item.starts_at:
            form.starts_at.data = item.starts_at.strftime("%Y-%m-%dT%H:%M")
        return _edit_page(form, item)
    action = request.form.get("action", "draft")
    if not form.validate():
        return _edit_page(form, item, 400)
    if action == "preview":
        return _edit_page(form, item, preview=markdown.render(form.body_markdown.data or ""))
    try:
        saved = service.save_item(
            form.fields_for_service("published" if action == "publish" else "draft"), item=item
        )
        _attach_upload(form, saved)
        audit.record(current_user, "content.created" if item is None else "content.saved",
                     saved.slug, kind=saved.kind, status=saved.status)  # fmt: skip
    except ValidationError as error:
        db.session.rollback()
        form.add_error(error)
        return _edit_page(form, item, 400)
    db.session.commit()
    return redirect(url_for("admin_content.edit", item_id=saved.id, saved=action), code=303)


def _edit_page(form: ContentForm, item: ContentItem | None, status: int = 200,
               **extra: object) -> tuple[str, int]:  # fmt: skip
    """The edit page; an industry issue's shows its mailing and the last test of it."""
    if item is not None and item.kind == "industry_newsletter":
        suppressed = suppressions.find(current_user.email) is not None
        extra.update(mailing=reports.of_issue(item), last_test=reports.last_test(item),
                     you_are_suppressed=suppressed)  # fmt: skip
    return render_template("admin/content_edit.html", form=form, item=item, **extra), status


def _attach_upload(form: ContentForm, item: ContentItem) -> None:
    upload = form.pdf.data
    if not upload or not getattr(upload, "filename", ""):
        return
    data = upload.read(MAX_PDF + 1)
    if item.kind != "trend_report":
        raise ValidationError("Only trend reports carry a PDF.", field="pdf")
    if len(data) > MAX_PDF or not data.startswith(b"%PDF-"):
        raise ValidationError("Upload a PDF file under 900 KB.", field="pdf")
    name = "".join(c for c in upload.filename if c.isalnum() or c in "-_.")[:100] or "report.pdf"
    if not name.lower().endswith(".pdf"):
        name += ".pdf"
    service.attach(item, name, "application/pdf", data)


# CSRFProtect checks every POST before these run.
@bp.post("/<int:item_id>/publish")
def publish(item_id: int) -> Redirect:
    """Publish now (a scheduled item too)."""
    item = _item(item_id)
    service.publish(item)
    audit.record(current_user, "content.published", item.slug, kind=item.kind)
    db.session.commit()
    return redirect(url_for("admin_content.index"), code=303)


@bp.post("/<int:item_id>/unpublish")
def unpublish(item_id: int) -> Redirect:
    item = _item(item_id)
    service.unpublish(item)
    audit.record(current_user, "content.unpublished", item.slug, kind=item.kind)
    db.session.commit()
    return redirect(url_for("admin_content.index"), code=303)


@bp.post("/<int:item_id>/test")
def send_test(item_id: int) -> Redirect:
    """An industry issue as members would get it, marked [Test], to the staff member alone:
    drafts and scheduled issues too, which is the point (a look before publishing)."""
    item = _item(item_id)
    if item.kind != "industry_newsletter":
        abort(404)  # only industry issues are mailed; no page offers this for the rest
    mailing = mailings.send_test(item, current_user)
    audit.record(current_user, "content.test_sent", item.slug, kind=item.kind,
                 to=current_user.email, mailing=mailing.key)  # fmt: skip
    db.session.commit()
    return redirect(url_for("admin_content.edit", item_id=item.id, notice="test-sent"), code=303)


@bp.get("/<int:item_id>/view")
def view_as(item_id: int) -> str:
    """The real item page as a visitor, a free reader or a member would get it."""
    item = _item(item_id)
    who = request.args.get("as", "visitor")
    reader = READERS.get(who) or abort(404)
    view = ItemView(item, reader, access.reading(item.access, reader, 0),
                    access.offer_for(item.access, reader), None)  # fmt: skip
    return render_template(
        "content/item.html", view=view, viewing_as=who, **page_context(view, user=None)
    )
