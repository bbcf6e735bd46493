"""The body of the ``llm_cassette`` fixture (declared in :mod:`pytest_llm.plugin`).

It loads when a test first uses a cassette, and with it what every such test needs
(naming, the adapters' patching, the virtual clock): imported here once instead of
by an import statement per test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest

from .._clock import VirtualClock, current_clock
from .._drift import report_drift
from .._hooks import arm_requests
from .._outcome import annotate, fast_cassette, serve
from .._settings import DUMMY_KEY
from ..transport._patch import guarded
from ._build import build_cassette, config_fixture_needed, environ

if TYPE_CHECKING:
    from ._session import Cassette

__all__ = ["llm_cassette", "setup_first"]


def llm_cassette(
    request: pytest.FixtureRequest | None, item: pytest.Item | None = None
) -> Iterator[Cassette]:
    """The test's cassette, active for the whole test (``llm_cassette``); it governs the
    test instead of the guard (``llm_guard``).

    One generator for both ways in: pytest's fixture machinery (``request``), and
    :func:`setup_first` (``request`` ``None``, ``item`` given: the test's
    ``llm_cassette_config`` is neither named nor overridden). A test whose cassette
    :func:`setup_first` activated and which asks pytest for the fixture anyway
    (``request.getfixturevalue("llm_cassette")``) gets that same cassette, activated once.
    """
    if item is None:
        item = request.node  # type: ignore[union-attr]
    if request is not None:
        funcargs: dict[str, Any] = getattr(item, "funcargs", _NONE)
        active = funcargs.get("llm_cassette")
        if active is not None and active is fast_cassette(item):
            yield funcargs["llm_cassette"]  # that cassette (typed as the fixture's value)
            return
    cassette = build_cassette(request, item)
    test = annotate(
        item,
        _Annotator(cassette),
        lambda sample: setattr(cassette, "sample", sample),
        teardown=True,
    )
    recording = cassette.recording
    key: str | None = None
    dummy = not recording and not environ(_KEYS)[0]
    if dummy:
        key = os.environ.get(_KEY)  # unset or empty: what to put back
        os.environ[_KEY] = DUMMY_KEY
    uninstall = None if recording else _virtual_time(cassette)
    if request is None:
        test.fast = cassette  # for a getfixturevalue of it while active
    try:
        with guarded(None):
            yield from serve(item, cassette)
    finally:
        test.fast = None
        if dummy:  # what was there before, whatever the test did meanwhile
            if key is None:
                os.environ.pop(_KEY, None)
            else:
                os.environ[_KEY] = key
        if uninstall is not None:
            uninstall()


def setup_first(item: pytest.Function) -> None:
    """``item.setup`` of a test the ``llm_cassette`` marker gives its cassette, put in
    place at collection by :func:`pytest_llm.plugin.pytest_collection_modifyitems`
    where nothing else can tell (see there): the cassette activated in the fixture's
    place, without pytest's fixture machinery, then pytest's own setup.

    pytest's ``SetupState`` has put the test on its stack (its first finalizer, the
    item's teardown) and calls this before any of the test's fixtures: the cassette
    is set up first, as its fixture is (first in ``item.fixturenames``), and its end,
    added as the item's next finalizer, runs after every function-scoped fixture's
    teardown and before the class's and module's, as the fixture's does. Given in
    ``item.funcargs`` (where the fixture's value goes), pytest's setup skips the
    fixture. Where the test's first fixture is no longer the cassette (another plugin
    put one before it), or its ``llm_cassette_config`` must be asked of pytest, or its
    value is there already, the fixture path, exactly as without this."""
    __tracebackhide__ = True
    funcargs = item.funcargs
    names = item.fixturenames
    if (
        names
        and names[0] == "llm_cassette"
        and "llm_cassette" not in funcargs
        and not config_fixture_needed(item, names)
    ):
        steps = llm_cassette(None, item)
        cassette = next(steps)  # an error here is the setup's, as the fixture's is
        item.addfinalizer(partial(_finish, steps))
        funcargs["llm_cassette"] = cassette
    else:
        arm_requests(item.config)  # the fixture path: its request through the hook
    pytest.Function.setup(item)


def _finish(steps: Iterator[Cassette]) -> None:
    """The cassette's teardown: its generator run to the end, as pytest ends a fixture's."""
    __tracebackhide__ = True
    for _ in steps:  # one yield: the loop ends at once, after the teardown ran
        raise AssertionError("llm_cassette's body yielded twice")  # pragma: no cover


_NONE: dict[str, Any] = {}

_KEY = "OPENAI_API_KEY"
"""Set to a dummy in replay if unset: the SDK refuses to build a client without one."""
_KEYS = (_KEY,)


class _Annotator:
    """On the teardown report (the only one it is given), what the cassette wrote and
    its drift."""

    __slots__ = ("cassette",)

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette

    def __call__(self, rep: pytest.TestReport) -> None:
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
