"""/feed.xml and /sitemap.xml: public items in full, everything else as title and teaser."""

from __future__ import annotations

from email.utils import format_datetime
from xml.sax.saxutils import escape

from flask import Blueprint, Response, current_app

from paywall.content import service
from paywall.content.kinds import INDUSTRIES, KIND_BY_PREFIX

bp = Blueprint("feeds", __name__)

FEED_SIZE = 50


def _url(path: str) -> str:
    return str(current_app.config["BASE_URL"]) + path


@bp.get("/feed.xml")
def feed() -> Response:
    entries = []
    for item in service.latest(limit=FEED_SIZE):
        # Only public items go out in full; a feed reader is never signed in.
        text = item.body_html if item.access == "public" else f"<p>{escape(item.teaser)}</p>"
        entries.append(
            "<item>"
            f"<title>{escape(item.title)}</title>"
            f"<link>{escape(_url(item.url_path()))}</link>"
            f'<guid isPermaLink="true">{escape(_url(item.url_path()))}</guid>'
            f"<pubDate>{format_datetime(item.published_at)}</pubDate>"  # type: ignore[arg-type]
            f"<category>{'PRO' if item.access == 'premium' else 'Free'}</category>"
            f"<description>{escape(text)}</description>"
            "</item>"
        )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>PRO Desk</title><link>{escape(_url('/'))}</link>"
        "<description>Business and politics across the region, explained.</description>"
        + "".join(entries)
        + "</channel></rss>\n"
    )
    return Response(body, mimetype="application/rss+xml")


@bp.get("/sitemap.xml")
def sitemap() -> Response:
    paths = ["/", "/pro", "/newsletters", "/teams", "/industry"]
    paths += [f"/{prefix}" for prefix in KIND_BY_PREFIX if prefix != "industry"]
    paths += [f"/industry/{slug}" for slug in INDUSTRIES]
    urls = [f"<url><loc>{escape(_url(path))}</loc></url>" for path in paths]
    for item in service.latest(limit=50_000):
        urls.append(
            f"<url><loc>{escape(_url(item.url_path()))}</loc>"
            f"<lastmod>{item.updated_at.date().isoformat()}</lastmod></url>"
        )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(urls)
        + "</urlset>\n"
    )
    return Response(body, mimetype="application/xml")
