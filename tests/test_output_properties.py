"""Properties of the output parser and the streamed-draft decoder, on generated input."""

from __future__ import annotations

import json
import random

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from triage_hub.models import CATEGORIES, URGENCIES
from triage_hub.triage.drafts import partial_draft
from triage_hub.triage.output import InvalidOutput, parse_triage

# Any Unicode, lone surrogates included: models and upstream decoders produce them.
ANY_CHAR = st.characters(exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=300)
PROPERTIES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _canonical(value: str) -> str:
    return " ".join(value.split()).casefold()


@PROPERTIES
@given(ANY_TEXT)
@example('{"category": "Billing", "sentiment": 3, "urgency": "High", "draft": "\\ud83d')
@example("[" * 5000)
def test_any_text_is_a_triage_or_invalid_output(text: str) -> None:
    try:
        output = parse_triage(text)
    except InvalidOutput:
        return
    assert output.category in CATEGORIES and output.urgency in URGENCIES
    assert 1 <= output.sentiment <= 10 and len(output.draft) >= 20
    output.draft.encode("utf-8")  # storable: no lone surrogates left


WORDS = st.one_of(
    st.sampled_from([*CATEGORIES, *URGENCIES, "billing", " HIGH ", "Feature  request", "Bill"]),
    st.text(ANY_CHAR, max_size=20),
)


@PROPERTIES
@given(WORDS, WORDS, st.booleans())
def test_an_unknown_category_or_urgency_is_never_mapped_onto_a_known_one(
    category: str, urgency: str, ascii_only: bool
) -> None:
    answer = {"category": category, "sentiment": 5, "urgency": urgency, "draft": "x" * 30}
    try:
        output = parse_triage(json.dumps(answer, ensure_ascii=ascii_only))
    except InvalidOutput:
        assert _canonical(category) not in map(_canonical, CATEGORIES) or (
            _canonical(urgency) not in map(_canonical, URGENCIES)
        )
        return
    assert _canonical(output.category) == _canonical(category)
    assert _canonical(output.urgency) == _canonical(urgency)


@st.composite
def triage_json(draw: st.DrawFn) -> str:
    """A valid triage as a model might write it: any key order, escaped or raw Unicode."""
    draft = draw(st.text(ANY_CHAR, min_size=20, max_size=120))
    assume(len(draft.strip()) >= 20 and "\x00" not in draft)
    answer = {
        "category": draw(st.sampled_from(CATEGORIES)),
        "sentiment": draw(st.integers(1, 10)),
        "urgency": draw(st.sampled_from(URGENCIES)),
        "draft": draft,
    }
    keys = list(answer)
    random.Random(draw(st.integers(0, 1000))).shuffle(keys)
    return json.dumps(
        {key: answer[key] for key in keys},
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 2])),
    )


@PROPERTIES
@given(triage_json())
@example('{"category": "Billing", "sentiment": 9, "urgency": "Low", '
         '"draft": "Thank you \\ud83d\\ude00 so much for the kind words!"}')  # fmt: skip
def test_every_prefix_of_the_stream_shows_a_prefix_of_the_final_draft(text: str) -> None:
    final = parse_triage(text).draft
    for end in range(len(text) + 1):
        shown = partial_draft(text[:end])
        if shown is not None:
            assert final.startswith(shown), (text[:end], shown, final)
    assert partial_draft(text) == final
