"""Markdown to sanitised HTML, and the worker process that renders it off the event loop.

`render_markdown` is a pure function for every place that shows a draft as HTML. Its cost is
not linear in the text (markdown-it's bracket scan is quadratic: 1.4 s for `"![" * 10000`), so
servers call it through `triage_hub.markdown_pool`, which runs `python -m triage_hub.markdown`
workers and kills one that takes too long. This module imports only markdown-it and nh3, so a
worker starts in a tenth of a second.
"""

from __future__ import annotations

import json
import os
import sys

import nh3
from markdown_it import MarkdownIt

# js-default: CommonMark without raw HTML and without linkify, as markdown-it (JS) does.
# `breaks`: a single line break stays one, as the customer typed it ("Best regards,\nDana"):
# what the agent previews is what the customer's e-mail shows.
_MARKDOWN = MarkdownIt("js-default", {"breaks": True})
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

# The worker's first line says it is ready, so its start-up is not counted in a render's bound.
READY = b'"ready"\n'
# Renders run below the server's priority: when cores are short, the event loop goes first.
WORKER_NICENESS = 10


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
    """Markdown to sanitised HTML: line breaks kept, http/https/mailto links only, links
    rel=noopener noreferrer."""
    return nh3.clean(
        _MARKDOWN.render(text),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        attribute_filter=_same_origin_images_only,
    )


def serve_renders() -> None:
    """The worker: one JSON string per line in, `{"html": ...}` per line out, until EOF."""
    os.nice(WORKER_NICENESS)
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    answers.write(READY)
    answers.flush()
    for line in requests:
        try:
            answer = {"html": render_markdown(json.loads(line))}
        except Exception as error:  # a bug, not the text's fault: the server logs it
            answer = {"error": f"{type(error).__name__}: {error}"}
        # ASCII JSON: lone surrogates travel too, and a newline always ends the answer.
        answers.write(json.dumps(answer).encode("ascii") + b"\n")
        answers.flush()


if __name__ == "__main__":
    serve_renders()
