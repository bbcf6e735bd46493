"""The hooks a session gets once a test uses pytest-llm, and not before.

A project whose tests use none of pytest-llm pays for no hook per test: :func:`arm`
registers the per-test hooks (outcomes, the summary, the reports, drift, verdicts,
``llm_samples`` runs) when the first test that uses the plugin is collected (a marker,
a fixture, a ``vcr`` marker), when a handler becomes active or the guard blocks, or
at start-up when ``--llm-report`` or pytest-xdist's controller needs them.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import Any

import pytest

from . import _resolve, _settings

__all__ = ["CassetteHooks", "FixtureRequests", "arm", "arm_requests"]


def arm(config: pytest.Config, *, samples: bool = False) -> None:
    """Register the per-test hooks (once): outcomes, reports, and ``llm_samples`` runs."""
    pm = config.pluginmanager
    if not pm.has_plugin("llm-outcomes"):
        from ._drift import DriftSummary
        from ._report import CassetteSummary, LoggedReports, Outcomes, SamplesReport

        summary = CassetteSummary(config)
        report = SamplesReport(config, config.getoption("llm_report"))
        drift = DriftSummary(config)
        takers = [summary.take, report.take, drift.take]
        judge = None
        mode = _resolve.option(config, "verdicts").value
        if mode != "off":
            from ._verdicts import Verdicts

            verdicts = Verdicts(config, mode)
            takers.append(verdicts.take)
            judge = verdicts.judge
        # one hook per phase for all of them (Outcomes calls each part); the takers
        # look at each report as it is made, or as it comes from a worker
        controller = _settings.xdist_controller(config)
        pm.register(Outcomes(takers, judge, take=not controller), "llm-outcomes")
        if controller:
            pm.register(LoggedReports(takers), "llm-logged-reports")
        pm.register(summary, "llm-summary")
        pm.register(report, "llm-report")
        pm.register(drift, "llm-drift")
        pm.register(CassetteHooks(), "llm-cassette-hooks")
        if judge is not None:
            pm.register(verdicts, "llm-verdicts")
    if samples and not pm.has_plugin("llm-samples"):
        from .assertions._fixtures import SamplesHook

        pm.register(SamplesHook(), "llm-samples")


def arm_requests(config: pytest.Config) -> None:
    """Register :class:`FixtureRequests` (once): only where a test's cassette takes pytest's
    fixture path (the test or a fixture names it, the marked test's fast path steps
    aside, a ``getfixturevalue``), so a session whose cassettes all come by the fast
    path (``cassette._fixtures.setup_first``) runs no hook per fixture for them."""
    pm = config.pluginmanager
    if not pm.has_plugin("llm-cassette-requests"):
        pm.register(FixtureRequests(), "llm-cassette-requests")


class FixtureRequests:
    """Hands the ``llm_cassette`` fixture its request as pytest sets it up, so the
    fixture takes no ``request`` argument (for which pytest would make a
    ``RequestFixtureDef``, with an ``inspect.signature``, twice per test).

    The request is the one pytest would have passed; it is put in the slot of the
    module that defines the fixture (a copy of the plugin imported afresh has its own)
    only for the setup's duration."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        if fixturedef.argname != "llm_cassette":
            return (yield)
        module = getattr(fixturedef.func, "__globals__", None)
        if module is None or module.get("__name__") != "pytest_llm.plugin":
            return (yield)  # a fixture of the user's of that name
        previous = module["_setup_request"]
        module["_setup_request"] = request
        try:
            return (yield)
        finally:
            module["_setup_request"] = previous


class CassetteHooks:
    """The cassette's per-test hook: the HTTP patches' hand-over between tests."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """Before the test's fixtures are torn down: its cassette hands the HTTP patches
        over to the next test instead of lifting them and putting them back, when that
        test's first fixture is its cassette and it shares the module or class (so no
        fixture's code runs between the two). Else they are lifted as the last handler
        leaves, as always (a test without the plugin finds the originals)."""
        patch = sys.modules.get("pytest_llm.transport._patch")
        if patch is None:
            return  # nothing was ever patched
        names = getattr(nextitem, "fixturenames", None)
        patch.hand_over(
            bool(names)
            and names[0] == "llm_cassette"  # type: ignore[index]
            and nextitem.parent is item.parent  # type: ignore[union-attr]
        )
