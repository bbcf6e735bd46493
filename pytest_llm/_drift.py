"""Drift: how today's requests differ from the recordings they replayed (``--llm-match=migrate``).

In migrate mode a cassette matches on method, path and query, as vcrpy did, and keeps
each body difference (the JSON-path diff of a miss) instead of failing. The differences
travel on the teardown report (``report.llm_drift``, so pytest-xdist's controller sees
them), are listed in the terminal summary, and fill the ``drift`` section of the JSON
report (``--llm-report``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .cassette._session import Cassette

__all__ = ["DriftSummary", "report_drift"]

_SHOWN = 8
"""Difference lines shown per request in the terminal (all are in the JSON report)."""


def report_drift(rep: pytest.TestReport, cassette: Cassette) -> None:
    """Put the cassette's drift on the test's teardown report."""
    if rep.when == "teardown" and cassette.drift:
        rep.llm_drift = list(cassette.drift)  # type: ignore[attr-defined]


class DriftSummary:
    """Collects drift from every test (and xdist worker) and reports it once."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.drift: list[dict[str, Any]] = []

    def take(self, report: pytest.TestReport) -> None:
        """Keep a test's drift (each report goes through ``_report.Outcomes``)."""
        for entry in getattr(report, "llm_drift", None) or ():
            self.drift.append({"nodeid": report.nodeid, **entry})

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        report = self.config.pluginmanager.get_plugin("llm-report")
        if report is not None and self.drift:
            report.sections["drift"] = self.drift

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.drift:
            return
        tr = terminalreporter
        tr.ensure_newline()  # after the progress line, not below the title
        tr.section("pytest-llm drift")
        n = len(self.drift)
        tests = len({d["nodeid"] for d in self.drift})
        tr.write_line(
            f"{n} replayed request{'' if n == 1 else 's'} in {tests} test{'' if tests == 1 else 's'} "
            f"differ{'s' if n == 1 else ''} from the recording "
            "(match mode: migrate; recorded != request):"
        )
        last = None
        for d in self.drift:
            if d["nodeid"] != last:
                tr.write_line(d["nodeid"])
                last = d["nodeid"]
            at = f" (line {d['line']})" if d.get("line") else ""
            tr.write_line(
                f"  {_rel(self.config, d['cassette'])} interactions[{d['interaction']}]{at}: {d['request']}"
            )
            diff = d["differences"]
            for line in diff[:_SHOWN]:
                tr.write_line(f"      {line}")
            if len(diff) > _SHOWN:
                tr.write_line(f"      ... and {len(diff) - _SHOWN} more")
        tr.write_line(
            "fix: re-record what changed (--llm-record=all), or leave fields that vary out "
            "of matching (llm_ignore_paths, --llm-null-as-absent); then drop --llm-match=migrate"
        )


def _rel(config: pytest.Config, path: str) -> str:
    from pathlib import Path

    try:
        return str(Path(path).relative_to(config.rootpath))
    except ValueError:
        return path
