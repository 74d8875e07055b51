"""Queries for agents, sessions, API tokens, setup links and failed logins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from triage_hub.db.pool import Database
from triage_hub.db.queries import load_queries

SQL = load_queries("accounts.sql")


# A credential as presented, hashed: which kind, and the digest the database keeps of it.
Credential = tuple[Literal["token", "session"], bytes]


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: an agent's browser session, or a script's API token."""

    kind: Literal["session", "token"]
    id: int
    name: str
    csrf_token: str | None = None  # sessions only

    @property
    def actor(self) -> str:
        """How changes made through this principal are signed: the agent, or the script."""
        return self.name if self.kind == "session" else f"{self.name} (API token)"


@dataclass(frozen=True)
class LoginAttempt:
    """A login attempt as the throttle saw it: reserved as failures, or refused for a while."""

    reservation: UUID | None  # names the failure rows reserved for it; None: refused
    wait: float  # seconds until the throttle lets an attempt in (0.0 when reserved)


@dataclass(frozen=True)
class LoginCandidate:
    """An agent as login sees it."""

    id: int
    name: str
    password_hash: str
    disabled: bool


async def insert_agent(db: Database, name: str, password_hash: str) -> int | None:
    """The new agent's id, or None when the name is taken."""
    value = await db.fetchval(SQL["insert_agent"], name, password_hash)
    return None if value is None else int(value)


async def insert_first_agent(
    db: Database, name: str, password_hash: str, setup_token_hash: bytes | None = None
) -> int | None:
    """Create an agent only while there is none, using up the setup link when one is given;
    None when an agent exists already or the link is not valid (serialised across replicas)."""
    async with db.connection() as conn, conn.transaction():
        await conn.execute(SQL["lock_first_agent"])
        if await conn.fetchval(SQL["count_agents"]):
            return None
        if setup_token_hash is not None and not await conn.fetchval(
            SQL["consume_setup_token"], setup_token_hash
        ):
            return None
        agent_id = await conn.fetchval(SQL["insert_agent"], name, password_hash)
        await conn.execute(SQL["delete_setup_tokens"])
        return None if agent_id is None else int(agent_id)


async def count_agents(db: Database) -> int:
    """How many agents exist (disabled ones included)."""
    return int(await db.fetchval(SQL["count_agents"]))


async def list_agents(db: Database) -> list[dict[str, object]]:
    """Every agent with its live session count, by name."""
    return [dict(row) for row in await db.fetch(SQL["list_agents"])]


async def disable_agent(db: Database, name: str) -> int | None:
    """Disable the agent and end their sessions; the number of sessions ended, None if unknown."""
    row = await db.fetchrow(SQL["disable_agent"], name)
    assert row is not None
    return int(row["sessions"]) if row["agents"] else None


async def enable_agent(db: Database, name: str) -> bool:
    """Enable a disabled agent again; False if unknown."""
    return await db.fetchval(SQL["enable_agent"], name) is not None


async def set_password(db: Database, name: str, password_hash: str) -> bool:
    """Replace the agent's password and end their sessions; False if unknown."""
    return bool(await db.fetchval(SQL["set_password"], name, password_hash))


async def agent_for_login(db: Database, name: str) -> LoginCandidate | None:
    """The agent called `name`, or None."""
    row = await db.fetchrow(SQL["agent_for_login"], name)
    if row is None:
        return None
    return LoginCandidate(
        row["id"], row["name"], row["password_hash"], row["disabled_at"] is not None
    )


async def update_password_hash(db: Database, agent_id: int, password_hash: str) -> None:
    """Store a re-hash of the agent's (unchanged) password."""
    await db.fetchval(SQL["update_password_hash"], agent_id, password_hash)


async def create_session(
    db: Database, id_hash: bytes, agent_id: int, csrf_token: str, max_age: float, idle: float
) -> None:
    """Start a session; sessions past their timeouts are swept on the way."""
    async with db.connection() as conn:
        await conn.execute(SQL["delete_stale_sessions"], idle)
        await conn.execute(SQL["create_session"], id_hash, agent_id, csrf_token, max_age)


async def delete_session(db: Database, id_hash: bytes) -> None:
    """End a session (logout)."""
    await db.fetchval(SQL["delete_session"], id_hash)


async def session_principal(db: Database, id_hash: bytes, idle: float) -> Principal | None:
    """The agent of a live session (and note the activity for the idle timeout), or None."""
    async with db.connection() as conn:
        row = await conn.fetchrow(SQL["session_agent"], id_hash, idle)
        if row is None:
            return None
        if row["stale"]:
            await conn.execute(SQL["touch_session"], id_hash)
    return Principal("session", row["id"], row["name"], row["csrf_token"])


async def insert_token(db: Database, name: str, token_hash: bytes) -> int:
    """Store a new API token's hash; its id."""
    return int(await db.fetchval(SQL["insert_token"], name, token_hash))


async def list_tokens(db: Database) -> list[dict[str, object]]:
    """Every API token (never the token itself), oldest first."""
    return [dict(row) for row in await db.fetch(SQL["list_tokens"])]


async def revoke_token(db: Database, token_id: int) -> bool:
    """Revoke a token; False if there is no such token."""
    return await db.fetchval(SQL["revoke_token"], token_id) is not None


async def token_principal(db: Database, token_hash: bytes) -> Principal | None:
    """The script behind a live bearer token (noting its use), or None."""
    async with db.connection() as conn:
        row = await conn.fetchrow(SQL["token_principal"], token_hash)
        if row is None:
            return None
        if row["stale"]:
            await conn.execute(SQL["touch_token"], row["id"])
    return Principal("token", row["id"], row["name"])


async def insert_setup_token(db: Database, token_hash: bytes, ttl: float) -> None:
    """Store a one-time setup link's hash, valid for `ttl` seconds."""
    await db.fetchval(SQL["insert_setup_token"], token_hash, ttl)


async def setup_token_valid(db: Database, token_hash: bytes) -> bool:
    """Whether a setup link is still usable."""
    return bool(await db.fetchval(SQL["setup_token_valid"], token_hash))


async def reserve_login_attempt(
    db: Database, limits: dict[str, int], window: float
) -> LoginAttempt:
    """Atomically, under a lock per key: refuse the attempt when a key is at its limit of
    failures inside the window, else count it as a failure on every key until taken back."""
    keys, caps = list(limits), list(limits.values())
    async with db.connection() as conn:
        async with conn.transaction():
            await conn.execute(SQL["lock_login_keys"], keys)
            wait = float(await conn.fetchval(SQL["login_throttle_wait"], keys, caps, window))
            if wait > 0:
                return LoginAttempt(None, wait)
            reservation = await conn.fetchval(SQL["reserve_login_failure"], keys)
        # After the locks are released: the sweep may scan the whole table.
        await conn.execute(SQL["sweep_login_failures"], window)
    return LoginAttempt(reservation, 0.0)


async def take_back_login_failure(
    db: Database, keys: list[str], reservation: UUID, pair_key: str
) -> None:
    """A reserved attempt succeeded: uncount it, and forget its name-and-address pair's
    failures (only those: what others left on the account and the address stays)."""
    await db.fetchval(SQL["take_back_login_failure"], keys, reservation, pair_key)
