"""pytest-recording's marker, fixtures, flags and hook, answered by pytest-llm.

:func:`install` (called by the plugin before the conftests load) registers this module
when pytest-recording is not active, which is at every start-up of most projects: so
it holds the declarations only (see :mod:`pytest_llm._vcr_compat` for the whole
switch); the fixtures' bodies load with the first test that asks for one
(:mod:`pytest_llm._vcr_map`). A test marked ``vcr`` gets the ``vcr`` fixture first; it
turns the merged ``vcr_config`` and marker keywords into an ``llm_cassette`` marker (the
keywords that map) and a list of those that do not, and opens the test's ``llm_cassette``.

Loaded at every pytest start-up: PYTEST_DONT_REWRITE (see :mod:`pytest_llm.plugin`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pluggy
import pytest

from ._marks import closest_marker
from ._settings import VCR_RECORD_MODES as RECORD_MODES
from ._settings import xdist_controller

if TYPE_CHECKING:
    from ._vcr_map import VcrCassette

__all__ = ["add_options", "install", "recording_plugin"]

_hookspec = pluggy.HookspecMarker("pytest")

_OTHERS = ("pytest_recording.plugin", "pytest_vcr")
"""Modules of the plugins that own ``@pytest.mark.vcr`` when installed and active."""


def recording_plugin(pm: pytest.PytestPluginManager) -> str | None:
    """The module name of an active pytest-recording / pytest-vcr, if any."""
    for plugin in pm.get_plugins():
        name = getattr(plugin, "__name__", "")
        if name in _OTHERS:
            return str(name)
    return None


def install(early_config: pytest.Config, parser: pytest.Parser) -> None:
    """pytest-recording's surface answered by pytest-llm, or a note that it is not.

    Before the conftests: they may implement pytest_recording_configure, add options
    pytest-recording would add, or override its fixtures.
    """
    pm = early_config.pluginmanager
    if pm.has_plugin("llm-vcr") or pm.has_plugin("llm-vcr-other"):
        return
    other = recording_plugin(pm)
    if other is not None:
        from ._vcr_compat import OtherPlugin

        pm.register(OtherPlugin(other), "llm-vcr-other")
        return
    caller = getattr(pm.hook, "pytest_recording_configure", None)
    if caller is None or caller.spec is None:
        pm.add_hookspecs(Hookspecs)
    add_options(parser)
    pm.register(sys.modules[__name__], "llm-vcr")


class Hookspecs:
    """pytest-recording's hook, declared so a conftest implementing it loads."""

    @_hookspec
    def pytest_recording_configure(self, config: pytest.Config, vcr: Any) -> None:
        """Configure the ``VCR`` object (not called: pytest-llm replays without vcrpy)."""


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("recording", "pytest-recording's options, answered by pytest-llm")
    group.addoption(
        "--record-mode",
        default=None,
        choices=tuple(RECORD_MODES),
        help="pytest-recording's record mode, mapped to --llm-record "
        "(new_episodes: new, rewrite: all); --llm-record wins.",
    )
    group.addoption(
        "--block-network",
        action="store_true",
        default=False,
        help="accepted: pytest-llm blocks the network of tests with a cassette anyway.",
    )
    group.addoption(
        "--allowed-hosts", default=None, help="accepted and ignored (see docs/migration.md)."
    )
    group.addoption(
        "--disable-recording",
        action="store_true",
        default=False,
        help="@pytest.mark.vcr tests run without a cassette.",
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "vcr(*cassettes, **vcr_config): pytest-recording's marker, replayed by pytest-llm "
        "(docs/migration.md).",
        "block_network: accepted (pytest-llm blocks the network of tests with a cassette).",
        "default_cassette(name): the cassette file name of a vcr test.",
        "allowed_hosts(hosts): accepted and ignored.",
    ):
        config.addinivalue_line("markers", line)
    mode = config.getoption("record_mode", None)
    if mode and config.getoption("llm_record", None) is None:
        config.option.llm_record = RECORD_MODES[mode]
    if xdist_controller(config):  # it collects nothing: the reports come from workers
        from ._vcr_map import VcrSummary

        config.pluginmanager.register(VcrSummary(config), "llm-vcr-summary")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``vcr`` first in every marked test: it sets up the cassette before the test's own
    fixtures (and before autouse fixtures that read ``vcr``, as pytest-recording's do)."""
    if config.getoption("disable_recording", False):
        return
    marked = False
    for item in items:
        if closest_marker(item, "vcr") is None:
            continue
        marked = True
        names = getattr(item, "fixturenames", None)
        if names is None:
            continue
        if "vcr" in names:
            names.remove("vcr")
        names.insert(0, "vcr")
    if marked:
        from ._hooks import arm
        from ._vcr_map import VcrSummary

        arm(config)
        if not config.pluginmanager.has_plugin("llm-vcr-summary"):
            config.pluginmanager.register(VcrSummary(config), "llm-vcr-summary")


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    """Override in a conftest, as with pytest-recording: the keys that map are used."""
    return {}


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    """pytest-recording's: ``cassettes/<module name>`` beside the test file."""
    from ._vcr_map import cassette_dir

    return cassette_dir(request)


@pytest.fixture
def default_cassette_name(request: pytest.FixtureRequest) -> str:
    """pytest-recording's: ``[Class.]test_name``, file-safe, or ``default_cassette(name)``."""
    from ._vcr_map import cassette_name

    return cassette_name(request)


@pytest.fixture(scope="session")
def record_mode(request: pytest.FixtureRequest) -> str:
    """pytest-recording's ``--record-mode`` (``none`` when not given)."""
    return str(request.config.getoption("record_mode", None) or "none")


@pytest.fixture
def vcr_markers(request: pytest.FixtureRequest) -> list[pytest.Mark]:
    return list(request.node.iter_markers("vcr"))


@pytest.fixture
def vcr(request: pytest.FixtureRequest) -> Iterator[VcrCassette | None]:
    """The test's cassette as pytest-recording's ``vcr`` fixture gives it (``None`` for a
    test without the marker), replaying through pytest-llm."""
    from ._vcr_map import vcr

    yield from vcr(request)
