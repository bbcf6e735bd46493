"""Observability of real calls through the openai SDK (CONTRACTS L 53): one structured
event per attempt, with the attempt's fields; metrics that agree with the events and with
what the provider saw; no credential in any log line, event or exception. Sync and async.
"""

from __future__ import annotations

import logging
import traceback
from collections import Counter
from typing import Any

import openai
import prometheus_client
import pytest
from client_helpers import key_for, route, seen

from pytest_llm import faults
from pytest_llm.client import (
    CircuitBreaker,
    DeadlineExceeded,
    LLMClientError,
    QuotaExceeded,
    Telemetry,
    call_info,
)

LOGGER = "pytest_llm.client"
USERINFO_SECRET = "hunter2hunter2"


def events(caplog: pytest.LogCaptureFixture, kind: str = "attempt") -> list[dict[str, Any]]:
    return [r.llm for r in caplog.records if getattr(r, "llm", {}).get("event") == kind]


def sample(registry: Any, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def chat(mode: Any, client: Any, **kw: Any) -> Any:
    return mode.call(client.chat.completions.create, **kw)


def chat_error(mode: Any, client: Any, error: Any, **kw: Any) -> Any:
    return mode.raises(error, client.chat.completions.create, **kw)


@pytest.fixture
def caplog_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    return caplog


def test_one_event_per_attempt_with_its_fields(mode, llm_faults, llm_fake, caplog_debug):
    """53: a 429 (Retry-After 7), a 503, a skipped open route and a success: one event
    each, numbered, with route, status or exception, reason, wait, breaker state and
    limiter wait, agreeing with call_info and with the provider's count."""
    llm_fake.add("Paris.", model="c")
    breaker = CircuitBreaker(failure_threshold=1, clock=mode.clock)
    llm_faults.add(faults.RateLimited(retry_after=7), model="a", times=1)
    llm_faults.add(faults.ServerError(503), model="a", times=None)
    llm_faults.add(faults.ServerError(500), model="b", times=1)
    client = mode.client(route("a"), route("b"), route("c"), max_retries=1, breaker=breaker)
    opener = mode.client(route("b"), max_retries=0, breaker=breaker)
    chat_error(mode, opener, openai.InternalServerError)  # opens b (shared breaker)
    caplog_debug.clear()

    reply = chat(mode, client)
    got = events(caplog_debug)
    info = call_info(reply)
    assert len(got) == len(info.attempts) == 4
    assert sum(1 for e in got if not e["skipped"]) == seen(llm_faults) - 1 == 3
    fields = [
        (e["number"], e["model"], e["status"], e["error"], e["kind"], e["wait"], e["breaker"])
        for e in got
    ]
    assert fields == [
        (1, "a", 429, "RateLimitError", "rate_limit", 7.0, "closed"),
        (2, "a", 503, "InternalServerError", "server", 0.0, "closed"),
        (3, "b", None, None, None, 0.0, "open"),
        (4, "c", 200, None, None, 0.0, "closed"),
    ]
    assert [e["outcome"] for e in got] == ["rate_limit", "server", "skipped", "success"]
    assert got[0]["retry_after"] == 7.0
    assert "retry 1 of 1 after 7 s (retry-after)" in got[0]["reason"]
    assert "circuit open" in got[2]["reason"]
    assert all(e["limiter_wait"] == 0.0 for e in got)
    assert [e["route"] for e in got] == [a.route for a in info.attempts]
    assert [e["wait"] for e in got if e["wait"]] == info.waits == [7.0]
    (call,) = events(caplog_debug, "call")
    assert (call["requests"], call["attempts"], call["model"]) == (3, 4, "c")


def test_a_failed_call_logs_each_attempt_and_one_warning(mode, llm_faults, caplog_debug):
    """53: R+1 attempt events for R retries, then one WARNING summary naming the error."""
    llm_faults.add(faults.ServerError(502), model="a", times=None)
    client = mode.client(route("a"), max_retries=2)
    chat_error(mode, client, openai.InternalServerError)
    got = events(caplog_debug)
    assert [e["number"] for e in got] == [1, 2, 3]
    assert [e["status"] for e in got] == [502, 502, 502]
    assert len(got) == seen(llm_faults, "a")
    warnings = [r for r in caplog_debug.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].llm["error"] == "openai.InternalServerError"


def test_metrics_agree_with_events_and_the_provider(mode, llm_faults, llm_fake, caplog_debug):
    """53: requests_total per (route, model, outcome) equals the events; the non-skipped
    total equals the requests the provider saw; retries and fallbacks agree."""
    registry = prometheus_client.CollectorRegistry()
    telemetry = Telemetry(clock=mode.clock, registry=registry, tracing=False)
    llm_fake.add("ok", times=None)
    llm_faults.add(faults.ServerError(503), model="a", times=3)
    llm_faults.add(faults.RateLimited(retry_after=2), model="b", times=1)
    client = mode.client(route("a"), route("b"), max_retries=1, telemetry=telemetry)
    for _ in range(3):
        chat(mode, client)
    got = events(caplog_debug)
    assert len(got) == seen(llm_faults) == 7  # a,a,b,b | a,b... counted at the provider
    by_label = Counter((e["route"], e["model"], e["outcome"]) for e in got)
    for (route_key, model, outcome), n in by_label.items():
        assert (
            sample(registry, "llm_requests_total", route=route_key, model=model, outcome=outcome)
            == n
        )
    total = sum(
        s.value for m in registry.collect() for s in m.samples if s.name == "llm_requests_total"
    )
    assert total == len(got)
    a, b = route("a").key, route("b").key
    retries = sum(1 for e in got if e["transition"] == "retry")
    assert retries == sample(registry, "llm_retries_total", route=a, model="a") + sample(
        registry, "llm_retries_total", route=b, model="b"
    )
    fallbacks = sum(1 for e in got if e["transition"] == "fallback")
    assert fallbacks == sample(registry, "llm_fallbacks_total", from_route=a, to_route=b) >= 1
    assert sample(registry, "llm_calls_total", api="chat", outcome="success", cache="off") == 3


def _leaks(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in text]


def _everything_about(err: BaseException) -> str:
    """What the client and the SDK say about ``err``: the message of every client or SDK
    error in the chain, and the call's records. (The transport's own exceptions deeper
    in the chain, e.g. httpx's, name the URL as given: that is the HTTP library's.)"""
    parts = []
    seen_: BaseException | None = err
    while seen_ is not None:
        if isinstance(seen_, LLMClientError | openai.APIError):
            parts += ["".join(traceback.format_exception_only(seen_)), repr(seen_.args)]
        seen_ = seen_.__cause__ or seen_.__context__
    try:
        info = call_info(err)
    except LookupError:
        pass
    else:
        parts += [repr(info), info.summary()]
    return "\n".join(parts)


@pytest.mark.parametrize(
    ("fault", "error", "options"),
    [
        (
            faults.HTTPError(
                status=401,
                message=f"Incorrect API key provided: {key_for('a')}.",
                type="invalid_request_error",
                code="invalid_api_key",
            ),
            openai.AuthenticationError,
            {},
        ),
        (faults.InsufficientQuota(), QuotaExceeded, {}),
        (faults.ServerError(503), openai.InternalServerError, {"max_retries": 1}),
        (faults.RateLimited(retry_after=30), DeadlineExceeded, {"deadline": 5}),
    ],
    ids=["401-echoing-the-key", "quota", "503", "deadline"],
)
def test_no_credential_in_logs_events_or_exceptions(
    mode, llm_faults, caplog_debug, fault, error, options
):
    """53: the route's API key and the password in its base URL appear nowhere: not in
    log lines, structured events, the client's repr, the error chain, its traceback or
    its CallInfo. (The 401 case has a provider echoing the key back: logs scrub it.)"""
    secrets = [key_for("a"), key_for("b"), USERINFO_SECRET]
    llm_faults.add(fault, model="a", times=None)
    llm_faults.add(fault, model="b", times=None)
    a = route("a", base_url=f"http://alice:{USERINFO_SECRET}@llm.test/v1")
    client = mode.client(a, route("b"), **options)
    assert _leaks(repr(client), secrets) == [], repr(client)
    err = chat_error(mode, client, error)
    logged = "\n".join(
        [caplog_debug.text]
        + [r.getMessage() for r in caplog_debug.records]
        + [repr(getattr(r, "llm", "")) for r in caplog_debug.records]
    )
    assert caplog_debug.records
    assert _leaks(logged, secrets) == [], logged
    text = _everything_about(err)
    if error is openai.AuthenticationError:
        # the SDK's own exception carries what the provider said, as openai.OpenAI() does;
        # the client adds nothing of its own that holds the key
        text = text.replace(f"Incorrect API key provided: {key_for('a')}", "")
    assert _leaks(text, secrets) == [], text
