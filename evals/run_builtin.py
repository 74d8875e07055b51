"""Measure the built-in engine: trained on dev only, reported on held-out and by CV on dev.

    .venv/bin/python evals/run_builtin.py              # CV on dev, held-out report, timings
    .venv/bin/python evals/run_builtin.py --cv-only    # what tuning may look at (no held-out)
    .venv/bin/python evals/run_builtin.py --json       # the reports as JSON
    .venv/bin/python evals/run_builtin.py --cv-only --score-on hands  # each hand by the others

Held-out is for reporting only: nothing here feeds back into the engine's settings.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from triage_hub.engines.builtin import (
    BuiltinTriage,
    Example,
    Prediction,
    dev_examples,
    heldout_examples,
)
from triage_hub.engines.builtin import features as features_module
from triage_hub.engines.builtin import model as model_module
from triage_hub.engines.builtin.data import DEVELOPMENT_FILES, dev_groups
from triage_hub.engines.builtin.language import detect_language
from triage_hub.engines.builtin.model import HIGH_RECALL_TARGET
from triage_hub.evaluation import evaluate, render_text

HERE = Path(__file__).resolve().parent


def rss_mb() -> float:
    """The process's resident memory (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cross_validate(
    examples: Sequence[Example],
    folds: int,
    seed: int,
    target: float,
    always_train: Sequence[Example] = (),
) -> tuple[dict[str, Any], list[float], list[float]]:
    """Pooled out-of-fold report, and per-fold category and urgency accuracies. The
    `always_train` examples join every fold's training set and are never scored."""
    cells = [f"{e.category}/{e.urgency}" for e in examples]
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    predicted: list[Prediction | None] = [None] * len(examples)
    category_acc, urgency_acc = [], []
    for train_idx, test_idx in splitter.split(np.zeros(len(examples)), cells):
        model = BuiltinTriage.train(
            [examples[i] for i in train_idx] + list(always_train), high_recall_target=target
        )
        outputs = model.predict_many([examples[i].message for i in test_idx])
        for i, output in zip(test_idx, outputs, strict=True):
            predicted[i] = output
        category_acc.append(
            statistics.mean(
                o.category == examples[i].category for i, o in zip(test_idx, outputs, strict=True)
            )
        )
        urgency_acc.append(
            statistics.mean(
                o.urgency == examples[i].urgency for i, o in zip(test_idx, outputs, strict=True)
            )
        )
    report = evaluate(list(zip(examples, predicted, strict=True)))
    return report, category_acc, urgency_acc


