"""Reader pages: home, lists, items (with the paywall), files, print views, search, /pro."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from paywall import clock
from paywall.accounts.service import reader_for
from paywall.content import seo, service
from paywall.content.kinds import INDUSTRIES, KIND_BY_PREFIX, KINDS
from paywall.content.models import ContentItem
from paywall.content.reading import METER_COOKIE, ItemView, view_item
from paywall.content.registrations import registration_context
from paywall.extensions import db

bp = Blueprint("content", __name__)

PREFIXES = "any(articles, memos, reports, live, events)"
PAGE_SIZE = 20
MAX_PAGE = 10_000


@bp.get("/")
def home() -> str:
    return render_template(
        "content/home.html",
        articles=service.latest(kind="article", limit=8),
        premium=[i for i in service.latest(limit=30) if i.kind != "article"][:10],
    )


@bp.get("/pro")
def pro() -> str:
    return render_template("content/pro.html", industries=INDUSTRIES)


@bp.get(f"/<{PREFIXES}:prefix>")
def kind_list(prefix: str) -> str:
    kind = KIND_BY_PREFIX[prefix]
    # Past the last page is an empty page; the cap keeps the offset within what SQL takes.
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)
    items = service.latest(kind=kind.name, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return render_template(
        "content/list.html",
        kind=kind,
        items=items[:PAGE_SIZE],
        page=page,
        more=len(items) > PAGE_SIZE,
    )


@bp.get("/industry")
def industries() -> str:
    return render_template("content/industries.html", industries=INDUSTRIES)


@bp.get("/industry/<industry>")
def industry_archive(industry: str) -> str:
    if industry not in INDUSTRIES:
        abort(404)
    items = service.latest(kind="industry_newsletter", industry=industry, limit=50)
    return render_template(
        "content/list.html", kind=KINDS["industry_newsletter"], items=items, page=1, more=False,
        industry_name=INDUSTRIES[industry],
    )  # fmt: skip


@bp.get(f"/<{PREFIXES}:prefix>/<slug>")
def item(prefix: str, slug: str) -> Response:
    return _item_page(service.find_visible(KIND_BY_PREFIX[prefix].name, slug), "content/item.html")


@bp.get("/industry/<industry>/<slug>")
def industry_item(industry: str, slug: str) -> Response:
    found = service.find_visible("industry_newsletter", slug, industry=industry)
    return _item_page(found, "content/item.html")


@bp.get(f"/<{PREFIXES}:prefix>/<slug>/print")
def item_print(prefix: str, slug: str) -> Response:
    return _item_page(service.find_visible(KIND_BY_PREFIX[prefix].name, slug), "content/print.html")


@bp.get("/industry/<industry>/<slug>/print")
def industry_item_print(industry: str, slug: str) -> Response:
    found = service.find_visible("industry_newsletter", slug, industry=industry)
    return _item_page(found, "content/print.html")


@bp.get("/reports/<slug>/files/<filename>")
def attachment(slug: str, filename: str) -> Response:
    """Files are served only to readers entitled to the whole report, never from /static."""
    view = view_item(service.find_visible("trend_report", slug), current_user, None)
    if view.reading != "full":
        abort(404)
    found = service.attachment_named(view.item, filename)
    response = Response(found.data, mimetype=found.content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/search")
def search() -> str:
    words = (request.args.get("q") or "").strip()[:200]
    return render_template("content/search.html", q=words, items=service.search(words))


def _item_page(item: ContentItem, template: str) -> Response:
    view = view_item(item, current_user, request.cookies.get(METER_COOKIE))
    if db.session.new:  # a metered read by a signed-in reader; plain views write nothing
        try:
            db.session.commit()
        except IntegrityError:  # the same read counted by a parallel request: nothing lost
            db.session.rollback()
    response = Response(render_template(template, view=view, **page_context(view, current_user)))
    response.headers["Cache-Control"] = "private, no-cache"
    if view.cookie is not None:
        response.set_cookie(
            METER_COOKIE, view.cookie, max_age=40 * 86400, httponly=True, samesite="Lax",
            secure=current_app.config["SECURE_TRANSPORT"],
        )  # fmt: skip
    return response


def page_context(view: ItemView, user: object) -> dict[str, object]:
    """What some kinds add to the page: files for reports, registration for sessions."""
    url = current_app.config["BASE_URL"] + item_url(view.item)
    extras: dict[str, object] = {
        "reader": view.reader,
        "canonical": url,
        "json_ld": seo.news_article(view.item, url),
    }
    if view.item.kind == "trend_report" and view.reading == "full":
        extras["attachments"] = service.attachments_of(view.item)
    if view.item.kind in ("live_qa", "event"):
        extras.update(registration_context(view.item, user, view.reader))
    return extras


@bp.app_template_global()
def item_url(item: ContentItem, suffix: str = "") -> str:
    """The path of an item's page (with '/print' and the like appended)."""
    return item.url_path(suffix)


@bp.app_context_processor
def reader_context() -> dict[str, object]:
    return {"kinds": KINDS, "current_reader": reader_for(current_user), "now": clock.now}
