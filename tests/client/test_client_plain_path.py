"""A plain call on a lane already known agrees with the full flow (issue 7's overhead).

A call shape's first call decides its lane (``_client._Core._lane``) and makes its first
attempt in ``_plain`` (``test_client_fast_path.py`` compares that call with the full
flow). Every later call of the shape without ``timeout=`` takes ``_plain`` straight from
the resource's ``create``: no ``Call`` is built unless the full flow takes the call up, the
breaker's ticket is built only when the route's record changed during the call, and a
telemetry that would record nothing is not asked to. A streamed call of the shape takes
it too, its stream's end recording what the full flow's does. Here every scenario of
``test_client_fast_path`` without a cache (and the stream contracts of CONTRACTS D: a
failure after content, a truncated stream, idle and first-token timers, an early
``break``) runs after one successful warm-up call of the same shape, on the client as
users build it and on one that always takes the full flow; both arms must agree on
everything a user sees.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

import openai
import prometheus_client
import pytest
from client_helpers import MESSAGES, Mode, route
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_client_fast_path import (
    LOGGER,
    SCENARIOS,
    STREAM,
    Arm,
    AsyncFullFlow,
    FullFlow,
    Scenario,
    Seen,
    _dump,
    _info,
    _method,
    _metrics,
    assert_a_user_sees_the_same,
)

from pytest_llm import VirtualClock, faults
from pytest_llm.client import (
    AsyncResilientClient,
    CircuitBreaker,
    FirstTokenTimeout,
    IncompleteStream,
    ProviderStreamError,
    ResilientClient,
    StreamIdleTimeout,
    StreamInterrupted,
    Telemetry,
    Timeouts,
    call_info,
)
from pytest_llm.client import _client as client_module


def _paris(fake: Any, times: int = 1) -> None:
    fake.add("Paris is the capital.", chunks=["Paris", " is", " the capital."], times=times)


STREAM_SCENARIOS = {
    # after content reached the caller nothing is retried: partial text and usage on
    # the error (CONTRACTS D), the breaker's verdict at the stream's end
    "stream-fails-after-content": Scenario(
        setup=lambda fake, plan: (
            plan.add(faults.StreamError(after_chunk=2, code="server_error"), model="a"),
            _paris(fake),
        ),
        kwargs=STREAM,
        error=ProviderStreamError,
    ),
    "stream-truncated": Scenario(
        setup=lambda fake, plan: (plan.add(faults.TruncatedStream(), model="a"), _paris(fake)),
        kwargs=STREAM,
        error=IncompleteStream,
    ),
    "stream-idle-timeout": Scenario(
        setup=lambda fake, plan: (
            plan.add(faults.Stall(after_chunk=2, seconds=20), model="a"),
            _paris(fake),
        ),
        kwargs=STREAM,
        options=lambda: {"timeouts": Timeouts(chunk=5)},
        error=StreamIdleTimeout,
    ),
    "stream-first-token-timeout": Scenario(
        setup=lambda fake, plan: (
            plan.add(faults.Stall(after_chunk=0, seconds=20), model="a", times=2),
            _paris(fake, times=2),
        ),
        kwargs=STREAM,
        options=lambda: {"timeouts": Timeouts(first_token=5), "max_retries": 1, "seed": 4},
        error=FirstTokenTimeout,
        handover=True,
    ),
    "stream-no-usage": Scenario(  # estimated usage and its cost (47)
        setup=lambda fake, plan: _paris(fake),
        kwargs={"messages": MESSAGES, "stream": True},
    ),
    "stream-retry-503": Scenario(
        setup=lambda fake, plan: (plan.add(faults.ServerError(503), model="a"), _paris(fake)),
        kwargs=STREAM,
        options=lambda: {"seed": 7},
        handover=True,
    ),
    "stream-fallback": Scenario(
        routes=("a", "b"),
        setup=lambda fake, plan: (
            plan.add(faults.ServerError(503), model="a", times=2),
            fake.add("from b", model="b", chunks=["from", " b"]),
        ),
        kwargs=STREAM,
        options=lambda: {"max_retries": 1, "seed": 3},
        handover=True,
    ),
    "stream-breaker-opens-then-skips": Scenario(
        routes=("a", "b"),
        setup=lambda fake, plan: (
            plan.add(faults.ServerError(503), model="a"),
            fake.add("from b", model="b", chunks=["from", " b"], times=3),
        ),
        kwargs=STREAM,
        options=lambda: {
            "max_retries": 0,
            "breaker": CircuitBreaker(failure_threshold=1, reset_timeout=30),
        },
        calls=3,
        handover=True,
    ),
    "stream-breaker-opens-after-content": Scenario(
        # a failure after content is the stream's verdict: the breaker opens at its end
        routes=("a", "b"),
        setup=lambda fake, plan: (
            plan.add(faults.StreamError(after_chunk=2, code="server_error"), model="a"),
            _paris(fake),
        ),
        kwargs=STREAM,
        options=lambda: {"breaker": CircuitBreaker(failure_threshold=1, reset_timeout=30)},
        error=ProviderStreamError,
    ),
    "stream-early-break": Scenario(setup=lambda fake, plan: _paris(fake), kwargs=STREAM),
}
"""Stream contracts (CONTRACTS D) on a known lane, beside ``SCENARIOS``' streams."""

