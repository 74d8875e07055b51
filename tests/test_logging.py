"""The log: a request id on every line a request causes (the client's when sane, echoed), the
ticket id on every claimer and delivery line, text or JSON lines, and none of the customer's
words, addresses, passwords or tokens at INFO and above — through a whole ticket's life."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.auth import TEST_TOKEN, browser_like, log_in
from tests.conftest import StartApp, engine_settings, make_settings
from tests.fake_ollama import Behaviour, FakeOllama
from tests.mailbox import running_mailbox, self_signed_certificate
from tests.raw_http import exchange
from tests.serve import ServeProcess
from tests.waiting import wait_for_statuses
from triage_hub import logs
from triage_hub.settings import Settings

Client = TestClient[Any, Any]
GENERATED = re.compile(r"[0-9a-f]{16}")
ACCESS = "triage_hub.access"


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record at DEBUG and above, with the context fields the app's handler adds."""
    context = logs.ContextFilter()
    caplog.handler.addFilter(context)
    caplog.set_level(logging.DEBUG)
    yield caplog
    caplog.handler.removeFilter(context)


def ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The app's own records (and aiohttp's): not those of the test's mail server."""
    return [r for r in caplog.records if r.name.startswith(("triage_hub", "aiohttp"))]


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == ACCESS]


async def test_a_sane_request_id_is_echoed_and_on_every_line_of_its_request(
    client: Client, captured: pytest.LogCaptureFixture
) -> None:
    for sane in ("abc-123.X_y", "0" * 64, "7f0c5e9e-4b7e-4a4e-9d3c-1f2e3d4c5b6a"):
        answer = await client.post("/tickets", json={"message": "My invoice is wrong, twice."},
                                   headers={"X-Request-ID": sane})  # fmt: skip
        assert answer.status == 201 and answer.headers["X-Request-ID"] == sane
        [line] = [r for r in access_lines(captured) if r.request_id == sane]  # type: ignore[attr-defined]
        assert line.getMessage().startswith("POST /tickets 201 ")

    # A handler's own line: a failed login names its request.
    async with browser_like(str(client.make_url("/"))) as browser:
        refused = await log_in(browser, password="not the password at all")
        assert refused.status == 401
        request_id = refused.headers["X-Request-ID"]
    assert GENERATED.fullmatch(request_id)
    [failed] = [r for r in captured.records if "failed login" in r.getMessage()]
    assert failed.request_id == request_id  # type: ignore[attr-defined]
    assert failed.getMessage().startswith("failed login for 'tess' from 127.0.0.1")


async def test_errors_from_middlewares_and_the_parser_carry_a_request_id(
    client: Client, captured: pytest.LogCaptureFixture
) -> None:
    unauthorised = await client.get(
        "/tickets", headers={"Authorization": "Bearer wrong", "X-Request-ID": "from-the-proxy"}
    )
    assert unauthorised.status == 401
    assert unauthorised.headers["X-Request-ID"] == "from-the-proxy"
    missing = await client.get("/no/such/page", headers={"X-Request-ID": "lost-1"})
    assert (missing.status, missing.headers["X-Request-ID"]) == (404, "lost-1")
    assert {r.request_id for r in access_lines(captured)} >= {"from-the-proxy", "lost-1"}  # type: ignore[attr-defined]

    port = client.port
    assert port is not None
    garbled = await exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    assert garbled.status == 400
    request_id = garbled.headers["X-Request-ID"]
    assert GENERATED.fullmatch(request_id)
    [refused] = [r for r in captured.records if "not valid HTTP" in r.getMessage()]
    assert refused.request_id == request_id  # type: ignore[attr-defined]


INSANE = [
    "x" * 65,  # too long
    "two words",
    "abc%0d%0aINFO forged line",  # an encoded line break
    'quote"d',
    "tab\there",
    "semi;colon",
    "../../etc/passwd",
    "ünïcode",
]


