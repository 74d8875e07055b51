"""POST /preview: markdown rendered on the server, sanitised."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import StartApp, make_settings
from triage_hub import markdown_pool
from triage_hub.errors import MarkdownTooComplex, RendererBusy
from triage_hub.markdown import render_markdown
from triage_hub.markdown_pool import MarkdownRenderer, RendererFailed

Client = TestClient[Any, Any]


async def preview(client: Client, markdown: str) -> str:
    response = await client.post("/preview", json={"markdown": markdown})
    assert response.status == 200
    return str((await response.json())["html"])


async def test_markdown_is_rendered(client: Client) -> None:
    html = await preview(client, "# Hi\n\nWe **refunded** you. [Help](https://example.com/help)")
    assert "<h1>Hi</h1>" in html
    assert "<strong>refunded</strong>" in html
    assert '<a href="https://example.com/help" rel="noopener noreferrer">Help</a>' in html


def test_single_line_breaks_are_kept() -> None:
    html = render_markdown("Best regards,\nDana\n\nP.S. **soon**")
    assert html == "<p>Best regards,<br>\nDana</p>\n<p>P.S. <strong>soon</strong></p>\n"


@pytest.mark.parametrize(
    ("markdown", "forbidden"),
    [
        ("<script>alert(1)</script>", "<script"),
        ("<img src=x onerror=alert(1)>", "<img"),
        ("[click](javascript:alert(1))", 'href="javascript'),
        ('<a href="javascript:alert(1)">x</a>', "<a "),
        ("![pixel](http://evil.example/x.png)", "evil.example"),
        ("![pixel](//evil.example/x.png)", "evil.example"),
        ('x-on:click="alert(1)" {{ 7*7 }}', "<"),
        ("[data](data:text/html;base64,PHNjcmlwdD4=)", 'href="data'),
    ],
)
async def test_hostile_markdown_is_neutralised(
    client: Client, markdown: str, forbidden: str
) -> None:
    html = await preview(client, markdown)
    assert forbidden not in html.replace("<p>", "").replace("</p>", "")


async def test_same_origin_images_stay(client: Client) -> None:
    html = await preview(client, "![logo](/static/logo.png)")
    assert '<img src="/static/logo.png" alt="logo">' in html


@pytest.mark.parametrize(
    "body", [{}, {"markdown": 5}, {"markdown": "x" * 20001}, {"markdown": "nul \u0000"}]
)
async def test_bad_preview_requests(client: Client, body: dict[str, Any]) -> None:
    response = await client.post("/preview", json=body)
    assert response.status == 400


# markdown-it scans for the closing bracket from every `![`: quadratic, ~1.5 s of pure Python
# for these 20,000 characters (within the size limit). A draft the model wrote can hold it.
PATHOLOGICAL = "![" * 10000


async def test_health_answers_while_pathological_previews_render(client: Client) -> None:
    renders = [
        asyncio.ensure_future(client.post("/preview", json={"markdown": PATHOLOGICAL}))
        for _ in range(3)
    ]
    slowest, checks = 0.0, 0
    while not all(render.done() for render in renders):
        started = time.monotonic()
        response = await client.get("/health")
        slowest = max(slowest, time.monotonic() - started)
        checks += 1
        assert response.status == 200
        await asyncio.sleep(0.05)
    assert slowest < 0.5  # rendered on the event loop: seconds
    assert checks >= 5  # /health was asked all along the renders, not once before them
    for render in renders:
        response = render.result()
        body = await response.json()
        if response.status == 200:
            assert body["html"].startswith("<p>![")
        else:  # past the render's bound, or no renderer free within the wait's bound
            assert (response.status, body["error"]) in {
                (422, "markdown_too_complex"),
                (503, "renderer_busy"),
            }, body


# Heavier still: ~2.5 s here, so 25 times a bound of 0.1 s.
HEAVIER = "![a" * 6666


async def test_a_render_past_its_bound_is_stopped_and_the_worker_replaced() -> None:
    renderer = MarkdownRenderer(workers=1, render_seconds=0.1, wait_seconds=5)
    try:
        assert await renderer.render("**warm**") == "<p><strong>warm</strong></p>\n"
        (worker,) = renderer._idle
        started = time.monotonic()
        with pytest.raises(MarkdownTooComplex):
            await renderer.render(HEAVIER)
        assert time.monotonic() - started < 1.5  # not the 2.5 s the whole render takes
        assert worker.process.returncode is not None  # killed: it spends no more CPU
        assert await renderer.render("*next*") == "<p><em>next</em></p>\n"
    finally:
        await renderer.close()


async def test_a_text_past_its_bound_is_refused_at_once_the_next_time() -> None:
    renderer = MarkdownRenderer(workers=1, render_seconds=0.1, wait_seconds=5)
    try:
        with pytest.raises(MarkdownTooComplex):
            await renderer.render(HEAVIER)
        with pytest.raises(MarkdownTooComplex):
            await renderer.render(HEAVIER)
        assert renderer._idle == []  # the second refusal started no worker
    finally:
        await renderer.close()


async def test_a_render_finds_no_free_worker_within_its_wait() -> None:
    renderer = MarkdownRenderer(workers=1, render_seconds=10, wait_seconds=0.2)
    slow = asyncio.ensure_future(renderer.render(HEAVIER))
    try:
        await asyncio.sleep(0.1)
        with pytest.raises(RendererBusy):
            await renderer.render("*quick*")
    finally:
        slow.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await slow
        await renderer.close()


async def test_a_cancelled_render_does_not_answer_the_next_one() -> None:
    renderer = MarkdownRenderer(workers=1, render_seconds=10, wait_seconds=5)
    try:
        slow = asyncio.ensure_future(renderer.render(HEAVIER))
        await asyncio.sleep(0.3)  # the worker is rendering it
        slow.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await slow
        assert await renderer.render("*mine*") == "<p><em>mine</em></p>\n"
    finally:
        await renderer.close()


async def test_close_stops_every_worker() -> None:
    renderer = MarkdownRenderer(workers=2, render_seconds=10, wait_seconds=5)
    slow = asyncio.ensure_future(renderer.render(HEAVIER))
    assert await renderer.render("idle") == "<p>idle</p>\n"
    await asyncio.sleep(0.1)
    workers = [*renderer._idle, *renderer._busy]
    assert len(workers) == 2
    await renderer.close()
    assert all(worker.process.returncode is not None for worker in workers)
    with pytest.raises(RendererFailed):  # the busy one was killed under it
        await slow


async def test_preview_past_its_bound_is_a_422_and_the_next_preview_works(
    start_app: StartApp, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(markdown_pool, "RENDER_SECONDS", 0.1)
    app = await start_app(make_settings(database_url))
    response = await app.post("/preview", json={"markdown": HEAVIER})
    assert response.status == 422
    body = await response.json()
    assert body["error"] == "markdown_too_complex"
    assert "too long to render" in body["message"]
    assert await preview(app, "**fine**") == "<p><strong>fine</strong></p>\n"
