"""POST /preview: markdown rendered on the server, sanitised."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

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
