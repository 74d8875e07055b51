"""The draft as the model streams it: dug out of partial JSON, announced to every replica."""

from __future__ import annotations

import json
import re
import time
import uuid

from triage_hub.db.claims import notify_draft
from triage_hub.db.pool import Database
from triage_hub.errors import DatabaseUnavailable

_DRAFT_START = re.compile(r'"draft"\s*:\s*"')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
# NOTIFY payloads stop at 8000 bytes; 1,500 characters are at most 6,000 bytes of UTF-8.
MAX_DRAFT_CHARS = 1500


def partial_draft(text: str) -> str | None:
    """The value of "draft" in a JSON object that is still being written, as far as it goes."""
    match = _DRAFT_START.search(text)
    if match is None:
        return None
    out: list[str] = []
    i = match.end()
    while i < len(text):
        char = text[i]
        if char == '"':
            break
        if char != "\\":
            out.append(char)
            i += 1
            continue
        escape = text[i + 1 : i + 2]
        if escape == "u":
            digits = text[i + 2 : i + 6]
            if len(digits) < 4:
                break  # the escape is still arriving
            try:
                out.append(chr(int(digits, 16)))
            except ValueError:
                break
            i += 6
        elif escape in _ESCAPES:
            out.append(_ESCAPES[escape])
            i += 2
        else:
            break
    return "".join(out)


class DraftStreamer:
    """Sends the draft so far at most every `interval` seconds per ticket, from the first
    interval on: quick answers never send one, slow models show their progress."""

    def __init__(self, db: Database, interval: float = 0.25) -> None:
        self._db = db
        self._interval = interval
        self._last: dict[uuid.UUID, float] = {}

    def started(self, ticket_id: uuid.UUID) -> None:
        """A call for this ticket began."""
        self._last[ticket_id] = time.monotonic()

    def finished(self, ticket_id: uuid.UUID) -> None:
        """The call ended (its outcome is announced by the ticket's own change)."""
        self._last.pop(ticket_id, None)

    def due(self, ticket_id: uuid.UUID) -> bool:
        """Whether this ticket's interval has passed since its call began or its last update."""
        started = self._last.get(ticket_id)
        return started is not None and time.monotonic() - started >= self._interval

    async def update(self, ticket_id: uuid.UUID, text_so_far: str) -> None:
        """Announce the draft so far (call when `due`)."""
        now = time.monotonic()
        draft = partial_draft(text_so_far)
        if not draft:
            return
        self._last[ticket_id] = now
        if len(draft) > MAX_DRAFT_CHARS:
            draft = draft[:MAX_DRAFT_CHARS] + "…"
        payload = json.dumps({"id": str(ticket_id), "draft": draft}, ensure_ascii=False)
        try:
            await notify_draft(self._db, payload)
        except DatabaseUnavailable:
            pass  # a preview only; the outcome is stored (or fenced) separately
