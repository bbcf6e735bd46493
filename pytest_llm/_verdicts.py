"""Verdicts on ordinary tests: a passive check of how the client under test retried.

While a test that uses ``llm_fake``, ``llm_faults``, ``llm_server`` or a cassette
runs, the router appends ``(time on the test's clock, exchange, outcome)`` for every
request it answers (one list append: nothing is parsed on the request's path). When
the test's call phase is reported, :func:`analyse` groups the attempts per logical
call and looks for the patterns chaos tools grade a run by (see docs/verdicts.md).
Results travel on the test reports (``report.llm_verdicts``), so under pytest-xdist
the controller prints the one summary and writes the one report section.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import pytest

from ._clock import current_clock
from ._exchange import NOT_JSON, Exchange, Outcome, Part, Reply, TransportFailure
from ._marks import closest_marker
from ._outcome import annotate, watch_of
from ._retry_after import parse_retry_after
from ._sse import SSEParser

if TYPE_CHECKING:
    from ._flow import Router

__all__ = [
    "MODES",
    "VERDICTS",
    "Attempt",
    "Finding",
    "Verdicts",
    "analyse",
    "check_mode",
    "observe",
]

MODES = ("off", "report", "fail")

VERDICTS = (
    "retried_non_retryable",
    "retry_after_ignored",
    "no_backoff",
    "retry_storm",
    "stacked_retries",
    "restarted_after_output",
    "truncated_stream_accepted",
    "hammered_open_route",
)

OBSERVED = frozenset({"llm_fake", "llm_faults", "llm_server", "llm_cassette"})
"""Fixtures whose tests are watched (the ``llm_cassette`` marker adds its fixture)."""

NON_RETRYABLE_STATUS = frozenset({400, 401, 403, 404, 422})
NON_RETRYABLE_CODES = frozenset(
    {"insufficient_quota", "context_length_exceeded", "content_policy_violation", "content_filter"}
)
TRANSIENT_STATUS = frozenset({408, 409, 429})
NO_WAIT = 0.01
"""A retry sent less than this many seconds after the failure ended waited "not at all"."""
STORM_ATTEMPTS = 10
"""More attempts than this for one logical call is a storm."""
STORM_RATIO = 3.0
"""More retries per logical call than this over a test (of 3 calls or more) is a storm."""
BREAKER_THRESHOLD = 5
"""Consecutive infrastructure failures on a route after which a breaker would open."""
BREAKER_RESET = 30.0
"""Seconds such a breaker stays open before it lets one probe through."""
HAMMER_MIN = 2
"""Requests sent to an open route (beyond one probe) before ``hammered_open_route``."""

_END_EVENTS = frozenset(
    {"response.completed", "response.incomplete", "response.failed", "message_stop"}
)
"""Events that end a stream: the Responses API's, Anthropic's ``message_stop`` (Gemini's
streams end with a chunk whose candidate has a ``finishReason``)."""


def check_mode(value: Any, source: str) -> str:
    from ._errors import ConfigError
    from ._text import did_you_mean

    text = str(value).strip().lower()
    if text not in MODES:
        hint = did_you_mean(text, MODES, template=" (did you mean {!r}?)")
        raise ConfigError(
            f"{source}={value!r} is not a verdicts mode{hint}.\nFix: use one of: {', '.join(MODES)}."
        )
    return text


# -- what the router keeps --------------------------------------------------------------

Entry = tuple[float, Exchange, Outcome]


def observe(log: list[Entry] | None) -> list[Entry] | None:
    """Make ``log`` the router's log (``None``: stop); returns the previous one."""
    global _router
    router = _router
    if router is None:  # twice per watched test: a relative import in a function asks
        # the module's spec for its parent package each time (~1-2 us)
        from ._flow import router as the_router

        router = _router = the_router
    previous, router.log = router.log, log
    return previous


_router: Router | None = None


# -- one attempt, worked out at the end ---------------------------------------------------


