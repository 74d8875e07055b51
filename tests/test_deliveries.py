"""The reply reaches the customer: e-mail through a real SMTP server (aiosmtpd), signed webhooks
to a real receiver, from the outbox, at least once — through refusals, dead servers and a
killed replica."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import StartApp, make_settings
from tests.mailbox import Mailbox
from tests.pg import free_port
from tests.serve import ServeProcess
from tests.waiting import sql

Client = TestClient[Any, Any]
SECRET = "a-webhook-secret-of-enough-length"
REPLY = "Hello Ada,\n\nWe have **refunded** the second charge.\nBest regards,\nThe support team"


@dataclass
class Receiver:
    """A webhook receiver that checks the signature as the README's verifier does."""

    server: TestServer
    fail_first: int = 0
    hang_first: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    tries: int = 0

    @property
    def url(self) -> str:
        return str(self.server.make_url("/hook"))


def readme_verifier() -> Callable[[bytes, bytes, str, str], bool]:
    """The README's five-line verifier, run as written: so what the README tells receivers to
    do is what the test's receiver does."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    [code] = re.findall(r"```python\n(import hashlib.*?def verify.*?)```", readme, re.S)
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    verify: Callable[[bytes, bytes, str, str], bool] = namespace["verify"]
    return verify


VERIFY = readme_verifier()


def verified(body: bytes, timestamp: str, signature: str) -> bool:
    return VERIFY(SECRET.encode(), body, timestamp, signature)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    holder: dict[str, Receiver] = {}

    async def hook(request: web.Request) -> web.Response:
        state = holder["receiver"]
        state.tries += 1
        body = await request.read()
        signed = verified(
            body, request.headers["X-Triage-Timestamp"], request.headers["X-Triage-Signature"]
        )
        if not signed:
            return web.Response(status=401)
        if state.hang_first > 0:
            state.hang_first -= 1
            await asyncio.sleep(3600)
        if state.fail_first > 0:
            state.fail_first -= 1
            return web.Response(status=500)
        state.events.append(json.loads(body))
        return web.Response(status=204)

    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    holder["receiver"] = state = Receiver(server)
    yield state
    await server.close()


async def until(check: Callable[[], Any], timeout: float = 20) -> Any:  # noqa: ASYNC109
    """Wait until `check()` (a plain function) gives something true; that."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return result


def delivery_settings(database_url: str, **values: Any) -> Any:
    return make_settings(
        database_url,
        TRIAGE_DELIVERY_BACKOFF_SECONDS=0.05,
        TRIAGE_LEASE_SECONDS=2,
        TRIAGE_POLL_SECONDS=0.2,
        **values,
    )


async def completed_ticket(client: Client, database_url: str, **contact: str) -> str:
    """A ticket posted with a contact, triaged (as the claimers would) and awaiting a reply."""
    body = {"message": "I was charged twice for my subscription this month!", **contact}
    created = await client.post("/tickets", json=body)
    assert created.status == 201
    ticket_id = str((await created.json())["ticket_id"])
    await sql(
        database_url,
        """UPDATE tickets SET status = 'COMPLETED', category = 'Billing', urgency = 'High',
               sentiment = 2, ai_draft = 'We are sorry about the double charge.', attempts = 1
           WHERE id = $1""",
        ticket_id,
    )
    return ticket_id


async def deliveries(client: Client, ticket_id: str) -> list[dict[str, Any]]:
    return list((await (await client.get(f"/tickets/{ticket_id}")).json())["deliveries"])


async def delivery_when(
    client: Client, ticket_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The ticket's (first) delivery, once `done` says so."""
    deadline = time.monotonic() + 15
    while True:
        found = await deliveries(client, ticket_id)
        if found and done(found[0]):
            return found[0]
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)


async def test_the_reply_arrives_by_mail_and_on_the_status_page(
    start_app: StartApp, database_url: str, mailbox: Mailbox
) -> None:
    app = await start_app(
        delivery_settings(
            database_url, TRIAGE_SMTP_URL=mailbox.url, TRIAGE_MAIL_FROM="support@desk.example"
        )
    )
    ticket_id = await completed_ticket(app, database_url, email="Ada@Example.COM", name="Ada")
    row = await (await app.get(f"/tickets/{ticket_id}")).json()
    assert (row["email"], row["name"]) == ("ada@example.com", "Ada")  # stored lower-cased
    mailbox.held = threading.Event()
    resolved = await app.put(f"/tickets/{ticket_id}/resolve", json={"ai_draft": REPLY})
    assert resolved.status == 200  # while the mail server still holds the message:
    await delivery_when(app, ticket_id, lambda d: d["status"] == "SENDING")
    assert mailbox.received == []  # resolving never waits on the mail server
    mailbox.held.set()

    [mail] = await until(lambda: mailbox.received)
    assert mail["To"] == "Ada <ada@example.com>"
    assert mail["From"] == "support@desk.example"
    assert mail["Subject"] == "Re: I was charged twice for my subscription this month!"
    assert mail["In-Reply-To"] == mail["References"] == f"<ticket-{ticket_id}@desk.example>"
    state = await delivery_when(app, ticket_id, lambda d: d["status"] == "SENT")
    assert mail["Message-ID"] == f"<{state['id']}@desk.example>"
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None and "We have **refunded** the second charge." in plain.get_content()
    assert html is not None and "<strong>refunded</strong>" in html.get_content()
    assert "Best regards,<br" in html.get_content()  # single line breaks survive
    assert (state["kind"], state["attempts"], state["sent_at"] is not None) == ("email", 1, True)

    public = await (await app.get(f"/submit/{ticket_id}/status")).json()
    assert public["reply"] == REPLY and public["answered_at"]
    page = await (await app.get(f"/submit/{ticket_id}")).text()
    assert "Our answer" in page and "<strong>refunded</strong>" in page
    metrics = await (await app.get("/metrics")).text()
    assert 'triage_deliveries_total{kind="email",outcome="sent"} 1.0' in metrics
    health = await (await app.get("/health")).json()
    assert health["deliveries"] == ["email"]  # what the outbox sends here, for the agents


