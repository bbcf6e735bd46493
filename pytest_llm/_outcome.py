"""A test's outcome, worked out in one place, and the one way a handler ends in a test.

The reports it reads are remembered by :class:`pytest_llm._report.Outcomes`, the
plugin's per-test report hook, registered only once a test uses pytest-llm.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from ._handler import Handler

__all__ = ["annotate", "annotators", "failed", "on_sample", "remember", "serve"]

H = TypeVar("H", bound="Handler")

_reports_key = pytest.StashKey[dict[str, pytest.TestReport]]()
_annotators_key = pytest.StashKey[list[Callable[[pytest.TestReport], None]]]()
_sample_key = pytest.StashKey[list[Callable[[int | None], None]]]()


def remember(item: pytest.Item, report: pytest.TestReport) -> None:
    item.stash.setdefault(_reports_key, {})[report.when] = report


def annotators(item: pytest.Item) -> list[Callable[[pytest.TestReport], None]]:
    """What to call on the report just remembered.

    Once that is the teardown report (a test's last), the item lets go of them, of its
    reports and of its sample listeners: they hold the test's cassette, fake or plan,
    and pytest keeps every item until the session ends.
    """
    found = item.stash.get(_annotators_key, [])
    if "teardown" in item.stash.get(_reports_key, {}):
        keys: tuple[pytest.StashKey[Any], ...] = (_annotators_key, _reports_key, _sample_key)
        for key in keys:
            if key in item.stash:
                del item.stash[key]
    return found


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