@dataclass
class Attempt:
    """One request the harness answered, with what the analysis needs."""

    index: int
    start: float
    end: float | None
    """When the answer was over on the test's clock (``None``: never, an endless wait)."""
    key: tuple[str, str, str]
    route: tuple[str, str, str]
    status: int | None
    """``None``: the transport failed before any answer."""
    code: str | None = None
    should_retry: bool | None = None
    retry_after: float | None = None
    sdk_retry: int | None = None
    """The openai SDK's ``x-stainless-retry-count`` header (its own retry number)."""
    stream: bool = False
    content: int = 0
    """Content events sent before the stream ended or broke."""
    terminal: bool = False
    broken: bool = False
    """A transport failure, or an in-band error event, after the response started."""

    @property
    def failed(self) -> bool:
        return (
            self.status is None
            or self.status >= 400
            or self.broken
            or (self.stream and not self.terminal)
        )

    @property
    def non_retryable(self) -> bool:
        if self.status is None:
            return False
        if self.code in NON_RETRYABLE_CODES:
            return True
        return self.status in NON_RETRYABLE_STATUS and self.should_retry is not True

    @property
    def infrastructure(self) -> bool:
        """A failure a circuit breaker counts: 5xx, the transport, a broken stream."""
        return self.status is None or self.status >= 500 or self.broken

    @property
    def truncated(self) -> bool:
        return self.stream and not self.terminal and not self.broken and self.status == 200

    def describe(self) -> str:
        if self.status is None:
            return "transport failure"
        if self.broken:
            return f"{self.status} stream broken after {self.content} content events"
        if self.truncated:
            return f"{self.status} stream without its end"
        return f"{self.status} {self.code}" if self.code else str(self.status)


def _canonical(ex: Exchange) -> str:
    doc = ex.json
    if doc is not NOT_JSON:
        try:
            return json.dumps(doc, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            pass
    return ex.body.decode("utf-8", "replace")


def _error_code(body: bytes) -> str | None:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        code = err.get("code") or err.get("type")
        return str(code) if code else None
    return None


def _parts(reply: Reply) -> Iterable[Part]:
    """The parts a reply sent (a fault's scripted parts go out once: read the script)."""
    scripted = getattr(reply, "scripted", None)
    return scripted if isinstance(scripted, list) else reply.parts()


def _read_stream(a: Attempt, reply: Reply) -> float:
    """Fill the stream fields of ``a`` from the parts; returns the seconds they took."""
    parser = SSEParser()
    took = 0.0
    for part in _parts(reply):
        took += part.delay
        for ev in parser.feed(part.data):
            _event(a, ev.data, ev.event)
    for ev in parser.flush():
        _event(a, ev.data, ev.event)
    if reply.failure is not None:
        a.broken = True
        took += reply.failure.delay
    return took


def _event(a: Attempt, data: str, event: str | None) -> None:
    if data.strip() == "[DONE]":
        a.terminal = True
        return
    try:
        doc = json.loads(data)
    except ValueError:
        return
    if not isinstance(doc, dict):
        return
    kind = doc.get("type") or event
    if kind in _END_EVENTS:
        a.terminal = True
    elif event == "error" or kind == "error" or "error" in doc:
        a.broken = True
    elif isinstance(kind, str) and (kind.endswith(".delta") or kind == "content_block_delta"):
        a.content += 1
    elif isinstance(doc.get("candidates"), list):  # a Gemini chunk
        candidates = [c for c in doc["candidates"] if isinstance(c, dict)]
        if any(c.get("content") for c in candidates):
            a.content += 1
        if any(c.get("finishReason") for c in candidates):
            a.terminal = True
    else:
        for choice in doc.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and (delta.get("content") or delta.get("tool_calls")):
                a.content += 1
                break


def attempt_of(index: int, entry: Entry) -> Attempt | None:
    t, ex, outcome = entry
    if not isinstance(outcome, Reply | TransportFailure):
        return None  # forwarded to the real network: not judged
    body = ex.json
    model = str(body.get("model", "")) if isinstance(body, dict) else ""
    split = ex.url.split("/", 3)
    origin = "/".join(split[:3])
    a = Attempt(
        index=index,
        start=t,
        end=None,
        key=(ex.method, ex.path, _canonical(ex)),
        route=(origin, ex.path, model),
        status=None,
    )
    raw = ex.header("x-stainless-retry-count")
    if raw is not None and raw.isdigit():
        a.sdk_retry = int(raw)
    if isinstance(outcome, TransportFailure):
        a.end = t + outcome.delay if math.isfinite(outcome.delay) else None
        return a
    a.status = outcome.status
    should = outcome.header("x-should-retry")
    a.should_retry = None if should is None else should.strip().lower() == "true"
    a.retry_after = parse_retry_after(outcome.headers, now=current_clock().now())
    a.stream = _is_stream(outcome)
    took = outcome.delay
    if a.stream:
        took += _read_stream(a, outcome)
    else:
        took += sum(p.delay for p in _parts(outcome))
        if outcome.failure is not None:
            a.broken = True
            took += outcome.failure.delay
        if outcome.status >= 400:
            a.code = _error_code(outcome.body)
    a.end = t + took if math.isfinite(took) else None
    return a


def _is_stream(reply: Reply) -> bool:
    return (
        reply.events is not None or "event-stream" in (reply.header("content-type") or "").lower()
    )


# -- the analysis -------------------------------------------------------------------------


@dataclass
class Finding:
    verdict: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"verdict": self.verdict, "message": self.message}


