"""The pure parts of the retry logic: Retry-After parsing, backoff, decide(), the budget,
and classify() on the client's own errors (which no SDK call can raise)."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import math
import random
import statistics
import threading
from typing import Any

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_llm import VirtualClock
from pytest_llm.client import (
    BudgetExceeded,
    CircuitOpenError,
    ClientConfigError,
    DeadlineExceeded,
    FirstTokenTimeout,
    IncompleteStream,
    InvalidResponse,
    ProviderStreamError,
    QuotaExceeded,
    RateLimitExceeded,
    RateLimitWaitTooLong,
    RetryBudgetExhausted,
    StreamIdleTimeout,
    StreamInterrupted,
    StreamProtocolError,
)
from pytest_llm.client._retry import (
    Backoff,
    Decision,
    Failure,
    FailureKind,
    RetryBudget,
    RetryPolicy,
    classify,
    parse_retry_after,
)

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def http_date(seconds_from_now: float, now: dt.datetime = NOW) -> str:
    return email.utils.format_datetime(now + dt.timedelta(seconds=seconds_from_now), usegmt=True)


# -- parse_retry_after --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": " 30 "}, 30.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "1500.5"}, 1.5005),
        ({"retry-after-ms": "250", "retry-after": "7"}, 0.25),  # ms wins
        ({"retry-after": "7", "retry-after-ms": "250"}, 0.25),  # whatever the order
        ({"retry-after-ms": "0", "retry-after": "7"}, 7.0),  # zero ms hides nothing
        ({"retry-after-ms": "soon", "retry-after": "7"}, 7.0),
        ({"retry-after-ms": "-5", "retry-after": "7"}, 7.0),
        ({"retry-after-ms": "nan", "retry-after": "7"}, 7.0),
        ({"retry-after-ms": "inf", "retry-after": "7"}, 7.0),
        ({"retry-after-ms": "", "retry-after": "7"}, 7.0),
        ({"retry-after": http_date(7)}, 7.0),
        ({"retry-after": http_date(90.0)}, 90.0),
        ({"retry-after-ms": "0", "retry-after": http_date(7)}, 7.0),
        ({"Retry-After": "3"}, 3.0),  # case-insensitive
        ({"RETRY-AFTER-MS": "3000"}, 3.0),
    ],
)
def test_retry_after_values_that_are_honoured(headers: dict[str, str], expected: float) -> None:
    assert parse_retry_after(headers, now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "-1",
        "-0.5",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "Infinity",
        "1e3",
        "0x10",
        "",
        "   ",
        "soon",
        "7 seconds",
        "1" * 400,  # float() of this is inf
        http_date(-7),  # in the past
        http_date(0),  # now: nothing to wait
        "Thu, 32 Jan 2026 00:00:07 GMT",
        "Mon, 01 Jan 2026 25:00:00 GMT",
        "\x00\xff",
    ],
)
def test_garbage_is_no_hint(value: str) -> None:
    assert parse_retry_after({"retry-after": value}, now=NOW) is None
    assert parse_retry_after({"retry-after-ms": value}, now=NOW) is None


def test_no_header_is_no_hint() -> None:
    assert parse_retry_after({}, now=NOW) is None
    assert parse_retry_after({"x-ratelimit-reset-requests": "7s"}, now=NOW) is None


@pytest.mark.parametrize(
    "headers",
    [
        httpx.Headers({"Retry-After": "4"}),
        [("Retry-After", "4")],
        [(b"retry-after", b"4")],
        {b"Retry-After": b"4"},
        (("x-other", "1"), ("retry-after", "4"), ("retry-after", "9")),  # the first one counts
    ],
    ids=["httpx-headers", "pairs", "byte-pairs", "byte-mapping", "repeated"],
)
def test_any_header_container(headers: Any) -> None:
    assert parse_retry_after(headers, now=NOW) == 4.0


def test_httpx2_headers_too() -> None:
    httpx2 = pytest.importorskip("httpx2")
    assert parse_retry_after(httpx2.Headers({"Retry-After-Ms": "40"}), now=NOW) == 0.04


def test_an_http_date_is_read_against_the_given_now_not_real_time() -> None:
    header = {"retry-after": "Thu, 01 Jan 2026 00:00:07 GMT"}
    assert parse_retry_after(header, now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) == 7.0
    assert parse_retry_after(header, now=dt.datetime(2026, 1, 1, 0, 0, 5, tzinfo=dt.UTC)) == 2.0
    assert parse_retry_after(header, now=dt.datetime(2026, 1, 2, tzinfo=dt.UTC)) is None
    # a naive now is UTC (the clocks give aware times; a caller's naive one must not crash)
    assert parse_retry_after(header, now=dt.datetime(2026, 1, 1)) == 7.0


def test_a_header_object_that_raises_is_no_hint() -> None:
    class Broken(dict[str, str]):
        def items(self) -> Any:
            raise RuntimeError("boom")

    assert parse_retry_after(Broken(), now=NOW) is None


header_text = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"-?\d{1,30}(\.\d{0,10})?", fullmatch=True),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: email.utils.format_datetime(d, True)),
)


@settings(max_examples=400, deadline=None)
@given(
    ms=st.none() | header_text,
    seconds=st.none() | header_text,
    now=st.datetimes(timezones=st.just(dt.UTC)),
)
def test_never_crashes_and_never_unbounded(ms: str | None, seconds: str | None, now: Any) -> None:
    headers = {}
    if ms is not None:
        headers["retry-after-ms"] = ms
    if seconds is not None:
        headers["retry-after"] = seconds
    got = parse_retry_after(headers, now=now)
    assert got is None or (0 < got < math.inf)


@given(ms=st.integers(1, 10**12), seconds=st.integers(1, 10**6))
def test_a_valid_ms_always_wins(ms: int, seconds: int) -> None:
    got = parse_retry_after([("retry-after", str(seconds)), ("retry-after-ms", str(ms))], now=NOW)
    assert got == ms / 1000


@given(seconds=st.integers(1, 10**8))
def test_a_future_http_date_gives_its_distance(seconds: int) -> None:
    assert parse_retry_after({"retry-after": http_date(seconds)}, now=NOW) == seconds


# -- Backoff --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jitter", "envelopes"),
    [
        ("none", [(0.5, 0.5), (1, 1), (2, 2), (4, 4), (8, 8), (8, 8)]),
        ("full", [(0, 0.5), (0, 1), (0, 2), (0, 4), (0, 8), (0, 8)]),
        ("equal", [(0.25, 0.5), (0.5, 1), (1, 2), (2, 4), (4, 8), (4, 8)]),
        (0.25, [(0.375, 0.5), (0.75, 1), (1.5, 2), (3, 4), (6, 8), (6, 8)]),
    ],
)
def test_the_nth_wait_lies_in_its_envelope(
    jitter: Any, envelopes: list[tuple[float, float]]
) -> None:
    backoff = Backoff(base=0.5, multiplier=2, max_delay=8, jitter=jitter)
    rng = random.Random(7)
    for n, (low, high) in enumerate(envelopes, start=1):
        assert backoff.envelope(n) == (low, high)
        draws = [backoff.delay(n, rng) for _ in range(200)]
        assert all(low <= d <= high for d in draws)
        if low < high:  # the draws use the envelope, not one corner of it
            assert min(draws) < low + (high - low) * 0.1
            assert max(draws) > high - (high - low) * 0.1


@settings(max_examples=200, deadline=None)
@given(
    base=st.floats(0, 100),
    multiplier=st.floats(1, 10),
    extra=st.floats(0, 1000),
    n=st.integers(1, 100_000),
    jitter=st.sampled_from(["full", "equal", "none", 0.0, 0.5, 1.0]),
    seed=st.integers(0, 2**32),
)
@example(base=5e-324, multiplier=1.5, extra=1000, n=100_000, jitter="none", seed=0)  # overflow
@example(base=0, multiplier=10, extra=5, n=100_000, jitter="none", seed=0)
def test_never_longer_than_max_delay(
    base: float, multiplier: float, extra: float, n: int, jitter: Any, seed: int
) -> None:
    backoff = Backoff(base=base, multiplier=multiplier, max_delay=base + extra, jitter=jitter)
    wait = backoff.delay(n, random.Random(seed))
    assert 0 <= wait <= base + extra


def test_a_huge_retry_number_is_capped_without_overflow() -> None:
    assert (
        Backoff(base=0.5, multiplier=10, max_delay=30, jitter="none").delay(10**6, random.Random(0))
        == 30.0
    )
    assert Backoff(base=0, jitter="none").delay(5, random.Random(0)) == 0.0


def test_seeded_jitter_reproduces_exactly() -> None:
    backoff = Backoff()
    first = [backoff.delay(n, random.Random(1234)) for n in range(1, 8)]
    again = [backoff.delay(n, random.Random(1234)) for n in range(1, 8)]
    other = [backoff.delay(n, random.Random(4321)) for n in range(1, 8)]
    assert first == again
    assert first != other


@pytest.mark.parametrize("jitter", ["full", "equal", 0.25])
def test_many_clients_failing_together_do_not_wake_together(jitter: Any) -> None:
    backoff = Backoff(jitter=jitter)
    low, high = backoff.envelope(3)
    wakes = [backoff.delay(3, random.Random(seed)) for seed in range(200)]
    assert len(set(wakes)) == 200
    assert max(wakes) - min(wakes) > 0.8 * (high - low)
    assert statistics.pstdev(wakes) > 0.2 * (high - low)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": -1}, "Backoff(base=-1): base cannot be negative (got -1)."),
        ({"base": math.nan}, "Backoff(base=nan): base must be a finite number of seconds."),
        ({"max_delay": math.inf}, "max_delay must be a finite number of seconds."),
        ({"base": "1"}, "Backoff(base='1'): base is a number of seconds, got str."),
        ({"multiplier": 0.5}, "multiplier must be 1 or more (got 0.5)."),
        ({"base": 10, "max_delay": 5}, "Backoff(base=10, max_delay=5): max_delay is smaller"),
        ({"jitter": "ful"}, "unknown jitter mode; did you mean 'full'?"),
        ({"jitter": 1.5}, "Backoff(jitter=1.5): jitter is 'full', 'equal', 'none' or a fraction"),
        ({"jitter": True}, "Backoff(jitter=True)"),
        (
            {"max_dealy": 5},
            "Backoff(max_dealy=5): unknown option 'max_dealy'; did you mean 'max_delay'?",
        ),
    ],
)
def test_backoff_refuses_bad_configuration(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientConfigError) as caught:
        Backoff(**kwargs)
    text = str(caught.value)
    assert message in text.splitlines()[0]
    assert text.splitlines()[1].startswith("Fix: ")


def test_backoff_repr_and_equality() -> None:
    assert repr(Backoff()) == "Backoff(base=0.5, multiplier=2.0, max_delay=8.0, jitter='full')"
    assert repr(Backoff(jitter=0.25)) == (
        "Backoff(base=0.5, multiplier=2.0, max_delay=8.0, jitter=0.25)"
    )
    assert Backoff(base=1) == Backoff(base=1.0)
    assert Backoff(base=1) != Backoff(base=2)


def test_envelope_counts_from_one() -> None:
    with pytest.raises(ValueError, match="numbered from 1"):
        Backoff().envelope(0)


# -- classify: the client's own errors, cancellation, the unknown -------------------------


def failure_of(error: BaseException) -> Failure:
    return classify(error, now=NOW)


@pytest.mark.parametrize(
    ("error", "kind", "retryable", "breaker", "fallback", "reason"),
    [
        (
            InvalidResponse("200 with no choices"),
            FailureKind.INVALID_RESPONSE,
            True,
            True,
            True,
            "invalid response: 200 with no choices",
        ),
        (
            FirstTokenTimeout("no token in 5 s"),
            FailureKind.FIRST_TOKEN_TIMEOUT,
            True,
            True,
            True,
            "no first token in time",
        ),
        (StreamIdleTimeout("idle"), FailureKind.STREAM, True, True, True, "stream idle timeout"),
        (
            StreamIdleTimeout("idle", partial_text="Par"),
            FailureKind.STREAM,
            False,
            True,
            False,
            "stream idle timeout (after output)",
        ),
        (
            StreamInterrupted("cut"),
            FailureKind.STREAM,
            False,
            True,
            False,
            "stream interrupted (after output)",
        ),
        (
            IncompleteStream("no end"),
            FailureKind.STREAM,
            True,
            True,
            True,
            "stream ended without its terminal event",
        ),
        (
            StreamProtocolError("bad"),
            FailureKind.STREAM,
            True,
            True,
            True,
            "malformed stream event",
        ),
        (
            ProviderStreamError("oops", code="server_error"),
            FailureKind.STREAM,
            True,
            True,
            True,
            "in-band error server_error",
        ),
        (
            ProviderStreamError("oops", code="server_error", partial_text="Pa"),
            FailureKind.STREAM,
            False,
            True,
            False,
            "in-band error server_error",
        ),
        (
            ProviderStreamError("slow down", code="rate_limit_exceeded"),
            FailureKind.RATE_LIMIT,
            True,
            False,
            True,
            "in-band error rate_limit_exceeded",
        ),
        (
            ProviderStreamError("too long", code="context_length_exceeded"),
            FailureKind.CONTEXT_LENGTH,
            False,
            False,
            True,
            "in-band error context_length_exceeded",
        ),
        (
            ProviderStreamError("no money", code="insufficient_quota"),
            FailureKind.QUOTA,
            False,
            False,
            True,
            "in-band error insufficient_quota",
        ),
        (QuotaExceeded("no credit"), FailureKind.QUOTA, False, False, True, "insufficient_quota"),
        (
            RateLimitWaitTooLong("wait", retry_after=300),
            FailureKind.RATE_LIMIT,
            False,
            False,
            True,
            "retry-after 300 s is too long",
        ),
        (
            RateLimitExceeded("limiter"),
            FailureKind.RATE_LIMIT,
            False,
            False,
            True,
            "client rate limit",
        ),
        (DeadlineExceeded("late"), FailureKind.DEADLINE, False, False, False, "deadline exceeded"),
        (CircuitOpenError("open"), FailureKind.CLIENT, False, False, False, "CircuitOpenError"),
        (
            RetryBudgetExhausted("spent"),
            FailureKind.CLIENT,
            False,
            False,
            False,
            "RetryBudgetExhausted",
        ),
        (BudgetExceeded("$"), FailureKind.CLIENT, False, False, False, "BudgetExceeded"),
        (asyncio.CancelledError(), FailureKind.CANCELLED, False, False, False, "cancelled"),
        (KeyboardInterrupt(), FailureKind.CANCELLED, False, False, False, "cancelled"),
        (ValueError("bug"), FailureKind.UNKNOWN, False, False, False, "unexpected ValueError"),
        (
            ConnectionRefusedError(111, "refused"),
            FailureKind.CONNECT,
            True,
            True,
            True,
            "connection refused (ConnectionRefusedError)",
        ),
        (
            ConnectionResetError(104, "reset"),
            FailureKind.CONNECTION,
            True,
            True,
            True,
            "connection reset (ConnectionResetError)",
        ),
        (
            httpx.ConnectTimeout("slow dns"),
            FailureKind.CONNECT_TIMEOUT,
            True,
            True,
            True,
            "connect timeout (ConnectTimeout)",
        ),
        (
            httpx.PoolTimeout("pool"),
            FailureKind.CONNECT_TIMEOUT,
            True,
            True,
            True,
            "pool timeout (PoolTimeout)",
        ),
        (
            httpx.RemoteProtocolError("closed"),
            FailureKind.CONNECTION,
            True,
            True,
            True,
            "connection closed (RemoteProtocolError)",
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_the_clients_own_errors_and_the_rest(
    error: BaseException,
    kind: FailureKind,
    retryable: bool,
    breaker: bool,
    fallback: bool,
    reason: str,
) -> None:
    failure = failure_of(error)
    assert failure.kind is kind
    assert failure.error is error
    assert (failure.retryable, failure.breaker, failure.fallback) == (retryable, breaker, fallback)
    assert failure.reason == reason


def test_a_wait_too_long_carries_its_wait() -> None:
    assert failure_of(RateLimitWaitTooLong("x", retry_after=300)).retry_after == 300


def test_an_unknown_error_in_another_module_is_named_in_full() -> None:
    class Weird(Exception):
        pass

    assert failure_of(Weird()).reason == f"unexpected {__name__}.{Weird.__qualname__}"


def test_a_transport_error_wrapped_with_from_is_found() -> None:
    wrapped = RuntimeError("gateway client failed")
    wrapped.__cause__ = httpx.ConnectError("refused")
    assert failure_of(wrapped).kind is FailureKind.CONNECT


def test_a_bug_raised_while_handling_a_reset_is_not_a_retryable_reset() -> None:
    try:
        try:
            raise ConnectionResetError(104, "reset")
        except ConnectionResetError:
            {}["missing"]  # a bug in a handler
    except KeyError as bug:
        failure = failure_of(bug)
    assert failure.kind is FailureKind.UNKNOWN
    assert not failure.retryable


def test_a_cause_chain_with_a_cycle_ends() -> None:
    outer = RuntimeError("outer")
    inner = RuntimeError("inner")
    outer.__cause__ = inner
    inner.__context__ = outer
    assert failure_of(outer).kind is FailureKind.UNKNOWN


def test_failure_repr_is_one_readable_line() -> None:
    failure = failure_of(RateLimitWaitTooLong("x", retry_after=300))
    assert repr(failure) == (
        "Failure(kind='rate_limit', retryable=False, breaker=False, fallback=True, "
        "retry_after=300, reason='retry-after 300 s is too long', error=RateLimitWaitTooLong)"
    )
    assert FailureKind.READ_TIMEOUT == "read_timeout"


# -- RetryPolicy.decide ---------------------------------------------------------------------


def fail(
    kind: FailureKind = FailureKind.SERVER,
    *,
    retryable: bool = True,
    retry_after: float | None = None,
    reason: str = "503 server_error",
) -> Failure:
    return Failure(kind, RuntimeError(reason), 503, retryable, True, True, retry_after, reason)


RNG = random.Random(0)


def test_not_retryable_gives_up_at_once() -> None:
    decision = RetryPolicy().decide(
        fail(FailureKind.CLIENT, retryable=False, reason="400 x"), retries_done=0, rng=RNG
    )
    assert decision == Decision(False, 0.0, "400 x: not retryable", None)


def test_quota_gives_up_with_the_quota_error() -> None:
    decision = RetryPolicy().decide(
        fail(FailureKind.QUOTA, retryable=False, reason="429 insufficient_quota"),
        retries_done=0,
        rng=RNG,
    )
    assert not decision.retry
    assert decision.give_up is QuotaExceeded


@pytest.mark.parametrize("max_retries", [0, 1, 2, 5])
def test_max_retries_bounds_the_retries(max_retries: int) -> None:
    policy = RetryPolicy(max_retries=max_retries)
    verdicts = [
        policy.decide(fail(), retries_done=done, rng=random.Random(0)).retry for done in range(8)
    ]
    assert verdicts == [True] * max_retries + [False] * (8 - max_retries)


def test_the_backoff_wait_is_the_seeded_draw() -> None:
    backoff = Backoff(base=1, max_delay=60, jitter="equal")
    policy = RetryPolicy(max_retries=4, backoff=backoff)
    waits = [policy.decide(fail(), retries_done=d, rng=random.Random(d)).wait for d in range(4)]
    assert waits == [backoff.delay(d + 1, random.Random(d)) for d in range(4)]
    assert [
        backoff.envelope(d + 1)[0] <= w <= backoff.envelope(d + 1)[1] for d, w in enumerate(waits)
    ] == [True] * 4


def test_a_retry_decision_says_what_and_why() -> None:
    decision = RetryPolicy(backoff=Backoff(jitter="none")).decide(fail(), retries_done=1, rng=RNG)
    assert decision == Decision(True, 1.0, "503 server_error: retry 2 of 2 after 1 s (backoff)")


@pytest.mark.parametrize("server", [0.1, 7.0, 30.0, 60.0])
def test_retry_after_is_waited_exactly_not_capped_by_max_delay(server: float) -> None:
    policy = RetryPolicy(backoff=Backoff(max_delay=1), max_retry_after=60)
    decision = policy.decide(fail(retry_after=server), retries_done=0, rng=RNG)
    assert decision.retry
    assert decision.wait == server
    assert decision.retry_after == server
    assert "(retry-after)" in decision.reason


def test_retry_after_above_max_retry_after_is_not_waited_nor_shortened() -> None:
    decision = RetryPolicy(max_retry_after=60).decide(
        fail(retry_after=61.5), retries_done=0, remaining=1000, rng=RNG
    )
    assert not decision.retry
    assert decision.wait == 0.0
    assert decision.give_up is RateLimitWaitTooLong
    assert decision.retry_after == 61.5


@pytest.mark.parametrize(
    ("server", "remaining", "retry"),
    [(7.0, 7.5, True), (7.0, 7.0, False), (7.0, 3.0, False), (None, 0.5, False), (None, 100, True)],
)
def test_a_wait_that_would_not_end_before_the_deadline_is_not_taken(
    server: float | None, remaining: float, retry: bool
) -> None:
    policy = RetryPolicy(backoff=Backoff(base=0.5, jitter="none"))
    decision = policy.decide(fail(retry_after=server), retries_done=0, remaining=remaining, rng=RNG)
    assert decision.retry is retry
    assert decision.give_up is (None if retry else DeadlineExceeded)


def test_no_deadline_means_no_deadline_check() -> None:
    decision = RetryPolicy().decide(fail(retry_after=59), retries_done=0, remaining=None, rng=RNG)
    assert decision.retry


def test_read_timeouts_get_only_timeout_retries() -> None:
    timeout = fail(FailureKind.READ_TIMEOUT, reason="read timeout (ReadTimeout)")
    assert not RetryPolicy().decide(timeout, retries_done=0, rng=RNG).retry  # default 0
    policy = RetryPolicy(max_retries=5, timeout_retries=2)
    verdicts = [
        policy.decide(timeout, retries_done=n, timeout_retries_done=n, rng=RNG).retry
        for n in range(4)
    ]
    assert verdicts == [True, True, False, False]
    # other failures before it do not use up the timeout allowance, but max_retries holds
    assert policy.decide(timeout, retries_done=4, timeout_retries_done=0, rng=RNG).retry
    assert not policy.decide(timeout, retries_done=5, timeout_retries_done=0, rng=RNG).retry


def test_a_connect_timeout_is_retried_without_timeout_retries() -> None:
    connect = fail(FailureKind.CONNECT_TIMEOUT, reason="connect timeout")
    assert RetryPolicy(timeout_retries=0).decide(connect, retries_done=0, rng=RNG).retry


def test_the_budget_is_spent_last_and_only_on_a_retry() -> None:
    budget = RetryBudget(ratio=0, min_retries_per_window=1, clock=VirtualClock())
    policy = RetryPolicy(max_retries=1)
    # checks that say no come first and spend nothing
    assert not policy.decide(fail(), retries_done=1, rng=RNG, budget=budget).retry
    assert not policy.decide(fail(retryable=False), retries_done=0, rng=RNG, budget=budget).retry
    assert budget.available() == 1
    assert policy.decide(fail(), retries_done=0, rng=RNG, budget=budget).retry
    spent = policy.decide(fail(), retries_done=0, rng=RNG, budget=budget)
    assert not spent.retry
    assert spent.give_up is RetryBudgetExhausted
    assert "retry budget spent" in spent.reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_retries": -1}, "RetryPolicy(max_retries=-1): max_retries cannot be negative"),
        ({"max_retries": 1.5}, "max_retries is a whole number, got float."),
        ({"max_retries": True}, "RetryPolicy(max_retries=True)"),
        ({"timeout_retries": -2}, "timeout_retries cannot be negative (got -2)."),
        ({"max_retry_after": -1}, "max_retry_after cannot be negative"),
        ({"max_retry_after": math.nan}, "max_retry_after must be a finite number of seconds."),
        ({"backoff": 0.5}, "backoff must be a Backoff, got float."),
        ({"max_retry": 3}, "unknown option 'max_retry'; did you mean 'max_retries'?"),
        ({"zzz": 3}, "RetryPolicy(zzz=3): unknown option 'zzz'."),
    ],
)
def test_policy_refuses_bad_configuration(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientConfigError) as caught:
        RetryPolicy(**kwargs)
    first, fix = str(caught.value).splitlines()
    assert message in first
    assert fix.startswith("Fix: ")


def test_unknown_option_lists_the_known_ones() -> None:
    with pytest.raises(
        ClientConfigError,
        match=r"Fix: use one of backoff, max_retries, "
        r"max_retry_after, timeout_retries\.",
    ):
        RetryPolicy(retries=3)


def test_policy_and_decision_reprs() -> None:
    assert repr(RetryPolicy()) == (
        "RetryPolicy(max_retries=2, backoff=Backoff(base=0.5, multiplier=2.0, max_delay=8.0, "
        "jitter='full'), max_retry_after=60.0, timeout_retries=0)"
    )
    assert repr(Decision(False, 0.0, "x", RateLimitWaitTooLong, 90.0)) == (
        "Decision(retry=False, wait=0.0, reason='x', give_up=RateLimitWaitTooLong, "
        "retry_after=90.0)"
    )


# -- RetryBudget ---------------------------------------------------------------------------


def test_the_minimum_lets_low_traffic_retry() -> None:
    budget = RetryBudget(ratio=0.2, min_retries_per_window=3, clock=VirtualClock())
    assert [budget.try_spend() for _ in range(5)] == [True, True, True, False, False]


def test_retries_are_capped_to_a_ratio_of_first_attempts() -> None:
    budget = RetryBudget(ratio=0.2, min_retries_per_window=0, clock=VirtualClock())
    for _ in range(50):
        budget.record_call()
    assert sum(budget.try_spend() for _ in range(100)) == 10
    budget.record_call()
    budget.record_call()  # 52 calls: still 10
    assert not budget.try_spend()
    for _ in range(3):
        budget.record_call()  # 55 calls: 11
    assert budget.try_spend()


def test_the_window_slides_on_the_injected_clock() -> None:
    clock = VirtualClock()
    budget = RetryBudget(ratio=1.0, min_retries_per_window=0, window=60, clock=clock)
    for _ in range(4):
        budget.record_call()  # t=0
    clock.advance(30)
    budget.record_call()  # t=30
    assert sum(budget.try_spend() for _ in range(10)) == 5  # t=30: 5 calls, 5 retries
    clock.advance(30)  # t=60: the t=0 calls have left the window
    assert budget.available() == 0  # 1 call in window, but 5 retries from t=30 remain
    clock.advance(0.5)
    assert not budget.try_spend()
    clock.advance(29.5)  # t=90: the t=30 call and retries are gone too
    assert budget.available() == 0
    budget.record_call()
    assert budget.try_spend()
    assert not budget.try_spend()


def test_spent_budget_recovers_once_the_window_passes() -> None:
    clock = VirtualClock()
    budget = RetryBudget(ratio=0, min_retries_per_window=2, window=10, clock=clock)
    assert [budget.try_spend() for _ in range(3)] == [True, True, False]
    clock.advance(9.9)
    assert not budget.try_spend()
    clock.advance(0.1)
    assert budget.try_spend()


def test_the_budget_is_exact_under_threads() -> None:
    budget = RetryBudget(ratio=0.5, min_retries_per_window=100, clock=VirtualClock())
    granted = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        mine = 0
        for _ in range(500):
            budget.record_call()
            mine += budget.try_spend()
        with lock:
            granted.append(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 4000 calls: at most 100 + 0.5 * 4000 retries, and every one of them was handed out
    assert sum(granted) == 2100


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ratio": -0.1}, "RetryBudget(ratio=-0.1): ratio is retries allowed per first attempt"),
        ({"ratio": math.nan}, "RetryBudget(ratio=nan)"),
        ({"ratio": math.inf}, "RetryBudget(ratio=inf)"),
        ({"min_retries_per_window": -1}, "min_retries_per_window cannot be negative"),
        ({"window": 0}, "RetryBudget(window=0): a window of 0 s holds no calls"),
        ({"window": -5}, "window cannot be negative"),
        ({"clock": object()}, "the clock has no monotonic()"),
        ({"ratoi": 0.1}, "unknown option 'ratoi'; did you mean 'ratio'?"),
    ],
)
def test_budget_refuses_bad_configuration(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientConfigError) as caught:
        RetryBudget(**kwargs)
    first, fix = str(caught.value).splitlines()
    assert message in first
    assert fix.startswith("Fix: ")


def test_budget_repr_shows_the_window_contents() -> None:
    budget = RetryBudget(clock=VirtualClock())
    budget.record_call()
    budget.try_spend()
    assert repr(budget) == (
        "RetryBudget(ratio=0.2, min_retries_per_window=10, window=60.0, calls=1, retries=1)"
    )
