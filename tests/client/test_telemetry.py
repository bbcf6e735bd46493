"""Telemetry: per-attempt log events, OpenTelemetry spans and Prometheus metrics, fed
with hand-built CallInfo/Attempt records (the client's end-to-end tests live elsewhere)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

try:  # the HTTP library of the installed openai SDK: httpx2 under 3.x, httpx under 2.x
    import httpx2
except ImportError:  # pragma: no cover - openai 2.x environments
    import httpx as httpx2  # type: ignore[no-redef]
import openai
import prometheus_client
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from pytest_llm import VirtualClock
from pytest_llm.client import ClientConfigError, DeadlineExceeded
from pytest_llm.client._events import Attempt, CallInfo
from pytest_llm.client._telemetry import LOGGER_NAME, Scrubber, Telemetry

MINI = "gpt-4o-mini@api.openai.com"
BIG = "gpt-4o@api.openai.com"
OPENAI = "https://api.openai.com/v1"


def att(number: int, route: str = MINI, **kw: Any) -> Attempt:
    model = route.partition("@")[0]
    kw.setdefault("started", float(number))
    kw.setdefault("ended", kw["started"] + 0.5)
    return Attempt(number=number, route=route, model=model, base_url=OPENAI, **kw)


def fail503(number: int, route: str = MINI, **kw: Any) -> Attempt:
    return att(
        number,
        route,
        status=503,
        error="InternalServerError",
        kind="server",
        reason="503 server_error",
        **kw,
    )


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    return tp


@pytest.fixture
def registry() -> prometheus_client.CollectorRegistry:
    return prometheus_client.CollectorRegistry()


@pytest.fixture
def tel(
    clock: VirtualClock, provider: TracerProvider, registry: prometheus_client.CollectorRegistry
) -> Telemetry:
    return Telemetry(clock=clock, tracer_provider=provider, registry=registry)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    return caplog


def records(caplog: pytest.LogCaptureFixture, event: str = "attempt") -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER_NAME and r.llm["event"] == event]


def run(
    tel: Telemetry,
    clock: VirtualClock,
    attempts: list[Attempt],
    *,
    error: BaseException | None = None,
    api: str = "chat",
    model: str = "gpt-4o-mini",
    thens: dict[int, Any] | None = None,
) -> CallInfo:
    """Feed one call through telemetry the way the client does."""
    call = CallInfo(api=api, requested_model=model, started=clock.monotonic())
    handle = tel.start(api, model, base_url=OPENAI)
    for a in attempts:
        call.attempts.append(a)
        tel.attempt(call, a, handle, then=(thens or {}).get(a.number))
    last = attempts[-1] if attempts else None
    if error is None and last is not None:
        call.route, call.model, call.base_url = last.route, last.model, last.base_url
        call.usage = last.usage
    call.cost = sum(a.cost for a in attempts)
    call.ended = max([call.started, *(a.ended for a in attempts)])
    tel.finish(call, error, handle)
    return call


def sample(registry: prometheus_client.CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


# -- log events -----------------------------------------------------------------------


def test_a_retry_is_one_info_line_with_its_fields(
    tel: Telemetry, clock: VirtualClock, logs: pytest.LogCaptureFixture
) -> None:
    first = fail503(1, wait=1.2, limiter_wait=0.25)
    second = att(2, status=200, usage={"prompt_tokens": 12, "completion_tokens": 5}, cost=0.001)
    second.ended = second.started + 0.84
    run(tel, clock, [first, second])

    one, two = records(logs)
    assert one.levelno == logging.INFO
    assert one.getMessage() == (
        f"attempt 1 on {MINI}: 503 server_error, retrying in 1.2 s "
        "(breaker closed, limiter wait 0.25 s)"
    )
    assert one.llm == {
        "event": "attempt",
        "api": "chat",
        "number": 1,
        "route": MINI,
        "model": "gpt-4o-mini",
        "base_url": OPENAI,
        "outcome": "server",
        "status": 503,
        "error": "InternalServerError",
        "kind": "server",
        "reason": "503 server_error",
        "then": "retry",
        "transition": "first",
        "from_route": None,
        "duration": 0.5,
        "wait": 1.2,
        "retry_after": None,
        "breaker": "closed",
        "limiter_wait": 0.25,
        "usage": None,
        "input_tokens": None,
        "output_tokens": None,
        "cost": 0.0,
        "hedge": False,
        "skipped": False,
        "reask": 0,
    }
    assert two.levelno == logging.DEBUG
    assert two.getMessage() == f"attempt 2 on {MINI}: 200 in 0.84 s (breaker closed)"
    assert two.llm["outcome"] == "success"
    assert two.llm["transition"] == "retry"
    assert (two.llm["input_tokens"], two.llm["output_tokens"], two.llm["cost"]) == (12, 5, 0.001)


def test_fallback_skip_and_give_up_lines(
    tel: Telemetry, clock: VirtualClock, logs: pytest.LogCaptureFixture
) -> None:
    attempts = [
        att(
            1,
            status=429,
            error="RateLimitError",
            kind="rate_limit",
            reason="429 rate_limit_exceeded",
            retry_after=30.0,
        ),
        att(2, "claude@gw.example", skipped=True, breaker="open", reason="circuit open"),
        fail503(3, BIG, breaker="half_open"),
    ]
    error = openai.InternalServerError(
        "Error code: 503 - upstream overloaded",
        response=httpx2.Response(503, request=httpx2.Request("POST", f"{OPENAI}/chat/completions")),
        body=None,
    )
    run(tel, clock, attempts, error=error, thens={1: "fallback", 3: "stop"})

    lines = [(r.levelname, r.getMessage()) for r in logs.records if r.name == LOGGER_NAME]
    assert lines == [
        (
            "INFO",
            f"attempt 1 on {MINI}: 429 rate_limit_exceeded, falling back to the next route "
            "(breaker closed, Retry-After 30 s)",
        ),
        ("INFO", "attempt 2 on claude@gw.example: skipped, circuit open (breaker open)"),
        ("INFO", f"attempt 3 on {BIG}: 503 server_error, giving up (breaker half_open)"),
        (
            "WARNING",
            "call chat gpt-4o-mini failed after 3 attempts in 3.5 s: "
            "openai.InternalServerError: Error code: 503 - upstream overloaded",
        ),
    ]
    events = [r.llm for r in records(logs)]
    assert [(e["outcome"], e["transition"], e["from_route"]) for e in events] == [
        ("rate_limit", "first", None),
        ("skipped", "fallback", MINI),
        ("server", "fallback", "claude@gw.example"),
    ]
    (summary,) = records(logs, "call")
    assert summary.llm["error"] == "openai.InternalServerError"
    assert summary.llm["attempts"] == 3
    assert summary.llm["requests"] == 2


def test_without_then_a_failure_with_no_wait_says_only_what_happened(
    tel: Telemetry, clock: VirtualClock, logs: pytest.LogCaptureFixture
) -> None:
    bare = att(1, error="APIConnectionError", kind="connect")
    run(tel, clock, [bare, att(2, hedge=True, status=200)])

    first, hedged = records(logs)
    assert first.getMessage() == f"attempt 1 on {MINI}: connect (breaker closed)"
    assert first.llm["then"] is None
    assert hedged.getMessage() == f"attempt 2 (hedge) on {MINI}: 200 in 0.5 s (breaker closed)"
    assert hedged.llm["transition"] == "hedge"


def test_call_summaries(
    tel: Telemetry, clock: VirtualClock, logs: pytest.LogCaptureFixture
) -> None:
    run(tel, clock, [att(1, status=200)])
    hit = CallInfo(api="chat", requested_model="gpt-4o-mini", cache="hit")
    tel.finish(hit, None, tel.start("chat", "gpt-4o-mini"))
    deadline = DeadlineExceeded("deadline of 10 s passed\nFix: raise it")
    clock.advance(10)
    late = CallInfo(api="embeddings", requested_model="text-embedding-3-small", ended=10.0)
    tel.finish(late, deadline, tel.start("embeddings", "text-embedding-3-small"))

    assert [(r.levelname, r.getMessage()) for r in records(logs, "call")] == [
        ("DEBUG", f"call chat gpt-4o-mini served by {MINI} after 1 attempt in 1.5 s"),
        ("DEBUG", "call chat gpt-4o-mini: cache hit"),
        (
            "WARNING",
            "call embeddings text-embedding-3-small failed after 0 attempts in 10 s: "
            "pytest_llm.client.DeadlineExceeded: deadline of 10 s passed",
        ),
    ]


def test_attempt_returns_the_event_even_when_logging_is_off(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    tel = Telemetry(clock=clock, tracing=False, metrics=False)
    call = CallInfo(api="chat")
    event = tel.attempt(call, fail503(1, wait=2.0))
    assert event["then"] == "retry"
    assert records(caplog) == []


# -- OpenTelemetry --------------------------------------------------------------------


def spans_by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_a_call_span_with_a_child_per_attempt(
    tel: Telemetry, clock: VirtualClock, exporter: InMemorySpanExporter
) -> None:
    clock.advance(100.0)
    first = fail503(1, started=100.0, ended=100.25, wait=1.5)
    second = att(
        2,
        BIG,
        started=101.75,
        ended=102.5,
        status=200,
        usage={"input_tokens": 7, "output_tokens": 3},
        cost=0.002,
    )
    epoch = round(clock.now().timestamp() * 1e9) - 100_000_000_000  # monotonic 0 in epoch ns
    run(tel, clock, [first, second])

    spans = spans_by_name(exporter)
    assert set(spans) == {"chat gpt-4o-mini", "attempt 1 gpt-4o-mini", "attempt 2 gpt-4o"}
    call, one, two = (
        spans["chat gpt-4o-mini"],
        spans["attempt 1 gpt-4o-mini"],
        spans["attempt 2 gpt-4o"],
    )
    assert call.kind == SpanKind.CLIENT
    assert call.parent is None
    assert one.parent is not None
    assert one.parent.span_id == call.context.span_id
    assert two.parent is not None
    assert two.parent.span_id == call.context.span_id
    assert one.context.trace_id == call.context.trace_id

    assert dict(call.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 3,
        "server.address": "api.openai.com",
        "server.port": 443,
        "http.response.status_code": 200,
        "pytest_llm.api": "chat",
        "pytest_llm.route": BIG,
        "pytest_llm.cache": "off",
        "pytest_llm.attempts": 2,
        "pytest_llm.requests": 2,
        "pytest_llm.retry_wait": 1.5,
        "pytest_llm.cost_usd": 0.002,
        "pytest_llm.reasks": 0,
    }
    assert call.status.status_code == StatusCode.UNSET

    one_attrs = dict(one.attributes or {})
    assert one_attrs["http.response.status_code"] == 503
    assert one_attrs["error.type"] == "InternalServerError"
    assert one_attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert "gen_ai.response.model" not in one_attrs
    assert one_attrs["pytest_llm.attempt"] == 1
    assert one_attrs["pytest_llm.retry_wait"] == 1.5
    assert one_attrs["pytest_llm.failure_kind"] == "server"
    assert one.status.status_code == StatusCode.ERROR
    assert one.status.description == "503 server_error"
    two_attrs = dict(two.attributes or {})
    assert two_attrs["gen_ai.response.model"] == "gpt-4o"
    assert two_attrs["gen_ai.usage.input_tokens"] == 7
    assert two_attrs["pytest_llm.transition"] == "fallback"
    assert two_attrs["pytest_llm.cost_usd"] == 0.002
    assert "error.type" not in two_attrs
    assert two.status.status_code == StatusCode.UNSET

    # timestamps come from the virtual clock and the attempt records, never from real time
    assert call.start_time == epoch + 100_000_000_000
    assert call.end_time == epoch + 102_500_000_000
    assert (one.start_time, one.end_time) == (epoch + 100_000_000_000, epoch + 100_250_000_000)
    assert (two.start_time, two.end_time) == (epoch + 101_750_000_000, epoch + 102_500_000_000)


def test_a_failed_call_span_has_error_status_and_a_scrubbed_exception_event(
    tel: Telemetry, clock: VirtualClock, exporter: InMemorySpanExporter
) -> None:
    error = DeadlineExceeded("deadline of 5 s passed after 2 attempts")
    run(
        tel,
        clock,
        [fail503(1, wait=4.0), att(2, error="CancelledError", kind="cancelled")],
        error=error,
    )

    spans = spans_by_name(exporter)
    call = spans["chat gpt-4o-mini"]
    assert call.status.status_code == StatusCode.ERROR
    assert call.status.description == "deadline of 5 s passed after 2 attempts"
    assert dict(call.attributes or {})["error.type"] == "pytest_llm.client.DeadlineExceeded"
    (event,) = call.events
    assert event.name == "exception"
    assert dict(event.attributes or {}) == {
        "exception.type": "pytest_llm.client.DeadlineExceeded",
        "exception.message": "deadline of 5 s passed after 2 attempts",
    }
    # a cancelled attempt (a hedge loser, a deadline) is not an error of its own
    assert spans["attempt 2 gpt-4o-mini"].status.status_code == StatusCode.UNSET


def test_a_skipped_route_is_a_zero_length_attempt_span(
    tel: Telemetry, clock: VirtualClock, exporter: InMemorySpanExporter
) -> None:
    run(
        tel,
        clock,
        [att(1, skipped=True, breaker="open", reason="circuit open"), att(2, BIG, status=200)],
    )
    skipped = spans_by_name(exporter)["attempt 1 gpt-4o-mini"]
    attrs = dict(skipped.attributes or {})
    assert attrs["pytest_llm.skipped"] is True
    assert attrs["pytest_llm.breaker"] == "open"
    assert "error.type" not in attrs
    assert skipped.start_time == skipped.end_time
    assert skipped.status.status_code == StatusCode.UNSET


def test_the_call_span_is_a_child_of_the_callers_span_and_never_made_current(
    tel: Telemetry, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    outer_tracer = provider.get_tracer("app")
    with outer_tracer.start_as_current_span("handler") as outer:
        handle = tel.start("chat", "gpt-4o-mini")
        assert trace.get_current_span() is outer  # nothing attached to the context
        assert trace.get_current_span(handle.context()) is handle.span
        call = CallInfo(api="chat")
        tel.attempt(call, att(1, status=200), handle)
        tel.finish(call, None, handle)
        tel.finish(call, None, handle)  # a second finish does not end the span again
    spans = spans_by_name(exporter)
    assert len(exporter.get_finished_spans()) == 3
    assert spans["chat gpt-4o-mini"].parent.span_id == outer.get_span_context().span_id  # type: ignore[union-attr]


def test_concurrent_asyncio_calls_keep_their_own_spans(
    tel: Telemetry, clock: VirtualClock, exporter: InMemorySpanExporter
) -> None:
    async def one_call(model: str) -> None:
        handle = tel.start("chat", model)
        call = CallInfo(api="chat", requested_model=model)
        for n in (1, 2):
            await asyncio.sleep(0)  # the other call runs here
            a = att(
                n,
                f"{model}@api.openai.com",
                status=200 if n == 2 else 503,
                error=None if n == 2 else "E",
            )
            call.attempts.append(a)
            tel.attempt(call, a, handle)
        await asyncio.sleep(0)
        tel.finish(call, None, handle)

    async def main() -> None:
        await asyncio.gather(one_call("m-a"), one_call("m-b"), one_call("m-c"))

    asyncio.run(main())
    assert_attempts_under_their_calls(exporter, ["m-a", "m-b", "m-c"])


def test_concurrent_threads_keep_their_own_spans(
    tel: Telemetry, exporter: InMemorySpanExporter
) -> None:
    barrier = threading.Barrier(4, timeout=60)  # a hang guard, not a time bound

    def one_call(model: str) -> None:
        handle = tel.start("chat", model)
        call = CallInfo(api="chat", requested_model=model)
        for n in (1, 2):
            barrier.wait()
            a = att(n, f"{model}@api.openai.com", status=200)
            call.attempts.append(a)
            tel.attempt(call, a, handle)
        tel.finish(call, None, handle)

    models = ["t-a", "t-b", "t-c", "t-d"]
    threads = [threading.Thread(target=one_call, args=(m,)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert_attempts_under_their_calls(exporter, models)


def assert_attempts_under_their_calls(exporter: InMemorySpanExporter, models: list[str]) -> None:
    spans = exporter.get_finished_spans()
    calls = {s.name.split()[1]: s for s in spans if s.name.startswith("chat ")}
    assert sorted(calls) == sorted(models)
    assert all(s.parent is None for s in calls.values())
    children = [s for s in spans if s.name.startswith("attempt ")]
    assert len(children) == 2 * len(models)
    for s in children:
        model = s.name.split()[2]
        assert s.parent is not None
        assert s.parent.span_id == calls[model].context.span_id, s.name
        assert s.context.trace_id == calls[model].context.trace_id


def test_operation_names_follow_the_api(
    tel: Telemetry, clock: VirtualClock, exporter: InMemorySpanExporter
) -> None:
    run(tel, clock, [att(1, status=200)], api="responses", model="gpt-4o-mini")
    run(
        tel,
        clock,
        [att(1, "text-embedding-3-small@api.openai.com", status=200)],
        api="embeddings",
        model="text-embedding-3-small",
    )
    calls = [s for s in exporter.get_finished_spans() if s.parent is None]
    assert [(s.name, dict(s.attributes or {})["gen_ai.operation.name"]) for s in calls] == [
        ("chat gpt-4o-mini", "chat"),
        ("embeddings text-embedding-3-small", "embeddings"),
    ]


# -- Prometheus -----------------------------------------------------------------------


def test_metrics_of_a_call_with_a_retry_a_skip_and_a_fallback(
    tel: Telemetry, clock: VirtualClock, registry: prometheus_client.CollectorRegistry
) -> None:
    attempts = [
        fail503(1, wait=1.0),
        fail503(2, wait=2.0),
        att(3, "claude@gw.example", skipped=True, breaker="open"),
        att(4, BIG, status=200, usage={"prompt_tokens": 100, "completion_tokens": 20}, cost=0.0125),
    ]
    attempts[3].ended = attempts[3].started + 3.0
    run(tel, clock, attempts)

    r = registry
    assert sample(r, "llm_requests_total", route=MINI, model="gpt-4o-mini", outcome="server") == 2
    assert (
        sample(
            r, "llm_requests_total", route="claude@gw.example", model="claude", outcome="skipped"
        )
        == 1
    )
    assert sample(r, "llm_requests_total", route=BIG, model="gpt-4o", outcome="success") == 1
    assert sample(r, "llm_request_duration_seconds_count", route=MINI, model="gpt-4o-mini") == 2
    assert sample(r, "llm_request_duration_seconds_sum", route=MINI, model="gpt-4o-mini") == 1.0
    assert (
        sample(r, "llm_request_duration_seconds_count", route="claude@gw.example", model="claude")
        == 0
    )
    assert sample(r, "llm_request_duration_seconds_sum", route=BIG, model="gpt-4o") == 3.0
    assert (
        sample(r, "llm_request_duration_seconds_bucket", route=BIG, model="gpt-4o", le="2.5") == 0
    )
    assert (
        sample(r, "llm_request_duration_seconds_bucket", route=BIG, model="gpt-4o", le="5.0") == 1
    )
    assert sample(r, "llm_tokens_total", route=BIG, model="gpt-4o", type="input") == 100
    assert sample(r, "llm_tokens_total", route=BIG, model="gpt-4o", type="output") == 20
    assert sample(r, "llm_cost_usd_total", route=BIG, model="gpt-4o") == 0.0125
    assert sample(r, "llm_retries_total", route=MINI, model="gpt-4o-mini") == 1
    assert sample(r, "llm_fallbacks_total", from_route=MINI, to_route="claude@gw.example") == 1
    assert sample(r, "llm_fallbacks_total", from_route="claude@gw.example", to_route=BIG) == 1
    assert sample(r, "llm_calls_total", api="chat", outcome="success", cache="off") == 1


def test_metrics_agree_with_the_events(
    tel: Telemetry,
    clock: VirtualClock,
    registry: prometheus_client.CollectorRegistry,
    logs: pytest.LogCaptureFixture,
) -> None:
    run(
        tel,
        clock,
        [
            fail503(1, wait=1.0),
            att(2, status=200, usage={"prompt_tokens": 3, "completion_tokens": 4}),
        ],
    )
    run(
        tel,
        clock,
        [
            att(1, status=429, error="RateLimitError", kind="rate_limit"),
            att(2, BIG, skipped=True),
            att(3, "o@h", error="APITimeoutError", kind="read_timeout"),
        ],
        error=TimeoutError("read timeout"),
    )
    run(
        tel,
        clock,
        [att(1, status=200), att(2, BIG, hedge=True, error="CancelledError", kind="cancelled")],
    )

    events = [r.llm for r in records(logs)]
    assert len(events) == 7
    by_label = Counter((e["route"], e["model"], e["outcome"]) for e in events)
    for (route, model, outcome), n in by_label.items():
        assert (
            sample(registry, "llm_requests_total", route=route, model=model, outcome=outcome) == n
        )
    total = sum(
        s.value
        for m in registry.collect()
        if m.name == "llm_requests"
        for s in m.samples
        if s.name == "llm_requests_total"
    )
    assert total == len(events)
    assert sum(
        sample(registry, "llm_request_duration_seconds_count", route=e["route"], model=e["model"])
        for e in {(e["route"], e["model"]): e for e in events}.values()
    ) == sum(1 for e in events if not e["skipped"])
    assert (
        sum(1 for e in events if e["transition"] == "retry")
        == sample(registry, "llm_retries_total", route=MINI, model="gpt-4o-mini")
        == 1
    )
    fallbacks = [(e["from_route"], e["route"]) for e in events if e["transition"] == "fallback"]
    assert len(fallbacks) == 2
    for f, t in fallbacks:
        assert sample(registry, "llm_fallbacks_total", from_route=f, to_route=t) == 1
    assert sample(
        registry, "llm_tokens_total", route=MINI, model="gpt-4o-mini", type="output"
    ) == sum(e["output_tokens"] or 0 for e in events)
    calls = records(logs, "call")
    assert (
        sample(registry, "llm_calls_total", api="chat", outcome="success", cache="off")
        == sum(1 for r in calls if r.llm["error"] is None)
        == 2
    )
    assert sample(registry, "llm_calls_total", api="chat", outcome="TimeoutError", cache="off") == 1


def test_prefix_and_shared_registries(
    clock: VirtualClock, registry: prometheus_client.CollectorRegistry
) -> None:
    a = Telemetry(clock=clock, tracing=False, registry=registry, prefix="myapp_llm")
    b = Telemetry(
        clock=clock, tracing=False, registry=registry, prefix="myapp_llm"
    )  # no duplicate error
    for tel in (a, b):
        tel.attempt(CallInfo(api="chat"), att(1, status=200))
    assert (
        sample(
            registry, "myapp_llm_requests_total", route=MINI, model="gpt-4o-mini", outcome="success"
        )
        == 2
    )
    assert (
        sample(registry, "llm_requests_total", route=MINI, model="gpt-4o-mini", outcome="success")
        == 0
    )

    bare = Telemetry(clock=clock, tracing=False, registry=registry, prefix="")
    bare.attempt(CallInfo(api="chat"), att(1, status=200))
    assert (
        sample(registry, "requests_total", route=MINI, model="gpt-4o-mini", outcome="success") == 1
    )

    private_1, private_2 = (
        Telemetry(clock=clock, tracing=False, metrics=True),
        Telemetry(clock=clock, tracing=False, metrics=True),
    )
    assert private_1.registry is not private_2.registry
    private_1.attempt(CallInfo(api="chat"), att(1, status=200))
    assert (
        sample(
            private_2.registry,
            "llm_requests_total",
            route=MINI,
            model="gpt-4o-mini",
            outcome="success",
        )
        == 0
    )
    assert (
        sample(
            private_1.registry,
            "llm_requests_total",
            route=MINI,
            model="gpt-4o-mini",
            outcome="success",
        )
        == 1
    )


@pytest.mark.parametrize("prefix", ["9llm", "my-app", "llm total"])
def test_a_bad_prefix_is_a_config_error(prefix: str) -> None:
    with pytest.raises(
        ClientConfigError,
        match=rf"Telemetry\(prefix='{prefix}'\).*\nFix: pass e.g. prefix='myapp_llm'",
    ):
        Telemetry(prefix=prefix)


# -- credentials ---------------------------------------------------------------------

KEY = "sk-proj-Z9yX8wV7uT6sR5qP4oN3mL2kJ1iH"
ODD_KEY = "corp-gateway-7f3a9c21e8"  # a route's key that matches no known key shape
PASSWORD = "hunter2-basic-auth"
QUERY_KEY = "q7GhT2kLmN9pQr"
SECRETS = [KEY, ODD_KEY, PASSWORD, QUERY_KEY, "hunter2"]


def test_no_credential_reaches_logs_spans_metrics_or_messages(
    clock: VirtualClock,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    registry: prometheus_client.CollectorRegistry,
    logs: pytest.LogCaptureFixture,
) -> None:
    # what the lead's client passes: every route's api key
    tel = Telemetry(
        clock=clock, tracer_provider=provider, registry=registry, secrets=[KEY, ODD_KEY, None]
    )
    gateway = f"https://svc:{PASSWORD}@gw.example:8443/v1?api-key={QUERY_KEY}&deployment=east"
    route = "gpt-4o-mini@gw.example:8443"
    auth = openai.AuthenticationError(
        f"Error code: 401 - {{'error': {{'message': 'Incorrect API key provided: {KEY}. api_key={ODD_KEY}', 'code': 'invalid_api_key'}}}}",
        response=httpx2.Response(401, request=httpx2.Request("POST", gateway)),
        body=None,
    )
    attempts = [
        Attempt(
            1,
            route,
            "gpt-4o-mini",
            gateway,
            0.0,
            0.5,
            status=503,
            error="InternalServerError",
            kind="server",
            reason=f"503 from {gateway}",
            wait=1.0,
        ),
        Attempt(
            2,
            route,
            "gpt-4o-mini",
            gateway,
            1.5,
            2.0,
            status=401,
            error="AuthenticationError",
            kind="client",
            reason=f"401 Bearer {KEY}",
        ),
    ]
    call = CallInfo(api="chat", requested_model="gpt-4o-mini", base_url=gateway)
    handle = tel.start("chat", "gpt-4o-mini", base_url=gateway)
    for a in attempts:
        call.attempts.append(a)
        tel.attempt(call, a, handle)
    call.ended = 2.0
    tel.finish(call, auth, handle)

    outputs: list[str] = []
    for r in logs.records:
        outputs += [r.getMessage(), repr(r.llm)]
    for s in exporter.get_finished_spans():
        outputs += [s.name, repr(dict(s.attributes or {})), str(s.status.description)]
        outputs += [repr(dict(e.attributes or {})) for e in s.events]
    outputs.append(prometheus_client.generate_latest(registry).decode())
    text = "\n".join(outputs)
    assert len(logs.records) == 3
    assert len(exporter.get_finished_spans()) == 3
    for secret in SECRETS:
        assert secret not in text
    # what is left is still useful
    assert "https://REDACTED@gw.example:8443/v1?api-key=REDACTED&deployment=east" in text
    assert "Incorrect API key provided: REDACTED. api_key=REDACTED" in text
    assert "'code': 'invalid_api_key'" in text
    (summary,) = records(logs, "call")
    assert summary.levelno == logging.WARNING
    assert summary.llm["error"] == "openai.AuthenticationError"
    assert (
        dict(exporter.get_finished_spans()[-1].attributes or {})["server.address"] == "gw.example"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key {KEY} here", "key REDACTED here"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123", "Authorization: REDACTED"),
        (f"https://u:{PASSWORD}@h.example/v1", "https://REDACTED@h.example/v1"),
        (f"http://h.example/v1?key={QUERY_KEY}&x=1", "http://h.example/v1?key=REDACTED&x=1"),
        (f'{{"api_key": "{QUERY_KEY}"}}', '{"api_key": "REDACTED"}'),
        (f"OpenAI(api_key={ODD_KEY})", "OpenAI(api_key=REDACTED)"),
        (f"x-api-key: {QUERY_KEY}", "x-api-key: REDACTED"),
        (ODD_KEY, "REDACTED"),
        (
            "Error code: 429 - {'code': 'rate_limit_exceeded'}",
            "Error code: 429 - {'code': 'rate_limit_exceeded'}",
        ),
        (f"attempt 2 on {MINI}: 503 server_error", f"attempt 2 on {MINI}: 503 server_error"),
        ("max_tokens=512, https://api.openai.com/v1", "max_tokens=512, https://api.openai.com/v1"),
    ],
)
def test_scrubber(text: str, expected: str) -> None:
    assert Scrubber([ODD_KEY, "short"])(text) == expected


def test_short_known_secrets_are_not_replaced_everywhere() -> None:
    assert Scrubber(["none"])("none of these") == "none of these"


# -- without the optional libraries ---------------------------------------------------


@pytest.fixture
def no_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("opentelemetry", "opentelemetry.trace", "prometheus_client"):
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.usefixtures("no_extras")
def test_without_opentelemetry_and_prometheus_only_logs(
    clock: VirtualClock, logs: pytest.LogCaptureFixture
) -> None:
    tel = Telemetry(clock=clock)
    assert tel.registry is None
    assert repr(tel) == "Telemetry(logger='pytest_llm.client', tracing=off, metrics=off)"
    call = run(tel, clock, [fail503(1, wait=1.0), att(2, status=200)])
    assert [r.getMessage() for r in records(logs)] == [
        f"attempt 1 on {MINI}: 503 server_error, retrying in 1 s (breaker closed)",
        f"attempt 2 on {MINI}: 200 in 0.5 s (breaker closed)",
    ]
    assert call.route == MINI


@pytest.mark.usefixtures("no_extras")
@pytest.mark.parametrize(
    ("kwargs", "missing"),
    [
        ({"tracing": True}, "opentelemetry-api is not installed"),
        ({"tracer_provider": object()}, "opentelemetry-api is not installed"),
        ({"metrics": True}, "prometheus-client is not installed"),
        ({"registry": object()}, "prometheus-client is not installed"),
    ],
)
def test_asking_for_a_missing_library_is_a_config_error(
    kwargs: dict[str, Any], missing: str
) -> None:
    with pytest.raises(
        ClientConfigError, match=rf"{missing}\.\nFix: pip install 'pytest-llm-harness\["
    ):
        Telemetry(**kwargs)


def test_the_module_imports_without_either_library() -> None:
    code = (
        "import sys\n"
        "for name in ('opentelemetry', 'prometheus_client'):\n"
        "    sys.modules[name] = None\n"
        "from pytest_llm.client._telemetry import Telemetry\n"
        "print(Telemetry())\n"
        "print(sorted(m for m in sys.modules if m and m.startswith(('opentelemetry', 'prometheus')) and sys.modules[m]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == [
        "Telemetry(logger='pytest_llm.client', tracing=off, metrics=off)",
        "[]",
    ]


def test_the_module_does_not_import_either_library_until_a_telemetry_is_built() -> None:
    code = (
        "import sys\n"
        "import pytest_llm.client._telemetry\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'prometheus'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_metrics_are_opt_in(clock: VirtualClock) -> None:
    # a private registry nobody scrapes is not built unless asked for
    default = Telemetry(clock=clock, tracing=False)
    assert default.registry is None
    assert repr(default) == "Telemetry(logger='pytest_llm.client', tracing=off, metrics=off)"
    run(default, clock, [att(1, status=200)])
    assert Telemetry(clock=clock, tracing=False, metrics=True).registry is not None
    registry = prometheus_client.CollectorRegistry()
    assert Telemetry(clock=clock, tracing=False, registry=registry).registry is registry
    assert Telemetry(clock=clock, tracing=False, registry=registry, metrics=False).registry is None


def test_tracing_and_metrics_can_be_turned_off(
    clock: VirtualClock, exporter: InMemorySpanExporter
) -> None:
    tel = Telemetry(clock=clock, tracing=False, metrics=False)
    handle = tel.start("chat", "gpt-4o-mini")
    assert handle.span is None
    assert tel.registry is None
    run(tel, clock, [att(1, status=200)])
    assert exporter.get_finished_spans() == ()


def test_repr(tel: Telemetry) -> None:
    assert repr(tel) == "Telemetry(logger='pytest_llm.client', tracing=on, metrics=llm_*)"


@pytest.fixture(autouse=True)
def _no_global_provider_changes() -> Iterator[None]:
    before = trace.get_tracer_provider()
    yield
    assert trace.get_tracer_provider() is before
