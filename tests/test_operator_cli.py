"""`triage-hub eval` and `triage-hub requeue` as a shell runs them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.factories import insert_tickets
from tests.fake_ollama import FakeOllama, triage_for
from tests.mailbox import Mailbox
from tests.pg import free_port
from tests.waiting import sql

LABELED = [
    ("I was charged twice for my subscription, refund one please", "Billing", "Medium", 3),
    ("The app crashes every time I open the settings page", "Technical", "High", 2),
    ("Please add a dark mode, my eyes hurt at night", "Feature Request", "Low", 6),
    ("URGENT our whole team cannot log in since this morning", "Technical", "High", 2),
    ("Would be nice to export reports as CSV", "Feature Request", "Low", 7),
    ("Why did my invoice go up without notice? Unacceptable.", "Billing", "Medium", 2),
]


def labeled_file(tmp_path: Path) -> Path:
    path = tmp_path / "set.jsonl"
    lines = [
        json.dumps({"message": m, "category": c, "urgency": u, "sentiment": s, "note": "ignored"})
        for m, c, u, s in LABELED
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "triage_hub",
        *argv,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(child.communicate(), 120)
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


async def test_eval_runs_a_set_through_the_llm_as_production_does(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    code, out, err = await run(
        "eval", str(labeled_file(tmp_path)), "--json", env={"OLLAMA_HOST": fake_ollama.url}
    )
    assert code == 0, err
    report = json.loads(out)
    assert (report["tickets"], report["engine"]) == (len(LABELED), "llm")
    assert len(fake_ollama.calls) == len(LABELED)  # one call each, with the real prompt
    expected = sum(triage_for(m)["category"] == c for m, c, _, _ in LABELED) / len(LABELED)
    assert report["fields"]["category"]["accuracy"] == expected
    assert "6/6 tickets" in err  # the progress, on stderr


async def test_eval_of_the_builtin_engine_prints_the_tables(tmp_path: Path) -> None:
    code, out, _ = await run("eval", str(labeled_file(tmp_path)), "--engine", "builtin")
    assert code == 0
    for heading in ("accuracy", "macro-F1", "High-urgency recall", "sentiment MAE",
                    "category confusion", "reliability", "latency ms"):  # fmt: skip
        assert heading in out


async def test_eval_says_why_it_cannot_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"message": "no labels here"}\n', encoding="utf-8")
    code, _, err = await run("eval", str(bad), "--engine", "builtin")
    assert code == 1 and f"{bad}:1: not a labeled ticket" in err and "Traceback" not in err
    code, _, err = await run(
        "eval", str(labeled_file(tmp_path)), env={"OLLAMA_HOST": "http://127.0.0.1:9"}
    )
    assert code == 1 and "no ticket got an answer from the LLM" in err


async def test_requeue_sends_builtin_results_back_to_the_llm(database_url: str) -> None:
    failed = await insert_tickets(database_url, 2, "FAILED")
    builtin = await insert_tickets(database_url, 3, "COMPLETED")
    llm = await insert_tickets(database_url, 1, "COMPLETED")
    resolved = await insert_tickets(database_url, 1, "RESOLVED")
    await sql(database_url, "UPDATE tickets SET engine = 'builtin' WHERE id = ANY($1::uuid[])",
              builtin)  # fmt: skip
    await sql(database_url, "UPDATE tickets SET engine = 'ollama' WHERE id = ANY($1::uuid[])",
              [*llm, *resolved])  # fmt: skip
    env = {"DATABASE_URL": database_url}
    code, out, err = await run("requeue", "--engine", "builtin", "--json", env=env)
    assert code == 0, err
    assert sorted(json.loads(out)["ids"]) == sorted(builtin)
    code, out, _ = await run("requeue", env=env)
    assert (code, out.strip()) == (0, "requeued 2 FAILED tickets")
    pending = await sql(
        database_url, "SELECT array_agg(id::text) FROM tickets WHERE status = 'PENDING'"
    )
    assert sorted(pending) == sorted([*failed, *builtin])
    code, _, err = await run("requeue", "--since", "soon", env=env)
    assert code == 2 and "is not a duration" in err


async def test_stats_tell_what_the_desk_holds(database_url: str) -> None:
    await insert_tickets(database_url, 2, "PENDING")
    await insert_tickets(database_url, 1, "FAILED")
    code, out, err = await run("stats", "--quality", env={"DATABASE_URL": database_url})
    assert code == 0, err
    assert "PENDING            2" in out and "oldest PENDING: " in out
    assert "1 × the model's sentiment was not a whole number from 1 to 10" in out
    code, out, _ = await run("stats", "--json", env={"DATABASE_URL": database_url})
    figures = json.loads(out)
    assert figures["by_status"] == {"PENDING": 2, "FAILED": 1}
    assert figures["oldest_pending_seconds"] > 0


async def test_reap_returns_the_leases_of_stopped_workers(database_url: str) -> None:
    stale, running = await insert_tickets(database_url, 2, "PENDING")
    for ticket_id, lease in ((stale, "-1 minute"), (running, "1 minute")):
        await sql(
            database_url,
            """UPDATE tickets SET status = 'PROCESSING', attempts = 1,
                   claim_token = gen_random_uuid(), lease_expires_at = now() + $2::text::interval
               WHERE id = $1""",
            ticket_id,
            lease,
        )
    delivery = await sql(
        database_url,
        """INSERT INTO deliveries (ticket_id, kind, event, payload, status, attempts,
                                   claim_token, lease_expires_at)
           VALUES ($1, 'webhook', 'ticket.completed', '{}', 'SENDING', 1,
                   gen_random_uuid(), now() - interval '1 minute')
           RETURNING id::text""",
        stale,
    )
    code, out, err = await run("reap", "--json", env={"DATABASE_URL": database_url})
    assert code == 0, err
    assert json.loads(out) == {
        "tickets": [{"id": stale, "status": "PENDING"}],
        "deliveries": [{"id": delivery, "status": "PENDING"}],
    }
    assert await sql(database_url, "SELECT status FROM tickets WHERE id = $1", running) == (
        "PROCESSING"  # a lease still running is left alone
    )
    code, out, _ = await run("reap", env={"DATABASE_URL": database_url})
    assert (code, out.strip()) == (0, "reaped 0 tickets; 0 deliveries")

    code, out, _ = await run("stats", "--json", env={"DATABASE_URL": database_url})
    [webhook] = json.loads(out)["deliveries"].values()
    assert webhook["by_status"] == {"PENDING": 1} and webhook["oldest_waiting_seconds"] >= 0
    code, out, _ = await run("stats", env={"DATABASE_URL": database_url})
    assert "webhook: 1 PENDING; the oldest undelivered waits" in out


async def test_check_tries_every_part_and_exits_by_what_is_down(
    database_url: str, fake_ollama: FakeOllama, mailbox: Mailbox, aiohttp_server: Any
) -> None:
    heads: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        heads.append(request.method)
        return web.Response(status=405)  # a receiver that takes only POSTs is there all the same

    receiver = web.Application()
    receiver.router.add_route("*", "/hook", hook)
    server = await aiohttp_server(receiver)
    env = {
        "DATABASE_URL": database_url,
        "OLLAMA_HOST": fake_ollama.url,
        "TRIAGE_SMTP_URL": mailbox.url,
        "TRIAGE_MAIL_FROM": "support@desk.example",
        "TRIAGE_WEBHOOK_URL": str(server.make_url("/hook")),
        "TRIAGE_WEBHOOK_SECRET": "a-webhook-secret-of-enough-length",
    }
    code, out, err = await run("check", env=env)
    assert code == 0, out + err
    states = {line.split()[0]: line.split()[1] for line in out.splitlines()}
    assert states == {n: "ok" for n in ("database", "schema", "llm", "smtp", "webhook")}
    assert (mailbox.sessions, mailbox.tries, heads) == (1, 0, ["HEAD"])  # greeted, sent nothing

    fake_ollama.models = set()  # the model is not pulled: the desk runs, degraded
    code, out, _ = await run("check", "--json", env=env)
    report = json.loads(out)
    assert (code, report["ok"], report["exit_code"]) == (3, False, 3)
    [llm] = [item for item in report["checks"] if item["part"] == "llm"]
    assert llm["state"] == "down" and "ollama pull" in llm["detail"]

    await sql(database_url, "UPDATE schema_info SET digest = 'another-build'")
    code, out, _ = await run("check", env=env)
    assert code == 1 and "is not this build's" in out  # a replica of another build
    assert await sql(database_url, "SELECT digest FROM schema_info") == "another-build"

    env["DATABASE_URL"] = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/none"
    code, out, _ = await run("check", env=env)
    assert code == 1 and "database  down" in out
    assert "secret" not in out  # the password is never printed


async def test_every_operator_command_explains_itself() -> None:
    """`--help` of each: what it does, its --json, and (where a shell tests it) its exit codes."""
    expected = {
        "stats": "--quality",
        "requeue": "--since",
        "reap": "Leases still running",
        "check": "Exit 0",
        "eval": "--concurrency",
    }
    answers = await asyncio.gather(
        *(run(command, "--help") for command in expected), run("stats", "--days", "soon")
    )
    for (command, says), (code, out, err) in zip(expected.items(), answers, strict=False):
        assert (code, err) == (0, ""), command
        assert out.startswith(f"usage: triage-hub {command}"), out
        assert says in out and "--json" in out, (command, out)
    code, _, err = answers[-1]
    assert code == 2 and "--days" in err and "Traceback" not in err
