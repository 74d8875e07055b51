"""TRIAGE_ALLOWED_HOSTS: with a list, other Host names get 400 invalid_host (a DNS rebinding
page's requests carry its own name); /health still answers probes that address an IP."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import ValidationError

from tests.auth import AUTH
from tests.conftest import StartApp, make_settings
from tests.raw_http import exchange, served
from triage_hub.app import create_app
from triage_hub.settings import Settings
from triage_hub.web.security import NO_SCRIPT_POLICY

ALLOWED = "Triage.Example.com, *.example.org"


@pytest.fixture
async def listed(start_app: StartApp, database_url: str) -> TestClient[Any, Any]:
    """The app answering to triage.example.com and the names below example.org only."""
    return await start_app(make_settings(database_url, TRIAGE_ALLOWED_HOSTS=ALLOWED))


async def status_for(client: TestClient[Any, Any], path: str, host: str) -> int:
    """The status of GET path with this Host header."""
    async with client.get(path, headers={"Host": host}) as response:
        return response.status


LISTED = ["triage.example.com", "TRIAGE.example.com:8080", "triage.example.com.", "a.example.org"]
NOT_LISTED = [
    "evil.test",
    "evil.test:8080",
    "example.org",
    "triage.example.com.evil.test",
    "notexample.org",
    "127.0.0.1:8080",
    "localhost",
    "",
]


async def test_only_listed_hosts_are_served(
    listed: TestClient[Any, Any], client: TestClient[Any, Any]
) -> None:
    for host in LISTED:
        assert await status_for(listed, "/tickets", host) == 200, host
    for host in NOT_LISTED:
        for method, path in [("GET", "/tickets"), ("POST", "/tickets"), ("GET", "/no/such")]:
            async with listed.request(method, path, headers={"Host": host}, json={}) as response:
                assert response.status == 400, (method, path, host)
                body = await response.json()
                assert body["error"] == "invalid_host"
                assert response.headers["Content-Security-Policy"] == NO_SCRIPT_POLICY
    # Without a list (the default), any name is served.
    assert await status_for(client, "/tickets", "evil.test") == 200


@pytest.mark.parametrize(
    "host", ["10.1.2.3", "10.1.2.3:8080", "[fd00::1]:8080", "127.0.0.1", "localhost:8080"]
)
async def test_health_answers_probes_that_address_an_ip(
    listed: TestClient[Any, Any], host: str
) -> None:
    assert await status_for(listed, "/health", host) == 200
    assert await status_for(listed, "/health", "evil.test") == 400
    assert await status_for(listed, "/tickets", host) == 400  # only the probe's path


async def test_a_request_without_host_is_refused_when_hosts_are_listed(database_url: str) -> None:
    app = create_app(make_settings(database_url, TRIAGE_ALLOWED_HOSTS=ALLOWED), database_url)
    async with served(app) as server:
        auth = "".join(f"{name}: {value}\r\n" for name, value in AUTH.items())
        answer = await exchange(server.port, f"GET /tickets HTTP/1.0\r\n{auth}\r\n".encode())
        assert answer.status == 400
        assert answer.json()["error"] == "invalid_host"


@pytest.mark.parametrize(
    "value", ["triage.example.com:8080", "http://triage.example.com", "a b", "*", "ex*.com"]
)
def test_a_bad_list_is_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(ValidationError, match="TRIAGE_ALLOWED_HOSTS"):
        Settings(TRIAGE_ALLOWED_HOSTS=value)


def test_the_list_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_ALLOWED_HOSTS", " Triage.Example.com. ,*.example.org,[::1], ")
    assert Settings().allowed_hosts == ("triage.example.com", "*.example.org", "::1")
