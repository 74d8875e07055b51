"""`make bench`: every bench script in turn, then one table of the headline figures.

    .venv/bin/python bench/run_all.py            # the full runs BENCHMARKS.md records (~25 min)
    .venv/bin/python bench/run_all.py --quick    # about a minute: small tables, short loads
    .venv/bin/python bench/run_all.py --only intake pipeline

Each script runs as it would by hand, with `--figures FILE` added (and, with --quick, smaller
arguments); its whole output goes to bench/results/<time>/<name>.log. The table puts each
figure beside its target (figure ÷ target: met or not) and its anchor (figure ÷ anchor). Quick
figures come from small tables and short runs: they show that everything runs and roughly
where it stands, not figures to record as the benches' results. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.figures import Figure, read

ROOT = common.ROOT
RESULTS = ROOT / "bench" / "results"
QUICK_ROWS = "20000"  # the "1M-row" benches' table in a quick pass


@dataclass(frozen=True)
class Bench:
    """One script: how to run it in full and quickly."""

    name: str
    script: str
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    # The built-in engine's script prints JSON (--json) rather than writing --figures.
    json_stdout: bool = False
    # Not in this tree yet: the row says so instead of failing.
    pending: str = ""
    # Programs it needs beside Python and PostgreSQL (Debian package names too).
    needs: tuple[str, ...] = ()


QUICK_WAIT = ("--quiet-wait", "0")
BENCHES = [
    Bench(
        "intake",
        "bench/intake.py",
        needs=("wrk",),
        quick=("--duration", "1", "--rounds", "1", "--warmup", "1", *QUICK_WAIT),
    ),
    Bench(
        "list_1m",
        "bench/list_1m.py",
        needs=("wrk",),
        quick=(
            *("--rows", QUICK_ROWS, "--pending", "300", "--duration", "1", "--rounds", "1"),
            *("--warmup", "1", "--crowd-duration", "1", "--alone", "50"),
            *("--paths", "/tickets", "urgent", *QUICK_WAIT),
        ),
    ),
    Bench(
        "pipeline",
        "bench/pipeline.py",
        quick=(
            *("--pickups", "20", "--tickets", "200", "--slow-tickets", "8"),
            *("--slow-seconds", "1", "--slow-claimers", "8", *QUICK_WAIT),
        ),
    ),
    Bench(
        "dashboard",
        "bench/dashboard_latency.py",
        quick=("--changes", "20", "--tickets", "5"),
        needs=("chromium",),
    ),
    Bench(
        "search_1m",
        "bench/search_1m.py",
        needs=("wrk",),
        quick=(
            *("--rows", QUICK_ROWS, "--duration", "1", "--rounds", "1", "--alone", "50"),
            *("--searches", "invoice charged", *QUICK_WAIT),
        ),
    ),
    Bench(
        "builtin",
        "evals/run_builtin.py",
        full=("--json", "--seeds", "2"),
        quick=("--json", "--folds", "2", "--latency-rounds", "1", "--no-timings"),
        json_stdout=True,
    ),
    Bench("login_flood", "bench/login_flood.py", quick=("--requests", "10", "--concurrency", "5")),
    Bench("markdown", "bench/markdown_render.py", quick=("--cases", "1")),
    Bench(
        "llm_pool",
        "bench/llm_pool.py",
        quick=(
            *("--tickets-per-slot", "4", "--tokens", "20", "--token-ms", "5"),
            *("--extra-claimers", "0", *QUICK_WAIT),
        ),
    ),
]


@dataclass
class Outcome:
    """What one script gave."""

    bench: Bench
    seconds: float
    figures: list[Figure]
    problem: str = ""


def run(bench: Bench, quick: bool, folder: Path) -> Outcome:
    """Run one script, its output into folder/NAME.log; its figures."""
    script = ROOT / bench.script
    if not script.exists():
        return Outcome(bench, 0.0, [], f"not run: {bench.pending or f'no {bench.script}'}")
    missing = [program for program in bench.needs if shutil.which(program) is None]
    if missing:
        install = f"apt-get install -y {' '.join(missing)}"
        return Outcome(bench, 0.0, [], f"not run: needs {', '.join(missing)} ({install})")
    log_path = folder / f"{bench.name}.log"
    figures_path = folder / f"{bench.name}.json"
    argv = [sys.executable, str(script), *(bench.quick if quick else bench.full)]
    if not bench.json_stdout:
        argv += ["--figures", str(figures_path)]
    started = time.monotonic()
    with log_path.open("wb") as log:
        log.write(f"$ {' '.join(argv)}\n\n".encode())
        log.flush()
        done = subprocess.run(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        return Outcome(bench, seconds, [], f"failed (exit {done.returncode}): see {log_path}")
    if bench.json_stdout:
        return Outcome(bench, seconds, builtin_figures(log_path))
    return Outcome(bench, seconds, read(figures_path))


def builtin_figures(log_path: Path) -> list[Figure]:
    """The built-in engine's held-out figures from run_builtin.py's --json output, against the
    targets of issue 11 and the plainest baselines on the same tickets."""
    text = log_path.read_text(encoding="utf-8")
    report = json.loads(text[text.index("{") :])["heldout"]
    heldout = [
        json.loads(line)
        for line in (ROOT / "evals" / "heldout.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]

    def majority(field: str) -> float:
        return Counter(t[field] for t in heldout).most_common(1)[0][1] / len(heldout)

    always_five = statistics.mean(abs(int(t["sentiment"]) - 5) for t in heldout)
    fields = report["fields"]
    tickets = f"held-out, {report['tickets']} tickets"
    return [
        Figure(
            f"built-in engine: category accuracy, {tickets}",
            fields["category"]["accuracy"],
            "",
            target=0.85,
            lower_is_better=False,
            anchor=majority("category"),
            anchor_label="always the commonest category",
        ),
        Figure(
            "built-in engine: urgency accuracy",
            fields["urgency"]["accuracy"],
            "",
            target=0.72,
            lower_is_better=False,
            anchor=majority("urgency"),
            anchor_label="always the commonest urgency",
        ),
        Figure(
            "built-in engine: High-urgency recall",
            report["high_urgency_recall"],
            "",
            target=0.85,
            lower_is_better=False,
        ),
        Figure(
            "built-in engine: sentiment mean absolute error",
            report["sentiment_mae"],
            "",
            target=1.3,
            anchor=always_five,
            anchor_label="always 5",
        ),
        Figure(
            "built-in engine: p99 per ticket, one at a time",
            report["latency_ms"]["p99"],
            "ms",
            target=10.0,
            anchor=report["latency_ms"]["p50"],
            anchor_label="its p50, same run",
        ),
    ]


def number(value: float, unit: str) -> str:
    """A figure as the table shows it."""
    if unit == "":
        text = f"{value:.3f}"
    elif abs(value) >= 100 or float(value).is_integer():
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def versus_target(figure: Figure) -> tuple[str, str]:
    """The target as written, and figure ÷ target with whether it is met."""
    if figure.target is None:
        return "—", "—"
    sign = "≤" if figure.lower_is_better else "≥"
    target = f"{sign} {number(figure.target, figure.unit)}"
    if figure.target_note:
        target += f" ({figure.target_note})"
    met = figure.value <= figure.target if figure.lower_is_better else figure.value >= figure.target
    if figure.target == 0:
        return target, "met" if met else "NOT MET"
    return target, f"{figure.value / figure.target:.2f} {'met' if met else 'NOT MET'}"


def versus_anchor(figure: Figure) -> tuple[str, str]:
    """The anchor as written, and figure ÷ anchor."""
    if figure.anchor is None:
        return "—", "—"
    anchor = f"{number(figure.anchor, figure.unit)}: {figure.anchor_label}"
    ratio = f"{figure.value / figure.anchor:.2f}" if figure.anchor else "—"
    return anchor, ratio


def table(outcomes: list[Outcome]) -> str:
    """The one table of every figure."""
    rows: list[list[object]] = []
    for outcome in outcomes:
        if outcome.problem:
            rows.append([outcome.bench.name, outcome.problem, "", "", "", "", ""])
        for figure in outcome.figures:
            target, to_target = versus_target(figure)
            anchor, to_anchor = versus_anchor(figure)
            value = number(figure.value, figure.unit)
            rows.append(
                [outcome.bench.name, figure.label, value, target, to_target, anchor, to_anchor]
            )
    header = ["bench", "figure", "value", "target", "÷ target", "anchor", "÷ anchor"]
    return common.markdown_table(header, rows)


def machine_line() -> str:
    """The machine (cores, CPU, PostgreSQL, Python, wrk) and its load."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{common.machine()}\n- load average at the start: {load}"


