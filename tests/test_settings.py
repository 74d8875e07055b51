"""Every setting, set to a bad value, is a clear error naming it; a polite stop exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serve import ServeProcess
from triage_hub import cli
from triage_hub.settings import LLMHost, Settings, env_names

# One bad value for every setting; a new setting must add its own (see the last test).
BAD_VALUES = {
    "DATABASE_URL": "mysql://root@localhost/db",
    "DATABASE_LISTEN_URL": "http://db.example.com:5432/triage",
    "TRIAGE_DATA_DIR": "__a_file__",
    "TRIAGE_HOST": "not a host!",
    "TRIAGE_PORT": "70000",
    "OLLAMA_HOST": "ftp://ollama:11434",
    "TRIAGE_MODEL": "mistral 7b",
    "TRIAGE_CLAIMERS": "many",
    "TRIAGE_LLM_URLS": "http://gpu1:11434=four",
    "TRIAGE_ENGINE": "gpt",
    "TRIAGE_LLM_BACKEND": "vllm",
    "TRIAGE_LLM_API_KEY": "two words",
    "TRIAGE_LLM_API_KEY_FILE": "/nonexistent/key",
    "TRIAGE_MAX_OUTPUT_TOKENS": "10",
    "TRIAGE_KEEP_ALIVE": "half an hour",
    "TRIAGE_RETRAIN_EVERY": "0",
    "TRIAGE_RETRAIN_MINUTES": "-5",
    "TRIAGE_MAX_ATTEMPTS": "0",
    "TRIAGE_MAX_HANDBACKS": "-1",
    "TRIAGE_LLM_TIMEOUT": "nan",
    "TRIAGE_LEASE_SECONDS": "-1",
    "TRIAGE_POLL_SECONDS": "0",
    "TRIAGE_STALL_SECONDS": "inf",
    "TRIAGE_RETRY_BACKOFF_SECONDS": "soon",
    "TRIAGE_SHUTDOWN_GRACE": "1e9",
    "TRIAGE_DB_POOL_SIZE": "0",
    "TRIAGE_DB_CONNECT_ATTEMPTS": "0",
    "TRIAGE_LOG_LEVEL": "verbose",
    "TRIAGE_LOG_FORMAT": "xml",
    "TRIAGE_ADMIN_PASSWORD": "short",
    "TRIAGE_SESSION_IDLE_MINUTES": "0",
    "TRIAGE_SESSION_MAX_HOURS": "-3",
    "TRIAGE_TRUSTED_PROXIES": "10.0.0.300",
    "TRIAGE_INTAKE_RATE_PER_MINUTE": "-1",
    "TRIAGE_INTAKE_BURST": "0",
    "TRIAGE_MAX_BACKLOG": "lots",
    "TRIAGE_ALLOWED_HOSTS": "desk.example.com:8080",
    "TRIAGE_SMTP_URL": "imap://mail.example.com",
    "TRIAGE_MAIL_FROM": "support at example",
    "TRIAGE_WEBHOOK_URL": "ftp://hooks.example.com",
    "TRIAGE_WEBHOOK_SECRET": "short",
    "TRIAGE_DELIVERY_WORKERS": "-1",
    "TRIAGE_DELIVERY_ATTEMPTS": "0",
    "TRIAGE_DELIVERY_BACKOFF_SECONDS": "later",
}


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_a_bad_value_is_a_clear_error_naming_the_setting(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    value = BAD_VALUES[name]
    if value == "__a_file__":
        (tmp_path / "a-file").write_text("not a folder")
        value = str(tmp_path / "a-file")
    for other in env_names():
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["serve"])
    message = str(stopped.value.code)
    assert message.startswith("triage-hub: invalid configuration:\n")
    [line] = message.splitlines()[1:]
    assert line.startswith(f"  {name}: ")
    if name in (
        "TRIAGE_ADMIN_PASSWORD",
        "DATABASE_URL",
        "DATABASE_LISTEN_URL",
        "TRIAGE_LLM_API_KEY",
    ):
        assert value not in message  # it may be a secret
    assert "Traceback" not in message and "pydantic" not in message


def test_every_setting_has_a_bad_value_in_this_test() -> None:
    assert sorted(BAD_VALUES) == sorted(env_names())


def test_database_listen_url_is_the_direct_connection_beside_pgbouncer() -> None:
    direct = "postgresql://triage@db:5432/triage"
    pooled = "postgresql://triage@pgbouncer:6432/triage"
    alone = Settings.model_validate({"DATABASE_URL": direct})
    assert not alone.through_pgbouncer and alone.direct_database_url(direct) == direct
    same = Settings.model_validate({"DATABASE_URL": direct, "DATABASE_LISTEN_URL": direct})
    assert not same.through_pgbouncer
    both = Settings.model_validate({"DATABASE_URL": pooled, "DATABASE_LISTEN_URL": direct})
    assert both.through_pgbouncer and both.direct_database_url(pooled) == direct


def test_database_listen_url_without_database_url_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for other in env_names():
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv("DATABASE_LISTEN_URL", "postgresql://triage:s3cret@db:5432/triage")
    with pytest.raises(SystemExit) as stopped:
        cli.main(["migrate"])
    message = str(stopped.value.code)
    assert "DATABASE_LISTEN_URL needs DATABASE_URL" in message
    assert "s3cret" not in message and "Traceback" not in message


def test_log_levels_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    from triage_hub.settings import Settings

    monkeypatch.setenv("TRIAGE_LOG_LEVEL", "debug")
    assert Settings().log_level == "DEBUG"


def test_a_bad_value_from_the_shell_prints_no_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "triage_hub", "serve"],
        env={"TRIAGE_LOG_LEVEL": "verbose", "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "TRIAGE_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_port_in_use_is_a_clear_error(database_url: str) -> None:
    first = ServeProcess({"DATABASE_URL": database_url, "TRIAGE_CLAIMERS": "0"})
    await first.start()
    second = ServeProcess({"DATABASE_URL": database_url, "TRIAGE_CLAIMERS": "0"})
    second.port = first.port
    second.env["TRIAGE_PORT"] = str(first.port)
    try:
        await second.spawn()
        assert await second.wait() == 1
        stderr = await second.stderr()
        assert f"cannot listen on 127.0.0.1:{first.port} (TRIAGE_HOST, TRIAGE_PORT)" in stderr
        assert "Traceback" not in stderr
    finally:
        await second.close()
        await first.close()


@pytest.mark.parametrize("signals", [1, 2], ids=["one-signal", "signal-twice"])
async def test_a_polite_stop_exits_zero(database_url: str, signals: int) -> None:
    """SIGTERM (and the second one make or docker send right after) is a clean exit, 0."""
    server = ServeProcess({"DATABASE_URL": database_url, "TRIAGE_CLAIMERS": "2"})
    await server.start()
    try:
        for _ in range(signals):
            server.send(signal.SIGTERM)
            await asyncio.sleep(0.05)
        assert await server.wait() == 0
        stderr = await server.stderr()
        assert "SIGTERM: stopping" in stderr and "Traceback" not in stderr
    finally:
        await server.close()


def test_an_empty_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    optional = ("TRIAGE_ADMIN_PASSWORD", "TRIAGE_SMTP_URL", "TRIAGE_WEBHOOK_URL", "TRIAGE_CLAIMERS")
    for name in optional:
        monkeypatch.setenv(name, "")  # what compose passes for `${NAME:-}`
    settings = Settings()
    assert settings.admin_password is None
    assert settings.smtp_url is None and settings.webhook_url is None
    assert settings.claimers == Settings.model_fields["claimers"].default


def test_llm_urls_are_hosts_with_slots_and_claimers_default_to_every_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIAGE_LLM_URLS", " http://gpu1:11434=4, https://gpu2:8000/v1/=16,gpu3 ")
    monkeypatch.delenv("TRIAGE_CLAIMERS", raising=False)
    settings = Settings()
    assert settings.llm_hosts() == (
        LLMHost("http://gpu1:11434", 4),
        LLMHost("https://gpu2:8000/v1", 16),
        LLMHost("gpu3", 4),  # no `=SLOTS`: TRIAGE_CLAIMERS's, as OLLAMA_HOST has (default 4)
    )
    assert settings.claimers == 24
    monkeypatch.setenv("TRIAGE_CLAIMERS", "3")  # said: kept, even below the slots
    assert (Settings().claimers, Settings().llm_hosts()[2]) == (3, LLMHost("gpu3", 3))
    monkeypatch.setenv("TRIAGE_CLAIMERS", "0")  # an API-only replica stays one
    assert (Settings().claimers, Settings().llm_hosts()[2]) == (0, LLMHost("gpu3", 1))
    # One URL alone is OLLAMA_HOST by another name: TRIAGE_CLAIMERS calls at once.
    monkeypatch.setenv("TRIAGE_LLM_URLS", "http://ollama:11434")
    monkeypatch.setenv("TRIAGE_CLAIMERS", "8")
    assert Settings().llm_hosts() == (LLMHost("http://ollama:11434", 8),)
    monkeypatch.delenv("TRIAGE_CLAIMERS")
    assert (Settings().claimers, Settings().llm_hosts()[0].slots) == (4, 4)


def test_without_llm_urls_the_one_host_is_ollama_host_with_a_slot_per_claimer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("TRIAGE_LLM_URLS", "TRIAGE_CLAIMERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", "http://ollama:11434")
    assert Settings().llm_hosts() == (LLMHost("http://ollama:11434", 4),)
    monkeypatch.setenv("TRIAGE_CLAIMERS", "0")
    assert Settings().llm_hosts() == (LLMHost("http://ollama:11434", 1),)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("http://gpu1:11434=0", "whole number from 1 to 256"),
        ("http://gpu1:11434=1000", "whole number from 1 to 256"),
        ("http://gpu1:11434=-2", "whole number from 1 to 256"),
        ("ftp://gpu1:11434=2", "'ftp://gpu1:11434' must be an http:// or https:// URL"),
        ("http://gpu1:99999=2", "port that is not a number"),
        (" , ,", "names no server"),
        ("http://gpu1:11434=2,http://gpu1:11434=4", "names a server twice"),
    ],
)
def test_bad_llm_urls_say_what_is_wrong(
    value: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for other in env_names():
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv("TRIAGE_LLM_URLS", value)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["serve"])
    [line] = str(stopped.value.code).splitlines()[1:]
    assert line.startswith("  TRIAGE_LLM_URLS: ") and says in line, line


def test_the_llm_api_key_from_a_file_or_the_environment(tmp_path: Path) -> None:
    key_file = tmp_path / "llm-key"
    key_file.write_text("sk-from-a-file\n", encoding="utf-8")
    assert Settings(TRIAGE_LLM_API_KEY_FILE=str(key_file)).api_key == "sk-from-a-file"
    assert Settings(TRIAGE_LLM_API_KEY="sk-direct").api_key == "sk-direct"
    assert Settings().api_key is None
    with pytest.raises(ValueError, match="not both"):
        Settings(TRIAGE_LLM_API_KEY="sk-direct", TRIAGE_LLM_API_KEY_FILE=str(key_file))
    key_file.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="one key"):
        Settings(TRIAGE_LLM_API_KEY_FILE=str(key_file))
    assert "sk-direct" not in repr(Settings(TRIAGE_LLM_API_KEY="sk-direct"))