@dataclass
class Call:
    """The attempts of one logical call: same method, path and body, each after a failure."""

    attempts: list[Attempt] = field(default_factory=list)

    @property
    def first(self) -> Attempt:
        return self.attempts[0]

    def label(self) -> str:
        return f"{self.first.key[0]} {self.first.key[1]} (request #{self.first.index + 1})"


def group(attempts: Sequence[Attempt]) -> list[Call]:
    """Attempts per logical call. A request is a retry of the last call with the same
    method, path and canonical body when that call's last attempt failed; after a
    success the same request is a new call (a second sample, a cache miss)."""
    calls: list[Call] = []
    open_calls: dict[tuple[str, str, str], Call] = {}
    for a in attempts:
        call = open_calls.get(a.key)
        if call is None or not call.attempts[-1].failed:
            call = Call()
            calls.append(call)
            open_calls[a.key] = call
        call.attempts.append(a)
    return calls


def _wait(prev: Attempt, nxt: Attempt) -> float | None:
    return None if prev.end is None else max(0.0, nxt.start - prev.end)


def analyse(entries: Sequence[Entry], *, passed: bool) -> list[Finding]:
    if len(entries) == 1 and not (isinstance(entries[0][2], Reply) and _is_stream(entries[0][2])):
        # Every verdict needs a second request, except a stream that ended too early:
        # the common test (one plain request) costs nothing to judge.
        return []
    attempts = [a for e in entries if (a := attempt_of(0, e)) is not None]
    for i, a in enumerate(attempts):
        a.index = i  # numbered among the requests judged (not those sent on to a socket)
    calls = group(attempts)
    found: dict[str, Finding] = {}

    def flag(verdict: str, message: str) -> None:
        found.setdefault(verdict, Finding(verdict, message))

    for call in calls:
        tries = call.attempts
        waits: list[float | None] = []
        for prev, nxt in pairwise(tries):
            wait = _wait(prev, nxt)
            waits.append(wait)
            if prev.non_retryable:
                flag(
                    "retried_non_retryable",
                    f"{call.label()}: retried after {prev.describe()}, which does not succeed "
                    "on a retry",
                )
            elif (
                prev.retry_after is not None and wait is not None and wait + 1e-6 < prev.retry_after
            ):
                flag(
                    "retry_after_ignored",
                    f"{call.label()}: retried {wait:g} s after {prev.describe()}, "
                    f"which said retry after {prev.retry_after:g} s",
                )
            if prev.stream and prev.content and (prev.broken or prev.truncated):
                flag(
                    "restarted_after_output",
                    f"{call.label()}: the stream broke after "
                    f"{_n(prev.content, 'content event', 'content events')} and "
                    "the same request was sent again from the start",
                )
        transient = [
            w
            for prev, w in zip(tries, waits, strict=False)
            if not prev.non_retryable and prev.retry_after is None and not prev.content
        ]
        if transient and all(w is not None and w < NO_WAIT for w in transient):
            flag(
                "no_backoff",
                f"{call.label()}: {_n(len(transient), 'retry', 'retries')} after transient "
                "failures, none of them waited",
            )
        if len(tries) > STORM_ATTEMPTS:
            flag(
                "retry_storm",
                f"{call.label()}: {len(tries)} attempts for one call (more than {STORM_ATTEMPTS})",
            )
        counts = [a.sdk_retry for a in tries]
        resets = sum(1 for p, n in pairwise(counts) if p is not None and p > 0 and n == 0)
        if resets:
            flag(
                "stacked_retries",
                f"{call.label()}: {len(tries)} attempts; the SDK's own retries "
                f"(x-stainless-retry-count up to {max(c for c in counts if c is not None)}) "
                f"started over {_n(resets, 'time', 'times')} by a retry loop around it",
            )
        last = tries[-1]
        if last.truncated and passed:
            flag(
                "truncated_stream_accepted",
                f"{call.label()}: the stream ended without its final event after "
                f"{_n(last.content, 'content event', 'content events')}; no retry, and the "
                "test passed",
            )
    retries = sum(len(c.attempts) - 1 for c in calls)
    if len(calls) >= 3 and retries > STORM_RATIO * len(calls):
        flag(
            "retry_storm",
            f"{retries} retries for {len(calls)} calls (more than {STORM_RATIO:g} per call)",
        )
    _hammer(attempts, flag)
    return [found[v] for v in VERDICTS if v in found]


