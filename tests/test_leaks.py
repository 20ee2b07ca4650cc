"""No premium leaks: crawl the whole site as each kind of reader and look for a sentinel.

Every premium item carries a sentinel sentence in its body (and a report carries it inside its
PDF). Every URL the site links to, plus the feed, the sitemap, the API, search and print views,
is fetched as a visitor, a free reader and a lapsed member: the sentinel appears nowhere. A
member fetching the same URLs does see it, so the crawl is known to reach the premium text.
"""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import urljoin, urlsplit

import pytest
from flask.testing import FlaskClient

from paywall.accounts.comp import end_comps
from paywall.content.kinds import KINDS
from paywall.content.service import attach
from paywall.extensions import db
from tests.helpers import make_item, make_member, make_user, sign_in

SENTINEL = "Sentinel-LEAK-91x"
LINK = re.compile(r'(?:href|src)="([^"]+)"')
# Following these would sign the crawler out or leave the site.
SKIP = ("/signout", "/static/", "/dev/", "/admin/")


@pytest.fixture
def premium_site(app):  # type: ignore[no-untyped-def]
    """One premium item of every kind, a report with a PDF, and some free articles."""
    items = []
    for kind in KINDS:
        items.append(
            make_item(
                kind=kind,
                access="premium",
                title=f"Premium {kind}",
                body=f"Opening line.\n\n{SENTINEL} in the body of a {kind}.\n\n## More\n\n{SENTINEL}",
                **(
                    {"replay_url": "https://www.youtube.com/watch?v=Ab3dE5gH7jK"}
                    if kind == "live_qa"
                    else {}
                ),
            )
        )
    report = next(i for i in items if i.kind == "trend_report")
    attach(report, "figures.pdf", "application/pdf", b"%PDF-1.4\n" + SENTINEL.encode() + b"\n%%EOF")
    make_item(kind="article", access="public", title="A free article", body="Free words.")
    db.session.commit()
    return items


def crawl(client: FlaskClient, extra: list[str]) -> dict[str, str]:
    """Fetch every same-site page reachable from / (and the extra URLs): path -> body."""
    seen: dict[str, str] = {}
    queue = deque(["/", *extra])
    while queue and len(seen) < 500:
        path = queue.popleft()
        if path in seen:
            continue
        response = client.get(path)
        body = response.get_data(as_text=False).decode("utf-8", "replace")
        seen[path] = body
        if "html" not in (response.content_type or ""):
            continue
        for link in LINK.findall(body):
            target = urljoin(path, link.replace("&amp;", "&"))
            parts = urlsplit(target)
            if parts.netloc not in ("", "localhost", "127.0.0.1:5000"):
                continue
            local = parts.path + (f"?{parts.query}" if parts.query else "")
            if not local.startswith(SKIP) and local not in seen:
                queue.append(local)
    return seen


def extra_urls(items) -> list[str]:  # type: ignore[no-untyped-def]
    urls = ["/feed.xml", "/sitemap.xml", "/api/v1/items", "/api/v1/items?limit=100",
            "/search?q=Premium", "/search?q=Opening", "/this-does-not-exist",
            "/reports/trend-report-x/files/figures.pdf", "/industry/weekly"]  # fmt: skip
    for item in items:
        urls += [item.url_path(), item.url_path("/print"), f"/api/v1/items/{item.kind}/{item.slug}"]
        if item.kind == "trend_report":
            urls.append(item.url_path("/files/figures.pdf"))
        if item.kind in ("live_qa", "event"):
            urls.append(item.url_path("/calendar.ics"))
    return urls


def client_for(app, who: str) -> FlaskClient:  # type: ignore[no-untyped-def]
    client = app.test_client()
    if who == "free":
        sign_in(client, make_user().email)
    elif who in ("lapsed", "member"):
        user = make_member()
        if who == "lapsed":
            end_comps(user, staff=None)
            db.session.commit()
        sign_in(client, user.email)
    return client


@pytest.mark.parametrize("who", ["visitor", "free", "lapsed"])
def test_the_sentinel_reaches_no_one_without_access(app, premium_site, who) -> None:  # type: ignore[no-untyped-def]
    pages = crawl(client_for(app, who), extra_urls(premium_site))
    assert len(pages) > 40, sorted(pages)
    leaks = [path for path, body in pages.items() if SENTINEL in body]
    assert leaks == []
    # The crawl did reach every premium page (as a teaser).
    for item in premium_site:
        assert item.url_path() in pages


def test_a_member_crawling_the_same_urls_sees_the_sentinel(app, premium_site) -> None:  # type: ignore[no-untyped-def]
    pages = crawl(client_for(app, "member"), extra_urls(premium_site))
    for item in premium_site:
        assert SENTINEL in pages[item.url_path()], item.kind
        assert SENTINEL in pages[item.url_path("/print")]
        assert SENTINEL in pages[f"/api/v1/items/{item.kind}/{item.slug}"]
    report = next(i for i in premium_site if i.kind == "trend_report")
    assert SENTINEL in pages[report.url_path("/files/figures.pdf")]
    # Feeds, sitemaps and search never carry premium bodies, even for members.
    for path in ("/feed.xml", "/sitemap.xml", "/search?q=Opening"):
        assert SENTINEL not in pages[path]
    assert "0 results" in pages["/search?q=Opening"], "search never looks inside bodies"
