"""Check (and, with --split, split) the labeled ticket set; exits 1 on any problem.

    python3 evals/check_set.py                  # check evals/dev.jsonl + evals/heldout.jsonl
    python3 evals/check_set.py --cues           # ... and list words that give a label away
    python3 evals/check_set.py --split ALL.jsonl  # write dev/heldout from one file, then check
    python3 evals/check_set.py --partial        # a set still being written: skip the balance

train2.jsonl and train3.jsonl (extra training tickets written after the split, all on the
development side) are checked too: the same record rules (train3 names each ticket's hand), ids
after every id of the files before them, no near-duplicate of any ticket in any file, balanced
cells with German, Spanish and French tickets in each.

Standard library only (Python 3.11). The split rule (LABELLING.md, "The split"): group the
tickets by (category, urgency), order each group by id, and send the 3rd, 6th, 9th, ... of
each group to held-out; the rest is dev. The check recomputes the rule over the union of both
files, so a ticket that sits in the wrong file is an error.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEV = HERE / "dev.jsonl"
HELDOUT = HERE / "heldout.jsonl"
# Written after the split (issue 11, more training data): development side only, never split.
TRAIN2 = HERE / "train2.jsonl"
TRAIN2_PER_CELL, TRAIN2_MIN_TOTAL = 45, 400
# Written later still, by six hands in six styles (the record's "hand"; evals/README.md).
TRAIN3 = HERE / "train3.jsonl"
TRAIN3_HANDS = ("phone", "business", "european", "boundary", "misleading", "inbox")
TRAIN3_MIN_TOTAL = 600

CATEGORIES = ("Billing", "Technical", "Feature Request")
URGENCIES = ("High", "Medium", "Low")
REQUIRED_KEYS = {"id", "message", "category", "urgency", "sentiment", "lang"}
OPTIONAL_KEYS = {"notes", "hand"}
MESSAGE_MIN, MESSAGE_MAX = 10, 5000  # the product's limits, after trimming
PER_CELL, PER_CELL_SLACK = 50, 3
MIN_TOTAL = 450
EVERY_NTH_HELDOUT = 3
# Every cell has tickets in each of these; every category and urgency has them in both files.
LANGS_EVERYWHERE = ("de", "es", "fr")
NON_ENGLISH_SHARE = (0.12, 0.20)
# Character 4-gram Jaccard similarity at or above which two messages count as near-duplicates.
NEAR_DUPLICATE = 0.6
ID_PATTERN = re.compile(r"^t\d{4}$")
LANG_PATTERN = re.compile(r"^[a-z]{2}$")

Ticket = dict[str, object]
Cell = tuple[str, str]


def read_jsonl(path: Path, problems: list[str]) -> list[Ticket]:
    """Parse one object per line; blank lines are not allowed (they hide truncation)."""
    tickets: list[Ticket] = []
    if not path.exists():
        problems.append(f"{path.name}: missing")
        return tickets
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    for number, line in enumerate(lines, start=1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"{path.name}:{number}: not JSON ({error.msg})")
            continue
        if not isinstance(value, dict):
            problems.append(f"{path.name}:{number}: not an object")
            continue
        value["_file"] = path.name
        value["_line"] = number
        tickets.append(value)
    return tickets


def where(ticket: Ticket) -> str:
    """file:line (id) of a ticket, for messages."""
    return f"{ticket['_file']}:{ticket['_line']} ({ticket.get('id', '?')})"


def check_fields(ticket: Ticket, problems: list[str]) -> bool:
    """The record's own rules: keys, label values, message limits, lang, notes."""
    ok = True

    def bad(text: str) -> None:
        nonlocal ok
        ok = False
        problems.append(f"{where(ticket)}: {text}")

    keys = {key for key in ticket if not key.startswith("_")}
    if missing := REQUIRED_KEYS - keys:
        bad(f"missing {sorted(missing)}")
        return False
    if extra := keys - REQUIRED_KEYS - OPTIONAL_KEYS:
        bad(f"unknown keys {sorted(extra)}")
    if not (isinstance(ticket["id"], str) and ID_PATTERN.match(ticket["id"])):
        bad("id is not like t0001")
    if ticket["category"] not in CATEGORIES:
        bad(f"category {ticket['category']!r}")
    if ticket["urgency"] not in URGENCIES:
        bad(f"urgency {ticket['urgency']!r}")
    sentiment = ticket["sentiment"]
    if isinstance(sentiment, bool) or not isinstance(sentiment, int) or not 1 <= sentiment <= 10:
        bad(f"sentiment {sentiment!r} is not an integer 1-10")
    if not (isinstance(ticket["lang"], str) and LANG_PATTERN.match(ticket["lang"])):
        bad(f"lang {ticket['lang']!r} is not a two-letter code")
    if ("hand" in ticket) != (ticket["_file"] == TRAIN3.name):
        bad("hand is given in train3.jsonl, and only there")
    elif "hand" in ticket and ticket["hand"] not in TRAIN3_HANDS:
        bad(f"hand {ticket['hand']!r} is not one of {', '.join(TRAIN3_HANDS)}")
    if "notes" in ticket and not (isinstance(ticket["notes"], str) and ticket["notes"].strip()):
        bad("notes, when present, is a non-empty string")
    message = ticket["message"]
    if not isinstance(message, str):
        bad("message is not a string")
        return False
    if "\x00" in message:
        bad("message has a NUL character")
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        bad("message has a lone surrogate")
    length = len(message.strip())
    if not MESSAGE_MIN <= length <= MESSAGE_MAX:
        bad(f"message is {length} characters after trimming ({MESSAGE_MIN}-{MESSAGE_MAX})")
    if message != message.strip():
        bad("message has leading or trailing whitespace (store it trimmed)")
    return ok


