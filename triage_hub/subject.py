"""A ticket's subject line: the first informative sentence of the customer's message, as plain
text, for the dashboard's list (customers write no subject, and the first line is often "Hi,").
"""

from __future__ import annotations

import re
from collections.abc import Iterator

MAX_CHARS = 90  # the list shows one line; past this the subject ends in "…"
# Only the start of a long message is read: the subject is almost always in its first lines.
_READ_CHARS = 4000

_GREETING_WORDS = (
    r"hello|hi|hiya|hey|heya|dear|greetings|good\s+(?:morning|afternoon|evening|day)|"
    r"hallo|moin|servus|guten\s+(?:tag|morgen|abend)|liebe[rs]?|sehr\s+geehrte[rs]?|"
    r"hola|buen[oa]s\s+(?:días|dias|tardes|noches)|estimad[oa]s?|"
    r"bonjour|bonsoir|salut|cher|chère|madame|monsieur|"
    r"ciao|buongiorno|salve|olá|ola|oi|bom\s+dia|hej|hei|hoi|goedemorgen|"
    r"こんにちは|你好|您好"
)
# "Hi team," / "Dear Sir or Madam," / "Hallo" alone / "Hey " before the text: a greeting with
# at most three words of address, then a comma or the sentence's end.
_WORD = r"(?:\s+[^\s,!.:;?。]+)"
_GREETING = re.compile(
    rf"^(?:{_GREETING_WORDS})(?=[\s,!.:;?。、]|$)"
    rf"(?:{_WORD}{{0,3}}\s*[,:!]+|{_WORD}{{0,2}}\s*[.?!。]*$|\s*[,!.:;?。、]*)\s*",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"^(?:thanks?(?:\s+you)?(?:\s+(?:so\s+much|in\s+advance|a\s+lot))?|thank\s+you|cheers|"
    r"(?:best|kind|warm)?\s*regards|best(?:\s+wishes)?|sincerely|yours(?:\s+\w+)?|"
    r"many\s+thanks|danke(?:\s+schön)?|gracias|merci(?:\s+beaucoup)?|grazie|"
    r"sent\s+from\s+my\s+\w+)[\s,!.]*$",
    re.IGNORECASE,
)
# Headings that name a part of a report rather than the problem itself.
_SECTION = re.compile(
    r"^(?:steps?(?:\s+to\s+reproduce)?|to\s+reproduce|repro(?:duction)?|expected(?:\s+\w+)?|"
    r"actual(?:\s+\w+)?|summary|description|details?|context|background|environment|"
    r"problem|issue|bug(?:\s+report)?|question|request|info(?:rmation)?|overview|"
    r"what\s+happened|system\s+info|version|logs?|screenshots?|notes?|update|"
    r"beschreibung|problem(?:beschreibung)?|descripción|descripcion|résumé|description)"
    r"[\s:]*$",
    re.IGNORECASE,
)
_HEADING = re.compile(r"^#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
_SETEXT_RULE = re.compile(r"^(?:=+|-+)\s*$")
_RULE_OR_TABLE = re.compile(r"^(?:[-*_]\s*){3,}$|^\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?$")
_FENCE = re.compile(r"^(?:```|~~~)")
_BLOCK_MARKERS = re.compile(r"^(?:>\s?)+|^(?:[-*+]|\d{1,3}[.)])\s+(?:\[[ xX]\]\s+)?")
_SIGNATURE = re.compile(r"^--\s*$|^__+\s*$")
_SUBJECT_LINE = re.compile(r"^(?:subject|betreff|asunto|objet)\s*:\s*", re.IGNORECASE)

_INLINE = [
    # [text](url), ![alt](src); a URL may hold one level of brackets
    (re.compile(r"!?\[([^\]\n]*)\]\((?:[^()\n]|\([^()\n]*\))*\)"), r"\1"),
    (re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]"), r"\1"),  # [text][ref]
    (re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),  # <https://…>
    (re.compile(r"(`+)(.+?)\1"), r"\2"),  # `code`
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # **strong**
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),  # *em*
    (re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])"), r"\1"),  # _em_ (not snake_case)
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),  # ~~strike~~
    (re.compile(r"\\([!-/:-@\[-`{-~])"), r"\1"),  # backslash escapes
    (re.compile(r"\s*\|\s*"), " "),  # table cells
    (re.compile(r"\s+"), " "),
]
_ABBREVIATIONS = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|vs|approx|incl|no|nr|z\.b|d\.h|bzw|ca|p\.ej|cf|mr|mrs|ms|dr)\.)$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?…]+(?=\s)|[。！？]+")
_INFORMATIVE = re.compile(r"\w")
# A plain lowercase word ("the", "e.g.", "l'app"), not a name like "iPhone" or a URL.
_LOWER_WORD = re.compile(r"^[^\W\d_A-Z]+(?:['’.][^\W\d_A-Z]*)*[,:]?$")


