"""Named SQL statements, kept in .sql files beside this module and loaded once."""

from __future__ import annotations

import re
from importlib.resources import files

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def load_queries(filename: str) -> dict[str, str]:
    """Split a .sql file into {name: statement} at its `-- name: x` lines."""
    text = files("triage_hub.db").joinpath("sql", filename).read_text(encoding="utf-8")
    parts = _NAME.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}
