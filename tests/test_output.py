"""The triage output model, its JSON schema, and JSON extraction from what models really say."""

from __future__ import annotations

import json
from typing import Any

import pytest

from triage_hub.triage.output import (
    TRIAGE_JSON_SCHEMA,
    InvalidOutput,
    TriageOutput,
    extract_json,
    parse_triage,
)

DRAFT = "Thank you for writing to us. We are looking into it."
GOOD: dict[str, Any] = {
    "category": "Billing",
    "sentiment": 3,
    "urgency": "High",
    "draft": DRAFT,
}
GOOD_JSON = json.dumps(GOOD)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(GOOD_JSON, id="plain"),
        pytest.param(f"  \n{json.dumps(GOOD, indent=2)}\n ", id="whitespace"),
        pytest.param(f"```json\n{GOOD_JSON}\n```", id="json-fence"),
        pytest.param(f"```\n{GOOD_JSON}\n```", id="bare-fence"),
        pytest.param(f"```JSON {GOOD_JSON}```", id="inline-fence"),
        pytest.param(
            f"Here's the triage:\n```json\n{GOOD_JSON}\n```\nHope it helps!", id="fence+chat"
        ),
        pytest.param(f"Sure! Here is the result: {GOOD_JSON} Anything else?", id="chatter"),
        pytest.param(f"I'll answer {{now}}: {GOOD_JSON}", id="brace-chatter-first"),
        pytest.param(
            "{'category': 'Billing', 'sentiment': 3, 'urgency': 'High', 'draft': '" + DRAFT + "'}",
            id="single-quotes",
        ),
        pytest.param(GOOD_JSON[:-1] + ",}", id="trailing-comma"),
        pytest.param(
            f'{{category: "Billing", sentiment: 3, urgency: "High", draft: "{DRAFT}"}}',
            id="unquoted-keys",
        ),
        pytest.param(
            GOOD_JSON[:-1] + ', "escalate": True, "notes": None, "vip": false}',
            id="python-literals",
        ),
        pytest.param(
            "Result:\n{category: 'Billing', 'sentiment': 3, 'urgency': 'High', "
            f"'draft': '{DRAFT}', 'escalate': True,}}\nDone.",
            id="all-slips-with-chatter",
        ),
        pytest.param(
            '{"category": "Billing", "sentiment": 3, "urgency": "High", "draft": "'
            + DRAFT
            + '\nBest"}',
            id="raw-newline-in-string",
        ),
    ],
)
def test_extracts_the_object(text: str) -> None:
    found = extract_json(text)
    assert (found["category"], found["sentiment"], found["urgency"]) == ("Billing", 3, "High")
    assert found["draft"].startswith(DRAFT)


@pytest.mark.parametrize(
    ("text", "draft"),
    [
        pytest.param('{"draft": "use {curly} braces } and { here", "x": 1}', None, id="in-dq"),
        pytest.param("{'draft': 'a } brace', 'x': 1}", None, id="in-sq"),
        pytest.param('Note: {"draft": "He said \\"}\\" twice", "x": 1}', None, id="escaped-quote"),
        pytest.param("{'draft': 'it\\'s } fine', 'x': 1}", "it's } fine", id="escaped-sq"),
    ],
)
def test_braces_inside_strings_are_ignored(text: str, draft: str | None) -> None:
    found = extract_json(text)
    assert found["x"] == 1
    if draft is not None:
        assert found["draft"] == draft


def test_unicode_escapes_survive_repair() -> None:
    found = extract_json("{'draft': 'caf\\u00e9 \\ud83d\\ude00', 'ok': True,}")
    assert found == {"draft": "café 😀", "ok": True}


def test_numbers_survive_repair() -> None:
    assert extract_json("{a: 1e3, b: -2.5, c: 7,}") == {"a": 1000.0, "b": -2.5, "c": 7}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("I cannot help with that.", id="prose"),
        pytest.param("[1, 2, 3]", id="array"),
        pytest.param('"just a string"', id="string"),
        pytest.param("42", id="number"),
        pytest.param('{"category": "Billing", "draft": "never closed', id="truncated"),
        pytest.param("{this is not: json at all}", id="garbage-in-braces"),
    ],
)
def test_no_object_raises(text: str) -> None:
    with pytest.raises(InvalidOutput):
        extract_json(text)


def test_invalid_output_message_is_short() -> None:
    with pytest.raises(InvalidOutput) as caught:
        parse_triage("no json here " * 500)
    assert len(str(caught.value)) <= 200
    assert "no JSON object" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "given", "stored"),
    [
        ("category", "billing", "Billing"),
        ("category", " TECHNICAL ", "Technical"),
        ("category", "feature request", "Feature Request"),
        ("category", "Feature  Request", "Feature Request"),
        ("urgency", " HIGH ", "High"),
        ("urgency", "low", "Low"),
        ("urgency", "Medium", "Medium"),
        ("sentiment", 1, 1),
        ("sentiment", 10, 10),
        ("sentiment", "7", 7),
        ("sentiment", " 7 ", 7),
        ("sentiment", 7.0, 7),
        ("draft", "  " + DRAFT + "\n", DRAFT),
        ("draft", "x" * 20, "x" * 20),
    ],
)
def test_accepts(field: str, given: object, stored: object) -> None:
    triage = TriageOutput.model_validate(GOOD | {field: given})
    assert getattr(triage, field) == stored