TAKE = {"stream-early-break": 2}
"""Scenarios whose caller breaks out of the stream after this many events."""

ALL = {**SCENARIOS, **STREAM_SCENARIOS}
PLAIN = list(ALL)


def run_warm_arm(
    *,
    fast: bool,
    mode: Mode,
    name: str,
    scenario: Scenario,
    observed: bool,
    llm_fake: Any,
    llm_faults: Any,
    llm_clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Seen, int]:
    """One arm: a warm-up call of the scenario's shape, then the scenario's calls.
    Returns what a user sees of the scenario's calls, and how many took ``_plain``."""
    arm = Arm.build(
        fast=fast,
        mode=mode,
        scenario=scenario,
        observed=observed,
        options=scenario.options(),
        clock=llm_clock,
    )
    client = arm.client

    stream = bool(scenario.kwargs.get("stream"))
    take = TAKE.get(name)
    closed: list[Any] = []

    def call() -> Any:
        """The call's result, or the events of its stream, read to its end (or broken
        out of after ``take``), with the stream the result's ``call_info`` comes from."""
        if mode.is_async:

            async def acall() -> Any:
                got = await _method(client, scenario.api)(**scenario.kwargs)
                if not stream:
                    return got, None
                events = []
                async for event in got:
                    events.append(event)
                    if len(events) == take:
                        break
                return got, events

            got, events = asyncio.run(acall())
        else:
            got = _method(client, scenario.api)(**scenario.kwargs)
            events = None
            if stream:
                events = []
                for event in got:
                    events.append(event)
                    if len(events) == take:
                        break
        if stream:
            closed.append(getattr(got.response, "is_closed", None))
        return got, events

    # the warm-up: the shape's first call decides its lane, and succeeds
    served_by = scenario.kwargs.get("model") or scenario.routes[0]
    if scenario.api != "embeddings":
        llm_fake.add("Warm.", model=served_by)
    call()
    closed.clear()
    scenario.setup(llm_fake, llm_faults)

    plain = 0
    resumed: list[bool] = []
    run_call, plain_start = client_module.run_call, client_module.plain_start

    def spy(call: Any) -> Any:
        resumed.append(call.resumed is not None)
        return run_call(call)

    def spy_start(*args: Any) -> Any:
        nonlocal plain
        plain += 1
        return plain_start(*args)

    monkeypatch.setattr(client_module, "run_call", spy)
    monkeypatch.setattr(client_module, "plain_start", spy_start)
    arm.mark(llm_fake, llm_faults, llm_clock, caplog)
    t0 = llm_clock.monotonic()
    results: list[Any] = []
    errors: list[Any] = []
    infos: list[Any] = []
    for _ in range(scenario.calls):
        try:
            got, events = call()
        except Exception as exc:
            errors.append(
                (type(exc), str(exc), type(exc.__cause__), getattr(exc, "partial_text", None))
            )
            infos.append(_info(call_info(exc), t0))
            continue
        results.append([_dump(e) for e in events] if stream else _dump(got))
        infos.append(_info(call_info(got), t0))
    monkeypatch.setattr(client_module, "run_call", run_call)
    monkeypatch.setattr(client_module, "plain_start", plain_start)

    seen = arm.seen(
        llm_fake,
        llm_faults,
        llm_clock,
        caplog,
        results=results,
        errors=errors,
        infos=infos,
        resumed=resumed,
        reads=closed,  # each stream's response closed once the caller was done
    )
    return seen, plain


