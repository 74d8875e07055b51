"""`triage-hub agent …` and `triage-hub token …` as a user runs them, and the first agent: the
one-time setup link, or TRIAGE_ADMIN_PASSWORD."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from typing import Any

import pytest

from tests.auth import browser_like, log_in
from tests.conftest import StartApp, make_settings
from tests.waiting import sql
from triage_hub.accounts import digest


async def cli(database_url: str, *args: str, stdin: str = "") -> tuple[int, str, str]:
    """Run `python -m triage_hub ARGS`; (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "triage_hub",
        *args,
        env={**os.environ, "DATABASE_URL": database_url},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin.encode())
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def base(client: Any) -> str:
    return str(client.make_url("")).rstrip("/")


async def test_agent_add_list_disable_enable_and_password(
    start_app: StartApp, database_url: str
) -> None:
    code, out, _ = await cli(
        database_url, "agent", "add", "maria", "--password-stdin", stdin="a long enough password\n"
    )
    assert (code, out.strip()) == (0, "agent maria added")
    stored = await sql(database_url, "SELECT password_hash FROM agents WHERE name = 'maria'")
    assert stored.startswith("$argon2id$") and "a long enough password" not in stored

    code, _, err = await cli(
        database_url, "agent", "add", "maria", "--password-stdin", stdin="another password\n"
    )
    assert code == 1 and "exists already" in err
    code, _, err = await cli(
        database_url, "agent", "add", "shorty", "--password-stdin", stdin="short\n"
    )
    assert code == 1 and "8 to 1024 characters" in err
    code, _, err = await cli(
        database_url,
        "agent",
        "add",
        "no spaces",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert code == 1 and "agent name" in err

    code, out, _ = await cli(database_url, "agent", "list")
    assert code == 0
    assert re.search(r"^maria\s+active\s", out, re.MULTILINE)

    app = await start_app(make_settings(database_url))
    async with browser_like(base(app)) as browser:
        assert (await log_in(browser, "maria", "a long enough password")).status == 303
        code, out, _ = await cli(database_url, "agent", "disable", "maria")
        assert (code, out.strip()) == (0, "agent maria disabled; 1 session(s) ended")
        assert (await browser.get("/tickets")).status == 401
        assert (await log_in(browser, "maria", "a long enough password")).status == 401
        code, out, _ = await cli(database_url, "agent", "list")
        assert re.search(r"^maria\s+disabled\s", out, re.MULTILINE)

        assert (await cli(database_url, "agent", "enable", "maria"))[0] == 0
        assert (await log_in(browser, "maria", "a long enough password")).status == 303
        code, out, _ = await cli(
            database_url,
            "agent",
            "password",
            "maria",
            "--password-stdin",
            stdin="the new password\n",
        )
        assert (code, out.strip()) == (0, "password of maria changed; their sessions ended")
        assert (await browser.get("/tickets")).status == 401
        assert (await log_in(browser, "maria", "a long enough password")).status == 401
        assert (await log_in(browser, "maria", "the new password")).status == 303

    code, _, err = await cli(database_url, "agent", "disable", "nobody")
    assert code == 1 and "no agent called 'nobody'" in err


async def test_token_create_list_revoke(start_app: StartApp, database_url: str) -> None:
    code, out, _ = await cli(database_url, "token", "create", "nightly export")
    assert code == 0
    token = out.strip().splitlines()[-1]  # the last line, alone
    assert re.fullmatch(r"th_[A-Za-z0-9_-]{43}", token)
    token_id = int(re.search(r"token (\d+) ", out).group(1))  # type: ignore[union-attr]
    # Only a hash is stored.
    assert (
        await sql(database_url, "SELECT count(*) FROM api_tokens WHERE name = $1", "nightly export")
        == 1
    )
    assert await sql(
        database_url, "SELECT token_hash FROM api_tokens WHERE id = $1", token_id
    ) == digest(token)

    app = await start_app(make_settings(database_url))
    bearer = {"Authorization": f"Bearer {token}"}
    async with browser_like(base(app), headers=bearer) as script:
        assert (await script.get("/tickets")).status == 200
        code, out, _ = await cli(database_url, "token", "list")
        assert code == 0 and token not in out
        assert re.search(rf"^{token_id}\s+nightly export\s+active\s", out, re.MULTILINE)
        used = "SELECT last_used_at IS NOT NULL FROM api_tokens WHERE id = $1"
        assert await sql(database_url, used, token_id)  # `token list` shows when

        code, out, _ = await cli(database_url, "token", "revoke", str(token_id))
        assert (code, out.strip()) == (0, f"token {token_id} revoked")
        response = await script.get("/tickets")
        assert response.status == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
        code, out, _ = await cli(database_url, "token", "list")
        assert re.search(rf"^{token_id}\s+nightly export\s+revoked\s", out, re.MULTILINE)
    code, _, err = await cli(database_url, "token", "revoke", "99999")
    assert code == 1 and "no token with id 99999" in err


async def test_first_start_logs_a_one_time_setup_link(
    start_app: StartApp, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await sql(database_url, "DELETE FROM agents")
    with caplog.at_level(logging.WARNING, logger="triage_hub.web.login"):
        app = await start_app(make_settings(database_url))
    [record] = [r for r in caplog.records if "/setup?token=" in r.getMessage()]
    token = record.getMessage().split("/setup?token=")[1].split()[0]
    url = f"/setup?token={token}"
    origin = {"Origin": base(app)}
    async with browser_like(base(app)) as browser:
        assert (await browser.get("/setup?token=guessed")).status == 404
        async with browser.get(url) as response:
            assert response.status == 200
            assert "Create the first agent" in await response.text()
        form = {"token": token, "name": "lead", "password": "first agent pw", "confirm": "other"}
        async with browser.post("/setup", data=form, headers=origin) as response:
            assert response.status == 400
            assert "The two passwords differ." in await response.text()
        form["confirm"] = form["password"]
        async with browser.post(
            "/setup", data=form, headers=origin, allow_redirects=False
        ) as response:
            assert response.status == 303 and response.headers["Location"] == "/dashboard"
        assert (await browser.get("/dashboard")).status == 200  # logged in as the new agent
    # The link is used up; a second visitor gets nothing.
    async with browser_like(base(app)) as second:
        async with second.get(url) as response:
            assert "Setup is done" in await response.text()
        form = {
            "token": token,
            "name": "mallory",
            "password": "mallory's pw",
            "confirm": "mallory's pw",
        }
        async with second.post("/setup", data=form, headers=origin) as response:
            assert response.status == 409
    assert await sql(database_url, "SELECT array_agg(name) FROM agents") == ["lead"]
    assert await sql(database_url, "SELECT count(*) FROM setup_tokens") == 0


async def test_triage_admin_password_creates_the_first_agent_instead(
    start_app: StartApp, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await sql(database_url, "DELETE FROM agents")
    with caplog.at_level(logging.INFO, logger="triage_hub.web.login"):
        app = await start_app(
            make_settings(database_url, TRIAGE_ADMIN_PASSWORD="from the environment")
        )
    assert not any("/setup?token=" in r.getMessage() for r in caplog.records)
    assert not any("from the environment" in r.getMessage() for r in caplog.records)
    async with browser_like(base(app)) as browser:
        assert (await log_in(browser, "admin", "from the environment")).status == 303
    # Only ever on a first start: a changed variable does not change an existing password.
    again = await start_app(make_settings(database_url, TRIAGE_ADMIN_PASSWORD="changed later"))
    async with browser_like(base(again)) as browser:
        assert (await log_in(browser, "admin", "changed later")).status == 401


async def test_a_too_short_admin_password_stops_the_server_without_echoing_it(
    database_url: str,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "triage_hub",
        "serve",
        env={**os.environ, "DATABASE_URL": database_url, "TRIAGE_ADMIN_PASSWORD": "hunter2"},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 1
    assert "TRIAGE_ADMIN_PASSWORD" in err.decode()
    assert "hunter2" not in err.decode()