async def test_an_insane_request_id_is_replaced_by_a_fresh_one(
    client: Client, captured: pytest.LogCaptureFixture
) -> None:
    seen = set()
    for insane in INSANE:
        answer = await client.get("/health", headers={"X-Request-ID": insane})
        echoed = answer.headers["X-Request-ID"]
        assert echoed != insane and GENERATED.fullmatch(echoed), insane
        seen.add(echoed)
    assert len(seen) == len(INSANE)  # each request its own
    port = client.port
    assert port is not None
    # Line breaks on the wire: a continuation line (obs-fold), a bare CR, a bare LF.
    for raw in (
        b"X-Request-ID: abc\r\n forged: yes\r\n",
        b"X-Request-ID: abc\rINFO forged\r\n",
        b"X-Request-ID: abc\nINFO forged\r\n",
    ):
        answer = await exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + raw + b"\r\n")
        echoed = answer.headers["X-Request-ID"]  # a fresh one, or the sane part before the break
        assert echoed == "abc" or GENERATED.fullmatch(echoed), (raw, echoed)
    ids = {r.request_id for r in access_lines(captured)}  # type: ignore[attr-defined]
    assert seen <= ids
    text = "\n".join(r.getMessage() for r in ours(captured))
    assert "forged" not in text and "x" * 65 not in text


def format_with(log_format: logs.LogFormat, *records: logging.LogRecord) -> list[str]:
    """The lines the app's handler writes for these records."""
    stream = io.StringIO()
    handler = logs.make_handler(log_format, stream)
    for record in records:
        handler.handle(record)
    return stream.getvalue().splitlines()


def a_record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            info = sys.exc_info()
    logger = logging.getLogger("triage_hub.test")
    return logger.makeRecord(logger.name, logging.WARNING, __file__, 1, message, args, info)


def test_json_lines_parse_and_carry_time_level_logger_message_and_context() -> None:
    stream = io.StringIO()
    handler = logs.make_handler("json", stream)
    token = logs.REQUEST_ID.set("req-1")
    try:
        with logs.about(ticket_id="t-1", delivery_id="d-1"):
            handler.handle(a_record("ticket %s: a line\nwith a break", "t-1", exc=True))
            inside = a_record("again")
            text = format_with("text", inside)
        handler.handle(a_record("no context"))
    finally:
        logs.REQUEST_ID.reset(token)
    handler.handle(a_record("plain"))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3  # one line per event, a traceback included
    first, second, third = (json.loads(line) for line in lines)
    assert first["message"] == "ticket t-1: a line\nwith a break"
    assert (first["level"], first["logger"]) == ("WARNING", "triage_hub.test")
    assert (first["request_id"], first["ticket_id"]) == ("req-1", "t-1")
    assert first["delivery_id"] == "d-1"
    assert "ValueError: boom" in first["exception"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["time"])
    assert second["request_id"] == "req-1" and "ticket_id" not in second
    assert set(third) == {"time", "level", "logger", "message"}
    assert text[0].endswith("WARNING triage_hub.test: again request=req-1 ticket=t-1 delivery=d-1")

    [forged] = format_with("text", a_record("a\nforged line"))
    assert forged.endswith("WARNING triage_hub.test: a\\nforged line")


def test_an_exception_logged_outside_its_block_still_names_the_ticket() -> None:
    stream = io.StringIO()
    handler = logs.make_handler("json", stream)
    try:
        with logs.about(ticket_id="t-9"):
            raise RuntimeError("a bug")
    except RuntimeError:
        record = a_record("background task claimer-0 died")
        record.exc_info = sys.exc_info()
        handler.handle(record)
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["ticket_id"] == "t-9" and "RuntimeError: a bug" in line["exception"]
    assert logs.TICKET_ID.get() is None


def test_the_log_format_setting() -> None:
    assert make_settings("postgresql://x@h/db").log_format == "text"
    assert Settings.model_validate({"TRIAGE_LOG_FORMAT": " JSON "}).log_format == "json"


async def test_serve_with_log_format_json_writes_json_lines(database_url: str) -> None:
    env = {"DATABASE_URL": database_url, "TRIAGE_CLAIMERS": "0", "TRIAGE_LOG_LEVEL": "DEBUG"}
    serve = ServeProcess(env, ["--log-format", "json"])
    try:
        await serve.start()
        status, _ = await get(serve.url + "/health", {"X-Request-ID": "probe-42"})
        assert status == 200
        serve.send(signal.SIGTERM)
        assert await serve.wait() == 0
    finally:
        await serve.close()
    lines = [json.loads(line) for line in (await serve.stderr()).splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["message"].startswith("serving on http://") for line in lines)
    [probe] = [line for line in lines if line.get("request_id") == "probe-42"]
    assert (probe["logger"], probe["message"].split()[:3]) == (ACCESS, ["GET", "/health", "200"])


