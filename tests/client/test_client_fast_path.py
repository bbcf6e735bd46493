"""The fast paths agree with the full flow (issue 7's per-call overhead, issue 10's hits).

A call on a *lane* (``_plan.Lane``: no policy acts before the first reply), its shape's
first call included, makes its first attempt in the client's ``_plain``, one function
(``test_client_plain_path.py`` holds its later calls to the same); any failure there (an error, an
unusable 200, a stream broken before its first content) goes to the full flow
(``_plan._flow``) as that attempt's outcome, to be retried, failed over or raised.

Each scenario runs twice on the same fake provider, fault plan and virtual clock: on the
client as users build it (the fast path) and on a subclass that overrides a hook of the
full flow (``_client._HOOKS``: every call then takes the full flow). Both arms must agree
on everything a user can see: the result, ``call_info`` (route, attempts, waits, cache
status, tokens, cost, times), the error, the log events, the spans and metrics, the
breaker, the waits on the clock, and what the provider saw (requests, bodies, headers).

The same for a client with an exact cache (``Cache``, no semantic cache): its calls read
the cache before the flow is built (``_memo.read_first``); a hit is answered there, a
miss goes on into the full flow with its key and read done.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openai
import prometheus_client
import pytest
from client_helpers import Body200, Mode, key_for, route
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pytest_llm import VirtualClock, faults
from pytest_llm.client import (
    AsyncResilientClient,
    Cache,
    CircuitBreaker,
    ClientConfigError,
    InvalidResponse,
    QuotaExceeded,
    ResilientClient,
    Telemetry,
    call_info,
)
from pytest_llm.client import _client as client_module
from pytest_llm.client._plan import Lane

LOGGER = "pytest_llm.client"
MESSAGES = [{"role": "user", "content": "Capital of France?"}]


class FullFlow(ResilientClient):
    """Overrides a hook of the full flow, so every call takes it."""

    def _send(self, action: Any, timeout: Any) -> Any:
        return super()._send(action, timeout)


class AsyncFullFlow(AsyncResilientClient):
    async def _send(self, action: Any, timeout: Any) -> Any:
        return await super()._send(action, timeout)


@dataclass
class Scenario:
    routes: tuple[str, ...] = ("a",)
    options: Callable[[], dict[str, Any]] = dict
    setup: Callable[[Any, Any], None] = lambda fake, plan: None
    """Scripts the fake and the fault plan for one arm (called before each arm)."""
    api: str = "chat"
    kwargs: dict[str, Any] = field(default_factory=lambda: {"messages": MESSAGES})
    calls: int = 1
    error: type[BaseException] | None = None
    handover: bool = False
    """Whether the fast arm's first call goes to the full flow after its first attempt."""
    cache: str | None = None
    """``memory``, ``sqlite`` or ``failing``: the client's exact cache (a new one per arm)."""
    hits: int = 0
    """How many of the calls the cache answers."""


def _ok(fake: Any, plan: Any, times: int = 1) -> None:
    fake.add("Paris.", times=times)


