"""subject_line: the list's one-line summary of a customer's message."""

from __future__ import annotations

import pytest

from triage_hub.models import TicketSummary
from triage_hub.subject import MAX_CHARS, subject_line

CASES = [
    # a one-liner stays as it is
    (
        "The export button does nothing since the last update.",
        "The export button does nothing since the last update.",
    ),
    # a greeting on its own line, then the first sentence only
    (
        "Hello,\n\nI was charged twice for my subscription this month! I want my money back.",
        "I was charged twice for my subscription this month!",
    ),
    # a greeting in the same sentence: dropped, the rest capitalised
    (
        "Hi team, the app logs me out every few minutes. Please help.",
        "The app logs me out every few minutes.",
    ),
    # a markdown bug report: the section heading is skipped, emphasis, code and links stripped
    (
        "## Steps to reproduce\n\n1. Open **Reports** → `Export CSV`\n2. See the "
        "[error page](https://example.com/e)\n\n## Expected\nA file.",
        "Open Reports → Export CSV",
    ),
    (
        "Dear support,\n\n## Summary\n\nThe *invoice* for [March](https://x.example/inv) "
        "shows the __wrong__ VAT rate. Details below.",
        "The invoice for March shows the wrong VAT rate.",
    ),
    # a heading that says what is wrong is a fine subject
    (
        "# Login fails on Safari 17\n\nSince this morning nobody can log in.",
        "Login fails on Safari 17",
    ),
    # German, Spanish, French greetings
    (
        "Hallo,\nich kann mich seit gestern nicht mehr anmelden.",
        "Ich kann mich seit gestern nicht mehr anmelden.",
    ),
    ("Hola! La factura de marzo está duplicada. Gracias.", "La factura de marzo está duplicada."),
    (
        "Bonjour,\n\nL'application plante au démarrage depuis la mise à jour.",
        "L'application plante au démarrage depuis la mise à jour.",
    ),
    # quotes and list markers are not part of the subject; a signature never is
    (
        "> Error 500: internal server error\n\nI get this when I export.",
        "Error 500: internal server error",
    ),
    (
        "Thanks!\n\n- the dark mode toggle resets after every login\n\n"
        "-- \nDana\nSent from my iPhone",
        "The dark mode toggle resets after every login",
    ),
    # a long sentence is cut at a word boundary, with an ellipsis
    (
        "Our whole accounting team has been unable to download any of the monthly statements "
        "from the billing portal since Tuesday morning.",
        "Our whole accounting team has been unable to download any of the monthly statements from…",
    ),
    # abbreviations and version numbers do not end the sentence
    (
        "Hey, e.g. version 2.3.1 crashes on start. Older ones work.",
        "E.g. version 2.3.1 crashes on start.",
    ),
    # plain text with one thought per line; a hard-wrapped sentence is read as one
    ("Login broken\nI tried resetting my password\nNothing works", "Login broken"),
    (
        "We were charged twice for the subscription this\nmonth, and again last week.",
        "We were charged twice for the subscription this month, and again last week.",
    ),
    # nothing but a greeting: still something to show
    ("Hello? Hello!", "Hello? Hello!"),
    # Japanese: its full stop ends the sentence
    ("こんにちは。アプリが起動しません。よろしくお願いします。", "アプリが起動しません。"),
]


@pytest.mark.parametrize(("message", "expected"), CASES)
def test_subject_line(message: str, expected: str) -> None:
    assert subject_line(message) == expected


def test_a_long_word_is_cut_too() -> None:
    url = "https://example.com/" + "x" * 500
    assert subject_line(url) == url[: MAX_CHARS - 1] + "…"


def test_every_subject_fits_the_cap() -> None:
    for message, _ in CASES:
        assert len(subject_line(message * 3)) <= MAX_CHARS


def test_blank_and_code_only_messages() -> None:
    assert subject_line("") == ""
    assert subject_line("```\nTraceback (most recent call last):\n```") == (
        "Traceback (most recent call last):"
    )


def test_each_list_row_carries_its_subject() -> None:
    row = TicketSummary.model_validate(
        {
            "id": "00000000-0000-0000-0000-000000000001",
            "user_message": "Hi,\n**Refund** please: I was charged twice.",
            "category": None,
            "sentiment": None,
            "urgency": None,
            "status": "PENDING",
            "attempts": 0,
            "created_at": "2026-01-01T00:00:00+00:00",
            "updated_at": "2026-01-01T00:00:00+00:00",
        }
    )
    assert row.model_dump(mode="json")["subject"] == "Refund please: I was charged twice."
