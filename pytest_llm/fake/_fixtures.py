"""The ``llm_fake`` and ``llm_server`` fixtures.

Imported by the plugin at start-up, so it imports nothing heavy: the provider and
the server load when a test first asks for them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..transport._server import LLMServer
    from ._provider import FakeProvider

__all__ = ["llm_fake", "llm_fake_config", "llm_server"]


def _test_failed(item: pytest.Item) -> bool:
    from ..plugin import _report_key

    return any(r.failed for r in item.stash.get(_report_key, {}).values())


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
    from .._errors import ConfigError
    from .._flow import router
    from ..plugin import DUMMY_KEY
    from ._provider import FakeProvider

    try:
        fake = FakeProvider(**llm_fake_config)
    except ConfigError as exc:
        pytest.fail(f"llm_fake_config: {exc}", pytrace=False)
    mp = pytest.MonkeyPatch()
    if not os.environ.get("OPENAI_API_KEY"):
        mp.setenv("OPENAI_API_KEY", DUMMY_KEY)
    try:
        with router.activate(fake):
            yield fake
    finally:
        mp.undo()
    if _test_failed(request.node):
        return
    if fake.misses:
        pytest.fail(fake.misses[0], pytrace=False)
    if fake.check_unused and fake.unused():
        pytest.fail(fake.explain_unused(), pytrace=False)


@pytest.fixture
def llm_server(request: pytest.FixtureRequest) -> Iterator[LLMServer]:
    """A real HTTP server on 127.0.0.1 serving the request chain (faults, cassettes, fake).

    Sets ``OPENAI_BASE_URL`` to its ``base_url`` (and ``OPENAI_API_KEY`` to a dummy if
    unset) for the test, so subprocesses and clients built in the test use it.
    """
    from ..transport._server import LLMServer

    server = LLMServer()
    mp = pytest.MonkeyPatch()
    with server:
        mp.setenv("OPENAI_BASE_URL", server.base_url)
        if not os.environ.get("OPENAI_API_KEY"):
            mp.setenv("OPENAI_API_KEY", server.env["OPENAI_API_KEY"])
        try:
            yield server
        finally:
            mp.undo()
    if server.errors and not _test_failed(request.node):
        more = len(server.errors) - 1
        extra = (
            f"\n({more} more error{'s' if more > 1 else ''} in llm_server.errors)" if more else ""
        )
        pytest.fail(f"llm_server: {server.errors[0]}{extra}", pytrace=False)