def _hammer(attempts: Sequence[Attempt], flag: Any) -> None:
    """Simulate a breaker per route: opens after BREAKER_THRESHOLD consecutive
    infrastructure failures, stays open BREAKER_RESET s, then lets one probe through."""
    state: dict[tuple[str, str, str], tuple[int, float | None]] = {}
    hammered: dict[tuple[str, str, str], int] = {}
    for a in attempts:
        streak, opened = state.get(a.route, (0, None))
        if opened is not None and a.start < opened + BREAKER_RESET:
            hammered[a.route] = hammered.get(a.route, 0) + 1
        if a.infrastructure:
            streak += 1
            if streak >= BREAKER_THRESHOLD and (
                opened is None or a.start >= opened + BREAKER_RESET
            ):
                opened = a.end if a.end is not None else a.start
        else:
            streak, opened = 0, None
        state[a.route] = (streak, opened)
    for route, n in hammered.items():
        if n >= HAMMER_MIN:
            flag(
                "hammered_open_route",
                f"{route[2] or route[1]} at {route[0]}: {n} requests during a sustained failure "
                f"(a breaker would have been open after {BREAKER_THRESHOLD} failures for "
                f"{BREAKER_RESET:g} s)",
            )


def _ignored(item: pytest.Item) -> frozenset[str]:
    """The verdicts the test's ``llm_verdicts(ignore=...)`` marker leaves out."""
    marker = closest_marker(item, "llm_verdicts")  # no marker iterator per test
    if marker is None:
        return frozenset()
    raw = marker.kwargs.get("ignore", marker.args[0] if marker.args else ())
    names = [raw] if isinstance(raw, str) else list(raw)
    for name in names:
        if name not in VERDICTS:
            from ._text import did_you_mean

            hint = did_you_mean(str(name), VERDICTS, template=" (did you mean {!r}?)")
            pytest.fail(
                f"llm_verdicts(ignore=...): {name!r} is not a verdict{hint}.\n"
                f"Fix: use some of: {', '.join(VERDICTS)}.",
                pytrace=False,
            )
    return frozenset(names)


