"""GET /metrics and GET /openapi.json."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp.test_utils import TestClient

from tests.waiting import wait_for_statuses

Client = TestClient[Any, Any]


def sample(text: str, name: str) -> float:
    """The value of one sample line of the Prometheus text format."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in metrics"
    return float(match.group(1))


async def test_metrics_count_intake_and_outcomes(engine: Client, database_url: str) -> None:
    for n in range(3):
        response = await engine.post("/tickets", json={"message": f"Please add dark mode {n}"})
        assert response.status == 201
    await wait_for_statuses(database_url, {"COMPLETED"}, 3)
    response = await engine.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    assert sample(text, "triage_tickets_created_total") == 3
    assert sample(text, 'triage_outcomes_total{outcome="completed"}') == 3
    assert sample(text, "triage_llm_call_seconds_count") == 3
    assert sample(text, 'triage_tickets{status="PENDING"}') == 0
    assert sample(text, "triage_llm_paused") == 0


async def test_openapi_documents_every_route(client: Client) -> None:
    response = await client.get("/openapi.json")
    assert response.status == 200
    spec = await response.json()
    assert spec["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method == "HEAD" or path in ("/openapi.json", None) or "/static" in path:
            continue
        assert (route.method, path) in documented
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', json.dumps(spec)))
    assert refs <= set(spec["components"]["schemas"])