async def get(url: str, headers: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=headers) as response:
            return response.status, await response.text()


# What must never reach the log at INFO and above.
TICKET = "My card 4111 1111 1111 1111 was charged twice, key sk_live_Zebra7Quartz9 leaked!"
CUSTOMER = "ada.lovelace@example.org"
SMTP_USER, SMTP_PASSWORD = "desk-mailer", "smtp-Pa55word-Quokka"
REPLY = "Dear Ada, we refunded the double charge: reference Heliotrope-5521."
MODEL_SAYS = f"I cannot decide. The customer wrote: {TICKET}"


async def until(check: Any, timeout: float = 20) -> Any:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return result


async def test_a_ticket_s_whole_life_logs_ids_and_never_its_secrets(
    start_app: StartApp,
    database_url: str,
    fake_ollama: FakeOllama,
    captured: pytest.LogCaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the app's mail client trusts the test's CA
    with running_mailbox((SMTP_USER, SMTP_PASSWORD), (cert, key)) as mailbox:
        # The model first says something that is no triage and quotes the ticket; the mail
        # server first refuses for now, naming the customer's address.
        fake_ollama.queue(Behaviour.reply(MODEL_SAYS))
        mailbox.refusals = [f"452 4.2.2 <{CUSTOMER}> mailbox full, try later"]
        app = await start_app(
            engine_settings(
                database_url,
                fake_ollama,
                TRIAGE_SMTP_URL=mailbox.url,
                TRIAGE_MAIL_FROM="support@desk.example",
                TRIAGE_DELIVERY_BACKOFF_SECONDS=0.05,
            )
        )
        created = await app.post("/tickets", json={"message": TICKET, "email": CUSTOMER})
        assert created.status == 201
        ticket_id = (await created.json())["ticket_id"]
        await wait_for_statuses(database_url, {"COMPLETED"}, 1)

        async with browser_like(str(app.make_url("/"))) as browser:
            assert (await log_in(browser, name=CUSTOMER, password=SMTP_PASSWORD)).status == 401
            assert (await log_in(browser)).status == 303
            [session] = [c.value for c in browser.cookie_jar if c.key == "triage_session"]
            assert (await browser.get("/dashboard")).status == 200
        resolved = await app.put(f"/tickets/{ticket_id}/resolve", json={"ai_draft": REPLY})
        assert resolved.status == 200

        async def sent() -> bool:
            ticket = await (await app.get(f"/tickets/{ticket_id}")).json()
            return any(d["status"] == "SENT" for d in ticket["deliveries"])

        await until(sent)
        assert len(mailbox.received) == 1 and mailbox.logins >= 1
        assert mailbox.received[0]["To"] == CUSTOMER

    records = ours(captured)
    loud = [r for r in records if r.levelno >= logging.INFO]
    written = "\n".join(format_with("text", *loud) + format_with("json", *loud))
    assert "invalid answer on attempt 1" in written and "COMPLETED by" in written
    assert "sent on try 2" in written and "failed login" in written
    for secret in (
        TICKET,
        "4111 1111",
        "sk_live_Zebra7Quartz9",
        "Zebra7",
        CUSTOMER,
        "lovelace",
        SMTP_PASSWORD,
        SMTP_USER,
        REPLY,
        "Heliotrope",
        TEST_TOKEN,
        session,
    ):
        assert secret.lower() not in written.lower(), secret

    # The claimers' and the delivery workers' lines name the ticket; the deliveries' their own.
    work = [
        r
        for r in records
        if r.name.startswith(("triage_hub.triage", "triage_hub.delivery"))
        and "claimers started" not in r.getMessage()
    ]
    assert len(work) >= 4
    assert all(r.ticket_id == ticket_id for r in work), [r.getMessage() for r in work]  # type: ignore[attr-defined]
    delivering = [r for r in work if r.name.startswith("triage_hub.delivery")]
    assert delivering and all(r.delivery_id for r in delivering)  # type: ignore[attr-defined]
    # Every request's line names its request.
    requests = access_lines(captured)
    assert len(requests) >= 6
    assert all(GENERATED.fullmatch(r.request_id) for r in requests)  # type: ignore[attr-defined]
    assert not any(r.ticket_id for r in requests)  # type: ignore[attr-defined]
