"""Agent accounts without I/O: password hashing (argon2id), secrets and their digests, the rules
for names and passwords."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from triage_hub.errors import BadRequest

# argon2-cffi's defaults are RFC 9106's low-memory argon2id profile (t=3, 64 MiB, p=4):
# ~0.17 s per hash on this 2-core machine.
_HASHER = PasswordHasher()

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_CHARS = 1024
TOKEN_PREFIX = "th_"


def is_agent_name(name: str) -> bool:
    """Whether an agent could be called this: 1–64 letters, digits and . _ @ -, starting with
    one of the first two."""
    return NAME.fullmatch(name) is not None


def check_agent_name(name: str) -> str:
    """The name, or BadRequest when no agent could be called this (see is_agent_name)."""
    if not is_agent_name(name):
        raise BadRequest(
            "An agent name is 1–64 letters, digits, '.', '_', '@' or '-', starting with a letter "
            "or digit.",
            code="invalid_name",
        )
    return name


def check_password(password: str) -> str:
    """The password, or BadRequest when it is too short or too long."""
    if not PASSWORD_MIN_CHARS <= len(password) <= PASSWORD_MAX_CHARS:
        raise BadRequest(
            f"A password is {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters long.",
            code="invalid_password",
        )
    return password


@functools.cache
def _dummy_hash() -> str:
    """Verified when the name is unknown, so a wrong name costs as long as a wrong password."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash with a fresh salt (CPU-bound: run it off the event loop)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; an unknown account (None) costs the same and fails."""
    try:
        matches = _HASHER.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return matches and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(password_hash)


def new_secret() -> str:
    """A random secret for a cookie or a link: 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    """A bearer token; the prefix makes a leaked one easy to recognise and grep for."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    """What the database keeps of a secret: its SHA-256 (a random secret needs no slow hash)."""
    return hashlib.sha256(secret.encode()).digest()
