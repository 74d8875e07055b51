"""What a bench script hands to `make bench` (bench/run_all.py): its headline figures, each with
its target and an anchor to hold it against, as JSON in the file given by `--figures`.

A script's own output (its tables, progress lines) stays as it is; `--figures` only adds the
file. `--quiet-wait` bounds how long each load run waits for other work on the machine to calm
down (30 s unless told; `make bench QUICK=1` passes less).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import common


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its target and its anchor."""

    label: str
    value: float
    unit: str
    # The figure should be <= target (lower_is_better) or >= target; None: no target set.
    target: float | None = None
    lower_is_better: bool = True
    # What the target is, when it is not a plain number ("0.7 × the reference").
    target_note: str = ""
    # A baseline to read the figure against, shown as value / anchor: measured in the same run
    # where one exists (the reference app, pgbench, one client alone), else a recorded figure.
    anchor: float | None = None
    anchor_label: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--figures FILE and --quiet-wait SECONDS."""
    parser.add_argument(
        "--figures", type=Path, default=None, help="also write the headline figures to FILE (JSON)"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=common.QUIET_WAIT_S,
        help="at most this many seconds each load run waits for a quiet machine",
    )


def configure(args: argparse.Namespace) -> None:
    """Apply --quiet-wait."""
    common.QUIET_WAIT_S = args.quiet_wait


def write(path: Path | None, figures: list[Figure]) -> None:
    """Write the figures to path (nothing when path is None)."""
    if path is not None:
        path.write_text(json.dumps([asdict(f) for f in figures], indent=2), encoding="utf-8")


def read(path: Path) -> list[Figure]:
    """The figures a script wrote."""
    return [Figure(**item) for item in json.loads(path.read_text(encoding="utf-8"))]
