"""A zero-edit switch from pytest-recording: ``@pytest.mark.vcr`` tests replay through pytest-llm.

When pytest-recording (or pytest-vcr) is not active, pytest-llm takes over its surface
so test signatures and conftests keep working unchanged: the ``vcr`` marker (and its
``record_mode=``), the ``vcr`` fixture (a view of the test's cassette with vcrpy's
counters), the ``vcr_config``, ``vcr_cassette_dir`` and ``default_cassette_name``
fixtures a conftest overrides, the ``--record-mode`` flag, and the
``pytest_recording_configure`` hook (declared, so a conftest that implements it loads;
it is not called: there is no vcrpy ``VCR`` object to configure). What maps is mapped;
what does not is named once in the terminal summary. When pytest-recording is active,
the marker is its business, and the summary says how to choose.

This module decides, before the conftests load (:func:`install`, called from the
plugin's ``pytest_load_initial_conftests``); :mod:`pytest_llm._vcr_shim` holds the
fixtures and hooks it registers.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["install", "recording_plugin"]

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
        pm.register(_OtherPlugin(other), "llm-vcr-other")
        return
    from . import _vcr_shim

    caller = getattr(pm.hook, "pytest_recording_configure", None)
    if caller is None or caller.spec is None:
        pm.add_hookspecs(_vcr_shim.Hookspecs)
    _vcr_shim.add_options(parser)
    pm.register(_vcr_shim, "llm-vcr")


class _OtherPlugin:
    """pytest-recording is active: ``@pytest.mark.vcr`` stays with it; say how to choose."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.marked = 0

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.marked = sum(1 for item in items if item.get_closest_marker("vcr") is not None)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.marked:
            return
        name = "pytest-recording" if self.module.startswith("pytest_recording") else "pytest-vcr"
        flag = "recording" if name == "pytest-recording" else "vcr"
        tests = "test" if self.marked == 1 else "tests"
        terminalreporter.write_line(
            f"pytest-llm: {name} is active, so {self.marked} @pytest.mark.vcr {tests} "
            f"replayed through vcrpy; to replay them with pytest-llm: pytest -p no:{flag} "
            f"(or uninstall {name})"
        )