@pytest.mark.parametrize(
    ("field", "given"),
    [
        ("category", "Bill"),
        ("category", "Billing Issue"),
        ("category", "Feature"),
        ("category", "Other"),
        ("category", ""),
        ("category", 1),
        ("category", None),
        ("urgency", "Urgent"),
        ("urgency", "Critical"),
        ("urgency", "Hi"),
        ("urgency", "medium-high"),
        ("sentiment", 0),
        ("sentiment", 11),
        ("sentiment", -3),
        ("sentiment", 7.5),
        ("sentiment", "7.5"),
        ("sentiment", "seven"),
        ("sentiment", "1_0"),
        ("sentiment", ""),
        ("sentiment", True),
        ("sentiment", False),
        ("sentiment", None),
        ("draft", "Too short."),
        ("draft", "   short but padded      "),
        ("draft", " " * 30),
        ("draft", 12345678901234567890123),
        ("draft", "A reply long enough \x00 with a NUL"),
    ],
)
def test_rejects(field: str, given: object) -> None:
    with pytest.raises(InvalidOutput) as caught:
        parse_triage(json.dumps(GOOD | {field: given}))
    assert str(caught.value).startswith(f"{field}:")


@pytest.mark.parametrize(
    ("escaped", "decoded"),
    [
        ("\\ud83d\\ude00", "\U0001f600"),  # a pair: one emoji
        ("\\ud83d", "\ufffd"),  # an unpaired high half
        ("\\ude00", "\ufffd"),  # an unpaired low half
        ("\\ud83d\\u0041", "\ufffdA"),  # a high half before another escape
        ("\\ude00\\ud83d", "\ufffd\ufffd"),  # halves in the wrong order
    ],
)
def test_escaped_surrogates_are_joined_or_replaced(escaped: str, decoded: str) -> None:
    draft = f"Thanks for the kind words {escaped} we will pass them on."
    text = json.dumps(GOOD).replace(GOOD["draft"], draft)
    assert parse_triage(text).draft == f"Thanks for the kind words {decoded} we will pass them on."
    repaired = text.replace('"draft"', "draft").replace("}", ",}")  # near-JSON: the repair path
    assert parse_triage(repaired).draft == parse_triage(text).draft


def test_deep_nesting_is_invalid_output_not_a_crash() -> None:
    for text in ("[" * 50_000, '{"a":' * 20_000, "{" * 10_000 + json.dumps(GOOD)):
        with pytest.raises(InvalidOutput):
            parse_triage(text)


def test_missing_field_is_named() -> None:
    with pytest.raises(InvalidOutput, match="urgency: Field required"):
        parse_triage(json.dumps({k: v for k, v in GOOD.items() if k != "urgency"}))


def test_error_summary_is_compact() -> None:
    with pytest.raises(InvalidOutput) as caught:
        parse_triage(json.dumps(GOOD | {"sentiment": 11, "urgency": "Urgent"}))
    message = str(caught.value)
    assert "sentiment: Input should be less than or equal to 10" in message
    assert "urgency: Input should be 'High', 'Medium' or 'Low'" in message
    assert "https://" not in message and len(message) <= 200


def test_extra_keys_are_ignored() -> None:
    triage = parse_triage(json.dumps(GOOD | {"confidence": 0.9, "tags": ["x"]}))
    assert triage.model_dump() == GOOD


def test_parse_prefers_an_object_that_validates() -> None:
    text = f'Schema: {{"category": "string"}}. Answer: {GOOD_JSON}'
    assert parse_triage(text).model_dump() == GOOD


def test_parse_normalises() -> None:
    text = "```json\n{'category': 'feature request', 'sentiment': '9', 'urgency': 'low', "
    text += f"'draft': '  {DRAFT}  ',}}\n```"
    assert parse_triage(text).model_dump() == {
        "category": "Feature Request",
        "sentiment": 9,
        "urgency": "Low",
        "draft": DRAFT,
    }


def test_schema_shape() -> None:
    schema = TRIAGE_JSON_SCHEMA
    assert schema["type"] == "object"
    assert set(schema["required"]) == {"category", "sentiment", "urgency", "draft"}
    props = schema["properties"]
    assert set(props) == set(schema["required"])
    assert props["category"] == {
        "type": "string",
        "enum": ["Billing", "Technical", "Feature Request"],
    }
    assert props["urgency"] == {"type": "string", "enum": ["High", "Medium", "Low"]}
    assert props["sentiment"] == {"type": "integer", "minimum": 1, "maximum": 10}
    assert props["draft"] == {"type": "string", "minLength": 20}
    json.dumps(schema)  # it travels as JSON


def test_schema_and_model_agree() -> None:
    fields = TriageOutput.model_json_schema()["properties"]
    props = TRIAGE_JSON_SCHEMA["properties"]
    assert fields["category"]["enum"] == props["category"]["enum"]
    assert fields["urgency"]["enum"] == props["urgency"]["enum"]
    assert fields["sentiment"]["minimum"] == props["sentiment"]["minimum"]
    assert fields["sentiment"]["maximum"] == props["sentiment"]["maximum"]
    assert fields["draft"]["minLength"] == props["draft"]["minLength"]
