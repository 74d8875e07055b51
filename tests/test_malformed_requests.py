"""Malformed requests (bodies no form or JSON parser should accept, bytes that are not HTTP,
bodies that trickle in, are announced too large or are cut short) get a short 4xx and at most
one log line, never a 500 and a traceback."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.auth import browser_like, log_in
from tests.conftest import make_settings
from tests.raw_http import Served, assert_quiet, exchange, post, read_answer, served
from tests.serve import ServeProcess
from triage_hub.app import create_app
from triage_hub.web import responses
from triage_hub.web.protocol import LINGER_SECONDS
from triage_hub.web.responses import MAX_BODY_BYTES
from triage_hub.web.security import NO_SCRIPT_POLICY

FORM = "application/x-www-form-urlencoded"
BAD_FORMS = [
    pytest.param("multipart/form-data", b"name=tess", id="multipart-without-boundary"),
    pytest.param("multipart/form-data; boundary=zz", b"--zz\r\n\xff", id="broken-multipart"),
    pytest.param(f"{FORM}; charset=bogus", b"name=tess", id="unknown-charset"),
    pytest.param(FORM, b"name=\xff\xfe&password=x", id="raw-invalid-utf8"),
    pytest.param(FORM, b"message=%ff%fe+hello+there", id="escaped-invalid-utf8"),
    pytest.param(FORM, b"name=te%00ss&password=x&message=a+NUL%00in+the+middle", id="nul"),
]


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[Served]:
    """The whole app, served as `triage-hub serve` serves it."""
    async with served(create_app(make_settings(database_url), database_url)) as running:
        yield running


async def session_cookie(port: int) -> str:
    """A logged-in session of the suite's agent, as a Cookie header."""
    async with browser_like(f"http://127.0.0.1:{port}") as browser:
        response = await log_in(browser)
        assert response.status == 303
        return f"Cookie: triage_session={response.cookies['triage_session'].value}"


def assert_error_answer(answer: Any) -> None:
    """A 4xx: a JSON error object, or one of our HTML pages (forms and their error page)."""
    assert 400 <= answer.status < 500, (answer.status_line, answer.body[:300])
    if answer.headers["Content-Type"].startswith("application/json"):
        body = answer.json()
        assert isinstance(body["error"], str) and isinstance(body["message"], str)
    else:
        assert answer.headers["Content-Type"].startswith("text/html"), answer.headers
        assert b"Traceback" not in answer.body


@pytest.mark.parametrize(("content_type", "body"), BAD_FORMS)
async def test_bad_form_bodies_are_a_4xx_and_no_traceback(
    server: Served, caplog: pytest.LogCaptureFixture, content_type: str, body: bytes
) -> None:
    cookie = await session_cookie(server.port)
    caplog.clear()
    targets: list[tuple[str, tuple[str, ...]]] = [
        ("/login", ()),
        ("/setup", ()),
        ("/submit", ()),
        ("/logout", (cookie,)),
        (f"/tickets/{uuid.uuid4()}/retry", (cookie,)),  # any change made with a cookie
    ]
    for path, extra in targets:
        answer = await exchange(server.port, post(path, content_type, body, *extra))
        assert_error_answer(answer)
    assert_quiet(caplog, requests=len(targets))


async def test_a_csrf_token_that_is_not_ascii_is_a_403(
    server: Served, caplog: pytest.LogCaptureFixture
) -> None:
    cookie = await session_cookie(server.port)
    caplog.clear()
    path = f"/tickets/{uuid.uuid4()}/retry"
    for extra, body in [
        ((cookie, "X-CSRF-Token: \xe9t\xe9"), b""),  # latin-1 bytes, not UTF-8
        ((cookie, "X-CSRF-Token: \u00e9t\u00e9".encode().decode("latin-1")), b""),
        ((cookie,), b"csrf_token=%C3%A9t%C3%A9"),
    ]:
        answer = await exchange(server.port, post(path, FORM, body, *extra))
        assert answer.status == 403, answer.body
        assert answer.json()["error"] == "csrf_failed"
    assert_quiet(caplog, requests=0)