def cell_of(ticket: Ticket) -> Cell:
    """(category, urgency)."""
    return (str(ticket["category"]), str(ticket["urgency"]))


def expected_heldout(tickets: Iterable[Ticket]) -> set[str]:
    """The split rule: the 3rd, 6th, 9th, ... ticket by id of each (category, urgency) cell."""
    groups: dict[Cell, list[str]] = defaultdict(list)
    for ticket in tickets:
        groups[cell_of(ticket)].append(str(ticket["id"]))
    chosen: set[str] = set()
    for ids in groups.values():
        ids.sort()
        chosen.update(ids[EVERY_NTH_HELDOUT - 1 :: EVERY_NTH_HELDOUT])
    return chosen


def normalized(message: str) -> str:
    """Lower case, accents folded, only letters and digits, single spaces."""
    folded = unicodedata.normalize("NFKD", message.casefold())
    folded = "".join(char for char in folded if not unicodedata.combining(char))
    return " ".join(re.findall(r"[a-z0-9]+", folded))


def shingles(text: str, size: int = 4) -> set[str]:
    """Character n-grams of the normalised text."""
    return {text[index : index + size] for index in range(max(1, len(text) - size + 1))}


def near_duplicates(tickets: list[Ticket]) -> list[tuple[float, str, str]]:
    """Pairs of messages that are the same or nearly so (Jaccard over character 4-grams)."""
    prepared = [(str(t["id"]), shingles(normalized(str(t["message"])))) for t in tickets]
    pairs: list[tuple[float, str, str]] = []
    for index, (id_a, grams_a) in enumerate(prepared):
        for id_b, grams_b in prepared[index + 1 :]:
            small, large = sorted((len(grams_a), len(grams_b)))
            if large == 0 or small / large < NEAR_DUPLICATE:
                continue  # the Jaccard index cannot reach the threshold
            similarity = len(grams_a & grams_b) / len(grams_a | grams_b)
            if similarity >= NEAR_DUPLICATE:
                pairs.append((similarity, id_a, id_b))
    return sorted(pairs, reverse=True)


def cue_report(tickets: list[Ticket], minimum: int = 6, purity: float = 0.9) -> list[str]:
    """Words in >= `minimum` tickets of which >= `purity` share one label: a keyword shortcut."""
    lines: list[str] = []
    stop = {"the", "and", "for", "you", "this", "that", "with", "have", "are", "was", "but"}
    documents = [set(normalized(str(t["message"])).split()) - stop for t in tickets]
    for field in ("category", "urgency"):
        by_word: dict[str, Counter[str]] = defaultdict(Counter)
        for ticket, words in zip(tickets, documents, strict=True):
            for word in words:
                if len(word) >= 3:
                    by_word[word][str(ticket[field])] += 1
        for word, labels in sorted(by_word.items()):
            total = sum(labels.values())
            label, count = labels.most_common(1)[0]
            if total >= minimum and count / total >= purity:
                lines.append(f"  {field:8} {word!r:18} {count}/{total} {label}")
    return lines


