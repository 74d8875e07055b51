"""`triage-hub eval FILE.jsonl`: how good is an engine on a labeled set? The same code path as
production (prompt, call, parsing, validation — for the LLM, or the built-in engine trained on
the development part only), never the tickets table."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from triage_hub.engines.base import Engine, InvalidAnswer
from triage_hub.engines.builtin.data import dev_examples
from triage_hub.engines.builtin.engine import BuiltinEngine
from triage_hub.engines.builtin.types import Example
from triage_hub.engines.hosts import make_pool
from triage_hub.evaluation import evaluate, render_text
from triage_hub.settings import Settings
from triage_hub.triage.faults import LLMUnavailable


class EvalFailed(Exception):
    """The set cannot be read, or the engine cannot be reached at all."""


@dataclass(frozen=True)
class Guess:
    """What the engine said of one ticket (for the report)."""

    category: str
    urgency: str
    sentiment: int
    confidence: dict[str, float] = field(default_factory=dict)


def read_set(path: Path) -> list[Example]:
    """One ticket a line: {"message", "category", "urgency", "sentiment"}; other keys ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise EvalFailed(f"cannot read {path}: {error}") from None
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            examples.append(
                Example(item["message"], item["category"], item["urgency"], item["sentiment"])
            )
        except (ValueError, KeyError, TypeError) as error:
            raise EvalFailed(f"{path}:{number}: not a labeled ticket ({error})") from None
    if not examples:
        raise EvalFailed(f"{path} holds no tickets")
    return examples


class Progress:
    """A bar on a terminal, a line per tenth elsewhere (a log, CI)."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total, self.done, self.out = total, 0, out
        self._tty = out.isatty()

    def step(self) -> None:
        """One more ticket done."""
        self.done += 1
        if self._tty:
            filled = round(30 * self.done / self.total)
            self.out.write(f"\r[{'#' * filled}{' ' * (30 - filled)}] {self.done}/{self.total}")
            if self.done == self.total:
                self.out.write("\n")
        elif self.done == self.total or self.done % max(1, self.total // 10) == 0:
            self.out.write(f"{self.done}/{self.total} tickets\n")
        self.out.flush()


async def _ask(engine: Engine, example: Example) -> tuple[Guess | None, float, str | None]:
    """(guess or None for an invalid answer, ms, the error of a call that got no answer)."""
    started = time.perf_counter()
    try:
        answer = await engine.triage(example.message)
    except InvalidAnswer:
        return None, (time.perf_counter() - started) * 1000, None
    except LLMUnavailable as error:
        return None, (time.perf_counter() - started) * 1000, error.message
    output = answer.output
    guess = Guess(output.category, output.urgency, output.sentiment, dict(answer.confidence))
    return guess, (time.perf_counter() - started) * 1000, None


async def evaluate_engine(
    examples: list[Example], engines: list[Engine], progress: Progress
) -> dict[str, Any]:
    """Every ticket through one of the engines (as many at once as there are engines)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(examples)):
        queue.put_nowait(index)
    guesses: list[Guess | None] = [None] * len(examples)
    latencies: list[float] = []
    failures: dict[str, int] = {}

    async def work(engine: Engine) -> None:
        while not queue.empty():
            index = queue.get_nowait()
            guess, ms, failure = await _ask(engine, examples[index])
            guesses[index] = guess
            latencies.append(ms)
            if failure is not None:
                failures[failure] = failures.get(failure, 0) + 1
            progress.step()

    await asyncio.gather(*(work(engine) for engine in engines))
    report = evaluate(list(zip(examples, guesses, strict=True)), latencies)
    report["no_answer"] = failures
    return report


def _engines(settings: Settings, kind: str, concurrency: int) -> list[Engine]:
    if kind == "builtin":
        # Trained on the development part only, not the shipped set nor the database: an
        # eval must not see what it is measured on.
        return [BuiltinEngine(None, 1, 0, base=dev_examples)]
    # The hosts of TRIAGE_LLM_URLS (else OLLAMA_HOST) as production calls them: one pool, its
    # slots bounding the calls at each host, asked by `concurrency` workers at once.
    return [make_pool(settings)] * concurrency


async def run(
    path: Path, settings: Settings, kind: str, concurrency: int, as_json: bool, err: TextIO
) -> str:
    """The report for a labeled set, as text or JSON."""
    examples = read_set(path)
    engines = _engines(settings, kind, concurrency)
    try:
        if kind == "builtin":  # train first: its time is not a ticket's latency
            assert isinstance(engines[0], BuiltinEngine)
            await engines[0].model()
        report = await evaluate_engine(examples, engines, Progress(len(examples), err))
    finally:
        for engine in dict.fromkeys(engines):  # the pool once
            await engine.close()
    if report["no_answer"] and sum(report["no_answer"].values()) == len(examples):
        first = next(iter(report["no_answer"]))
        raise EvalFailed(f"no ticket got an answer from the LLM: {first}")
    report["engine"] = kind
    report["model"] = (
        "builtin-v1 (trained on the development part)" if kind == "builtin" else (settings.model)
    )
    report["tickets"] = len(examples)
    if as_json:
        return json.dumps(report, indent=2)
    lines = [f"{path}: {len(examples)} tickets, engine {kind} ({report['model']})", ""]
    lines.append(render_text(report))
    if report["no_answer"]:
        lines.append("")
        lines.append("Calls that got no answer (counted as invalid):")
        lines += [f"  {count} × {error}" for error, count in report["no_answer"].items()]
    return "\n".join(lines)


def eval_command(settings: Settings, file: str, kind: str, concurrency: int, as_json: bool) -> None:
    """`triage-hub eval`: print the report; exit 1 with the reason when it cannot run."""
    try:
        print(asyncio.run(run(Path(file), settings, kind, concurrency, as_json, sys.stderr)))
    except EvalFailed as error:
        sys.exit(f"triage-hub eval: {error}")
    except ValidationError as error:  # pragma: no cover - settings are checked before
        sys.exit(f"triage-hub eval: {error}")
