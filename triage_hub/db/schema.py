"""Applies schema.sql idempotently, serialised across replicas by an advisory lock."""

from __future__ import annotations

import hashlib
import logging
from importlib.resources import files

import asyncpg

log = logging.getLogger(__name__)

# Any fixed 64-bit number works; it only has to be the same in every replica.
SCHEMA_LOCK_KEY = 0x7472_6961_6765  # "triage"


def schema_sql() -> str:
    """The text of schema.sql as packaged."""
    return files("triage_hub").joinpath("schema.sql").read_text(encoding="utf-8")


def schema_digest() -> str:
    """What identifies this build's schema (kept in schema_info once applied)."""
    return hashlib.sha256(schema_sql().encode()).hexdigest()[:16]


async def apply_schema(dsn: str) -> None:
    """Run schema.sql on its own connection while holding the schema advisory lock."""
    # Its own connection: a session advisory lock must not leak into a pooled connection.
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", SCHEMA_LOCK_KEY)
        try:
            await conn.execute(schema_sql())
            await conn.execute(
                """INSERT INTO schema_info (id, digest) VALUES (1, $1)
                   ON CONFLICT (id) DO UPDATE SET digest = $1, applied_at = now()""",
                schema_digest(),
            )
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", SCHEMA_LOCK_KEY)
    finally:
        await conn.close()
    log.info("schema applied")