STREAM = {"messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}

SCENARIOS = {
    "ok": Scenario(setup=_ok),
    "ok-stream": Scenario(
        setup=lambda fake, plan: fake.add(
            "Paris is the capital.", chunks=["Paris", " is", " the capital."]
        ),
        kwargs=STREAM,
    ),
    "ok-responses": Scenario(setup=_ok, api="responses", kwargs={"input": "Capital of France?"}),
    "ok-responses-stream": Scenario(
        setup=_ok, api="responses", kwargs={"input": "Capital of France?", "stream": True}
    ),
    "ok-embeddings": Scenario(api="embeddings", kwargs={"input": "Paris"}),
    "ok-named-model": Scenario(
        routes=("a", "b"),
        setup=lambda fake, plan: fake.add("from b", model="b"),
        kwargs={"messages": MESSAGES, "model": "b"},
    ),
    "ok-three-calls": Scenario(setup=lambda fake, plan: _ok(fake, plan, times=3), calls=3),
    "retry-503": Scenario(
        setup=lambda fake, plan: (plan.add(faults.ServerError(503), model="a"), _ok(fake, plan)),
        options=lambda: {"seed": 7},
        handover=True,
    ),
    "retry-after-429": Scenario(
        setup=lambda fake, plan: (
            plan.add(faults.RateLimited(retry_after=7), model="a"),
            _ok(fake, plan),
        ),
        handover=True,
    ),
    "fallback": Scenario(
        routes=("a", "b"),
        setup=lambda fake, plan: (
            plan.add(faults.ServerError(503), model="a", times=2),
            fake.add("from b", model="b"),
        ),
        options=lambda: {"max_retries": 1, "seed": 3},
        handover=True,
    ),
    "invalid-200": Scenario(
        setup=lambda fake, plan: (
            plan.add(Body200(body={"object": "chat.completion", "choices": []}), model="a"),
            _ok(fake, plan),
        ),
        options=lambda: {"seed": 1},
        handover=True,
    ),
    "stream-broken-before-content": Scenario(
        routes=("a", "b"),
        setup=lambda fake, plan: (
            plan.add(faults.StreamError(after_chunk=1, code="server_error"), model="a"),
            fake.add("Hello", chunks=["Hel", "lo"]),
        ),
        kwargs=STREAM,
        options=lambda: {"max_retries": 0},
        handover=True,
    ),
    "bad-request-400": Scenario(
        routes=("a", "b"),
        setup=lambda fake, plan: plan.add(faults.HTTPError(status=400), model="a"),
        error=openai.BadRequestError,
        handover=True,
    ),
    "quota": Scenario(
        setup=lambda fake, plan: plan.add(faults.InsufficientQuota(), model="a"),
        error=QuotaExceeded,
        handover=True,
    ),
    "every-route-fails": Scenario(
        routes=("a", "b"),
        setup=lambda fake, plan: plan.add(faults.ServerError(503), times=4),
        options=lambda: {"max_retries": 1, "seed": 5},
        error=openai.InternalServerError,
        handover=True,
    ),
    "invalid-200-every-time": Scenario(
        setup=lambda fake, plan: plan.add(
            Body200(body={"error": {"message": "upstream failed", "type": "server_error"}}),
            model="a",
            times=2,
        ),
        options=lambda: {"max_retries": 1, "seed": 2},
        error=InvalidResponse,
        handover=True,
    ),
    "breaker-opens-then-skips": Scenario(
        # call 1: a fails on the fast path, the breaker opens, b serves; calls 2 and 3:
        # a's circuit is open, so they take the full flow whole and skip a without I/O
        routes=("a", "b"),
        setup=lambda fake, plan: (
            plan.add(faults.ServerError(503), model="a"),
            fake.add("from b", model="b", times=3),
        ),
        options=lambda: {
            "max_retries": 0,
            "breaker": CircuitBreaker(failure_threshold=1, reset_timeout=30),
        },
        calls=3,
        handover=True,
    ),
}


class FailingBackend:
    """A cache backend that is down: every read and write raises."""

    name = "failing"

    def get(self, key: str) -> bytes | None:
        raise ConnectionError("backend down")

    def set(self, key: str, value: bytes, *, ttl: float | None, expires_at: float | None) -> None:
        raise ConnectionError("backend down")

    def delete(self, key: str) -> None:
        raise ConnectionError("backend down")

    def clear(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "FailingBackend()"


def _cache(kind: str, clock: Any, tmp_path: Any, fast: bool) -> Cache:
    if kind == "sqlite":
        return Cache(f"sqlite:///{tmp_path / ('fast.db' if fast else 'full.db')}", clock=clock)
    return Cache(FailingBackend() if kind == "failing" else "memory", clock=clock, ttl=60)


def _entries(cache: Cache) -> list[Any]:
    if isinstance(cache.backend, FailingBackend):
        return []
    data = getattr(cache.backend, "_data", None)
    if data is None:  # sqlite: read the rows back
        db = cache.backend._conn()  # type: ignore[attr-defined]
        rows = db.execute("SELECT key, value FROM cache_entries ORDER BY key").fetchall()
    else:
        rows = sorted(data.items())
    out = []
    for key, _ in rows:
        entry = cache.lookup(key).entry
        assert entry is not None
        ttl = None if entry.expires_at is None else entry.expires_at - entry.stored_at
        out.append((key, _strip(entry.payload), entry.meta, ttl))
    return out


CACHED = {"messages": MESSAGES, "temperature": 0}

CACHE_SCENARIOS = {
    "hit-memory": Scenario(setup=_ok, kwargs=CACHED, calls=3, cache="memory", hits=2),
    "hit-sqlite": Scenario(setup=_ok, kwargs=CACHED, calls=3, cache="sqlite", hits=2),
    "hit-responses": Scenario(
        setup=_ok,
        api="responses",
        kwargs={"input": "Capital of France?", "temperature": 0},
        calls=2,
        cache="memory",
        hits=1,
    ),
    "hit-embeddings": Scenario(
        api="embeddings", kwargs={"input": "Paris"}, calls=2, cache="memory", hits=1
    ),
    "hit-named-model-timeout-prompt": Scenario(
        routes=("a", "b"),
        setup=lambda fake, plan: fake.add("from b", model="b"),
        kwargs={
            **CACHED,
            "model": "b",
            "timeout": 30,
            "extra_headers": {"x-pytest-llm-prompt": "triage@v2"},
        },
        calls=2,
        cache="memory",
        hits=1,
    ),
    "miss-retried-then-hit": Scenario(
        setup=lambda fake, plan: (plan.add(faults.ServerError(503), model="a"), _ok(fake, plan)),
        options=lambda: {"seed": 7},
        kwargs=CACHED,
        calls=2,
        cache="memory",
        hits=1,
    ),
    "miss-coalesced-then-hit": Scenario(
        setup=_ok,
        options=lambda: {"coalesce": True},
        kwargs=CACHED,
        calls=2,
        cache="memory",
        hits=1,
    ),
    "miss-fails": Scenario(
        routes=("a", "b"),
        setup=lambda fake, plan: plan.add(faults.HTTPError(status=400), model="a", times=2),
        kwargs=CACHED,
        calls=2,
        cache="memory",
        error=openai.BadRequestError,
    ),
    "not-stored-length": Scenario(
        setup=lambda fake, plan: fake.add("Par", finish_reason="length", times=2),
        kwargs=CACHED,
        calls=2,
        cache="memory",
    ),
    "uncacheable": Scenario(
        setup=lambda fake, plan: _ok(fake, plan, times=2), calls=2, cache="memory"
    ),
    "stream-with-cache": Scenario(
        setup=lambda fake, plan: fake.add("Paris", chunks=["Par", "is"], times=2),
        kwargs={**STREAM, "temperature": 0},
        calls=2,
        cache="memory",
    ),
    "backend-down": Scenario(
        setup=lambda fake, plan: _ok(fake, plan, times=2), kwargs=CACHED, calls=2, cache="failing"
    ),
    "no-such-model": Scenario(
        kwargs={**CACHED, "model": "zzz"}, cache="memory", error=ClientConfigError
    ),
    "bad-timeout": Scenario(
        kwargs={**CACHED, "timeout": "soon"}, cache="memory", error=ClientConfigError
    ),
}


# -- one arm ----------------------------------------------------------------------------


@dataclass
class Seen:
    """Everything a user can see of one arm's calls, with times made relative."""

    results: list[Any]
    errors: list[Any]
    infos: list[Any]
    events: list[Any]
    spans: list[Any]
    metrics: list[Any]
    requests: list[Any]
    faults_seen: list[Any]
    sleeps: list[float]
    breaker: Any
    resumed: list[bool] = field(compare=False)
    """For each entry into the full flow: whether it took up a fast first attempt."""
    lanes: dict[Any, Any] = field(compare=False)
    reads: list[bool] = field(default_factory=list, compare=False)
    """For each read of the exact cache before the flow: whether it was a hit."""
    plain: int = field(default=0, compare=False)
    """How many calls took the client's short path (``_plain``)."""
    cached: list[Any] = field(default_factory=list)
    """The cache's entries after the calls (key, payload, meta)."""


def _dump(obj: Any) -> Any:
    """A reply or chunk as data, without the ids and timestamps the fake makes per request."""
    data = obj.model_dump() if hasattr(obj, "model_dump") else obj
    return _strip(data)


def _strip(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            k: _strip(v)
            for k, v in data.items()
            if k not in ("id", "created", "created_at", "item_id", "sequence_number")
        }
    if isinstance(data, list):
        return [_strip(v) for v in data]
    return data


def _info(info: Any, t0: float) -> dict[str, Any]:
    out = {f.name: getattr(info, f.name) for f in dataclasses.fields(info) if f.name != "extra"}
    out["attempts"] = [
        {**dataclasses.asdict(a), "started": a.started - t0, "ended": a.ended - t0}
        for a in info.attempts
    ]
    out["started"] = info.started - t0
    out["ended"] = info.ended - t0
    out["extra"] = {k: v for k, v in info.extra.items() if k != "telemetry"}
    out["summary"] = info.summary()
    return out


def _span(span: Any) -> tuple[Any, ...]:
    return (
        span.name,
        span.kind,
        span.parent is not None,
        dict(span.attributes),
        span.status.status_code,
        [(e.name, dict(e.attributes)) for e in span.events],
        span.end_time - span.start_time,
    )


def _metrics(registry: Any) -> list[tuple[Any, ...]]:
    return sorted(
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created")  # the real time a series was first seen
    )


def _method(client: Any, api: str) -> Any:
    if api == "chat":
        return client.chat.completions.create
    return client.responses.create if api == "responses" else client.embeddings.create


@dataclass
class Arm:
    """One arm's client (as users build it, or one that always takes the full flow) and
    what it records; :meth:`mark` notes where the calls under comparison begin."""

    client: Any
    exporter: InMemorySpanExporter
    registry: Any
    marks: tuple[int, ...] = ()

    @classmethod
    def build(
        cls, *, fast: bool, mode: Mode, scenario: Scenario, observed: bool, options: Any, clock: Any
    ) -> Arm:
        exporter = InMemorySpanExporter()
        registry = prometheus_client.CollectorRegistry()
        if observed:
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            options["telemetry"] = Telemetry(
                clock=clock,
                tracer_provider=provider,
                registry=registry,
                secrets=[key_for(m) for m in scenario.routes],
            )
        if mode.is_async:
            kind: Any = AsyncResilientClient if fast else AsyncFullFlow
        else:
            kind = ResilientClient if fast else FullFlow
        client = kind([route(m) for m in scenario.routes], clock=clock, **options)
        return cls(client, exporter, registry)

    def mark(self, fake: Any, plan: Any, clock: Any, caplog: Any) -> None:
        self.marks = (
            len(fake.requests),
            len(plan.log),
            len(clock.sleeps),
            len(caplog.records),
            len(self.exporter.get_finished_spans()),
        )

    def seen(self, fake: Any, plan: Any, clock: Any, caplog: Any, **calls: Any) -> Seen:
        """What a user sees since :meth:`mark`; ``calls``: the calls' own fields of
        :class:`Seen` (results, errors, infos, resumed, ...)."""
        n_requests, n_faults, n_sleeps, n_records, n_spans = self.marks
        client = self.client
        records = [r for r in caplog.records[n_records:] if r.name == LOGGER]
        return Seen(
            events=[(r.levelno, r.getMessage(), r.llm) for r in records],
            spans=[_span(s) for s in self.exporter.get_finished_spans()[n_spans:]],
            metrics=_metrics(self.registry),
            requests=[
                (r.method, r.path, r.json, sorted(r.exchange.headers))
                for r in fake.requests[n_requests:]
            ],
            faults_seen=[
                (a.method, a.url, a.model, type(a.fault).__name__ if a.fault else None)
                for a in plan.log[n_faults:]
            ],
            sleeps=clock.sleeps[n_sleeps:],
            breaker=client.breaker.snapshot(),
            lanes=dict(client._lanes),
            cached=[] if client.cache is None else _entries(client.cache),
            **calls,
        )


def run_arm(
    *,
    fast: bool,
    mode: Mode,
    scenario: Scenario,
    observed: bool,
    llm_fake: Any,
    llm_faults: Any,
    llm_clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any = None,
) -> Seen:
    scenario.setup(llm_fake, llm_faults)
    options = scenario.options()
    if scenario.cache is not None:
        options["cache"] = _cache(scenario.cache, llm_clock, tmp_path, fast)
    arm = Arm.build(
        fast=fast, mode=mode, scenario=scenario, observed=observed, options=options, clock=llm_clock
    )
    client = arm.client

    resumed: list[bool] = []
    run_call = client_module.run_call
    read_first, aread_first = client_module.read_first, client_module.aread_first
    reads: list[bool] = []

    plain_start = client_module.plain_start
    plain = 0

    def spy(call: Any) -> Any:
        resumed.append(call.resumed is not None)
        return run_call(call)

    def spy_start(*args: Any) -> Any:
        nonlocal plain
        plain += 1
        return plain_start(*args)

    def spy_read(*args: Any) -> Any:
        value = read_first(*args)
        reads.append(value is not None)
        return value

    async def spy_aread(*args: Any) -> Any:
        value = await aread_first(*args)
        reads.append(value is not None)
        return value

    monkeypatch.setattr(client_module, "run_call", spy)
    monkeypatch.setattr(client_module, "plain_start", spy_start)
    monkeypatch.setattr(client_module, "read_first", spy_read)
    monkeypatch.setattr(client_module, "aread_first", spy_aread)
    arm.mark(llm_fake, llm_faults, llm_clock, caplog)
    t0 = llm_clock.monotonic()
    results: list[Any] = []
    errors: list[Any] = []
    infos: list[Any] = []
    stream = bool(scenario.kwargs.get("stream"))

    async def acall() -> Any:
        got = await _method(client, scenario.api)(**scenario.kwargs)
        if stream:
            return got, [event async for event in got]
        return got, None

    for _ in range(scenario.calls):
        try:
            if mode.is_async:
                got, events = asyncio.run(acall())
            else:
                got = _method(client, scenario.api)(**scenario.kwargs)
                events = list(got) if stream else None
        except Exception as exc:
            errors.append((type(exc), str(exc), type(exc.__cause__)))
            try:
                infos.append(_info(call_info(exc), t0))
            except LookupError:  # a configuration error, raised before the call began
                infos.append(None)
            continue
        results.append([_dump(e) for e in events] if stream else _dump(got))
        infos.append(_info(call_info(got), t0))
    monkeypatch.setattr(client_module, "run_call", run_call)
    monkeypatch.setattr(client_module, "plain_start", plain_start)
    monkeypatch.setattr(client_module, "read_first", read_first)
    monkeypatch.setattr(client_module, "aread_first", aread_first)
    return arm.seen(
        llm_fake,
        llm_faults,
        llm_clock,
        caplog,
        results=results,
        errors=errors,
        infos=infos,
        resumed=resumed,
        reads=reads,
        plain=plain,
    )


# -- the tests --------------------------------------------------------------------------


@pytest.mark.parametrize("observed", [False, True], ids=["default-telemetry", "logs-spans-metrics"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_fast_path_and_the_full_flow_agree(
    name: str,
    observed: bool,
    mode: Mode,
    llm_fake: Any,
    llm_faults: Any,
    llm_clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = SCENARIOS[name]
    caplog.set_level(logging.DEBUG if observed else logging.WARNING, logger=LOGGER)
    arm = dict(
        mode=mode,
        scenario=scenario,
        observed=observed,
        llm_fake=llm_fake,
        llm_faults=llm_faults,
        llm_clock=llm_clock,
        caplog=caplog,
        monkeypatch=monkeypatch,
    )
    full = run_arm(fast=False, **arm)
    fast = run_arm(fast=True, **arm)

    # what each arm did: the full arm always ran the full flow, the fast arm only where
    # its first attempt failed (handed over) or a breaker was not closed
    assert full.resumed == [False] * scenario.calls
    assert not full.lanes or set(full.lanes.values()) == {None}
    assert any(isinstance(lane, Lane) for lane in fast.lanes.values())
    # every call of the fast arm, its shape's first included, took the short path
    assert (full.plain, fast.plain) == (0, scenario.calls)
    assert (fast.resumed[:1] == [True]) is scenario.handover
    if not scenario.handover:
        assert fast.resumed == []

    # ... and what a user sees: the same
    assert_a_user_sees_the_same(fast, full, scenario)
    if observed:  # the arms were observed: not an agreement on nothing
        assert fast.events
        assert fast.spans
        assert fast.metrics


def assert_a_user_sees_the_same(fast: Seen, full: Seen, scenario: Scenario) -> None:
    """Both arms' results, errors, call records, waits, telemetry, breaker and what the
    provider saw are equal, and the scenario's outcome is what it says."""
    assert fast.requests == full.requests
    assert fast.faults_seen == full.faults_seen
    assert fast.results == full.results
    assert fast.errors == full.errors
    assert fast.infos == full.infos
    assert fast.sleeps == full.sleeps
    assert fast.events == full.events
    assert fast.spans == full.spans
    assert fast.metrics == full.metrics
    assert fast.breaker == full.breaker
    if scenario.error is not None:
        assert len(fast.errors) == scenario.calls  # a stream's after content: a subclass
        assert all(issubclass(e[0], scenario.error) for e in fast.errors), fast.errors
    else:
        assert fast.errors == []
        assert len(fast.results) == scenario.calls


@pytest.mark.filterwarnings("ignore::pytest_llm.client.CacheBackendWarning")
@pytest.mark.parametrize("observed", [False, True], ids=["default-telemetry", "logs-spans-metrics"])
@pytest.mark.parametrize("name", list(CACHE_SCENARIOS))
def test_the_cache_read_first_and_the_full_flow_agree(
    name: str,
    observed: bool,
    mode: Mode,
    llm_fake: Any,
    llm_faults: Any,
    llm_clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    scenario = CACHE_SCENARIOS[name]
    caplog.set_level(logging.DEBUG if observed else logging.WARNING, logger=LOGGER)
    arm = dict(
        mode=mode,
        scenario=scenario,
        observed=observed,
        llm_fake=llm_fake,
        llm_faults=llm_faults,
        llm_clock=llm_clock,
        caplog=caplog,
        monkeypatch=monkeypatch,
        tmp_path=tmp_path,
    )
    full = run_arm(fast=False, **arm)
    fast = run_arm(fast=True, **arm)

    # the full arm never read first; the fast arm read first on every cacheable call,
    # and the hits were answered there
    assert full.reads == []
    assert fast.reads.count(True) == scenario.hits
    if name in ("uncacheable", "stream-with-cache", "no-such-model", "bad-timeout"):
        assert fast.reads == []
    else:
        assert len(fast.reads) == scenario.calls
    assert [i and i["cache"] for i in fast.infos].count("hit") == scenario.hits

    assert_a_user_sees_the_same(fast, full, scenario)
    if name != "stream-with-cache":  # a stream is never cached: its calls take the lane
        assert fast.resumed == full.resumed
    assert fast.cached == full.cached
    if observed and scenario.error is not ClientConfigError:  # (raised before the call)
        assert fast.events
        assert fast.spans
        assert fast.metrics


# -- what a call leaves behind ----------------------------------------------------------


def test_a_call_leaves_nothing_for_the_garbage_collector(
    mode: Mode, llm_fake: Any, llm_clock: VirtualClock
) -> None:
    """A call's records (its ``Call``, ``CallInfo``, attempts, the stream's tracker with
    every chunk's text) are freed when the caller drops the result, not left in reference
    cycles for the garbage collector: a cycle per call makes the collector run more
    often, and each run longer (issue 7's per-call overhead)."""
    import gc

    from pytest_llm.client import CallInfo
    from pytest_llm.client._stream import Tracker

    llm_fake.add("Paris is the capital.", chunks=["Paris", " is", " the capital."], times=None)
    client = mode.client(route("a"))

    async def acall(stream: bool) -> str:
        got = await client.chat.completions.create(messages=MESSAGES, stream=stream)
        if stream:
            return "".join([c.choices[0].delta.content or "" async for c in got if c.choices])
        return str(got.choices[0].message.content)

    def call(stream: bool) -> str:
        if mode.is_async:
            return asyncio.run(acall(stream))
        got = client.chat.completions.create(messages=MESSAGES, stream=stream)
        if stream:
            return "".join(c.choices[0].delta.content or "" for c in got if c.choices)
        return str(got.choices[0].message.content)

    for stream in (False, True, False, True):  # warm up: lanes, SDK clients, caches
        assert call(stream).startswith("Paris")
    gc.collect()
    gc.disable()
    try:
        for stream in (False, True, False, True):
            call(stream)
        left = [o for o in gc.get_objects() if isinstance(o, Tracker | CallInfo)]
    finally:
        gc.enable()
    assert left == []
