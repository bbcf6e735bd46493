"""The body of the ``llm_fake`` fixture (declared in :mod:`pytest_llm.plugin`).

It loads when a test first asks for the fake; the provider loads when it first runs.
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

__all__ = ["llm_fake"]


def llm_fake(
    request: pytest.FixtureRequest, llm_fake_config: dict[str, Any]
) -> Iterator[FakeProvider]:
    """The test's fake provider (``llm_fake``), built from ``llm_fake_config``."""
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
