"""The draft as the model streams it: dug out of partial JSON, announced to every replica."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from triage_hub.db.claims import notify_draft
from triage_hub.db.pool import Database
from triage_hub.errors import DatabaseUnavailable
from triage_hub.triage.jsonstring import Incomplete, scan_string

log = logging.getLogger(__name__)

_DRAFT_START = re.compile(r'"draft"\s*:\s*"')
# NOTIFY payloads stop at 8000 bytes; 1,500 characters are at most 6,000 bytes of UTF-8.
MAX_DRAFT_CHARS = 1500


def partial_draft(text: str) -> str | None:
    """The value of "draft" in a JSON object that is still being written, as far as it goes
    (trimmed as the final draft is, so it is always a prefix of the final draft)."""
    match = _DRAFT_START.search(text)
    if match is None:
        return None
    try:
        value, _ = scan_string(text, match.end())
    except Incomplete as so_far:
        value = so_far.decoded
    except ValueError:
        return None  # a broken escape: the final parse will judge it
    return value.strip()


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
        """Announce the draft so far (call when `due`). Never raises: a preview must not fail
        the claim it shows."""
        self._last[ticket_id] = time.monotonic()
        try:
            draft = partial_draft(text_so_far)
            if not draft:
                return
            if len(draft) > MAX_DRAFT_CHARS:
                draft = draft[:MAX_DRAFT_CHARS] + "…"
            await notify_draft(
                self._db, json.dumps({"id": str(ticket_id), "draft": draft}, ensure_ascii=False)
            )
        except DatabaseUnavailable:
            pass  # a preview only; the outcome is stored (or fenced) separately
        except Exception:
            log.warning("ticket %s: the draft preview could not be sent", ticket_id, exc_info=True)
