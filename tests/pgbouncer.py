"""A real PgBouncer (Debian's) in transaction mode before a PostgreSQL, for tests and benches."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

PGBOUNCER = Path("/usr/sbin/pgbouncer")
# Fewer server connections than the app's pool (10): transactions of one client connection
# then run on different server connections, as they do in production under load.
SERVER_POOL_SIZE = 3


def pgbouncer_binary() -> str | None:
    """Debian's /usr/sbin/pgbouncer, else one on PATH, else None."""
    if PGBOUNCER.exists():
        return str(PGBOUNCER)
    return shutil.which("pgbouncer")


def _server_address(server_url: str) -> tuple[str, int]:
    """Host (or socket folder) and port of the PostgreSQL that `server_url` names."""
    parts = urlsplit(server_url)
    host = parse_qs(parts.query).get("host", [parts.hostname or "127.0.0.1"])[0]
    return host, parts.port or 5432


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgBouncer:
    """`pgbouncer CONFIG` with its own folder, port and log; stopped with SIGTERM."""

    def __init__(self, binary: str, server_url: str, folder: Path | None = None) -> None:
        self.binary = binary
        self.user = urlsplit(server_url).username or "postgres"
        self.host, self.server_port = _server_address(server_url)
        self.folder = folder or Path(tempfile.mkdtemp(prefix="th-pgbouncer-"))
        self.port = _free_port()
        self.log_path = self.folder / "pgbouncer.log"
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        """The URL of `database` through this PgBouncer."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def write_config(self) -> Path:
        """pgbouncer.ini and its user list (trust: any password, the user must be listed)."""
        users = self.folder / "users.txt"
        users.write_text(f'"{self.user}" ""\n', encoding="utf-8")
        config = self.folder / "pgbouncer.ini"
        # `*`: every database name maps to the same name on the server, so each test's own
        # database is reachable. connect_query: jit off on every server connection, as the
        # app asks for itself on a direct one (PgBouncer refuses it as a startup parameter).
        config.write_text(
            "[databases]\n"
            f"* = host={self.host} port={self.server_port} connect_query='SET jit = off'\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {users}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {SERVER_POOL_SIZE}\n"
            "max_client_conn = 200\n"
            # Server sessions it opens carry " - 127.0.0.1:port" after the client's
            # application_name: tests tell its connections from direct ones by that.
            "application_name_add_host = 1\n"
            "log_connections = 1\n"
            "log_disconnections = 0\n",
            encoding="utf-8",
        )
        return config

    def start(self, timeout: float = 10) -> None:
        """Start it and wait until it accepts TCP connections."""
        config = self.write_config()
        argv = [self.binary, str(config)]
        if os.geteuid() == 0:  # "PgBouncer should not run as root": it reads the config, then
            argv[1:1] = ["-u", _unprivileged_user(self.host)]  # switches to this user
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"pgbouncer did not start:\n{self.log()}") from None
                time.sleep(0.05)

    def log(self) -> str:
        """What it logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def logins(self, database: str) -> int:
        """Client logins it accepted for `database` (log_connections)."""
        return len(re.findall(rf"login attempt: db={re.escape(database)} ", self.log()))

    def version(self) -> str:
        """`PgBouncer 1.18.0`, from its own --version."""
        output = subprocess.run(
            [self.binary, "--version"], capture_output=True, text=True, check=True, timeout=10
        ).stdout
        return output.splitlines()[0].strip()

    def stop(self) -> None:
        """SIGTERM, and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


def _unprivileged_user(host: str) -> str:
    """Who may reach the server: the owner of its socket folder (the embedded PostgreSQL's
    user), else Debian's `postgres` where it exists, else `nobody`."""
    if host.startswith("/"):
        owner = Path(host).owner()
        if owner != "root":
            return owner
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("no unprivileged user to run pgbouncer as (postgres, nobody)")