def main() -> None:
    """Run the benches in turn and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about a minute in all")
    parser.add_argument("--only", nargs="+", choices=[b.name for b in BENCHES], default=None)
    args = parser.parse_args()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = RESULTS / f"{stamp}{'-quick' if args.quick else ''}"
    folder.mkdir(parents=True, exist_ok=True)
    machine = machine_line()
    started = time.monotonic()
    outcomes = []
    for bench in BENCHES:
        if args.only and bench.name not in args.only:
            continue
        print(f"- {bench.name:<12} {bench.script} …", end="", flush=True)
        outcome = run(bench, args.quick, folder)
        print(f" {outcome.seconds:.0f} s{f'  ({outcome.problem})' if outcome.problem else ''}")
        outcomes.append(outcome)
    total = time.monotonic() - started
    kind = "make bench QUICK=1" if args.quick else "make bench"
    report = (
        f"## `{kind}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {total:.0f} s\n\n"
        f"{machine}\n- logs: {folder.relative_to(ROOT)}/\n\n{table(outcomes)}\n"
    )
    (folder / "table.md").write_text(report, encoding="utf-8")
    print(f"\n{report}")
    sys.exit(1 if any(o.problem.startswith("failed") for o in outcomes) else 0)


if __name__ == "__main__":
    main()
