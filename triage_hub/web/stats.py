"""How good is the triage for this team? GET /stats (JSON) and its page /dashboard/stats, with
charts drawn on the server (SVG: no chart library, nothing from a CDN)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from triage_hub.db import stats
from triage_hub.keys import AGENT_READS
from triage_hub.routing import Access, Endpoint
from triage_hub.web.apidoc import UNAVAILABLE, errors, html, json_content
from triage_hub.web.auth import principal
from triage_hub.web.responses import json_response, read_query
from triage_hub.web.security import render_page

DAY = 86_400


class StatsQuery(BaseModel):
    """The period of a report."""

    model_config = ConfigDict(extra="ignore")
    problems: ClassVar[dict[str, str]] = {"days": "`days` must be a whole number from 1 to 366."}

    days: Annotated[int, Field(ge=1, le=366, description="the period, back from now")] = 30


async def _report(request: web.Request) -> dict[str, Any]:
    asked = read_query(request, StatsQuery)
    report = await stats.quality(request.app[AGENT_READS], asked.days * DAY)
    report["days"] = asked.days
    return report


async def stats_json(request: web.Request) -> web.Response:
    """GET /stats?days=30: the figures as JSON."""
    return json_response(await _report(request))


def _bars(groups: dict[str, Any]) -> list[dict[str, Any]]:
    """Each engine's agreement per field, as bars 0–100 % wide (the page draws them)."""
    bars = []
    for name, report in groups.items():
        fields = report["fields"]
        for field in ("category", "urgency", "sentiment"):
            share = fields[field]["accuracy"] or 0.0
            bars.append({"group": name, "field": field, "share": share, "pct": round(share * 100)})
    return bars


async def stats_page(request: web.Request) -> web.Response:
    """GET /dashboard/stats: the same figures, for people."""
    report = await _report(request)
    agent = await principal(request)
    assert agent is not None
    context = {
        "report": report,
        "bars": _bars(report["agreement"]),
        "agent_name": agent.name,
        "csrf_token": agent.csrf_token,
    }
    return render_page(request, "stats.html", context)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/stats",
        stats_json,
        Access.AGENT,
        {
            "summary": "Triage quality over a period: agreement of each engine (and model and "
            "prompt version) with the agents' final values, confusion matrices, High-urgency "
            "recall, sentiment error, outcomes, failures by reason, latency",
            "responses": {
                "200": json_content({"type": "object"}, "the figures"),
                **errors(400),
                **UNAVAILABLE,
            },
        },
        query=StatsQuery,
    ),
    Endpoint(
        "GET",
        "/dashboard/stats",
        stats_page,
        Access.AGENT_PAGE,
        {
            "summary": "Triage quality, with charts",
            "responses": {"200": html("the page"), **errors(400), **UNAVAILABLE},
        },
        name="stats",
        query=StatsQuery,
    ),
]
