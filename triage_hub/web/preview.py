"""POST /preview: a draft's markdown as HTML that is safe to insert into the dashboard."""

from __future__ import annotations

import nh3
from aiohttp import web
from markdown_it import MarkdownIt

from triage_hub.models import Preview, PreviewIn
from triage_hub.web.responses import json_response, read_json

# js-default: CommonMark without raw HTML and without linkify, as markdown-it (JS) does.
_MARKDOWN = MarkdownIt("js-default")
_TAGS = {
    "a",
    "p",
    "br",
    "hr",
    "strong",
    "em",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "img",
}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}


def _same_origin_images_only(tag: str, attribute: str, value: str) -> str | None:
    """Drop an image's src unless it is a path on this server (no tracking pixels)."""
    if (
        tag == "img"
        and attribute == "src"
        and (not value.startswith("/") or value.startswith("//"))
    ):
        return None
    return value


def render_markdown(text: str) -> str:
    """Markdown to sanitised HTML: http/https/mailto links only, rel=noopener noreferrer."""
    return nh3.clean(
        _MARKDOWN.render(text),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        attribute_filter=_same_origin_images_only,
    )


async def preview(request: web.Request) -> web.Response:
    """POST /preview {"markdown"} -> {"html"}."""
    body = await read_json(request, PreviewIn)
    return json_response(Preview(html=render_markdown(body.markdown)))
