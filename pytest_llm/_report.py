"""The pass-rate report of ``llm_samples`` tests: terminal table, JSON file, JUnit XML.

Results travel on the test reports (``report.llm_samples``), so under pytest-xdist the
controller sees every worker's results and writes the one report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

__all__ = ["REPORT_VERSION", "SamplesReport"]

REPORT_VERSION = 1


class SamplesReport:
    """A per-session plugin that collects sample results and reports them."""

    def __init__(self, config: pytest.Config, path: str | None) -> None:
        self.config = config
        self.path = path
        self.results: dict[str, dict[str, Any]] = {}
        self.sections: dict[str, Any] = {}
        """More top-level sections of the JSON report, e.g. ``conformance`` (its own plugin
        fills it in ``pytest_sessionfinish``, before this one writes the file)."""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        info = getattr(report, "llm_samples", None)
        if not info:
            return
        self.results[report.nodeid] = info
        xml = self._junit()
        if xml is not None:
            lo, hi = info["interval"]
            xml.add_global_property(
                f"llm_samples[{report.nodeid}]",
                f"{info['passed']}/{info['run']} passed, rate {info['pass_rate']:.2f}, "
                f"95% CI {lo:.2f}-{hi:.2f}, {info['verdict']}",
            )

    def _junit(self) -> Any:
        try:
            from _pytest.junitxml import xml_key
        except ImportError:  # pragma: no cover - junitxml is part of pytest
            return None
        return self.config.stash.get(xml_key, None)

    def rows(self) -> list[list[str]]:
        rows = []
        for nodeid, r in sorted(self.results.items()):
            lo, hi = r["interval"]
            first = r.get("first_failure") or {}
            msg = first.get("message", "")
            if first:
                msg = f"#{first['sample']}: {msg}"
            rows.append(
                [
                    nodeid,
                    f"{r['passed']}/{r['run']}"
                    + ("" if r["run"] == r["samples"] else f" of {r['samples']}"),
                    f"{r['pass_rate']:.0%}",
                    f"{lo:.0%}-{hi:.0%}",
                    r["verdict"],
                    msg if len(msg) <= 60 else msg[:57] + "...",
                ]
            )
        return rows

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results:
            return
        tr = terminalreporter
        tr.section("pytest-llm samples")
        header = ["test", "samples", "pass rate", "95% CI", "verdict", "first failure"]
        rows = self.rows()
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, *rows]:
            tr.write_line("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if self.path:
            tr.write_line(f"report written to {self.path}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.path or hasattr(self.config, "workerinput"):
            return  # xdist workers send their results to the controller
        doc = {
            "format": "pytest-llm-report",
            "version": REPORT_VERSION,
            "tests": [{"nodeid": k, **v} for k, v in sorted(self.results.items())],
            **self.sections,
        }
        path = Path(self.path)
        if not path.is_absolute():
            path = Path(self.config.invocation_params.dir) / path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