def _n(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# -- the pytest side ----------------------------------------------------------------------


class _Watch:
    """A watched test's log, the router's log it replaced, and the verdicts it ignores.

    Kept on the test's record (``_outcome``), which lets go of it at the teardown
    report; :meth:`end`, called on that report, puts the router's log back."""

    __slots__ = ("ended", "ignored", "log", "previous")

    def __init__(self, log: list[Entry], previous: list[Entry] | None) -> None:
        self.log = log
        self.previous = previous
        self.ignored: frozenset[str] = frozenset()
        self.ended = False

    def end(self, rep: pytest.TestReport | None = None) -> None:
        """After the test's teardown (its teardown report): the router's log as before."""
        if not self.ended:
            self.ended = True
            observe(self.previous)


SECTION_VERSION = 1


class Verdicts:
    """Per-test hooks (registered by the plugin's ``arm`` unless the mode is ``off``)."""

    def __init__(self, config: pytest.Config, mode: str) -> None:
        self.config = config
        self.mode = mode
        self.results: dict[str, list[dict[str, str]]] = {}
        self.last: _Watch | None = None
        """The last watch started: ended at the session's end if a test's teardown
        report never came (an ``Exit`` or ``KeyboardInterrupt`` in its teardown)."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        """The watch starts before every other setup hook, and ends on the test's
        teardown report (``_report.Outcomes``, right after every teardown hook): one
        hook per test, not a second one around its teardown."""
        if OBSERVED.isdisjoint(getattr(item, "fixturenames", ())):
            return (yield)  # not watched: nothing kept, nothing to undo
        log: list[Entry] = []
        watch = self.last = _Watch(log, observe(log))
        annotate(item, watch.end, teardown=True).watch = watch
        result = yield
        # after the other hooks' setup: an error here must not skip theirs
        watch.ignored = _ignored(item)
        return result

    def judge(self, item: pytest.Item, rep: pytest.TestReport) -> None:
        """The verdicts on a test's report, as it is made (``_report.Outcomes`` calls it)."""
        if rep.when != "call" or not rep.passed:
            return  # a failed test's failure says what went wrong: no verdicts
        watch = watch_of(item)
        if not isinstance(watch, _Watch):
            return  # not watched
        if not watch.log:
            return  # nothing answered
        try:
            findings = analyse(watch.log, passed=rep.passed)
        except Exception as exc:  # a bug here must never break the user's run
            with contextlib.suppress(Exception):
                item.warn(pytest.PytestWarning(f"pytest-llm verdicts: no verdicts ({exc!r})"))
            return
        ignored = watch.ignored
        findings = [f for f in findings if f.verdict not in ignored]
        if not findings:
            return
        rep.llm_verdicts = [f.as_dict() for f in findings]  # type: ignore[attr-defined]
        if self.mode == "fail":
            from ._report import MessageRepr

            lines = [f"pytest-llm verdicts ({_n(len(findings), 'finding', 'findings')}):"]
            lines += [f"  {f.verdict}: {f.message}" for f in findings]
            lines.append(
                "Fix: see docs/verdicts.md for each verdict, or run with --llm-verdicts=report."
            )
            rep.outcome = "failed"
            rep.longrepr = MessageRepr("\n".join(lines))  # type: ignore[assignment]

    def take(self, report: pytest.TestReport) -> None:
        """Keep a test's findings (each report goes through ``_report.Outcomes``)."""
        found = getattr(report, "llm_verdicts", None)
        if found:
            self.results[report.nodeid] = list(found)

    def section(self) -> dict[str, Any]:
        counts = {v: 0 for v in VERDICTS}
        for found in self.results.values():
            for f in found:
                counts[f["verdict"]] = counts.get(f["verdict"], 0) + 1
        return {
            "version": SECTION_VERSION,
            "mode": self.mode,
            "counts": {k: v for k, v in counts.items() if v},
            "tests": [{"nodeid": k, "findings": v} for k, v in sorted(self.results.items())],
        }

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results:
            return
        tr = terminalreporter
        tr.section("pytest-llm verdicts")
        for nodeid, found in sorted(self.results.items()):
            tr.write_line(nodeid)
            for f in found:
                tr.write_line(f"  {f['verdict']}: {f['message']}")
        n = sum(len(v) for v in self.results.values())
        tests = _n(len(self.results), "test", "tests")
        tail = "" if self.mode == "fail" else " (--llm-verdicts=fail fails them)"
        tr.write_line(f"{_n(n, 'finding', 'findings')} in {tests}{tail}; see docs/verdicts.md")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        last = self.last
        if last is not None:
            last.end()
        if hasattr(self.config, "workerinput"):
            return
        report = self.config.pluginmanager.get_plugin("llm-report")
        sections = getattr(report, "sections", None)
        if isinstance(sections, dict) and getattr(report, "path", None):
            sections["verdicts"] = self.section()