@pytest.mark.parametrize("observed", [False, True], ids=["default-telemetry", "logs-spans-metrics"])
@pytest.mark.parametrize("name", PLAIN)
def test_a_plain_call_on_a_known_lane_and_the_full_flow_agree(
    name: str,
    observed: bool,
    mode: Mode,
    llm_fake: Any,
    llm_faults: Any,
    llm_clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = ALL[name]
    caplog.set_level(logging.DEBUG if observed else logging.WARNING, logger=LOGGER)
    arm = dict(
        mode=mode,
        name=name,
        scenario=scenario,
        observed=observed,
        llm_fake=llm_fake,
        llm_faults=llm_faults,
        llm_clock=llm_clock,
        caplog=caplog,
        monkeypatch=monkeypatch,
    )
    full, full_plain = run_warm_arm(fast=False, **arm)
    fast, fast_plain = run_warm_arm(fast=True, **arm)

    # every call of the fast arm took _plain (the full arm never), and went on into the
    # full flow only where its first attempt failed or the breaker was not closed
    assert full_plain == 0
    assert full.resumed == [False] * scenario.calls
    assert fast_plain == scenario.calls
    assert (fast.resumed[:1] == [True]) is scenario.handover
    if not scenario.handover:
        assert fast.resumed == []

    assert_a_user_sees_the_same(fast, full, scenario)
    assert fast.reads == full.reads
    assert all(fast.reads), fast.reads  # an early break closes the response too
    if scenario.error is not None and scenario.kwargs.get("stream") and not scenario.handover:
        # after content reached the caller: not retried, the partial text on the error
        assert all(issubclass(e[0], StreamInterrupted) and e[3] for e in fast.errors)
    if observed:
        assert fast.events
        assert fast.spans
        assert fast.metrics


def test_a_failure_recorded_during_a_plain_call_is_reset_by_its_success(
    llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    """A plain call admitted on a clean closed record builds no breaker ticket; when
    another call records a failure on the route meanwhile, its success is recorded all
    the same, resetting the count as the full flow's does (CONTRACTS F)."""
    llm_fake.add("Warm.", times=None)

    def run(cls: Any) -> Any:
        breaker = CircuitBreaker(clock=llm_clock, failure_threshold=3)
        client = cls([route("a")], clock=llm_clock, breaker=breaker, max_retries=0)
        key = route("a").key

        async def go() -> Any:
            await client.chat.completions.create(messages=MESSAGES)  # decides the lane
            llm_faults.add(faults.Slow(seconds=2), model="a", times=1)
            llm_faults.add(faults.ServerError(503), model="a", times=1)
            slow = asyncio.ensure_future(client.chat.completions.create(messages=MESSAGES))
            await llm_clock.asleep(1)  # the slow call was admitted and waits on the fake
            with pytest.raises(openai.InternalServerError):
                await client.chat.completions.create(messages=MESSAGES)
            failures = breaker.store.get(key).failures
            await slow
            return failures, breaker.store.get(key)

        return asyncio.run(go())

    fast_failures, fast_record = run(AsyncResilientClient)
    full_failures, full_record = run(AsyncFullFlow)
    assert fast_failures == full_failures == 1  # the failure was counted meanwhile
    assert fast_record == full_record
    assert fast_record.failures == 0  # and the slow call's success reset it


@pytest.mark.parametrize("debug", [False, True], ids=["warning", "debug"])
@pytest.mark.parametrize("metrics", [False, True], ids=["no-metrics", "metrics"])
@pytest.mark.parametrize("spans", [False, True], ids=["no-sdk", "sdk"])
def test_telemetry_is_quiet_exactly_when_a_success_records_nothing(
    debug: bool,
    metrics: bool,
    spans: bool,
    llm_clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``Telemetry.quiet`` (the plain path skips recording a success when it says so) is
    true exactly when recording a successful attempt and call emits no log record, span
    or metric sample."""
    from pytest_llm.client import CallInfo
    from pytest_llm.client._events import Attempt

    caplog.set_level(logging.DEBUG if debug else logging.WARNING, logger=LOGGER)
    exporter = InMemorySpanExporter()
    provider = None
    if spans:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = prometheus_client.CollectorRegistry() if metrics else None
    telemetry = Telemetry(clock=llm_clock, tracer_provider=provider, registry=registry)
    before = _metrics(registry) if registry is not None else []

    handle = telemetry.start("chat", "a", base_url="https://api.example.com/v1")
    info = CallInfo(api="chat", requested_model="a")
    attempt = Attempt(number=1, route="a", model="a", base_url="", started=0.0)
    attempt.ended, attempt.status = 0.5, 200
    attempt.usage = {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5, "cached_tokens": 0}
    info.attempts.append(attempt)
    quiet = telemetry.quiet(handle)
    n_records = len(caplog.records)
    telemetry.record_attempt(info, attempt, handle)
    info.route, info.ended = "a", 0.5
    telemetry.record_finish(info, None, handle)

    emitted = (
        [r for r in caplog.records[n_records:] if r.name == LOGGER],
        exporter.get_finished_spans(),
        (_metrics(registry) if registry is not None else []) != before,
    )
    assert quiet is (emitted == ([], (), False)), emitted
    assert quiet is not (debug or metrics or spans)


@pytest.mark.parametrize("cls", [ResilientClient, FullFlow], ids=["plain", "full-flow"])
def test_a_plain_call_on_the_flow_clock_reads_the_clock_it_stands_for(
    cls: Any, llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    """A client on the default clock (the flow clock: the test's virtual one while
    ``llm_clock`` is active): the plain path reads that clock directly, with the same
    readings as the full flow's."""
    llm_fake.add("Paris.", times=None)
    client = cls([route("a")])  # no clock=: the flow clock
    client.chat.completions.create(messages=MESSAGES)  # decides the lane
    llm_faults.add(faults.Slow(seconds=2), model="a", times=1)
    t0 = llm_clock.monotonic()
    info = call_info(client.chat.completions.create(messages=MESSAGES))
    (attempt,) = info.attempts
    assert (info.started, attempt.started) == (t0, t0)
    assert (attempt.ended, info.ended) == (t0 + 2, t0 + 2)
    assert client.latency.percentile(route("a").key, 100, 1) == 2.0


def test_call_info_answers_for_the_latest_call_and_goes_with_the_result() -> None:
    """``attach_info`` keeps one weak reference per result: attaching again (a shared
    value) replaces the info, and nothing is kept once the result is gone."""
    from pytest_llm.client import CallInfo, _events

    class Reply:  # unhashable, and its == must never run (a pydantic model's compares)
        __hash__ = None  # type: ignore[assignment]

        def __eq__(self, other: object) -> bool:
            raise AssertionError("compared")

    kept = len(_events._BESIDE)
    reply, first, second = Reply(), CallInfo(api="chat"), CallInfo(api="chat")
    _events.attach_info(reply, first)
    assert call_info(reply) is first
    _events.attach_info(reply, second)
    assert call_info(reply) is second
    assert len(_events._BESIDE) == kept + 1
    del reply
    assert len(_events._BESIDE) == kept
    with pytest.raises(LookupError, match=r"did not come from a pytest_llm\.client call"):
        call_info(Reply())


API_CALLS = {
    "chat": {"messages": MESSAGES, "extra_headers": {"x-pytest-llm-prompt": "triage@v2"}},
    "responses": {"input": "Capital of France?"},
    "embeddings": {"input": "Capital of France?"},
}


def _warm_result(mode: Mode, client: Any, api: str, llm_fake: Any) -> Any:
    """The result of a second call of the shape (the first decides its lane)."""
    for _ in range(2):
        if api != "embeddings":
            llm_fake.add("Paris.", model="a")
        got = mode.call(_method(client, api), model="a", **API_CALLS[api])
    return got


def _pending(obj: Any) -> list[Any]:
    from pytest_llm.client import _events

    return [r for r in weakref.getweakrefs(obj) if type(r) is _events._Pending]


@pytest.mark.parametrize("api", list(API_CALLS))
def test_a_quiet_call_builds_its_call_info_when_asked_as_the_full_flow_has_it(
    api: str, mode: Mode, llm_fake: Any, llm_clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A plain call whose telemetry records nothing (logs above DEBUG, no span, no
    metrics) keeps what it knew beside its result and builds its ``call_info`` when first
    asked: the same as the full flow's (a priced route: usage and cost; a prompt header),
    built once, the no-span telemetry handle included."""
    from pytest_llm.client import Price
    from pytest_llm.client._telemetry import CallHandle

    caplog.set_level(logging.WARNING, logger=LOGGER)
    price = Price(input=0.15, output=0.6)
    infos = []
    for cls in (
        (AsyncResilientClient, AsyncFullFlow) if mode.is_async else (ResilientClient, FullFlow)
    ):
        client = cls([route("a", price=price)], clock=llm_clock)
        t0 = llm_clock.monotonic()
        got = _warm_result(mode, client, api, llm_fake)
        if cls in (ResilientClient, AsyncResilientClient):
            (ref,) = _pending(got)  # nothing built yet
            assert not hasattr(ref, "info")
            info = call_info(got)
            assert call_info(got) is info is ref.info  # built once, then kept
            handle = info.extra["telemetry"]
            assert type(handle) is CallHandle
            assert (handle.api, handle.request_model, handle.span) == (api, "a", None)
            assert (handle.wall, handle.mono, handle.recording) == (0, 0.0, False)
        else:
            assert not _pending(got)
            info = call_info(got)
        infos.append(_info(info, t0))
    plain, full = infos
    assert plain == full
    assert plain["cost"] > 0
    assert plain["usage"]["total_tokens"] > 0
    assert plain["prompt"] == ("triage@v2" if api == "chat" else None)


def test_a_listener_enabled_after_construction_sees_every_event(
    mode: Mode, llm_fake: Any, llm_clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Whether a call's records are for nobody is decided per call: a logger set to DEBUG
    after the client was built and its lane decided gets the attempt's and the call's
    events of the next call (the same as the full flow's), and the call's info is built
    with them; at WARNING again, the next call records nothing and builds none."""
    caplog.set_level(logging.WARNING, logger=LOGGER)
    events: dict[str, list[Any]] = {}
    for name, cls in (
        ("plain", AsyncResilientClient if mode.is_async else ResilientClient),
        ("full", AsyncFullFlow if mode.is_async else FullFlow),
    ):
        client = cls([route("a")], clock=llm_clock)
        llm_fake.add("Paris.", model="a", times=3)
        mode.call(client.chat.completions.create)  # decides the lane
        quiet = mode.call(client.chat.completions.create)
        assert bool(_pending(quiet)) is (name == "plain")
        assert not [r for r in caplog.records if r.name == LOGGER]
        caplog.set_level(logging.DEBUG, logger=LOGGER)
        t0 = llm_clock.monotonic()
        heard = mode.call(client.chat.completions.create)
        assert not _pending(heard)
        records = [r for r in caplog.records if r.name == LOGGER]
        events[name] = [
            (r.levelname, r.getMessage(), {k: v for k, v in r.llm.items() if k != "ts"})
            for r in records
        ] + [_info(call_info(heard), t0)]
        assert [r.llm["event"] for r in records] == ["attempt", "call"]
        caplog.set_level(logging.WARNING, logger=LOGGER)
        caplog.clear()
    assert events["plain"] == events["full"]


def test_a_reply_without_weak_references_gets_its_info_built_at_once(
    llm_fake: Any, llm_clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``attach_pending`` on a result that takes no weak reference builds its info at once
    (kept on the object, as ``attach_info`` keeps it): the same info."""
    from pytest_llm.client import _events

    llm_fake.add("Paris.", model="a", times=2)
    client = ResilientClient([route("a")], clock=llm_clock)
    client.chat.completions.create(messages=MESSAGES)  # decides the lane
    kept: list[Any] = []
    attach = client_module.attach_pending

    def spy(value: Any, facts: Any, build: Any) -> None:
        kept.append((facts, build))
        attach(value, facts, build)

    monkeypatch.setattr(client_module, "attach_pending", spy)
    got = client.chat.completions.create(messages=MESSAGES)
    ((facts, build),) = kept

    class Slotted:  # no __weakref__: attach_info keeps the info on the instance
        __slots__ = ("_pytest_llm_call", "usage")

    other = Slotted()
    other.usage = got.usage
    _events.attach_pending(other, facts, build)
    assert object.__getattribute__(other, "_pytest_llm_call") is call_info(other)
    assert _info(call_info(other), 0.0) == _info(call_info(got), 0.0)


def test_the_latency_tracker_keeps_every_sample_of_concurrent_calls() -> None:
    """``LatencyTracker.observe`` takes no lock once a route has its samples (a call adds
    one with a single ``deque.append``): threads adding at once, to a route none of them
    has seen before, lose no sample, and ``percentile`` reads them all."""
    import threading

    from pytest_llm.client._client import LatencyTracker

    tracker = LatencyTracker(size=8 * 500)
    go = threading.Barrier(8)

    def add(n: int) -> None:
        go.wait()
        for i in range(500):
            tracker.observe("a", float(n * 500 + i))

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tracker.percentile("a", 100, 1) == 8 * 500 - 1
    assert tracker.percentile("a", 50, 8 * 500) == 8 * 500 / 2 - 1
    assert tracker.percentile("a", 50, 8 * 500 + 1) is None
    assert tracker.percentile("b", 50, 1) is None  # no sample: nothing to read
    small = LatencyTracker(size=3)
    for seconds in (5.0, 1.0, 2.0, 3.0):
        small.observe("a", seconds)
    assert small.percentile("a", 100, 3) == 3.0  # the oldest sample left


def _read_stream(
    mode: Mode, client: Any, kwargs: dict[str, Any], ask: str
) -> tuple[Any, list[Any]]:
    """A stream of ``client`` read to its end, and its ``call_info`` when asked ``before``
    its first event or ``during`` it (after the second)."""
    asked: list[Any] = []
    if mode.is_async:

        async def go() -> Any:
            stream = await client.chat.completions.create(model="a", **kwargs)
            if ask == "before":
                asked.append(call_info(stream))
            n = 0
            async for _ in stream:
                n += 1
                if n == 2 and ask == "during":
                    asked.append(call_info(stream))
            return stream

        return asyncio.run(go()), asked
    stream = client.chat.completions.create(model="a", **kwargs)
    if ask == "before":
        asked.append(call_info(stream))
    for n, _ in enumerate(stream, 1):
        if n == 2 and ask == "during":
            asked.append(call_info(stream))
    return stream, asked


@pytest.mark.parametrize("ask", ["after", "during", "before"])
@pytest.mark.parametrize("usage", [True, False], ids=["usage", "no-usage"])
def test_a_quiet_stream_builds_its_call_info_when_asked_as_the_full_flow_has_it(
    ask: str,
    usage: bool,
    mode: Mode,
    llm_fake: Any,
    llm_clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A quiet plain call's stream builds no ``CallInfo`` while nobody asks: asked for
    after the stream ended, during it or before its first event, ``call_info(stream)``
    (and ``stream.info``, the same object) is the full flow's, on a priced route (the
    cost from the stream's usage, or from its estimate when it carried none: the
    estimate is made when the stream ends, as the full flow makes it)."""
    from pytest_llm.client import Price

    caplog.set_level(logging.WARNING, logger=LOGGER)
    kwargs = STREAM if usage else {"messages": MESSAGES, "stream": True}
    price = Price(input=0.15, output=0.6)
    infos = []
    for cls in (
        (AsyncResilientClient, AsyncFullFlow) if mode.is_async else (ResilientClient, FullFlow)
    ):
        client = cls([route("a", price=price)], clock=llm_clock)
        _paris(llm_fake, times=2)
        _read_stream(mode, client, kwargs, "after")  # decides the lane
        t0 = llm_clock.monotonic()
        stream, asked = _read_stream(mode, client, kwargs, ask)
        if cls in (ResilientClient, AsyncResilientClient) and ask == "after":
            assert (stream._info is None) is usage  # nothing built while nobody asked
        info = call_info(stream)
        assert info is stream.info
        assert asked == ([] if ask == "after" else [info])
        infos.append(_info(info, t0))
    plain, full = infos
    assert plain == full
    assert plain["cost"] > 0
    assert plain["usage"]["total_tokens" if usage else "estimated"]


@pytest.mark.parametrize("kwargs", [{}, {"stream": True}], ids=["plain", "stream"])
def test_a_shapes_later_calls_go_from_create_straight_to_the_short_path(
    kwargs: dict[str, Any],
    mode: Mode,
    llm_fake: Any,
    llm_clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A shape's first call decides its lane in ``_run``; every later one, streamed or
    not, goes from the resource's ``create`` to ``_plain`` without it (``_plain_lane``:
    the exact-cache question decided by that first call too)."""
    cls = AsyncResilientClient if mode.is_async else ResilientClient
    runs: list[str] = []
    run = cls._run

    if mode.is_async:

        async def spy(self: Any, *args: Any, **kw: Any) -> Any:
            runs.append(args[0])
            return await run(self, *args, **kw)

    else:

        def spy(self: Any, *args: Any, **kw: Any) -> Any:
            runs.append(args[0])
            return run(self, *args, **kw)

    monkeypatch.setattr(cls, "_run", spy)
    client = cls([route("a")], clock=llm_clock)
    llm_fake.add("Paris.", times=None)

    async def acall() -> Any:
        got = await client.chat.completions.create(messages=MESSAGES, **kwargs)
        return [e async for e in got] if kwargs else got

    for _ in range(3):
        if mode.is_async:
            got = asyncio.run(acall())
        else:
            got = client.chat.completions.create(messages=MESSAGES, **kwargs)
            got = list(got) if kwargs else got
        assert got
    assert runs == ["chat"]
