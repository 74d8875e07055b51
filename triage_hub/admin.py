"""`triage-hub agent …` and `triage-hub token …`: accounts managed from the command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TextIO

from triage_hub.accounts import (
    check_agent_name,
    check_password,
    digest,
    hash_password,
    new_api_token,
)
from triage_hub.db import accounts
from triage_hub.db.pool import Database, open_pool
from triage_hub.db.schema import apply_schema
from triage_hub.errors import BadRequest
from triage_hub.settings import Settings


class CommandFailed(Exception):
    """A command that cannot do what it was asked; the message says why."""


def add_account_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `agent` and `token` command groups."""
    agent = commands.add_parser("agent", help="manage agent accounts")
    agent_cmds = agent.add_subparsers(dest="action", required=True)
    add = agent_cmds.add_parser("add", help="create an agent (asks for the password)")
    add.add_argument("name")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    agent_cmds.add_parser("list", help="list agents")
    for action, text in (
        ("disable", "disable an agent and end their sessions"),
        ("enable", "enable a disabled agent"),
    ):
        agent_cmds.add_parser(action, help=text).add_argument("name")
    password = agent_cmds.add_parser("password", help="set a new password, ending sessions")
    password.add_argument("name")
    password.add_argument("--password-stdin", action="store_true")

    token = commands.add_parser("token", help="manage API tokens for scripts")
    token_cmds = token.add_subparsers(dest="action", required=True)
    token_cmds.add_parser("create", help="create a token; printed once").add_argument("name")
    token_cmds.add_parser("list", help="list tokens (never the tokens themselves)")
    token_cmds.add_parser("revoke", help="revoke a token by id").add_argument("id", type=int)


def read_password(from_stdin: bool, stdin: TextIO = sys.stdin) -> str:
    """The new password: one line of stdin, or typed twice at a prompt."""
    if from_stdin:
        password = stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise CommandFailed("the two passwords differ")
    try:
        return check_password(password)
    except BadRequest as error:
        raise CommandFailed(error.message) from None


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else "-"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


async def _agent(db: Database, args: argparse.Namespace) -> str:
    action = args.action
    if action == "list":
        rows = [
            [
                str(a["name"]),
                "disabled" if a["disabled_at"] else "active",
                _when(a["created_at"]),
                _when(a["last_login_at"]),
                str(a["sessions"]),
            ]
            for a in await accounts.list_agents(db)
        ]
        return _table(["NAME", "STATE", "CREATED", "LAST LOGIN", "SESSIONS"], rows)
    name = args.name
    if action in ("add", "password"):
        try:
            check_agent_name(name)
        except BadRequest as error:
            raise CommandFailed(error.message) from None
        password = read_password(args.password_stdin)
        password_hash = await asyncio.to_thread(hash_password, password)
        if action == "add":
            if await accounts.insert_agent(db, name, password_hash) is None:
                raise CommandFailed(f"an agent called {name!r} exists already")
            return f"agent {name} added"
        if not await accounts.set_password(db, name, password_hash):
            raise CommandFailed(f"no agent called {name!r}")
        return f"password of {name} changed; their sessions ended"
    if action == "disable":
        ended = await accounts.disable_agent(db, name)
        if ended is None:
            raise CommandFailed(f"no agent called {name!r}")
        return f"agent {name} disabled; {ended} session(s) ended"
    if not await accounts.enable_agent(db, name):
        raise CommandFailed(f"no agent called {name!r}")
    return f"agent {name} enabled"


async def _token(db: Database, args: argparse.Namespace) -> str:
    if args.action == "create":
        name = str(args.name).strip()
        if not 1 <= len(name) <= 100:
            raise CommandFailed("a token name is 1 to 100 characters")
        token = new_api_token()
        token_id = await accounts.insert_token(db, name, digest(token))
        # The token is the last line, alone, so that scripts can take it with `tail -n 1`.
        return (
            f"token {token_id} ({name}) created. It is shown only this once; send it as "
            f"'Authorization: Bearer <token>':\n{token}"
        )
    if args.action == "list":
        rows = [
            [
                str(t["id"]),
                str(t["name"]),
                "revoked" if t["revoked_at"] else "active",
                _when(t["created_at"]),
                _when(t["last_used_at"]),
            ]
            for t in await accounts.list_tokens(db)
        ]
        return _table(["ID", "NAME", "STATE", "CREATED", "LAST USED"], rows)
    if not await accounts.revoke_token(db, args.id):
        raise CommandFailed(f"no token with id {args.id}")
    return f"token {args.id} revoked"


COMMANDS: dict[str, Callable[[Database, argparse.Namespace], Awaitable[str]]] = {
    "agent": _agent,
    "token": _token,
}


async def run_account_command(
    settings: Settings, database_url: str, args: argparse.Namespace
) -> str:
    """Run `agent …` or `token …` against the database (schema applied first); its output."""
    await apply_schema(settings.direct_database_url(database_url))
    pool = await open_pool(database_url, 1, 3, pgbouncer=settings.through_pgbouncer)
    try:
        return await COMMANDS[args.command](Database(pool), args)
    finally:
        await pool.close()