def bodies_python_accepts_but_json_does_not(field: str) -> list[bytes]:
    """Bodies json.loads(bytes) takes (or chokes on with a RecursionError) that are not JSON."""
    valid = {field: "The app crashes when I log in."}
    text = json.dumps(valid)
    return [
        text.encode("utf-16"),  # with a BOM
        text.encode("utf-16-le"),
        text.encode("utf-32"),
        b"\xef\xbb\xbf" + text.encode(),  # UTF-8 with a BOM
        text.replace("}", ', "n": NaN}').encode(),
        text.replace("}", ', "n": Infinity}').encode(),
        text.replace("}", ', "n": -Infinity}').encode(),
        b"[" * 5000 + b"]" * 5000,
        text.replace("}", ', "n": ' + "[" * 5000 + "]" * 5000 + "}").encode(),
        b'{"a": ' * 5000 + b"1" + b"}" * 5000,
    ]


@pytest.mark.parametrize(("path", "field"), [("/tickets", "message"), ("/preview", "markdown")])
async def test_bodies_that_are_not_utf8_json_are_invalid_json(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture, path: str, field: str
) -> None:
    for body in bodies_python_accepts_but_json_does_not(field):
        headers = {"Content-Type": "application/json"}
        async with client.post(path, data=body, headers=headers) as response:
            assert response.status == 400, (body[:40], await response.text())
            assert (await response.json())["error"] == "invalid_json"
    assert_quiet(caplog, requests=0)


NOT_HTTP = [
    pytest.param(b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n", id="bad-request-line"),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 32, id="tls"),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: <script>alert(1)</script>\r\n\r\n",
        id="bad-header-name",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Value: a\x00<script>\r\n\r\n", id="nul-in-header"
    ),
    pytest.param(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="line-too-long"),
    pytest.param(
        b"POST /tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz<script>\r\n{}\r\n0\r\n\r\n",
        id="bad-chunk-size",
    ),
    pytest.param(
        b"POST /tickets HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        id="two-content-lengths",
    ),
]


@pytest.mark.parametrize("request_bytes", NOT_HTTP)
async def test_what_is_not_http_gets_a_short_json_400_with_our_headers(
    server: Served, caplog: pytest.LogCaptureFixture, request_bytes: bytes
) -> None:
    answer = await exchange(server.port, request_bytes)
    assert answer.status == 400
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    assert answer.json() == {"error": "bad_request", "message": "The request is not valid HTTP."}
    assert answer.headers["Content-Security-Policy"] == NO_SCRIPT_POLICY
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "aiohttp" not in answer.headers["Server"]
    assert_quiet(caplog, requests=1)
    # The server goes on answering.
    health = await exchange(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert health.status == 200


async def test_no_answer_names_the_server_software(client: TestClient[Any, Any]) -> None:
    for path in ["/health", "/static/app.css", "/no/such/page", "/openapi.json"]:
        async with client.get(path) as response:
            server = response.headers.get("Server", "")
            assert "aiohttp" not in server and "Python" not in server, (path, server)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/login", FORM), ("/setup", FORM), ("/submit", FORM), ("/tickets", "application/json")],
)
async def test_a_body_that_trickles_in_is_cut_off_with_408(
    server: Served,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    content_type: str,
) -> None:
    monkeypatch.setattr(responses, "BODY_READ_SECONDS", 0.5)  # 10 s in production
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
    writer.write(f"{head}Content-Length: 1000\r\n\r\n".encode())

    async def trickle() -> None:
        while True:  # a byte now and then: the connection never idles
            writer.write(b"a")
            await writer.drain()
            await asyncio.sleep(0.1)

    sender = asyncio.create_task(trickle())
    started = time.monotonic()
    try:
        answer = await read_answer(reader, timeout=5)  # without the bound: 100 s, then a 4xx
        answered = time.monotonic() - started
        assert answer.status == 408
        assert answer.json()["error"] == "request_timeout"
        assert await asyncio.wait_for(reader.read(), LINGER_SECONDS + 3) == b""  # closed
        closed = time.monotonic() - started
    finally:
        sender.cancel()
        writer.close()
    assert answered < 3, answered
    assert closed < 0.5 + LINGER_SECONDS + 2, closed
    assert_quiet(caplog, requests=1)


