"""`render_markdown` in worker processes: off the event loop, and bounded in CPU.

A thread would not do: markdown-it is pure Python, so a render in a thread still takes the GIL
from the event loop, and a thread cannot be stopped, so a pathological text costs its full CPU
however long the caller waits. A worker process has a GIL of its own, runs at a lower priority,
and is killed once a render passes its bound (and replaced on the next render): a text costs at
most `render_seconds` of one core, with at most `workers` renders at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import sys
import time
from collections import OrderedDict
from typing import Any

from triage_hub.errors import MarkdownTooComplex, RendererBusy
from triage_hub.markdown import READY

log = logging.getLogger(__name__)

# Ordinary markdown renders at ~1 ms per 1,000 characters (16 ms for the longest reply allowed):
# a render past a second is a pathological text, not a slow moment.
RENDER_SECONDS = 1.0
# A render waits this long for a free worker; later, the client is told to try again.
WAIT_SECONDS = 2.0
# One core for renders at most: the event loop and the claimers keep the others.
WORKERS = 1
# A fresh worker imports markdown-it and nh3 (0.1 s); allow for a loaded machine.
START_SECONDS = 10.0
STOP_SECONDS = 2.0
# A text that passed the bound is refused at once for a while, without rendering it again: every
# dashboard that opens the ticket previews its draft, and each would cost the bound again.
TOO_COMPLEX_REMEMBERED = 256
TOO_COMPLEX_SECONDS = 600.0
# Far above any answer to a body of at most 64 KiB; a line past it means a broken worker.
ANSWER_LIMIT = 32 * 1024 * 1024


class RendererFailed(RuntimeError):
    """A worker crashed or answered nonsense: a bug, reported as an internal error."""


class _Worker:
    """One `python -m triage_hub.markdown` process, rendering one text at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls) -> _Worker:
        """Start a worker and wait until it is ready to render."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "triage_hub.markdown",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=ANSWER_LIMIT,
        )
        worker = cls(process)
        try:
            async with asyncio.timeout(START_SECONDS):
                ready = await worker._stdout().readline()
        except BaseException:
            await worker.kill()
            raise
        if ready != READY:
            await worker.kill()
            raise RendererFailed(f"a markdown worker did not start (said {ready[:100]!r})")
        return worker

    def _stdout(self) -> asyncio.StreamReader:
        assert self.process.stdout is not None
        return self.process.stdout

    async def render(self, text: str) -> str:
        """The text's HTML, from the worker."""
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(json.dumps(text).encode("ascii") + b"\n")
        await stdin.drain()
        line = await self._stdout().readline()
        try:
            answer: dict[str, Any] = json.loads(line)
            html = answer["html"]
        except (ValueError, KeyError, TypeError):
            raise RendererFailed(f"a markdown worker answered {line[:200]!r}") from None
        if not isinstance(html, str):
            raise RendererFailed(f"a markdown worker answered {line[:200]!r}")
        return html

    async def kill(self) -> None:
        """Stop it now, whatever it is doing."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()

    async def close(self) -> None:
        """Let an idle worker exit (its input ends), or kill it if it does not."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            async with asyncio.timeout(STOP_SECONDS):
                await self.process.wait()
        except TimeoutError:
            await self.kill()


class MarkdownRenderer:
    """Renders markdown in up to `workers` processes, each render bounded in time.

    Workers start on first use (an app that never previews starts none) and are reused; one
    that passes `render_seconds` is killed (MarkdownTooComplex, and the same text is refused at
    once for a while); a render that finds no free worker within `wait_seconds` is refused
    (RendererBusy).
    """

    def __init__(
        self,
        *,
        workers: int = WORKERS,
        render_seconds: float = RENDER_SECONDS,
        wait_seconds: float = WAIT_SECONDS,
    ) -> None:
        self.render_seconds = render_seconds
        self.wait_seconds = wait_seconds
        self._free = asyncio.Semaphore(workers)
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._too_complex: OrderedDict[bytes, float] = OrderedDict()  # digest -> until when

    async def render(self, text: str) -> str:
        """`render_markdown(text)`, in a worker."""
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if self._too_complex.get(digest, 0.0) > time.monotonic():
            raise MarkdownTooComplex(self.render_seconds)
        try:
            async with asyncio.timeout(self.wait_seconds):
                await self._free.acquire()
        except TimeoutError:
            raise RendererBusy() from None
        try:
            return await self._render(text)
        except MarkdownTooComplex:
            self._too_complex[digest] = time.monotonic() + TOO_COMPLEX_SECONDS
            self._too_complex.move_to_end(digest)
            while len(self._too_complex) > TOO_COMPLEX_REMEMBERED:
                self._too_complex.popitem(last=False)
            raise
        finally:
            self._free.release()

    async def _render(self, text: str) -> str:
        worker = self._idle.pop() if self._idle else await self._start()
        self._busy.add(worker)
        try:
            async with asyncio.timeout(self.render_seconds):
                html = await worker.render(text)
        except TimeoutError:
            await worker.kill()
            raise MarkdownTooComplex(self.render_seconds) from None
        except BaseException:
            # Cancelled or broken mid-render: its answer would be read as the next one's.
            await worker.kill()
            raise
        finally:
            self._busy.discard(worker)
        self._idle.append(worker)
        return html

    async def _start(self) -> _Worker:
        try:
            return await _Worker.start()
        except (OSError, TimeoutError, RendererFailed):
            log.exception("cannot start a markdown worker")
            raise RendererBusy() from None

    async def close(self) -> None:
        """Stop every worker: the idle ones politely, the busy ones at once."""
        idle, self._idle = self._idle, []
        for worker in list(self._busy):
            await worker.kill()
        await asyncio.gather(*(worker.close() for worker in idle))