def table(counts: Counter[Cell], title: str) -> list[str]:
    """Category x urgency counts as a small text table."""
    lines = [f"{title:18}" + "".join(f"{u:>8}" for u in URGENCIES) + f"{'total':>8}"]
    for category in CATEGORIES:
        row = [counts[(category, urgency)] for urgency in URGENCIES]
        lines.append(f"{category:18}" + "".join(f"{n:>8}" for n in row) + f"{sum(row):>8}")
    totals = [sum(counts[(c, u)] for c in CATEGORIES) for u in URGENCIES]
    lines.append(f"{'total':18}" + "".join(f"{n:>8}" for n in totals) + f"{sum(totals):>8}")
    return lines


def split(source: Path, problems: list[str]) -> None:
    """Write dev.jsonl and heldout.jsonl from one file by the split rule, each ordered by id."""
    tickets = read_jsonl(source, problems)
    if problems:
        return
    heldout = expected_heldout(tickets)
    tickets.sort(key=lambda ticket: str(ticket["id"]))
    for path, keep in ((DEV, False), (HELDOUT, True)):
        with path.open("w", encoding="utf-8", newline="\n") as out:
            for ticket in tickets:
                if (ticket["id"] in heldout) == keep:
                    record = {key: value for key, value in ticket.items() if key[0] != "_"}
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")


