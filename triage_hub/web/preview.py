"""POST /preview: a draft's markdown as HTML that is safe to insert into the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from triage_hub import markdown_pool
from triage_hub.markdown_pool import MarkdownRenderer
from triage_hub.models import Preview, PreviewIn
from triage_hub.routing import Access, Endpoint
from triage_hub.web.apidoc import body, errors, json_content, ref
from triage_hub.web.responses import json_response, read_json

MARKDOWN_RENDERER = web.AppKey("markdown_renderer", MarkdownRenderer)


async def renderer_ctx(app: web.Application) -> AsyncIterator[None]:
    """The markdown worker processes: started on first use, stopped at exit."""
    # The bounds are read at start-up, not import, so that a test can shorten them.
    app[MARKDOWN_RENDERER] = renderer = MarkdownRenderer(
        workers=markdown_pool.WORKERS,
        render_seconds=markdown_pool.RENDER_SECONDS,
        wait_seconds=markdown_pool.WAIT_SECONDS,
    )
    try:
        yield
    finally:
        await renderer.close()


async def preview(request: web.Request) -> web.Response:
    """POST /preview {"markdown"} -> {"html"}; 422 when the text is too costly to render, 503
    when every renderer is busy."""
    body = await read_json(request, PreviewIn)
    html = await request.app[MARKDOWN_RENDERER].render(body.markdown)
    return json_response(Preview(html=html))


ENDPOINTS = [
    Endpoint(
        "POST",
        "/preview",
        preview,
        Access.AGENT,
        {
            "summary": "Render a draft's markdown as sanitised HTML",
            "requestBody": body(PreviewIn, "markdown"),
            "responses": {
                "200": json_content(ref(Preview), "html"),
                **errors(400, 413, 415),
                "422": json_content(ref("Error"), "markdown_too_complex: past the render bound"),
                "503": json_content(ref("Error"), "renderer_busy: try again shortly"),
            },
        },
        inputs=(PreviewIn,),
        outputs=(Preview,),
    ),
]
