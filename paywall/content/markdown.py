"""Markdown to safe HTML: rendered once when an item is saved, sanitised with an allow-list.

Raw HTML in the Markdown is not passed through. A paragraph that is nothing but a link to a
video on an allowed host becomes an embedded player; iframes pointing anywhere else are
dropped by the sanitiser.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

TAGS = {
    "p", "br", "hr", "a", "img", "strong", "em", "code", "pre", "blockquote",
    "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li",
    "table", "thead", "tbody", "tr", "th", "td", "div", "iframe",
}  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "div": {"class"},
    "iframe": {"src", "title", "allowfullscreen", "loading", "referrerpolicy"},
}
# Where embedded players may come from; also the CSP's frame-src (see paywall.web).
VIDEO_HOSTS = ("https://www.youtube-nocookie.com/embed/", "https://player.vimeo.com/video/")

_LONE_LINK = re.compile(r'<p><a href="(https://[^"]+)">[^<]*</a></p>|<p>(https://\S+)</p>')
_ID = re.compile(r"^[A-Za-z0-9_-]{6,20}$")


def video_embed_url(url: str) -> str | None:
    """The player address for a YouTube or Vimeo link, or None for anything else."""
    parts = urlsplit(url)
    host = parts.netloc.lower().removeprefix("www.").removeprefix("m.")
    video_id = None
    if host == "youtube.com" and parts.path == "/watch":
        video_id = parse_qs(parts.query).get("v", [""])[0]
    elif host == "youtu.be":
        video_id = parts.path.strip("/")
    elif host in {"youtube.com", "youtube-nocookie.com"} and parts.path.startswith("/embed/"):
        video_id = parts.path.removeprefix("/embed/")
    if video_id is not None:
        return VIDEO_HOSTS[0] + video_id if _ID.match(video_id) else None
    if host in {"vimeo.com", "player.vimeo.com"}:
        vimeo_id = parts.path.rstrip("/").rsplit("/", 1)[-1]
        return VIDEO_HOSTS[1] + vimeo_id if vimeo_id.isdigit() else None
    return None


def _embed(match: re.Match[str]) -> str:
    url = match.group(1) or match.group(2)
    player = video_embed_url(url.replace("&amp;", "&"))
    if player is None:
        return match.group(0)
    return (
        f'<div class="video"><iframe src="{player}" title="Video" loading="lazy" '
        'referrerpolicy="strict-origin-when-cross-origin" allowfullscreen></iframe></div>'
    )


def _keep_attribute(tag: str, name: str, value: str) -> str | None:
    if tag == "iframe" and name == "src" and not value.startswith(VIDEO_HOSTS):
        return None
    if tag == "div" and name == "class" and value != "video":
        return None
    return value


def render(markdown: str) -> str:
    """Safe HTML for a Markdown body."""
    html = _LONE_LINK.sub(_embed, _md.render(markdown))
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        attribute_filter=_keep_attribute,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def plain_text(markdown: str) -> str:
    """The words of a Markdown text, for search and feeds of public items."""
    return nh3.clean(_md.render(markdown), tags=set()).strip()