def check(partial: bool, show_cues: bool) -> int:
    """Validate both files; print the counts; return the exit status."""
    problems: list[str] = []
    dev, heldout = read_jsonl(DEV, problems), read_jsonl(HELDOUT, problems)
    tickets = [t for t in dev + heldout if check_fields(t, problems)]
    later = {path: read_jsonl(path, problems) for path in (TRAIN2, TRAIN3) if path.exists()}
    last_id = max((str(t["id"]) for t in tickets), default="t0000")
    for part in later.values():
        part[:] = [t for t in part if check_fields(t, problems)]
        problems += [
            f"{where(t)}: id is not after {last_id} (the files before it end there)"
            for t in part
            if str(t["id"]) <= last_id
        ]
        last_id = max([last_id, *(str(t["id"]) for t in part)])
    extra = [t for part in later.values() for t in part]

    ids = Counter(str(t["id"]) for t in tickets + extra)
    problems += [f"id {id_} appears {n} times" for id_, n in ids.items() if n > 1]
    should_be_heldout = expected_heldout(tickets)
    for ticket in tickets:
        in_heldout = ticket["_file"] == HELDOUT.name
        if in_heldout != (ticket["id"] in should_be_heldout):
            problems.append(f"{where(ticket)}: in the wrong file by the split rule")
    for similarity, id_a, id_b in near_duplicates(tickets + extra):
        problems.append(f"{id_a} and {id_b} are near-duplicates ({similarity:.2f})")
    if not partial:
        if TRAIN2 in later:
            problems += check_later(later[TRAIN2], TRAIN2, TRAIN2_MIN_TOTAL, TRAIN2_PER_CELL, 0.30)
        if TRAIN3 in later:
            part = later[TRAIN3]
            per_cell = round(len(part) / (len(CATEGORIES) * len(URGENCIES)))
            problems += check_later(part, TRAIN3, TRAIN3_MIN_TOTAL, per_cell, 0.35)

    cells = Counter(cell_of(t) for t in tickets)
    if not partial:
        if len(tickets) < MIN_TOTAL:
            problems.append(f"{len(tickets)} tickets, fewer than {MIN_TOTAL}")
        for category in CATEGORIES:
            for urgency in URGENCIES:
                count = cells[(category, urgency)]
                if abs(count - PER_CELL) > PER_CELL_SLACK:
                    problems.append(f"{category}/{urgency}: {count} tickets, not {PER_CELL}±3")
                present = {t["lang"] for t in tickets if cell_of(t) == (category, urgency)}
                for lang in LANGS_EVERYWHERE:
                    if lang not in present:
                        problems.append(f"{category}/{urgency}: no {lang!r} ticket")
        for name, part in (("dev", dev), ("heldout", heldout)):
            for field, values in (("category", CATEGORIES), ("urgency", URGENCIES)):
                for value in values:
                    present = {t.get("lang") for t in part if t.get(field) == value}
                    for lang in LANGS_EVERYWHERE:
                        if lang not in present:
                            problems.append(f"{name}: no {lang!r} ticket with {field} {value}")
        share = sum(t["lang"] != "en" for t in tickets) / max(1, len(tickets))
        low, high = NON_ENGLISH_SHARE
        if not low <= share <= high:
            problems.append(f"non-English share {share:.0%}, outside {low:.0%}-{high:.0%}")

    for name, part in (("dev", dev), ("heldout", heldout)):
        print("\n".join(table(Counter(cell_of(t) for t in part if "category" in t), name)))
        langs = Counter(str(t.get("lang")) for t in part)
        print("languages:", ", ".join(f"{lang} {n}" for lang, n in langs.most_common()))
        print()
    for path, part in later.items():
        print("\n".join(table(Counter(cell_of(t) for t in part), path.stem)))
        langs = Counter(str(t.get("lang")) for t in part)
        print("languages:", ", ".join(f"{lang} {n}" for lang, n in langs.most_common()))
        if path == TRAIN3:
            hands = Counter(str(t["hand"]) for t in part)
            print("hands:", ", ".join(f"{hand} {n}" for hand, n in hands.most_common()))
        print()
    print("\n".join(table(cells, "all")))
    langs = Counter(str(t["lang"]) for t in tickets)
    print("languages:", ", ".join(f"{lang} {n}" for lang, n in langs.most_common()))
    if tickets:
        lengths = [len(str(t["message"])) for t in tickets]
        sentiments = Counter(int(str(t["sentiment"])) for t in tickets)
        print(
            f"length: min {min(lengths)}, median {statistics.median(lengths):.0f}, "
            f"max {max(lengths)}; under 40: {sum(n < 40 for n in lengths)}, "
            f"over 1000: {sum(n > 1000 for n in lengths)}"
        )
        print("sentiment:", ", ".join(f"{s}: {sentiments[s]}" for s in range(1, 11)))
        print(f"with notes: {sum('notes' in t for t in tickets)}")
    if show_cues:
        print("words that nearly give a label away (df >= 6, >= 90% one label):")
        print("\n".join(cue_report(tickets)) or "  none")

    for problem in problems:
        print("PROBLEM:", problem, file=sys.stderr)
    print(f"{len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


def check_later(
    extra: list[Ticket], path: Path, min_total: int, per_cell: int, max_share: float
) -> list[str]:
    """Size, balance and languages of a file written after the split (the split rule does not
    apply to it): `per_cell` ± 3 (or ± 10 %) per cell, German, Spanish and French in each."""
    problems = []
    slack = max(PER_CELL_SLACK, round(per_cell / 10))
    if len(extra) < min_total:
        problems.append(f"{path.name}: {len(extra)} tickets, fewer than {min_total}")
    for category in CATEGORIES:
        for urgency in URGENCIES:
            in_cell = [t for t in extra if cell_of(t) == (category, urgency)]
            if abs(len(in_cell) - per_cell) > slack:
                problems.append(
                    f"{path.name} {category}/{urgency}: {len(in_cell)} tickets, "
                    f"not {per_cell}±{slack}"
                )
            present = {t["lang"] for t in in_cell}
            for lang in LANGS_EVERYWHERE:
                if lang not in present:
                    problems.append(f"{path.name} {category}/{urgency}: no {lang!r} ticket")
    share = sum(t["lang"] != "en" for t in extra) / max(1, len(extra))
    low = NON_ENGLISH_SHARE[0]
    if not low <= share <= max_share:
        problems.append(
            f"{path.name}: non-English share {share:.0%}, outside {low:.0%}-{max_share:.0%}"
        )
    return problems


def main() -> int:
    """Parse arguments, split when asked, then check."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", type=Path, metavar="ALL.jsonl", help="write dev/heldout")
    parser.add_argument("--partial", action="store_true", help="skip balance and size checks")
    parser.add_argument("--cues", action="store_true", help="list label-giving words")
    args = parser.parse_args()
    if args.split:
        problems: list[str] = []
        split(args.split, problems)
        if problems:
            print("\n".join(f"PROBLEM: {p}" for p in problems), file=sys.stderr)
            return 1
    return check(args.partial, args.cues)


if __name__ == "__main__":
    sys.exit(main())
