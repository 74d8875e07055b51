"""The HTML pages without a browser: status codes, the no-JavaScript form post, CSP hygiene."""

from __future__ import annotations

import json
import re
import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests.factories import insert_tickets
from tests.waiting import count_tickets
from triage_hub.models import MESSAGE_MAX_CHARS, MESSAGE_MIN_CHARS
from triage_hub.web.pages import (
    CONFIDENCE_LEVELS,
    CUSTOMER_STATUS,
    DELIVERY_LABELS,
    ENGINE_BANNERS,
    ENGINE_LABEL,
    STATUS_LABEL,
)

Client = TestClient[Any, Any]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class PageAudit(HTMLParser):
    """Collects what a strict Content-Security-Policy would refuse, and the JSON data blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.script_srcs: list[str] = []
        self.json_blocks: dict[str, Any] = {}
        self._script: dict[str, str | None] | None = None
        self._script_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"inline handler {name} on <{tag}>")
            if name == "style":
                self.problems.append(f"style attribute on <{tag}>")
            if value and re.match(r"\s*javascript:", value, re.IGNORECASE):
                self.problems.append(f"javascript: URL in {name} on <{tag}>")
        if tag == "style":
            self.problems.append("inline <style> element")
        if tag == "script":
            self._script = values
            self._script_text = []
            if values.get("src"):
                self.script_srcs.append(str(values["src"]))

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag != "script" or self._script is None:
            return
        attrs, text = self._script, "".join(self._script_text).strip()
        self._script = None
        if attrs.get("type") == "application/json":
            self.json_blocks[str(attrs.get("id"))] = json.loads(text)
        elif attrs.get("src"):
            if text:
                self.problems.append("a <script src> with inline code")
        else:
            self.problems.append(f"inline script: {text[:60]!r}")


async def audit(client: Client, path: str, status: int = 200) -> tuple[PageAudit, str]:
    """GET a page, check it is HTML with the expected status, and parse it."""
    response = await client.get(path)
    assert response.status == status, path
    assert response.content_type == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    html = await response.text()
    page = PageAudit()
    page.feed(html)
    assert page.problems == [], (path, page.problems)
    return page, html


# The scripts each page needs, in order; Alpine's CSP build last (the others register their
# components on alpine:init). A page without components loads no script at all.
PAGE_SCRIPTS = {
    "/dashboard": [
        "core.js",
        "http.js",
        "format.js",
        "feedback.js",
        "dashboard-search.js",
        "dashboard-list.js",
        "dashboard-live.js",
        "dashboard-detail.js",
        "dashboard-triage.js",
        "dashboard-presence.js",
        "dashboard-reply.js",
        "dashboard-resolve.js",
        "dashboard-preview.js",
        "dashboard-engine.js",
        "dashboard-deliveries.js",
        "dashboard-keys.js",
        "dashboard.js",
    ],
    "/submit": ["core.js", "http.js", "format.js", "intake.js"],
    "/submit/{id}": ["core.js", "http.js", "status-page.js"],
}
ALPINE = "/static/vendor/alpinejs-csp-3.17.4.min.js"


async def test_pages_are_html_without_inline_code(client: Client, database_url: str) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    for path, scripts in PAGE_SCRIPTS.items():
        page, _ = await audit(client, path.format(id=ticket_id))
        srcs = [src.split("?")[0] for src in page.script_srcs]
        assert srcs == [f"/static/js/{name}" for name in scripts] + [ALPINE], path
        assert all("?v=" in src for src in page.script_srcs)  # cache-busted
        assert list(page.json_blocks) == ["page-config"]  # one block of server data
        for src in page.script_srcs:
            assert (await client.get(src)).status == 200, src
    for path in ("/login", f"/submit/{uuid.uuid4()}"):
        page, _ = await audit(client, path, 200 if path == "/login" else 404)
        assert page.script_srcs == [] and page.json_blocks == {}, path


def test_no_script_repeats_what_the_server_says() -> None:
    """Labels, limits and page sizes live in Python; the scripts read them from the config."""
    static = Path(__file__).resolve().parent.parent / "triage_hub" / "static" / "js"
    sources = {path.name: path.read_text() for path in static.glob("*.js")}
    assert set(sources) == {name for names in PAGE_SCRIPTS.values() for name in names}
    for name, source in sources.items():
        labels = [*STATUS_LABEL.values(), *CUSTOMER_STATUS.values(), *ENGINE_LABEL.values()]
        labels += [*DELIVERY_LABELS.values(), *ENGINE_BANNERS.values()]
        labels += [level["label"] for level in CONFIDENCE_LEVELS]
        for label in labels:
            if label != "Resolved":  # also an ordinary word ("RESOLVED" is the API's value)
                assert f'"{label}"' not in source, (name, label)
        # no `min: 10`, `max = 5000`, `limit = 20`, `pageSize: "50"` of its own
        assert not re.search(r"\b(?:min|max|limit|pageSize)\w*\s*[:=]\s+\"?\d", source), name


async def test_dashboard_config_is_passed_as_json(client: Client) -> None:
    page, html = await audit(client, "/dashboard")
    config = page.json_blocks["page-config"]
    assert config["active"] == ["PENDING", "PROCESSING", "COMPLETED", "FAILED"]
    assert config["api"] == {
        "tickets": "/tickets",
        "events": "/events",
        "preview": "/preview",
        "health": "/health",
    }
    assert config["status_labels"] == {
        "PENDING": "New",
        "PROCESSING": "AI drafting",
        "COMPLETED": "Needs reply",
        "FAILED": "Needs a human",
        "RESOLVED": "Resolved",
    }
    assert config["page_size"] == 20 and config["page_sizes"] == [20, 50, 100]
    assert '<option value="FAILED">Needs a human</option>' in html
    # The desk: the triage's values, the retry's bound, who "me" is, how presence lapses.
    assert config["categories"] == ["Billing", "Technical", "Feature Request"]
    assert config["urgencies"] == ["High", "Medium", "Low"]
    assert [s["value"] for s in config["sentiments"]] == list(range(1, 11))
    assert config["sentiments"][2] == {"value": 3, "word": "angry"}
    assert config["sentiments"][6] == {"value": 7, "word": "happy"}
    assert config["max_attempts"] == 3 and config["me"] == "tess (API token)"  # as it signs
    assert (config["presence_every_seconds"], config["presence_seconds"]) == (10, 30)
    # Issues 11 and 12: what triaged it, how sure, the outage banner, the reply's deliveries.
    assert (
        config["engine_mode"] == "auto" and config["engine_labels"]["builtin"] == "Built-in engine"
    )
    assert config["engine_banner"] == (
        "The LLM is unreachable — tickets are triaged by the built-in engine."
    )
    assert [(level["min"], level["label"]) for level in config["confidence_levels"]] == [
        (0.9, "High confidence"),
        (0.6, "Medium confidence"),
        (0.0, "Low confidence — please check"),
    ]
    assert config["delivery_labels"]["sent"] == "Reply sent"
    assert config["delivery_labels"]["retrying"] == "Retrying ({attempts})"
    assert '<a href="/dashboard/stats">Triage quality</a>' in html
    assert '<option value="Feature Request">Feature Request</option>' in html
    intake, _ = await audit(client, "/submit")
    assert intake.json_blocks["page-config"]["min"] == MESSAGE_MIN_CHARS
    assert intake.json_blocks["page-config"]["max"] == MESSAGE_MAX_CHARS


async def test_home_redirects_to_the_dashboard(client: Client) -> None:
    response = await client.get("/", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/dashboard"


async def test_form_post_creates_a_ticket_and_redirects(client: Client, database_url: str) -> None:
    response = await client.post(
        "/submit",
        data="message=++The+export+button+does+nothing+since+the+update.++",
        headers=FORM,
        allow_redirects=False,
    )
    assert response.status == 303
    location = response.headers["Location"]
    assert re.fullmatch(r"/submit/[0-9a-f-]{36}", location)
    ticket_id = location.rsplit("/", 1)[1]

    page, html = await audit(client, location)
    assert ticket_id in html
    assert "Received — waiting in the queue" in html
    assert "export button" not in html  # the public page never shows the text
    view = page.json_blocks["page-config"]
    assert view["id"] == ticket_id
    assert view["status"] == "PENDING"
    assert view["status_url"] == f"/submit/{ticket_id}/status"

    stored = await (await client.get(f"/tickets/{ticket_id}")).json()
    assert stored["user_message"] == "The export button does nothing since the update."

    status = await client.get(f"/submit/{ticket_id}/status")
    assert status.status == 200
    public = await status.json()
    assert set(public) == {"id", "status", "label", "final", "created_at", "reply", "answered_at"}
    assert (public["reply"], public["answered_at"]) == (None, None)  # not answered yet


async def test_form_post_counts_the_trimmed_text(client: Client, database_url: str) -> None:
    response = await client.post("/submit", data={"message": "   short    "}, allow_redirects=False)
    assert response.status == 400
    assert response.content_type == "text/html"
    html = await response.text()
    assert "Please write at least 10 characters." in html
    assert "   short    </textarea>" in html  # the text is kept for the next try
    assert 'aria-invalid="true"' in html
    assert await count_tickets(database_url) == 0


async def test_invalid_form_posts_store_nothing(client: Client, database_url: str) -> None:
    too_long = "x" * 5001
    cases: list[tuple[dict[str, str], str]] = [
        ({}, "Please describe your problem."),
        ({"message": too_long}, "Please keep it to 5000 characters or fewer."),
        ({"message": "a NUL \x00 is not storable"}, "must not contain NUL characters"),
    ]
    for data, error in cases:
        response = await client.post("/submit", data=data, allow_redirects=False)
        assert response.status == 400, data
        html = await response.text()
        assert error in html
        page = PageAudit()
        page.feed(html)
        assert page.problems == []
    assert await count_tickets(database_url) == 0


async def test_form_post_escapes_what_it_echoes(client: Client) -> None:
    payload = "</textarea><script>alert(1)</script>"
    response = await client.post("/submit", data={"message": payload[:9]})
    assert response.status == 400
    response = await client.post("/submit", data={"message": payload + "x" * 5000})
    html = await response.text()
    assert "<script>alert(1)" not in html
    assert "&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_unknown_or_malformed_ticket_pages_are_404(client: Client) -> None:
    for path in (f"/submit/{uuid.uuid4()}", "/submit/not-a-uuid", "/submit/%27%3E"):
        _, html = await audit(client, path, 404)
        assert "Ticket not found" in html
    for path in (f"/submit/{uuid.uuid4()}/status", "/submit/nope/status"):
        response = await client.get(path)
        assert response.status == 404
        assert (await response.json())["error"] == "not_found"


async def test_status_json_shows_only_public_fields(client: Client, database_url: str) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "RESOLVED")
    response = await client.get(f"/submit/{ticket_id}/status")
    body = await response.json()
    assert body["status"] == "RESOLVED"
    assert body["final"] is True
    assert body["label"] == "Answered"
    assert "user_message" not in body and "ai_draft" not in body


async def test_static_files_are_served(client: Client) -> None:
    response = await client.get("/static/vendor/alpinejs-csp-3.17.4.min.js")
    assert response.status == 200
    assert "javascript" in response.content_type
    body = await response.text()
    assert 'version:"3.17.4"' in body
    license_text = await (await client.get("/static/vendor/alpinejs-LICENSE.txt")).text()
    assert "MIT License" in license_text and "Caleb Porzio" in license_text
    for name in ("js/core.js", "app.css", "favicon.svg"):
        assert (await client.get(f"/static/{name}")).status == 200


async def test_browsers_get_error_pages_and_scripts_get_json(client: Any) -> None:
    page = await client.get("/dashboard/nothing", headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status == 404
    assert page.content_type == "text/html"
    assert "404 Not Found" in await page.text()
    api = await client.get("/dashboard/nothing", headers={"Accept": "*/*"})
    assert api.status == 404
    assert (await api.json())["error"] == "not_found"
    too_big = await client.post(
        "/submit", data={"message": "x" * 70_000}, headers={"Accept": "text/html"}
    )
    assert too_big.status == 413
    assert "413 Request Entity Too Large" in await too_big.text()


async def test_form_post_keeps_the_contact_and_refuses_a_bad_address(
    client: Client, database_url: str
) -> None:
    form = {"message": "The export button does nothing.", "email": "bad@", "name": "Ada"}
    response = await client.post("/submit", data=form, allow_redirects=False)
    assert response.status == 400
    html = await response.text()
    assert 'value="bad@"' in html and 'value="Ada"' in html  # kept for the next try
    assert await count_tickets(database_url) == 0

    form["email"] = "Ada@Example.com"
    response = await client.post("/submit", data=form, allow_redirects=False)
    assert response.status == 303
    ticket_id = response.headers["Location"].rsplit("/", 1)[1]
    stored = await (await client.get(f"/tickets/{ticket_id}")).json()
    assert (stored["email"], stored["name"]) == ("ada@example.com", "Ada")

    form["email"] = ""  # an empty field of the form is "not given"
    response = await client.post("/submit", data=form, allow_redirects=False)
    assert response.status == 303
