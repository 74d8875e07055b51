"""The one decoder of JSON strings in what a model says: for the final parse, the repair of
near-JSON, and the draft still being streamed.

Models write emoji as escaped UTF-16 surrogate pairs (`\\ud83d\\ude00`) and sometimes break a
pair. Pairs are joined; an unpaired half becomes U+FFFD, never an exception, so nothing
downstream (NOTIFY, UTF-8, PostgreSQL) can fail on a lone surrogate.
"""

from __future__ import annotations

import json
import json.scanner
from typing import Any

REPLACEMENT = "\ufffd"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEX = frozenset("0123456789abcdefABCDEF")


class Incomplete(Exception):
    """The text ended inside the string (only raised when the caller wants to know)."""

    def __init__(self, decoded: str) -> None:
        super().__init__("the string is not finished")
        self.decoded = decoded


def _hex4(text: str, index: int) -> int | None:
    digits = text[index : index + 4]
    if len(digits) == 4 and all(digit in _HEX for digit in digits):
        return int(digits, 16)
    return None


def scan_string(
    text: str, start: int, *, quote: str = '"', lenient: bool = False
) -> tuple[str, int]:
    """Decode the string whose opening quote is just before `start`: (value, index after the
    closing quote). Raises Incomplete (with what was decoded) when the text ends first, and
    ValueError on a bad escape unless `lenient` (near-JSON: `\\'`, unknown escapes kept)."""
    out: list[str] = []
    index = start
    length = len(text)
    while True:
        # Copy the run of plain characters at once: strings are mostly plain text.
        stop = index
        while stop < length and text[stop] != quote and text[stop] != "\\":
            stop += 1
        if stop > index:
            out.append(text[index:stop])
        index = stop
        if index >= length:
            raise Incomplete(_clean("".join(out)))
        if text[index] == quote:
            return _clean("".join(out)), index + 1
        escape = text[index + 1 : index + 2]
        if not escape:
            raise Incomplete(_clean("".join(out)))
        if escape == "u":
            try:
                decoded, index = _unicode_escape(text, index)
            except ValueError:
                if not lenient:
                    raise
                decoded, index = "\\u", index + 2  # near-JSON: not an escape, kept as written
            if decoded is None:
                raise Incomplete(_clean("".join(out)))
            out.append(decoded)
            continue
        if escape in _ESCAPES:
            out.append(_ESCAPES[escape])
        elif lenient:
            out.append(escape if escape in "\"'" else "\\" + escape)
        else:
            raise ValueError(f"invalid escape \\{escape!s} at {index}")
        index += 2


def _unicode_escape(text: str, index: int) -> tuple[str | None, int]:
    """The character of the \\uXXXX at `index` (joined with a following low surrogate), and the
    index after it; None when the text ends before it can be told."""
    if len(text) < index + 6:
        return None, index
    code = _hex4(text, index + 2)
    if code is None:
        raise ValueError(f"invalid \\u escape at {index}")
    if 0xD800 <= code <= 0xDBFF:
        following = text[index + 6 : index + 12]
        if len(following) < 6 and "\\u".startswith(following[:2]):
            return None, index  # the other half may still be coming
        low = _hex4(text, index + 8) if following.startswith("\\u") else None
        if low is not None and 0xDC00 <= low <= 0xDFFF:
            return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), index + 12
        return REPLACEMENT, index + 6
    if 0xDC00 <= code <= 0xDFFF:
        return REPLACEMENT, index + 6
    return chr(code), index + 6


def _clean(value: str) -> str:
    """Raw lone surrogates (from a bad decode upstream) become U+FFFD too."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


def _parse_string(text: str, end: int, strict: bool) -> tuple[str, int]:
    """json's parse_string hook: the same decoder, with json's error for an open string."""
    try:
        return scan_string(text, end)
    except Incomplete:
        raise json.JSONDecodeError("Unterminated string starting at", text, end - 1) from None
    except ValueError as exc:
        raise json.JSONDecodeError(str(exc), text, end) from None


class _Decoder(json.JSONDecoder):
    """json.loads(strict=False) — models put raw newlines in strings — with our strings."""

    def __init__(self) -> None:
        super().__init__(strict=False)
        self.parse_string = _parse_string
        self.scan_once = json.scanner.py_make_scanner(self)  # type: ignore[attr-defined]


_DECODER = _Decoder()


def loads(text: str) -> Any:
    """Parse JSON whose strings are decoded by `scan_string` (ValueError if it is not JSON;
    RecursionError past Python's nesting limit)."""
    return _DECODER.decode(text)
