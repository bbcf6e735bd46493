"""What pytest-llm reports: its failures as messages, cassettes written, pass rates.

:class:`Outcomes` is the per-test report hook (it remembers each test's reports for
:func:`pytest_llm._outcome.failed`); the plugin registers it, and the rest of this
module, only once a test uses pytest-llm. Results travel on the test reports (``report.llm_cassette``, ``report.llm_samples``),
so under pytest-xdist the controller sees every worker's results and writes the one
summary and the one report (terminal table, JSON file, JUnit XML).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ._errors import CassetteError, ConfigError, ReplayInterrupt
from ._miss import Missed, caused_by_miss, missed
from ._outcome import remember

__all__ = [
    "REPORT_VERSION",
    "CassetteSummary",
    "LoggedReports",
    "MessageRepr",
    "Outcomes",
    "SamplesReport",
]

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

    def take(self, report: pytest.TestReport) -> None:
        """Keep a test's pass rate (each report goes through :class:`Outcomes`)."""
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


class CassetteSummary:
    """Collects what cassettes were written, from this process or from xdist workers."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.written: list[dict[str, Any]] = []
        self.not_written: list[dict[str, Any]] = []

    def take(self, report: pytest.TestReport) -> None:
        """Keep what a test's cassette wrote (each report goes through :class:`Outcomes`)."""
        info = getattr(report, "llm_cassette", None)
        if info:
            (self.not_written if info.get("not_written") else self.written).append(info)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not (self.written or self.not_written):
            return
        tr = terminalreporter
        tr.section("pytest-llm")
        if self.written:
            # one line per file: tests that share a cassette add up
            files: dict[str, dict[str, Any]] = {}
            for w in self.written:
                f = files.setdefault(str(w["path"]), {**w, "recorded": 0})
                f["recorded"] += int(w["recorded"])
                f["set_aside"] = f.get("set_aside") or w.get("set_aside")
            n = sum(f["recorded"] for f in files.values())
            tr.write_line(
                f"recorded {_plural(n, 'interaction')} into {_plural(len(files), 'cassette')}:"
            )
            for w in sorted(files.values(), key=lambda w: str(w["path"])):
                aside = w.get("set_aside")
                why = f", replaces an unreadable file kept as {Path(aside).name}" if aside else ""
                tr.write_line(f"  {_rel(self.config, w['path'])} (+{w['recorded']}{why})")
        for w in self.not_written:
            tr.write_line(f"not written: {w['not_written']}")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _rel(config: pytest.Config, path: str) -> str:
    try:
        return str(Path(path).relative_to(config.rootpath))
    except ValueError:
        return path


class Outcomes:
    """Remembers each test's reports and shows pytest-llm's own failures as messages.

    The one per-test report hook of the plugin: the verdicts' judgement of a report
    (``judge``) and each collector's look at a report (``takers``: the summary, the
    JSON report, drift, verdicts) go through it, one hook call per report instead of
    one per part. The takers look at a report as it is made, once every part has
    annotated it (pytest logs each report it makes at once, this one object); only a
    process whose reports are made elsewhere, pytest-xdist's controller, hands them
    the logged reports (:class:`LoggedReports`, ``take=False`` here).
    """

    def __init__(
        self,
        takers: Sequence[Callable[[pytest.TestReport], None]] = (),
        judge: Callable[[pytest.Item, pytest.TestReport], None] | None = None,
        *,
        take: bool = True,
    ) -> None:
        self.takers = tuple(takers) if take else ()
        self.judge = judge

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        rep = yield
        test = remember(item, rep)
        when = call.when
        # answered in this phase (most phases have none: no node id formatted for them;
        # the log's own list read, not its __bool__, as every report asks)
        misses = missed.take(f"{item.nodeid} ({when})") if missed._items else []
        exc = call.excinfo
        if exc is not None and (
            shown_as_message(exc.value)
            # a marker keyword or llm_cassette_config key we cannot use: the message
            # names it, a traceback would only show the plugin's fixtures
            or (when == "setup" and isinstance(exc.value, ConfigError))
        ):
            # Show the miss itself, not a traceback through the SDK's internals.
            rep.longrepr = MessageRepr(str(exc.value))  # type: ignore[assignment]
        elif misses:
            _show_misses(rep, call, misses)
        for annotator in test.annotators:
            annotator(rep)
        if when == "teardown":
            closing = test.closing
            if closing is not None:
                for annotator in closing:
                    annotator(rep)
        elif when == "call" and self.judge is not None:
            self.judge(item, rep)  # the verdicts judge a test's call report only
        if self.takers and not CARRIED.isdisjoint(rep.__dict__):
            for take in self.takers:
                take(rep)
        return rep


class LoggedReports:
    """The takers of :class:`Outcomes` on logged reports, in pytest-xdist's controller
    only: its reports come from the workers (no report is made there)."""

    def __init__(self, takers: Sequence[Callable[[pytest.TestReport], None]]) -> None:
        self.takers = tuple(takers)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if CARRIED.isdisjoint(report.__dict__):
            return  # most reports carry nothing of pytest-llm's: no taker to ask
        for take in self.takers:
            take(report)


CARRIED = frozenset({"llm_cassette", "llm_samples", "llm_drift", "llm_verdicts"})
"""The report attributes :class:`Outcomes`' takers read (the summary, the JSON report,
drift, verdicts: one each); a report with none of them is skipped in one look."""


def _show_misses(rep: pytest.TestReport, call: pytest.CallInfo[None], misses: list[Missed]) -> None:
    """A miss the SDK was answered for (:mod:`pytest_llm._miss`) is the test's failure:
    the SDK's status error for it shows as the miss's own message; a failure that came
    later (the application caught the error, then an assertion failed) shows after it."""
    if rep.failed:
        text = misses[0].message
        if call.excinfo is None or not caused_by_miss(call.excinfo.value):
            text += f"\n\nafter the miss, the test failed with:\n{rep.longrepr}"
        rep.longrepr = MessageRepr(text)  # type: ignore[assignment]


def shown_as_message(exc: BaseException) -> bool:
    """Failures whose message says it all: a traceback would only show our internals."""
    if isinstance(exc, ReplayInterrupt | CassetteError):
        return True
    samples = sys.modules.get("pytest_llm.assertions._samples")
    return samples is not None and isinstance(exc, samples.SamplesFailed)


class _Crash:
    def __init__(self, message: str) -> None:
        self.message = message
        self.path = ""
        self.lineno = 0


class MessageRepr:
    """A failure shown as its message: in full below FAILURES, one line in the summary."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.reprcrash = _Crash(text.splitlines()[0] if text else "")

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text