async def test_a_chunked_body_that_breaks_midway_is_answered(
    server: Served, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiohttp's C parser drops such a body without telling the handler reading it: only the
    # time bound ends the wait.
    monkeypatch.setattr(responses, "BODY_READ_SECONDS", 0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(
            b"POST /tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Transfer-Encoding: chunked\r\n\r\n2\r\n{"\r\n'
        )
        await writer.drain()
        await asyncio.sleep(0.1)  # the handler is reading by now
        writer.write(b"zz\r\n")
        answer = await read_answer(reader, timeout=3)  # without the bound: never
    finally:
        writer.close()
    assert 400 <= answer.status < 500
    assert_quiet(caplog, requests=1)


@pytest.mark.parametrize("path", ["/tickets", "/login", "/setup", "/submit", "/preview"])
@pytest.mark.parametrize("length", [MAX_BODY_BYTES + 1, 10**12])
async def test_an_oversized_content_length_is_refused_before_the_body(
    server: Served, caplog: pytest.LogCaptureFixture, path: str, length: int
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        writer.write(f"{head}Content-Length: {length}\r\n\r\n".encode())  # and no body yet
        answer = await read_answer(reader, timeout=2)
    finally:
        writer.close()
    assert answer.status == 413
    assert answer.json()["error"] == "payload_too_large"
    assert_quiet(caplog, requests=0)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/login", FORM), ("/setup", FORM), ("/submit", FORM), ("/tickets", "application/json")],
)
async def test_a_client_that_hangs_up_mid_body_leaves_no_traceback(
    server: Served, caplog: pytest.LogCaptureFixture, path: str, content_type: str
) -> None:
    for _ in range(3):
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
        writer.write(f"{head}Content-Length: 1000\r\n\r\nmessage=Half a bo".encode())
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    deadline = time.monotonic() + 5
    while server.runner.server is not None and server.runner.server.connections:
        assert time.monotonic() < deadline, "the server did not notice the hang-ups"
        await asyncio.sleep(0.02)
    assert_quiet(caplog, requests=3)


@pytest.mark.parametrize(
    ("path", "content_type"), [("/tickets", "application/json"), ("/login", FORM)]
)
async def test_a_body_that_does_not_decompress_is_a_400(
    server: Served, caplog: pytest.LogCaptureFixture, path: str, content_type: str
) -> None:
    garbage = b"\x1f\x8b\x08\x00" + b"not gzip at all" * 10
    answer = await exchange(
        server.port, post(path, content_type, garbage, "Content-Encoding: gzip")
    )
    assert answer.status == 400
    assert answer.json()["error"] == "invalid_body"
    assert_quiet(caplog, requests=1)


async def test_triage_hub_serve_answers_a_flood_of_malformed_requests_quietly(
    database_url: str,
) -> None:
    server = ServeProcess({"DATABASE_URL": database_url, "TRIAGE_CLAIMERS": "0"})
    await server.start()
    try:
        bad = [
            *(param.values[0] for param in NOT_HTTP),
            post("/login", "multipart/form-data", b"name=tess"),
            post("/submit", f"{FORM}; charset=bogus", b"message=hello+there+you"),
            post("/tickets", "application/json", b"[" * 5000),
            post("/tickets", "application/json", b"\x1f\x8b\x08\x00junk", "Content-Encoding: gzip"),
        ]
        for _ in range(20):
            for request_bytes in bad:
                answer = await exchange(server.port, request_bytes)
                assert 400 <= answer.status < 500, (request_bytes[:40], answer.status_line)
                assert answer.headers["Server"] == "triage-hub"
        for _ in range(20):  # hang-ups mid-body
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(post("/tickets", "application/json", b"{}" * 10)[:-10])
            await writer.drain()
            writer.close()
        assert (
            await exchange(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        ).status == 200
    finally:
        server.send(signal.SIGTERM)
        await server.wait()
        log = await server.stderr()
        await server.close()
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
    refused = [line for line in log.splitlines() if "refused a request" in line]
    assert 0 < len(refused) <= 20 * len(NOT_HTTP), log[-3000:]
