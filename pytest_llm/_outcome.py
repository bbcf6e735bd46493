"""A test's outcome, worked out in one place, and the one way a handler ends in a test.

:class:`Outcomes` is the plugin's per-test report hook. It is registered only once a
test uses pytest-llm (a marker or fixture, a handler activated, the guard blocking),
so the tests of a project that never uses it run with no pytest-llm hook on their path.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import pytest

from ._errors import CassetteError, ReplayInterrupt
from ._handler import Handler

__all__ = ["Outcomes", "annotate", "failed", "on_sample", "serve"]

H = TypeVar("H", bound=Handler)

_reports_key = pytest.StashKey[dict[str, pytest.TestReport]]()
_annotators_key = pytest.StashKey[list[Callable[[pytest.TestReport], None]]]()
_sample_key = pytest.StashKey[list[Callable[[int | None], None]]]()


def failed(item: pytest.Item) -> bool:
    """Whether any phase of the test so far (setup, call) failed."""
    return any(r.failed for r in item.stash.get(_reports_key, {}).values())


def annotate(item: pytest.Item, annotator: Callable[[pytest.TestReport], None]) -> None:
    """Call ``annotator`` on each of the test's reports as it is made (sections, extras)."""
    item.stash.setdefault(_annotators_key, []).append(annotator)


def on_sample(item: pytest.Item, listener: Callable[[int | None], None]) -> None:
    """Tell ``listener`` which ``llm_samples`` sample runs (``None``: none, the end)."""
    item.stash.setdefault(_sample_key, []).append(listener)


def sample_listeners(item: pytest.Item) -> list[Callable[[int | None], None]]:
    return item.stash.get(_sample_key, [])


def serve(item: pytest.Item, handler: H) -> Generator[H, None, None]:
    """The body of a handler's fixture: active for the test, then the one exit rule.

    ``yield from serve(request.node, handler)``: the handler's end-check error (a
    swallowed miss, something unused) fails the test, unless the test failed already.
    """
    with handler.active():
        yield handler
    error = handler.finish(failed=failed(item))
    if error is not None:
        pytest.fail(str(error), pytrace=False)


class Outcomes:
    """Remembers each test's reports and shows pytest-llm's own failures as messages."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        rep = yield
        item.stash.setdefault(_reports_key, {})[rep.when] = rep
        exc = call.excinfo
        if exc is not None and shown_as_message(exc.value):
            # Show the miss itself, not a traceback through the SDK's internals.
            rep.longrepr = MessageRepr(str(exc.value))  # type: ignore[assignment]
        for annotator in item.stash.get(_annotators_key, []):
            annotator(rep)
        return rep


def shown_as_message(exc: BaseException) -> bool:
    """Failures whose message says it all: a traceback would only show our internals."""
    if isinstance(exc, ReplayInterrupt | CassetteError):
        return True
    samples = sys.modules.get("pytest_llm.assertions._samples")
    return samples is not None and isinstance(exc, samples.SamplesFailed)


class _Crash:
    def __init__(self, message: str) -> None:
        self.message = message
        self.path = ""
        self.lineno = 0


class MessageRepr:
    """A failure shown as its message: in full below FAILURES, one line in the summary."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.reprcrash = _Crash(text.splitlines()[0] if text else "")

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text
