"""The ``llm_fake`` and ``llm_fake_config`` fixtures.

Imported by the plugin at start-up, so it imports nothing heavy: the provider loads
when a test first asks for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .._errors import ConfigError
from .._outcome import serve
from .._settings import DUMMY_KEY

if TYPE_CHECKING:
    from ._provider import FakeProvider

__all__ = ["llm_fake", "llm_fake_config"]


@pytest.fixture
def llm_fake_config() -> dict[str, Any]:
    """Override in a conftest to set ``llm_fake`` options for a directory of tests.

    The keys are :class:`~pytest_llm.FakeProvider`'s keywords, e.g.
    ``{"strict": True, "dimensions": 8}``.
    """
    return {}


@pytest.fixture
def llm_fake(
    request: pytest.FixtureRequest, llm_fake_config: dict[str, Any]
) -> Iterator[FakeProvider]:
    """An OpenAI-compatible fake provider, active for the whole test.

    Script replies with ``llm_fake.add(...)``; read what was asked in
    ``llm_fake.requests``. At teardown the test fails if a strict-mode miss was
    swallowed by the code under test, or if scripted replies were never used.
    """
    from ._provider import FakeProvider

    try:
        fake = FakeProvider(**llm_fake_config)
    except ConfigError as exc:
        pytest.fail(f"llm_fake_config: {exc}", pytrace=False)
    mp = pytest.MonkeyPatch()
    if not os.environ.get("OPENAI_API_KEY"):
        mp.setenv("OPENAI_API_KEY", DUMMY_KEY)
    try:
        yield from serve(request.node, fake)
    finally:
        mp.undo()