async def test_a_4xx_is_tried_again_and_a_5xx_is_not_delivered(
    start_app: StartApp, database_url: str, mailbox: Mailbox
) -> None:
    app = await start_app(
        delivery_settings(
            database_url, TRIAGE_SMTP_URL=mailbox.url, TRIAGE_MAIL_FROM="support@desk.example"
        )
    )
    mailbox.refusals = ["451 4.3.0 mailbox busy, try again later"]
    first = await completed_ticket(app, database_url, email="ada@example.com")
    await app.put(f"/tickets/{first}/resolve", json={"ai_draft": REPLY})
    done = await delivery_when(app, first, lambda d: d["status"] == "SENT")
    assert (done["attempts"], mailbox.tries, len(mailbox.received)) == (2, 2, 1)

    mailbox.refuse_recipient = "550 5.1.1 no such mailbox here"
    second = await completed_ticket(app, database_url, email="nobody@example.com")
    await app.put(f"/tickets/{second}/resolve", json={"ai_draft": REPLY})
    failed = await delivery_when(app, second, lambda d: d["status"] == "FAILED")
    assert failed["attempts"] == 1  # refused for good: no more tries
    assert failed["last_error"] == "the mail server refused the address (550)"


async def test_webhooks_are_signed_retried_and_carry_one_event_id_each(
    start_app: StartApp, database_url: str, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    app = await start_app(
        delivery_settings(
            database_url, TRIAGE_WEBHOOK_URL=receiver.url, TRIAGE_WEBHOOK_SECRET=SECRET
        )
    )
    ticket_id = await completed_ticket(app, database_url, email="ada@example.com", name="Ada")
    await app.put(f"/tickets/{ticket_id}/resolve", json={"ai_draft": REPLY})
    events = await until(lambda: len(receiver.events) >= 2 and receiver.events)
    assert receiver.tries == 4  # two refused (500), then both accepted
    completed, resolved = sorted(events, key=lambda event: event["created_at"])
    assert (completed["type"], resolved["type"]) == ("ticket.completed", "ticket.resolved")
    assert resolved["ticket"]["reply"] == REPLY
    assert resolved["ticket"]["contact"] == {"email": "ada@example.com", "name": "Ada"}
    assert resolved["ticket"]["triage"]["category"] == "Billing"
    assert completed["id"] != resolved["id"]
    ids = {d["id"] for d in await deliveries(app, ticket_id)}
    assert ids == {completed["id"], resolved["id"]}  # the event id is the delivery's


async def test_a_dead_mail_server_changes_only_the_delivery_rows(
    start_app: StartApp, database_url: str
) -> None:
    app = await start_app(
        delivery_settings(
            database_url,
            TRIAGE_SMTP_URL=f"smtp://127.0.0.1:{free_port()}",
            TRIAGE_MAIL_FROM="support@desk.example",
        )
    )
    ticket_id = await completed_ticket(app, database_url, email="ada@example.com")
    assert (await app.put(f"/tickets/{ticket_id}/resolve", json={"ai_draft": REPLY})).status == 200
    assert (await app.post("/tickets", json={"message": "Intake goes on meanwhile."})).status == 201
    state = await delivery_when(app, ticket_id, lambda d: d["attempts"] >= 2)
    assert state["status"] in ("PENDING", "SENDING")
    assert state["last_error"].startswith("the mail server could not be reached")
    ticket = await (await app.get(f"/tickets/{ticket_id}")).json()
    assert ticket["status"] == "RESOLVED"


async def test_a_replica_killed_mid_send_loses_no_delivery(
    database_url: str, receiver: Receiver
) -> None:
    """The first replica hangs in the middle of the webhook call and is killed -9; another
    replica's reaper takes the lease back and delivers it: at least once, one event id."""
    receiver.hang_first = 1
    env = {
        "DATABASE_URL": database_url,
        "TRIAGE_CLAIMERS": "0",
        "TRIAGE_WEBHOOK_URL": receiver.url,
        "TRIAGE_WEBHOOK_SECRET": SECRET,
        "TRIAGE_LEASE_SECONDS": "2",
        "TRIAGE_POLL_SECONDS": "0.2",
    }
    first = ServeProcess(env)
    await first.start()
    try:
        ticket_id = await first.post_ticket("My invoice shows the wrong VAT number again.")
        await sql(
            database_url,
            """UPDATE tickets SET status = 'COMPLETED', category = 'Billing', urgency = 'Low',
                   sentiment = 5, ai_draft = 'We will correct the VAT number.', attempts = 1
               WHERE id = $1""",
            ticket_id,
        )
        await until(lambda: receiver.tries >= 1)  # the first replica is in the call
        first.send(signal.SIGKILL)
        await first.wait()
    finally:
        await first.close()
    second = ServeProcess(env)
    await second.start()
    try:
        [event] = await until(lambda: receiver.events)
        assert event["type"] == "ticket.completed" and event["ticket"]["id"] == ticket_id
        stored = await sql(database_url, "SELECT id::text FROM deliveries")
        assert event["id"] == stored  # the same event id as the try that was cut off
        assert await sql(database_url, "SELECT attempts FROM deliveries") == 2
    finally:
        await second.close()
