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

:mod:`pytest_llm._vcr_shim` decides, before the conftests load, and holds the fixtures
and hooks it registers; :mod:`pytest_llm._vcr_map` does the mapping. This module holds
what is registered when pytest-recording is active instead (loaded only then).
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["OtherPlugin"]


class OtherPlugin:
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
