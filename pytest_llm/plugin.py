"""The pytest plugin (entry point ``llm``): thin hooks over the parts that do the work.

Options live in :mod:`pytest_llm._settings`, the guard in :mod:`pytest_llm._guard`,
per-test outcomes in :mod:`pytest_llm._outcome`, reports in :mod:`pytest_llm._report`,
and each feature's fixtures beside it. A project whose tests use none of it pays for
no fixture and no hook per test: the per-test hooks are registered only once a test
uses the plugin (a marker, a fixture, an active handler, a guard that blocked).
"""

from __future__ import annotations

import contextlib
import os

import pytest

from . import _settings
from ._guard import guard_error_key, guard_session
from ._settings import allow_network

_stack_key = pytest.StashKey[contextlib.ExitStack]()
_sessions: list[pytest.Config] = []
"""Configured sessions in this process (pytester runs one inside another)."""

USES_PLUGIN = frozenset(
    {"llm_cassette", "llm_cassette_config", "llm_faults", "llm_clock", "llm_fake", "llm_server"}
)
"""Fixtures that make a test one "that uses the plugin" (so do its markers)."""

# The conformance suite keeps its options and hooks in its own plugin module.
pytest_plugins = ["pytest_llm.conformance._plugin", "pytest_llm._vcr_compat"]


def pytest_addoption(parser: pytest.Parser) -> None:
    _settings.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    _settings.validate(config)
    for line in _settings.MARKERS:
        config.addinivalue_line("markers", line)
    from .transport import _patch

    _sessions.append(config)
    stack = guard_session(config, allow_network=allow_network(config), on_block=lambda: arm(config))
    listener = lambda: arm(config)  # noqa: E731 - a handler became active in a test
    _patch.on_first_use.append(listener)
    stack.callback(_patch.on_first_use.remove, listener)
    config.stash[_stack_key] = stack
    if config.getoption("llm_report") or _xdist_controller(config):
        arm(config)  # asked for a report, or the reports come from workers


def pytest_unconfigure(config: pytest.Config) -> None:
    stack = config.stash.get(_stack_key, None)
    if stack is not None:
        stack.close()
    if config in _sessions:
        _sessions.remove(config)
    if not _sessions:
        from .transport._patch import restore_all

        restore_all()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Runs before conftests are imported: clients built at import time need a key to
    # construct, and replay never sends it.
    if os.environ.get("OPENAI_API_KEY") or _settings.session_mode(early_config) != "none":
        return
    os.environ["OPENAI_API_KEY"] = _settings.DUMMY_KEY

    def restore() -> None:
        if os.environ.get("OPENAI_API_KEY") == _settings.DUMMY_KEY:
            del os.environ["OPENAI_API_KEY"]

    early_config.add_cleanup(restore)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Attach per-test work to the tests that use the plugin, and to no other."""
    guard_error = config.stash.get(guard_error_key, None)
    for item in items:
        names = getattr(item, "fixturenames", None)
        if guard_error is not None and names is not None:
            names.insert(0, "_llm_config_error")
        cassette = item.get_closest_marker("llm_cassette") is not None
        samples = item.get_closest_marker("llm_samples") is not None
        if not (cassette or samples or (names and USES_PLUGIN.intersection(names))):
            continue
        arm(config, samples=samples)
        if cassette and names is not None and "llm_cassette" not in names:
            names.insert(0, "llm_cassette")  # first: active before the test's own fixtures


def arm(config: pytest.Config, *, samples: bool = False) -> None:
    """Register the per-test hooks (once): outcomes, reports, and ``llm_samples`` runs."""
    pm = config.pluginmanager
    if not pm.has_plugin("llm-outcomes"):
        from ._drift import DriftSummary
        from ._report import CassetteSummary, Outcomes, SamplesReport

        pm.register(Outcomes(), "llm-outcomes")
        pm.register(CassetteSummary(config), "llm-summary")
        pm.register(SamplesReport(config, config.getoption("llm_report")), "llm-report")
        pm.register(DriftSummary(config), "llm-drift")
        mode = _settings.option(config, "verdicts").value
        if mode != "off":
            from ._verdicts import Verdicts

            pm.register(Verdicts(config, mode), "llm-verdicts")
    if samples and not pm.has_plugin("llm-samples"):
        from .assertions._fixtures import SamplesHook

        pm.register(SamplesHook(), "llm-samples")


def _xdist_controller(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


@pytest.fixture
def _llm_config_error(request: pytest.FixtureRequest) -> None:
    raise request.config.stash[guard_error_key]


def pytest_assertrepr_compare(op: str, left: object, right: object) -> list[str] | None:
    """Explain ``text == IContains("paris") & NotContains("berlin")`` when it fails."""
    import sys

    if "pytest_llm.assertions._matchers" not in sys.modules:
        return None  # no matcher exists unless that module was imported
    from .assertions._matchers import matcher_repr_compare

    return matcher_repr_compare(op, left, right)


# -- fixtures, each kept beside what it serves ----------------------------------------
from ._clock_fixture import llm_clock  # noqa: E402, F401
from .cassette._fixtures import llm_cassette, llm_cassette_config  # noqa: E402, F401
from .fake._fixtures import llm_fake, llm_fake_config  # noqa: E402, F401
from .faults._fixtures import llm_faults  # noqa: E402, F401
from .transport._fixtures import llm_server  # noqa: E402, F401
