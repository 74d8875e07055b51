"""What a sender is to the delivery workers."""

from __future__ import annotations

from typing import Protocol

from triage_hub.db.outbox import Delivery


class SendFailed(Exception):
    """A try that did not deliver; `permanent` when trying again cannot help (a mailbox that
    does not exist, a webhook that is gone)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class Sender(Protocol):
    """Delivers one kind of delivery."""

    kind: str

    async def send(self, delivery: Delivery) -> None:
        """Deliver it, or raise SendFailed."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
