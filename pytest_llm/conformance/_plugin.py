"""The pytest side of the conformance suite: a ``--llm-conformance`` run, the verdict
table, the ``conformance`` section of ``--llm-report``.

The option is one row of the plugin's options table (``_settings.OPTIONS``); the
plugin calls :func:`configure` only when it is given, so a run without it loads
none of this.

Verdicts travel on the test reports (``report.llm_conformance``), so under
pytest-xdist the controller sees every worker's and prints the one table.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._protocol import Adapter

__all__ = ["RECORD_KEY", "ConformanceReport", "adapters_of", "configure", "load_adapters"]

RECORD_KEY = pytest.StashKey[dict[str, Any]]()
_ADAPTERS_KEY = pytest.StashKey["list[Adapter]"]()
SECTION_VERSION = 1
SUITE = str(Path(__file__).with_name("_suite.py"))


def _is_adapter(obj: Any) -> bool:
    return all(callable(getattr(obj, name, None)) for name in ("make", "call", "unsupported"))


def _infer(obj: Any, spec: str) -> Adapter:
    if _is_adapter(obj):
        return obj  # type: ignore[no-any-return]
    from ..client import AsyncResilientClient, ResilientClient
    from .adapters.reference import ReferenceAdapter

    if isinstance(obj, ResilientClient | AsyncResilientClient):
        return ReferenceAdapter(
            is_async=isinstance(obj, AsyncResilientClient), client_class=type(obj)
        )
    raise pytest.UsageError(
        f"--llm-conformance={spec}: the factory returned {obj!r}, which is neither an "
        "adapter (make, call, unsupported) nor a pytest_llm.client ResilientClient.\n"
        "Fix: return an adapter (subclass pytest_llm.conformance.Adapter), a list of them, "
        "or a ResilientClient / AsyncResilientClient instance (see docs/conformance.md)."
    )


def load_adapters(spec: str) -> list[Adapter]:
    """``MODULE:FACTORY`` -> the adapters ``FACTORY()`` returns (one, or a list)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise pytest.UsageError(
            f"--llm-conformance={spec}: expected MODULE:FACTORY.\n"
            "Fix: e.g. --llm-conformance=pytest_llm.conformance.adapters.reference:adapters"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise pytest.UsageError(
            f"--llm-conformance={spec}: cannot import {module_name!r} ({exc}).\n"
            "Fix: check the module path and that it is importable from the rootdir "
            "(or set PYTHONPATH)."
        ) from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        from ..assertions._base import did_you_mean

        # a factory is a function: classes (the Adapter protocol itself) are no candidates
        names = [
            n
            for n in dir(module)
            if not n.startswith("_") and inspect.isfunction(getattr(module, n))
        ]
        raise pytest.UsageError(
            f"--llm-conformance={spec}: {module_name} has no callable {attr!r}"
            f"{did_you_mean(attr, names)}\nFix: name a function that returns the adapter(s)."
        )
    made = factory()
    items = list(made) if isinstance(made, list | tuple) else [made]
    adapters = [_infer(obj, spec) for obj in items]
    names = [a.name for a in adapters]
    if len(set(names)) != len(names):
        raise pytest.UsageError(
            f"--llm-conformance={spec}: two adapters share a name ({', '.join(names)}).\n"
            "Fix: give each adapter its own name (it labels the verdicts)."
        )
    return adapters


def adapters_of(config: pytest.Config) -> list[Adapter]:
    return config.stash.get(_ADAPTERS_KEY, [])


def configure(config: pytest.Config, spec: str) -> None:
    """Add the suite to the session and register its report hooks (``--llm-conformance``)."""
    config.stash[_ADAPTERS_KEY] = load_adapters(spec)
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    if explicit and SUITE not in config.args:
        config.args.append(SUITE)
    elif not explicit:
        config.args[:] = [SUITE]
    config.pluginmanager.register(_Records(), "llm-conformance-records")
    config.pluginmanager.register(
        ConformanceReport(config, config.getoption("llm_report", None)), "llm-conformance-report"
    )


class _Records:
    """Puts each contract's verdict on its report; registered only for a conformance run,
    so a project's other tests run no conformance code."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        rep = yield
        record = item.stash.get(RECORD_KEY, None)
        if record is not None and rep.when == "call":
            rep.llm_conformance = dict(record)  # type: ignore[attr-defined]
        return rep


class ConformanceReport:
    """Collects verdicts (from every xdist worker) and reports them."""

    def __init__(self, config: pytest.Config, path: str | None) -> None:
        self.config = config
        self.path = path
        self.results: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "llm_conformance", None)
        if record:
            self.results.append(dict(record))

    def section(self) -> dict[str, Any]:
        from ._render import summary

        rows = sorted(self.results, key=lambda r: (r["adapter"], r["contract"]))
        return {
            "version": SECTION_VERSION,
            "adapters": summary(rows),
            "results": rows,
        }

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results:
            return
        from ._render import terminal_lines

        tr = terminalreporter
        tr.section("pytest-llm conformance")
        for line in terminal_lines(self.section()):
            tr.write_line(line)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.path or hasattr(self.config, "workerinput"):
            return
        samples = self.config.pluginmanager.get_plugin("llm-report")
        sections = getattr(samples, "sections", None)
        if isinstance(sections, dict):
            sections["conformance"] = self.section()
