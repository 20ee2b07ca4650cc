"""Reader pages, feeds, search-engine markup, the API and the cost of a page view."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from contextlib import contextmanager

from sqlalchemy import event

from paywall.content.service import attach
from paywall.extensions import db
from tests.helpers import make_item, make_member, make_user, sign_in

SENTINEL = "Body-only-sentence-42"


def json_ld(html: str) -> dict:  # type: ignore[type-arg]
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert match, "no JSON-LD"
    return json.loads(match.group(1))  # type: ignore[no-any-return]


@contextmanager
def counted_statements():  # type: ignore[no-untyped-def]
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_home_lists_free_articles_and_marks_premium_items_pro(client) -> None:  # type: ignore[no-untyped-def]
    make_item(kind="article", access="public", title="Free piece", body=SENTINEL)
    make_item(kind="memo", title="Members memo", teaser="Teaser of the memo.", body=SENTINEL)
    html = client.get("/").get_data(as_text=True)
    assert "Free piece" in html and "Members memo" in html and "Teaser of the memo." in html
    assert 'class="badge pro">PRO' in html
    assert SENTINEL not in html


def test_each_kind_has_a_list_page(client) -> None:  # type: ignore[no-untyped-def]
    for kind, path in [("article", "/articles"), ("memo", "/memos"), ("trend_report", "/reports"),
                       ("live_qa", "/live"), ("event", "/events")]:  # fmt: skip
        item = make_item(kind=kind, title=f"Listed {kind}")
        assert item.title in client.get(path).get_data(as_text=True)
    issue = make_item(kind="industry_newsletter", industry="banking", title="Banking weekly")
    assert issue.title in client.get("/industry/banking").get_data(as_text=True)
    assert client.get("/industry/not-an-industry").status_code == 404
    assert client.get("/memos/no-such-memo").status_code == 404


def test_premium_markup_names_the_gated_section_and_carries_no_body(client) -> None:  # type: ignore[no-untyped-def]
    memo = make_item(kind="memo", teaser="What everyone sees.", body=SENTINEL)
    html = client.get(memo.url_path()).get_data(as_text=True)
    data = json_ld(html)
    assert data["@type"] == "NewsArticle" and data["isAccessibleForFree"] is False
    assert data["hasPart"] == {"@type": "WebPageElement", "isAccessibleForFree": False,
                               "cssSelector": ".paywalled-content"}  # fmt: skip
    assert '<meta name="description" content="What everyone sees.">' in html
    assert '<meta property="og:description" content="What everyone sees.">' in html
    assert '<meta name="twitter:description" content="What everyone sees.">' in html
    assert SENTINEL not in html


def test_members_get_the_body_inside_the_gated_section(app) -> None:  # type: ignore[no-untyped-def]
    memo = make_item(kind="memo", body=SENTINEL)
    client = app.test_client()
    sign_in(client, make_member().email)
    html = client.get(memo.url_path()).get_data(as_text=True)
    assert re.search(r'<div class="body paywalled-content"><p>' + SENTINEL, html)
    assert "private" in client.get(memo.url_path()).headers["Cache-Control"]


def test_free_items_are_marked_free(client) -> None:  # type: ignore[no-untyped-def]
    article = make_item(kind="article", access="public")
    data = json_ld(client.get(article.url_path()).get_data(as_text=True))
    assert data["isAccessibleForFree"] is True and "hasPart" not in data


def test_the_feed_has_public_items_in_full_and_premium_ones_as_teasers(client) -> None:  # type: ignore[no-untyped-def]
    make_item(kind="article", access="public", title="Open", body="Everyone reads this body.")
    make_item(kind="memo", title="Closed", teaser="Only the teaser.", body=SENTINEL)
    response = client.get("/feed.xml")
    assert response.mimetype == "application/rss+xml"
    items = {i.findtext("title"): i for i in ET.fromstring(response.data).iter("item")}
    assert "Everyone reads this body." in items["Open"].findtext("description")
    assert items["Closed"].findtext("description") == "<p>Only the teaser.</p>"


def test_the_sitemap_lists_visible_items(client) -> None:  # type: ignore[no-untyped-def]
    memo = make_item(kind="memo")
    draft = make_item(kind="memo", published=False)
    locs = [e.text for e in ET.fromstring(client.get("/sitemap.xml").data).iter(
        "{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]  # fmt: skip
    assert f"http://127.0.0.1:5000{memo.url_path()}" in locs
    assert not any(draft.slug in loc for loc in locs)


def test_search_matches_titles_and_teasers_only(client) -> None:  # type: ignore[no-untyped-def]
    make_item(kind="memo", title="Shipping rates in the Red Sea", body="zanzibar")
    html = client.get("/search?q=red+sea").get_data(as_text=True)
    assert "Shipping rates in the Red Sea" in html and "1 result" in html
    assert "0 results" in client.get("/search?q=zanzibar").get_data(as_text=True)
    assert client.get("/search?q=%25%25_").status_code == 200


def test_the_api_gives_bodies_to_entitled_readers_only(app, client) -> None:  # type: ignore[no-untyped-def]
    memo = make_item(kind="memo", body=SENTINEL)
    listing = client.get("/api/v1/items?kind=memo").get_json()
    assert listing["items"][0]["slug"] == memo.slug and SENTINEL not in json.dumps(listing)
    assert client.get(f"/api/v1/items/memo/{memo.slug}").get_json()["item"]["body_html"] is None
    assert client.get("/api/v1/items?kind=nope").status_code == 400
    assert client.get("/api/v1/items/memo/nope").get_json()["error"]["code"] == "not_found"
    member = app.test_client()
    sign_in(member, make_member().email)
    assert SENTINEL in member.get(f"/api/v1/items/memo/{memo.slug}").get_json()["item"]["body_html"]


def test_report_files_download_only_for_members(app, client) -> None:  # type: ignore[no-untyped-def]
    report = make_item(kind="trend_report")
    attach(report, "data.pdf", "application/pdf", b"%PDF-1.4 figures")
    db.session.commit()
    path = report.url_path("/files/data.pdf")
    assert client.get(path).status_code == 404
    assert "data.pdf" not in client.get(report.url_path()).get_data(as_text=True)
    member = app.test_client()
    sign_in(member, make_member().email)
    assert "data.pdf" in member.get(report.url_path()).get_data(as_text=True)
    download = member.get(path)
    assert download.data == b"%PDF-1.4 figures" and download.mimetype == "application/pdf"
    assert "attachment" in download.headers["Content-Disposition"]
    assert member.get(report.url_path("/files/other.pdf")).status_code == 404


def test_video_links_become_players_from_allowed_hosts_only(app) -> None:  # type: ignore[no-untyped-def]
    article = make_item(kind="article", access="public",
                        body="https://www.youtube.com/watch?v=Ab3dE5gH7jK\n\nhttps://vimeo.com/12345\n\nhttps://evil.test/v")  # fmt: skip
    assert 'src="https://www.youtube-nocookie.com/embed/Ab3dE5gH7jK"' in article.body_html
    assert 'src="https://player.vimeo.com/video/12345"' in article.body_html
    assert "evil.test" not in article.body_html.split("<iframe")[-1].split("</iframe>")[0]


def test_pro_page_presents_the_offer(client) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/pro").get_data(as_text=True)
    for words in ("$25.00 / month", "billed annually", "1-week free trial", "Cancel anytime",
                  "memos", "Live video Q&amp;A", "Special events", "Trend reports",
                  "Capital markets", "Banking", "For teams", "Already a member?"):  # fmt: skip
        assert words in html, words


def test_a_member_premium_page_view_takes_at_most_three_statements(app) -> None:  # type: ignore[no-untyped-def]
    memos = [make_item(kind="memo", body=SENTINEL) for _ in range(30)]
    for _ in range(30):
        make_user()
    client = app.test_client()
    sign_in(client, make_member().email)
    first, last = memos[0].url_path(), memos[-1].url_path()
    client.get(first)  # warm up: the first request loads templates
    with counted_statements() as statements:
        response = client.get(last)
    assert SENTINEL in response.get_data(as_text=True)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(statements) <= 3, "\n".join(s[:90] for s in statements)
    assert len(selects) == len(statements), "a page view writes nothing"