def subject_line(message: str) -> str:
    """The first informative sentence of `message`, markdown stripped, at most MAX_CHARS."""
    fallback = ""
    for block in _blocks(message[:_READ_CHARS]):
        fallback = fallback or block.text
        if block.heading:
            if _SECTION.match(block.text):
                continue
            return _fit(_capitalised(block.text))
        for sentence in _sentences(block.text):
            rest = _without_greeting(sentence)
            if rest and _INFORMATIVE.search(rest) and not _CLOSING.match(rest):
                return _fit(_capitalised(rest))
    return _fit(fallback)


class _Block:
    """A paragraph, a list item, a quote or a heading, as plain text."""

    __slots__ = ("heading", "text")

    def __init__(self, text: str, heading: bool) -> None:
        self.text = text
        self.heading = heading


def _blocks(message: str) -> Iterator[_Block]:
    """The message's text blocks in order, up to a signature; code blocks are skipped."""
    lines = message.replace("\r\n", "\n").split("\n")
    paragraph: list[str] = []
    in_code = False
    code: list[str] = []

    def flush() -> Iterator[_Block]:
        text = _plain(" ".join(paragraph))
        paragraph.clear()
        if text:
            yield _Block(text, heading=False)

    for index, raw in enumerate(lines):
        line = raw.strip()
        if _FENCE.match(line):
            in_code = not in_code
            yield from flush()
            continue
        if in_code:
            code.append(line)
            continue
        if _SIGNATURE.match(line):
            break
        heading = _HEADING.match(line)
        underline = index + 1 < len(lines) and _SETEXT_RULE.match(lines[index + 1].strip())
        if heading or (underline and line and not paragraph):
            yield from flush()
            text = _plain(heading.group(1) if heading else line)
            if text:
                yield _Block(text, heading=True)
            continue
        if not line or _RULE_OR_TABLE.match(line) or _SETEXT_RULE.match(line):
            yield from flush()
            continue
        marker = _BLOCK_MARKERS.match(line)
        if marker:
            yield from flush()  # each list item and quote stands on its own
            line = line[marker.end() :]
        line = _SUBJECT_LINE.sub("", line)
        if paragraph and not _continues(paragraph[-1], line):
            yield from flush()
        paragraph.append(line)
        if marker:
            yield from flush()
    yield from flush()
    if code:  # a message that is only code: its first line is better than nothing
        text = _plain(next((line for line in code if line), ""))
        if text:
            yield _Block(text, heading=False)


def _continues(previous: str, line: str) -> bool:
    """Whether a line goes on with the previous one's sentence (a hard-wrapped paragraph) rather
    than starting a thought of its own, as plain-text messages put one per line."""
    return line[:1].islower() and not previous.endswith(":")


def _plain(text: str) -> str:
    """Inline markdown to plain text."""
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text.strip()


def _sentences(text: str) -> Iterator[str]:
    """The sentences of a block, their closing punctuation kept."""
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if _ABBREVIATIONS.search(text[start:end]):
            continue
        sentence = text[start:end].strip()
        if sentence:
            yield sentence
        start = end
    rest = text[start:].strip()
    if rest:
        yield rest


def _without_greeting(sentence: str) -> str:
    """The sentence without a leading "Hi team," (empty when it was nothing but that)."""
    return _GREETING.sub("", sentence, count=1).strip()


def _capitalised(text: str) -> str:
    """An all-lowercase first word capitalised ("the app…" → "The app…", "iPhone" kept)."""
    first = text.split(" ", 1)[0]
    return text[0].upper() + text[1:] if _LOWER_WORD.match(first) else text


def _fit(text: str) -> str:
    """At most MAX_CHARS, cut at a word boundary with an ellipsis."""
    if len(text) <= MAX_CHARS:
        return text
    cut = text[:MAX_CHARS].rsplit(" ", 1)[0] if " " in text[:MAX_CHARS] else ""
    cut = (cut or text[: MAX_CHARS - 1]).rstrip(" ,;:-–—")
    return cut[: MAX_CHARS - 1] + "…"
