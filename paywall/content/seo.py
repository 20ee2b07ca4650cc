"""What search engines and link previews get: only the title and the teaser, never the body.

Paywalled items are marked as Google documents for subscription content: the JSON-LD says the
item is not free and names the gated section by CSS class (`.paywalled-content`), so showing
members more than crawlers is not mistaken for cloaking.
https://developers.google.com/search/docs/appearance/structured-data/paywalled-content
"""

from __future__ import annotations

from typing import Any

from paywall.content.models import ContentItem

GATED_SELECTOR = ".paywalled-content"
PUBLISHER = "PRO Desk"


def _iso(item: ContentItem, name: str) -> str | None:
    moment = getattr(item, name)
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def news_article(item: ContentItem, url: str) -> dict[str, Any]:
    """The JSON-LD NewsArticle for an item; it carries no part of the body."""
    free = item.access == "public"
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": item.title[:110],
        "description": item.teaser,
        "url": url,
        "mainEntityOfPage": url,
        "datePublished": _iso(item, "published_at"),
        "dateModified": _iso(item, "updated_at"),
        "author": {"@type": "Person", "name": item.author or PUBLISHER},
        "publisher": {"@type": "Organization", "name": PUBLISHER},
        "isAccessibleForFree": free,
    }
    if not free:
        data["hasPart"] = {
            "@type": "WebPageElement",
            "isAccessibleForFree": False,
            "cssSelector": GATED_SELECTOR,
        }
    return data
