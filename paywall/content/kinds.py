"""The six kinds of content, the access levels and the nine industries, with their URLs.

Slugs and URL prefixes are part of the public contract (../shared/CONTRACT.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AccessLevel = Literal["public", "registered", "premium"]
ACCESS_LEVELS: tuple[AccessLevel, ...] = ("public", "registered", "premium")


@dataclass(frozen=True)
class Kind:
    name: str
    label: str  # one item: "Memo"
    plural: str  # the list page: "Memos"
    prefix: str  # URL path of the list; items live under it (industry issues add the industry)


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("article", "Article", "Articles", "articles"),
        Kind("memo", "Memo", "Memos", "memos"),
        Kind("trend_report", "Trend report", "Trend reports", "reports"),
        Kind("industry_newsletter", "Industry newsletter", "Industry newsletters", "industry"),
        Kind("live_qa", "Live Q&A", "Live Q&A", "live"),
        Kind("event", "Event", "Events", "events"),
    )
}
KIND_BY_PREFIX: dict[str, Kind] = {kind.prefix: kind for kind in KINDS.values()}
# Kinds that happen at a time: they carry a start, a duration, a place or stream, a replay.
SCHEDULED_KINDS = frozenset({"live_qa", "event"})

INDUSTRIES: dict[str, str] = {
    "capital-markets": "Capital markets",
    "venture-capital": "Venture capital",
    "green-energy": "Green energy",
    "supply-chain": "Supply chain",
    "sustainable-development": "Sustainable development",
    "leading-edge-tech": "Leading-edge tech",
    "oil-gas": "Oil and gas",
    "real-estate": "Real estate",
    "banking": "Banking",
}
