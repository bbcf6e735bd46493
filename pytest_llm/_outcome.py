"""A test's outcome, worked out in one place, and the one way a handler ends in a test.

The reports it reads are remembered by :class:`pytest_llm._report.Outcomes`, the
plugin's per-test report hook, registered only once a test uses pytest-llm.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, TypeVar

import pytest

if TYPE_CHECKING:
    from ._handler import Handler

__all__ = ["annotate", "failed", "fast_cassette", "on_sample", "remember", "serve", "watch_of"]

H = TypeVar("H", bound="Handler")


class _Test:
    """What pytest-llm keeps for one test: its reports so far, what to call on each
    report, and its ``llm_samples`` listeners (one stash entry, not three)."""

    __slots__ = ("annotators", "closing", "fast", "reports", "samples", "watch")

    def __init__(self) -> None:
        self.reports: dict[str, pytest.TestReport] = {}
        self.annotators: list[Callable[[pytest.TestReport], None]] = []
        self.closing: list[Callable[[pytest.TestReport], None]] | None = None
        """Annotators of the teardown report only (called after ``annotators`` on it)."""
        self.samples: list[Callable[[int | None], None]] = []
        self.fast: object = None
        """The cassette ``llm_cassette``'s fast path activated (``cassette._fixtures``),
        while it is active."""
        self.watch: object = None
        """The verdicts' watch of the test (``_verdicts``), from its setup on; it goes
        with the record at the teardown report."""


_key = pytest.StashKey[_Test]()


def _test(item: pytest.Item) -> _Test:
    try:
        return item.stash[_key]
    except KeyError:
        test = item.stash[_key] = _Test()
        return test


def remember(item: pytest.Item, report: pytest.TestReport) -> _Test:
    """Keep ``report`` (the test's latest for its phase) and return the test's record:
    its ``annotators`` are what to call on it (and ``closing`` too, on the teardown's).

    Once that is the teardown report (a test's last), the item lets go of them, of its
    reports and of its sample listeners: they hold the test's cassette, fake or plan,
    and pytest keeps every item until the session ends. (One stash look-up per report.)
    """
    stash = item.stash
    try:
        test = stash[_key]
    except KeyError:
        test = stash[_key] = _Test()
    test.reports[report.when] = report
    if report.when == "teardown":
        del stash[_key]
    return test


def failed(item: pytest.Item) -> bool:
    """Whether any phase of the test so far (setup, call) failed."""
    try:
        reports = item.stash[_key].reports
    except KeyError:
        return False
    for report in reports.values():  # noqa: SIM110 (no generator: this runs per test)
        if report.failed:
            return True
    return False


def annotate(
    item: pytest.Item,
    annotator: Callable[[pytest.TestReport], None],
    sample: Callable[[int | None], None] | None = None,
    *,
    teardown: bool = False,
) -> _Test:
    """Call ``annotator`` on each of the test's reports as it is made (sections, extras),
    or on its teardown report only (``teardown``: no call for the other two);
    ``sample``: as :func:`on_sample` (one look-up for both). Returns the test's record."""
    test = _test(item)
    if teardown:
        if test.closing is None:
            test.closing = [annotator]
        else:
            test.closing.append(annotator)
    else:
        test.annotators.append(annotator)
    if sample is not None:
        test.samples.append(sample)
    return test


def fast_cassette(item: pytest.Item) -> object:
    """The cassette the fast path activated for ``item``, while it is active, else ``None``."""
    try:
        return item.stash[_key].fast
    except KeyError:
        return None


def watch_of(item: pytest.Item) -> object:
    """The verdicts' watch of ``item`` (``_verdicts``), until its teardown report, else ``None``."""
    try:
        return item.stash[_key].watch
    except KeyError:
        return None


def on_sample(item: pytest.Item, listener: Callable[[int | None], None]) -> None:
    """Tell ``listener`` which ``llm_samples`` sample runs (``None``: none, the end)."""
    _test(item).samples.append(listener)


def sample_listeners(item: pytest.Item) -> list[Callable[[int | None], None]]:
    try:
        return item.stash[_key].samples
    except KeyError:
        return []


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
