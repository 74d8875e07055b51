"""The fake LLM servers as fixtures, one per backend: `fake_ollama` is a FakeOllama, or — in a
test module marked `both_backends` — each test runs twice, against FakeOllama and against
FakeOpenAI (same scripting API, each speaking its own wire protocol to the real client).

    pytestmark = pytest.mark.both_backends   # in a test module
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import pytest

from tests.fake_ollama import FakeOllama, run_fake_ollama
from tests.fake_openai import run_fake_openai

BACKENDS = ("ollama", "openai")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (unknown markers are errors under -W error)."""
    config.addinivalue_line(
        "markers", "both_backends: run the module's LLM tests against each backend's fake"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Marked tests that use a fake LLM run once per backend."""
    if "llm_backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_backends"
    ):
        metafunc.parametrize("llm_backend", BACKENDS, indirect=True)


@pytest.fixture
def llm_backend(request: pytest.FixtureRequest) -> str:
    """TRIAGE_LLM_BACKEND of the test: `ollama`, unless parametrised."""
    return str(getattr(request, "param", "ollama"))


def run_fake_llm(backend: str) -> AbstractAsyncContextManager[FakeOllama]:
    """A started fake server of the backend, stopped on exit."""
    return run_fake_openai() if backend == "openai" else run_fake_ollama()


@pytest.fixture
async def fake_ollama(llm_backend: str) -> AsyncIterator[FakeOllama]:
    """A fake LLM server (Ollama's API, or an OpenAI-compatible one) on a real port, answering
    valid triage unless told otherwise; `.backend` and `.url` are its settings."""
    async with run_fake_llm(llm_backend) as fake:
        yield fake