def leave_one_hand_out(
    groups: dict[str, list[Example]], target: float
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Each hand's tickets scored by a model trained on every other hand's: the pooled report,
    and one per hand."""
    pairs: list[tuple[Example, Prediction]] = []
    per_hand = {}
    for name, scored in groups.items():
        others = [e for other, part in groups.items() if other != name for e in part]
        model = BuiltinTriage.train(others, high_recall_target=target)
        outputs = model.predict_many([e.message for e in scored])
        per_hand[name] = evaluate(list(zip(scored, outputs, strict=True)))
        pairs += zip(scored, outputs, strict=True)
    return evaluate(pairs), per_hand


def hand_table(per_hand: dict[str, dict[str, Any]]) -> str:
    """One line per hand: its size and the headline figures."""
    lines = ["| hand | tickets | category | urgency | High recall | sentiment MAE |"]
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, report in per_hand.items():
        lines.append(
            f"| {name} | {report['tickets']} | {report['fields']['category']['accuracy']:.3f} | "
            f"{report['fields']['urgency']['accuracy']:.3f} | "
            f"{report['high_urgency_recall']:.3f} | {report['sentiment_mae']:.3f} |"
        )
    return "\n".join(lines)


def single_ticket_latencies(
    model: BuiltinTriage, messages: Sequence[str], rounds: int
) -> list[float]:
    """Milliseconds of `predict` for one ticket at a time, in this process."""
    for message in messages[:20]:
        model.predict(message)  # warm caches (lingua loads its models lazily)
    latencies = []
    for _ in range(rounds):
        for message in messages:
            started = time.perf_counter()
            model.predict(message)
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def synthetic(examples: Sequence[Example], count: int, seed: int) -> list[Example]:
    """`count` distinct tickets made from the dev set (a dev ticket with a few words dropped
    and a reference added: the same lengths and vocabulary as real tickets), for timing."""
    rng = random.Random(seed)
    out = []
    for index in range(count):
        source = rng.choice(list(examples))
        words = [w for w in source.message.split() if rng.random() > 0.1]
        out.append(
            Example(
                message=" ".join(words) + f" (ref {index})",
                category=source.category,
                urgency=source.urgency,
                sentiment=source.sentiment,
            )
        )
    return out


def timings(dev: Sequence[Example]) -> dict[str, Any]:
    """Train time and resident memory of a trained model, for several training-set sizes."""
    figures: dict[str, Any] = {}
    for label, examples in (
        (f"dev ({len(dev)})", list(dev)),
        ("10,000 synthetic", synthetic(dev, 10_000, seed=1)),
    ):
        gc.collect()
        before = rss_mb()
        started = time.perf_counter()
        model = BuiltinTriage.train(examples)
        seconds = time.perf_counter() - started
        gc.collect()
        figures[label] = {
            "train_seconds": round(seconds, 2),
            "rss_mb_added": round(rss_mb() - before, 1),
            "vocabulary": model.report.vocabulary,
            "high_threshold": round(model.report.high_threshold, 3),
        }
        del model
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cv-only", action="store_true", help="skip the held-out report")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=1, help="CV repetitions (shuffles)")
    parser.add_argument("--high-recall-target", type=float, default=HIGH_RECALL_TARGET)
    parser.add_argument("--latency-rounds", type=int, default=3)
    parser.add_argument("--no-timings", action="store_true")
    parser.add_argument(
        "--score-on",
        default="all",
        help="all: CV folds over the whole development part; hands: each hand's tickets "
        "scored by a model trained on the other hands (no folds); a hand's name (dev, train2, "
        "train3:<hand>): CV folds over that hand, the other hands in every fold's training set "
        "(dev: the estimate closest to held-out)",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="try another value of a number in engines/builtin/features.py or model.py, e.g. "
        "CATEGORY_CUE_WEIGHT=0.3 or MAX_FEATURE_CHARS=2000 (repeatable)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for setting in args.setting:
        try_setting(parser, setting)

    started_rss = rss_mb()
    dev = dev_examples()
    out: dict[str, Any] = {"high_recall_target": args.high_recall_target}

    groups = dev_groups()
    out["cv_scored_on"] = args.score_on
    if args.score_on == "hands":
        report, per_hand = leave_one_hand_out(groups, args.high_recall_target)
        out["cv"], out["hands"] = [report], per_hand
        if not args.json:
            print("== each hand scored by a model trained on the other hands, pooled ==")
            print(render_text(report))
            print(hand_table(per_hand) + "\n", flush=True)
    elif args.score_on != "all" and args.score_on not in groups:
        parser.error(f"--score-on: all, hands or one of {', '.join(groups)}")
    else:
        out["cv"], out["cv_folds"] = cross_validations(args, dev, groups)

    raw_dev = [record for name in DEVELOPMENT_FILES for record in _raw(HERE / name)]
    lang_right = sum(detect_language(e["message"]) == e["lang"] for e in raw_dev)
    out["language_accuracy_dev"] = lang_right / len(dev)
    if not args.json:
        print(f"language detection on dev: {lang_right}/{len(dev)} right\n")

    if not args.cv_only:
        model = BuiltinTriage.train(dev, high_recall_target=args.high_recall_target)
        heldout = heldout_examples()
        messages = [e.message for e in heldout]
        latencies = single_ticket_latencies(model, messages, args.latency_rounds)
        predictions = model.predict_many(messages)
        report = evaluate(list(zip(heldout, predictions, strict=True)), latencies)
        out["heldout"] = report
        out["model"] = model.report.__dict__
        out["rss_mb_process"] = round(rss_mb(), 1)
        out["rss_mb_since_start"] = round(rss_mb() - started_rss, 1)
        if not args.json:
            print("== held-out (trained on dev only) ==")
            print(render_text(report))
            print(f"model: {model.report}")
            print(f"process RSS {out['rss_mb_process']} MB\n")
    if not args.no_timings:
        out["timings"] = timings(dev)
        if not args.json:
            print("== training time and memory ==")
            for label, figures in out["timings"].items():
                print(f"{label:18} {figures}")
    if args.json:
        print(json.dumps(out, indent=2))


def try_setting(parser: argparse.ArgumentParser, setting: str) -> None:
    """Set one numeric constant of the engine's features and model modules for this run (in
    each that has it: model.py imports MAX_FEATURE_CHARS from features.py)."""
    name, _, value = setting.partition("=")
    found = False
    for module in (features_module, model_module):
        current = getattr(module, name, None)
        if isinstance(current, int | float) and not isinstance(current, bool):
            try:
                setattr(module, name, type(current)(value))
            except ValueError:
                parser.error(f"--setting: {value!r} is not a {type(current).__name__}")
            found = True
    if not found:
        parser.error(f"--setting: {name!r} is not a number in features.py or model.py")


def cross_validations(
    args: argparse.Namespace, dev: list[Example], groups: dict[str, list[Example]]
) -> tuple[list[dict[str, Any]], list[dict[str, list[float]]]]:
    """`--seeds` shuffles of k-fold CV over the whole development part, or over one hand with
    the others always training, printed as they finish: the pooled reports, and each
    shuffle's per-fold category and urgency accuracies."""
    if args.score_on == "all":
        scored, extra, title = dev, [], "the whole development part"
    else:
        scored = groups[args.score_on]
        extra = [e for name, part in groups.items() if name != args.score_on for e in part]
        title = f"{args.score_on}, the other hands always train"
    reports, folds = [], []
    for seed in range(args.seeds):
        report, cat_acc, urg_acc = cross_validate(
            scored, args.folds, seed, args.high_recall_target, extra
        )
        reports.append(report)
        folds.append({"category": cat_acc, "urgency": urg_acc})
        if not args.json:
            print(f"== {args.folds}-fold cross-validation (shuffle {seed}), scored on {title} ==")
            print(render_text(report))
            print(
                f"per fold: category {statistics.mean(cat_acc):.3f} ± "
                f"{statistics.stdev(cat_acc):.3f}, urgency {statistics.mean(urg_acc):.3f} ± "
                f"{statistics.stdev(urg_acc):.3f}\n",
                flush=True,
            )
    return reports, folds


def _raw(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


if __name__ == "__main__":
    main()
