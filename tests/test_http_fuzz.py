"""Property: the public endpoints that take a body answer anything (any bytes, JSON, Unicode,
content type) with something other than a 5xx."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

# Any code point, lone surrogates included (JSON can escape them; UTF-8 cannot hold them).
TEXT = st.text(st.characters(exclude_categories=()))
FORM_FIELDS = ["message", "name", "password", "next", "token", "confirm", "csrf_token"]
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-16",
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=latin-1",
            "application/x-www-form-urlencoded; charset=bogus",
            "multipart/form-data",
            "multipart/form-data; boundary=zz",
            "text/plain",
            "",
        ]
    ),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=20,
)
OBJECTS = st.dictionaries(st.sampled_from(FORM_FIELDS) | TEXT, JSON_VALUES | TEXT, max_size=5)
BODIES = st.one_of(
    st.binary(max_size=2000),
    st.builds(
        lambda value, ascii_only: json.dumps(value, ensure_ascii=ascii_only).encode(
            "utf-8", "surrogatepass"
        ),
        JSON_VALUES,
        st.booleans(),
    ),
    st.builds(lambda value: json.dumps(value).encode(), OBJECTS),  # \\uXXXX escapes
    st.builds(
        lambda text, codec: text.encode(codec, "surrogatepass"),
        TEXT,
        st.sampled_from(["utf-8", "utf-16", "utf-32"]),
    ),
    st.builds(
        lambda fields: urlencode(fields, errors="surrogatepass").encode(),
        OBJECTS.map(lambda fields: {str(k): str(v) for k, v in fields.items()}),
    ),
    st.builds(lambda text: text.encode("utf-8", "surrogatepass"), TEXT),
    st.builds(  # nested past Python's recursion limit, or not
        lambda depth, opening: opening * depth,
        st.integers(min_value=500, max_value=30_000),
        st.sampled_from([b"[", b'{"message": ', b'{"a": [']),
    ),
)


# One server for all examples: each request stands alone, and what an example leaves behind
# (a ticket, a failed login) is what any public client may leave; a fresh database per example
# would make the property cost minutes.
@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(content_type=CONTENT_TYPES, body=BODIES)
@example(content_type="application/json", body=b'{"message": ' * 5000)  # a RecursionError
@example(content_type="multipart/form-data", body=b"")  # no boundary
@pytest.mark.parametrize("path", ["/tickets", "/submit", "/login"])
async def test_no_body_makes_a_public_endpoint_answer_5xx(
    client: TestClient[Any, Any], path: str, content_type: str, body: bytes
) -> None:
    headers = {"Content-Type": content_type, "Authorization": ""}  # anonymous, as the public is
    async with client.post(path, data=body, headers=headers, allow_redirects=False) as response:
        assert response.status < 500, (response.status, await response.text())
