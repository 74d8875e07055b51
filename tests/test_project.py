"""The front door: documented settings, packaging, the CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.pg import create_database, drop_database
from triage_hub.settings import Settings, env_names

ROOT = Path(__file__).resolve().parent.parent


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in env_names() if f"`{name}`" not in readme]
    assert missing == []


def test_contract_defaults() -> None:
    settings = Settings.model_validate({})
    assert (settings.ollama_host, settings.model, settings.claimers) == (
        "http://127.0.0.1:11434",
        "mistral:7b",
        4,
    )
    assert (
        settings.max_attempts,
        settings.llm_timeout,
        settings.lease_seconds,
        settings.poll_seconds,
    ) == (3, 90, 60, 2)
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert (settings.llm_backend, settings.api_key, settings.max_output_tokens) == (
        "ollama",
        None,
        512,
    )


def test_wheel_carries_schema_sql_templates_static_and_the_labeled_set(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    [wheel] = tmp_path.glob("triage_hub-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "triage_hub/schema.sql" in names
    assert "triage_hub/db/sql/tickets.sql" in names
    schema = zipfile.ZipFile(wheel).read("triage_hub/schema.sql").decode()
    assert schema == (ROOT / "schema.sql").read_text(encoding="utf-8")
    # The built-in engine trains from the labeled set at start: it must travel in the wheel.
    for name in ("dev.jsonl", "heldout.jsonl", "train2.jsonl", "train3.jsonl"):
        shipped = zipfile.ZipFile(wheel).read(f"triage_hub/engines/builtin/{name}").decode()
        assert shipped == (ROOT / "evals" / name).read_text(encoding="utf-8")
    assert any(name.startswith("triage_hub-0.1.0.dist-info/entry_points") for name in names)


async def test_migrate_command_is_idempotent(server_url: str, template_name: str) -> None:
    name, url = await create_database(server_url, "template0")
    try:
        for _ in range(2):
            result = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "triage_hub", "migrate"],
                env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, result.stderr
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM tickets") == 0
        finally:
            await conn.close()
    finally:
        await drop_database(server_url, name)


def test_bad_configuration_is_a_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "triage_hub", "migrate"],
        env={"TRIAGE_CLAIMERS": "many", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "TRIAGE_CLAIMERS" in result.stderr
    assert "Traceback" not in result.stderr


async def test_health_reports_the_database(client: TestClient[Any, Any]) -> None:
    response = await client.get("/health")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"


@pytest.mark.parametrize("replicas", [4])
async def test_concurrent_migrations_do_not_race(server_url: str, replicas: int) -> None:
    from triage_hub.db.schema import apply_schema

    name, url = await create_database(server_url, "template0")
    try:
        await asyncio.gather(*(apply_schema(url) for _ in range(replicas)))
    finally:
        await drop_database(server_url, name)
