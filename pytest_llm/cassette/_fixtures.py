"""The body of the ``llm_cassette`` fixture (declared in :mod:`pytest_llm.plugin`).

It loads when a test first uses a cassette, and with it what every such test needs
(naming, the adapters' patching, the virtual clock): imported here once instead of
by an import statement per test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from .._clock import VirtualClock, current_clock
from .._drift import report_drift
from .._outcome import annotate, serve
from .._settings import DUMMY_KEY
from ..transport._patch import guarded
from ._build import build_cassette, environ

if TYPE_CHECKING:
    from ._session import Cassette

__all__ = ["llm_cassette"]


def llm_cassette(request: pytest.FixtureRequest) -> Iterator[Cassette]:
    """The test's cassette, active for the whole test (``llm_cassette``); it governs the
    test instead of the guard (``llm_guard``)."""
    item = request.node
    cassette = build_cassette(request, item)
    annotate(item, _Annotator(cassette), lambda sample: setattr(cassette, "sample", sample))
    recording = cassette.recording
    key: str | None = None
    dummy = not recording and not environ(_KEYS)[0]
    if dummy:
        key = os.environ.get(_KEY)  # unset or empty: what to put back
        os.environ[_KEY] = DUMMY_KEY
    uninstall = None if recording else _virtual_time(cassette)
    try:
        with guarded(None):
            yield from serve(item, cassette)
    finally:
        if dummy:  # what was there before, whatever the test did meanwhile
            if key is None:
                os.environ.pop(_KEY, None)
            else:
                os.environ[_KEY] = key
        if uninstall is not None:
            uninstall()


_KEY = "OPENAI_API_KEY"
"""Set to a dummy in replay if unset: the SDK refuses to build a client without one."""
_KEYS = (_KEY,)


class _Annotator:
    """On the teardown report, what the cassette wrote and its drift (a test's first two
    reports are passed by at once)."""

    __slots__ = ("cassette",)

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette

    def __call__(self, rep: pytest.TestReport) -> None:
        if rep.when == "teardown":
            _report_written(rep, self.cassette)
            report_drift(rep, self.cassette)


def _virtual_time(cassette: Cassette) -> Callable[[], None] | None:
    """(Replay only.) In replay nothing really waits: the SDK's retry sleeps (a recorded 503 with
    ``retry-after: 2``) go to a virtual clock. ``llm_clock``, set up before the cassette,
    already has them; set up after, it takes them over. Not while recording (real
    traffic takes real time) nor with ``replay_timing`` (the recorded gaps, on real time,
    are what the test asked for)."""
    if cassette.timing is not None or "openai" not in sys.modules:
        return None
    if isinstance(current_clock(), VirtualClock):
        return None
    return VirtualClock().install().uninstall


def _report_written(rep: pytest.TestReport, cassette: Cassette) -> None:
    """On the teardown report, what the cassette wrote (for the summary, under xdist too)."""
    if cassette.written or cassette.not_written:
        rep.llm_cassette = {  # type: ignore[attr-defined]
            "path": str(cassette.written or cassette.path),
            "recorded": len(cassette.recorded),
            "not_written": cassette.not_written,
            "set_aside": str(cassette.set_aside) if cassette.set_aside else None,
        }
