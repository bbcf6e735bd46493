"""classify() on the exceptions the real openai SDK raises, sync and async.

Every failure here is produced by calling the SDK (``max_retries=0``: one request each)
against pytest-llm's fake provider with a fault in front, on virtual time. The SDK's
exception types differ between openai 3.x (httpx2) and 2.x (httpx), and between a
failure before the response and one in the middle of a stream; classify() must read
them all the same way.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any, ClassVar

import openai
import pytest

from pytest_llm import VirtualClock
from pytest_llm._exchange import Exchange, Next, Outcome, TransportFailure
from pytest_llm.client import DeadlineExceeded, QuotaExceeded, RateLimitWaitTooLong, Route
from pytest_llm.client._retry import (
    Backoff,
    Failure,
    FailureKind,
    RetryPolicy,
    classify,
)
from pytest_llm.faults import (
    ConnectError,
    ConnectionReset,
    ContextLengthExceeded,
    Fault,
    FaultPlan,
    HTTPError,
    InsufficientQuota,
    Overloaded,
    RateLimited,
    ReadTimeout,
    ServerError,
    Stall,
    StreamError,
)

pytestmark = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])

MESSAGES = [{"role": "user", "content": "Capital of France?"}]
TEXT = "Paris is the capital of France, and it has been for a long time."


@dataclass(frozen=True, repr=False)
class ConnectTimeout(Fault):
    """The connection attempt times out: nothing was sent (the harness has no such kind yet)."""

    kind: ClassVar[str] = ""

    def apply(self, exchange: Exchange, nxt: Next, ctx: Any) -> Outcome:
        return TransportFailure("connect_timeout", "timed out")


def sdk_error(is_async: bool, *, api: str = "chat", stream: bool = False) -> BaseException:
    """One request through the real SDK (no SDK retries); the exception it raised."""
    kwargs: dict[str, Any] = {
        "base_url": "http://llm.test/v1",
        "api_key": "sk-test",
        "max_retries": 0,
        "timeout": 10,
    }

    def call(client: Any) -> Any:
        if api == "responses":
            return client.responses.create(model="gpt-4o-mini", input="Hi", stream=stream)
        return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=stream)

    if not is_async:
        try:
            result = call(openai.OpenAI(**kwargs))
            for _ in result if stream else ():
                pass
        except Exception as exc:
            return exc
        raise AssertionError("the SDK call did not fail")

    async def main() -> BaseException:
        try:
            result = await call(openai.AsyncOpenAI(**kwargs))
            if stream:
                async for _ in result:
                    pass
        except Exception as exc:
            return exc
        raise AssertionError("the SDK call did not fail")

    return asyncio.run(main())


def check(
    failure: Failure,
    kind: FailureKind,
    *,
    status: int | None,
    retryable: bool,
    breaker: bool,
    fallback: bool,
    reason: str,
    retry_after: float | None = None,
) -> None:
    assert failure.kind is kind
    assert failure.status == status
    assert failure.retryable is retryable
    assert failure.breaker is breaker
    assert failure.fallback is fallback
    assert failure.retry_after == retry_after
    assert reason in failure.reason


# -- HTTP statuses --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "retry_after"),
    [
        (RateLimited(retry_after=7), 7.0),
        (RateLimited(retry_after=1.5), 1.5),
        (RateLimited(retry_after=7, http_date=True), 7.0),
        (RateLimited(retry_after=None, retry_after_ms=250), 0.25),
        (RateLimited(retry_after=7, retry_after_ms=250), 0.25),
        (RateLimited(retry_after=7, retry_after_ms=0), 7.0),
        (RateLimited(retry_after=None), None),
    ],
    ids=["seconds", "float", "http-date", "ms", "ms-wins", "zero-ms-hides-nothing", "none"],
)
def test_a_rate_limit_is_retryable_and_carries_the_servers_wait(
    is_async: bool,
    llm_faults: FaultPlan,
    llm_clock: VirtualClock,
    fault: RateLimited,
    retry_after: float | None,
) -> None:
    llm_clock.advance(3600)  # the HTTP date is read against the clock's wall time, not real time
    llm_faults.add(fault)
    error = sdk_error(is_async)

    assert isinstance(error, openai.RateLimitError)
    failure = classify(error, now=llm_clock.now())
    check(
        failure,
        FailureKind.RATE_LIMIT,
        status=429,
        retryable=True,
        breaker=False,
        fallback=True,
        retry_after=retry_after,
        reason="429 rate_limit_exceeded",
    )
    assert len(llm_faults.log) == 1


def test_insufficient_quota_is_a_distinct_failure_that_is_never_retried(
    is_async: bool, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_faults.add(InsufficientQuota())
    error = sdk_error(is_async)

    assert isinstance(error, openai.RateLimitError)
    check(
        classify(error, now=llm_clock.now()),
        FailureKind.QUOTA,
        status=429,
        retryable=False,
        breaker=False,
        fallback=True,
        reason="429 insufficient_quota",
    )


@pytest.mark.parametrize(
    ("fault", "status", "kind", "reason"),
    [
        (ServerError(500), 500, FailureKind.SERVER, "500 server_error"),
        (ServerError(502), 502, FailureKind.SERVER, "502 cf_bad_gateway"),
        (ServerError(503), 503, FailureKind.SERVER, "503 server_error"),
        (HTTPError(status=504, type="server_error"), 504, FailureKind.SERVER, "504"),
        (Overloaded(), 529, FailureKind.OVERLOADED, "529 overloaded_error"),
    ],
    ids=["500", "502", "503", "504", "529"],
)
def test_server_errors_are_retryable_and_count_for_the_breaker(
    is_async: bool,
    llm_faults: FaultPlan,
    llm_clock: VirtualClock,
    fault: Fault,
    status: int,
    kind: FailureKind,
    reason: str,
) -> None:
    llm_faults.add(fault)
    error = sdk_error(is_async)

    assert isinstance(error, openai.InternalServerError)
    check(
        classify(error, now=llm_clock.now()),
        kind,
        status=status,
        retryable=True,
        breaker=True,
        fallback=True,
        reason=reason,
    )


@pytest.mark.parametrize(
    ("status", "sdk_type", "fallback"),
    [
        (400, openai.BadRequestError, False),
        (401, openai.AuthenticationError, True),
        (403, openai.PermissionDeniedError, True),
        (404, openai.NotFoundError, True),
        (422, openai.UnprocessableEntityError, False),
    ],
)
def test_client_errors_are_not_retried_and_never_count_for_the_breaker(
    is_async: bool,
    llm_faults: FaultPlan,
    llm_clock: VirtualClock,
    status: int,
    sdk_type: type[Exception],
    fallback: bool,
) -> None:
    # 401/403/404 belong to the route (its key, its account, its model): another route
    # may serve the request. 400/422 are the request's own fault: every route refuses it.
    llm_faults.add(HTTPError(status=status))
    error = sdk_error(is_async)

    assert isinstance(error, sdk_type)
    check(
        classify(error, now=llm_clock.now()),
        FailureKind.CLIENT,
        status=status,
        retryable=False,
        breaker=False,
        fallback=fallback,
        reason=f"{status} invalid_request_error",
    )


@pytest.mark.parametrize("status", [408, 409])
def test_request_timeout_and_conflict_are_transient_but_not_the_routes_health(
    is_async: bool, llm_faults: FaultPlan, llm_clock: VirtualClock, status: int
) -> None:
    llm_faults.add(HTTPError(status=status))
    failure = classify(sdk_error(is_async), now=llm_clock.now())

    check(
        failure,
        FailureKind.CLIENT,
        status=status,
        retryable=True,
        breaker=False,
        fallback=True,
        reason=str(status),
    )


@pytest.mark.parametrize(
    ("fault", "retryable", "breaker", "changed"),
    [
        (ServerError(503, should_retry=False), False, True, True),
        (Overloaded(should_retry=False), False, True, True),
        (RateLimited(retry_after=3, should_retry=False), False, False, True),
        (HTTPError(status=400, should_retry=True), True, False, True),
        (HTTPError(status=404, should_retry=True), True, False, True),
        (ServerError(500, should_retry=True), True, True, False),
    ],
    ids=["503-false", "529-false", "429-false", "400-true", "404-true", "500-true"],
)
def test_x_should_retry_decides_over_the_status(
    is_async: bool,
    llm_faults: FaultPlan,
    llm_clock: VirtualClock,
    fault: Fault,
    retryable: bool,
    breaker: bool,
    changed: bool,
) -> None:
    llm_faults.add(fault)
    failure = classify(sdk_error(is_async), now=llm_clock.now())

    assert failure.retryable is retryable
    assert failure.breaker is breaker  # a 503 the server asked not to retry is still a 503
    # the reason says when the header overruled the status
    assert (f"x-should-retry: {str(retryable).lower()}" in failure.reason) is changed


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_context_length_goes_only_to_routes_that_opt_in(
    is_async: bool, llm_faults: FaultPlan, llm_clock: VirtualClock, api: str
) -> None:
    llm_faults.add(ContextLengthExceeded(limit=8192))
    error = sdk_error(is_async, api=api)

    assert isinstance(error, openai.BadRequestError)
    failure = classify(error, now=llm_clock.now())
    check(
        failure,
        FailureKind.CONTEXT_LENGTH,
        status=400,
        retryable=False,
        breaker=False,
        fallback=True,
        reason="400 context_length_exceeded",
    )
    assert failure.fallback_on == "context_length"
    assert failure.accepted_by(Route("gpt-4.1", fallback_on=frozenset({"context_length"})))
    assert not failure.accepted_by(Route("gpt-4.1"))
    assert not failure.accepted_by(Route("gpt-4.1", fallback_on=frozenset({"content_policy"})))


def test_a_gateway_context_error_without_the_code_is_known_by_its_message(
    is_async: bool, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_faults.add(HTTPError(status=400, message="prompt is too long: 210000 tokens > 200000"))
    failure = classify(sdk_error(is_async), now=llm_clock.now())

    assert failure.kind is FailureKind.CONTEXT_LENGTH
    assert failure.reason == "400 context_length (from the message)"
    assert not failure.retryable


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (
            HTTPError(status=400, code="content_policy_violation", message="Rejected."),
            "400 content_policy_violation",
        ),
        (
            HTTPError(
                status=400,
                message="Your request was rejected as a result of our safety system.",
            ),
            "400 content_policy (from the message)",
        ),
        (
            HTTPError(status=400, code="content_filter", message="Filtered (Azure)."),
            "400 content_filter",
        ),
    ],
    ids=["code", "message", "azure"],
)
def test_content_policy_goes_only_to_routes_that_opt_in(
    is_async: bool, llm_faults: FaultPlan, llm_clock: VirtualClock, fault: HTTPError, reason: str
) -> None:
    llm_faults.add(fault)
    failure = classify(sdk_error(is_async), now=llm_clock.now())

    check(
        failure,
        FailureKind.CONTENT_POLICY,
        status=400,
        retryable=False,
        breaker=False,
        fallback=True,
        reason=reason,
    )
    assert failure.fallback_on == "content_policy"
    assert failure.accepted_by(Route("m", fallback_on=frozenset({"content_policy"})))
    assert not failure.accepted_by(Route("m", fallback_on=frozenset({"context_length"})))


def test_a_route_that_opts_in_still_does_not_take_a_bad_request(
    is_async: bool, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_faults.add(HTTPError(status=400))
    failure = classify(sdk_error(is_async), now=llm_clock.now())

    assert failure.fallback_on is None
    assert not failure.accepted_by(
        Route("m", fallback_on=frozenset({"context_length", "content_policy"}))
    )


# -- transport failures ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "sdk_type", "kind", "reason"),
    [
        (ReadTimeout(), openai.APITimeoutError, FailureKind.READ_TIMEOUT, "read timeout"),
        (ConnectTimeout(), openai.APITimeoutError, FailureKind.CONNECT_TIMEOUT, "connect timeout"),
        (ConnectError(), openai.APIConnectionError, FailureKind.CONNECT, "connection refused"),
        (ConnectionReset(), openai.APIConnectionError, FailureKind.CONNECTION, "connection reset"),
    ],
    ids=["read-timeout", "connect-timeout", "connect-refused", "reset-before-headers"],
)
def test_transport_failures_are_told_apart_by_their_cause(
    is_async: bool,
    llm_faults: FaultPlan,
    llm_clock: VirtualClock,
    fault: Fault,
    sdk_type: type[Exception],
    kind: FailureKind,
    reason: str,
) -> None:
    llm_faults.add(fault)
    error = sdk_error(is_async)

    assert type(error) is sdk_type
    check(
        classify(error, now=llm_clock.now()),
        kind,
        status=None,
        retryable=True,
        breaker=True,
        fallback=True,
        reason=reason,
    )


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Stall(after_chunk=2, seconds=60), FailureKind.READ_TIMEOUT),
        (ConnectionReset(after_chunks=2), FailureKind.CONNECTION),
    ],
    ids=["stall", "reset"],
)
def test_mid_stream_transport_failures_whatever_the_sdk_raises(
    is_async: bool,
    llm_faults: FaultPlan,
    llm_clock: VirtualClock,
    llm_fake: Any,
    fault: Fault,
    kind: FailureKind,
) -> None:
    # openai 3.x wraps these in APITimeoutError / APIConnectionError; 2.x lets the raw
    # httpx.ReadTimeout / httpx.ReadError out of the stream iterator.
    llm_fake.add(TEXT)
    llm_faults.add(fault)
    error = sdk_error(is_async, stream=True)

    failure = classify(error, now=llm_clock.now())
    assert failure.kind is kind, (type(error), failure)
    assert failure.breaker


def test_an_in_band_stream_error_is_a_stream_failure(
    is_async: bool, llm_faults: FaultPlan, llm_clock: VirtualClock, llm_fake: Any
) -> None:
    llm_fake.add(TEXT)
    llm_faults.add(StreamError(after_chunk=1))
    error = sdk_error(is_async, stream=True)

    assert type(error) is openai.APIError
    check(
        classify(error, now=llm_clock.now()),
        FailureKind.STREAM,
        status=None,
        retryable=True,
        breaker=True,
        fallback=True,
        reason="in-band error server_error",
    )


def test_an_in_band_rate_limit_is_not_a_breaker_failure(
    is_async: bool, llm_faults: FaultPlan, llm_clock: VirtualClock, llm_fake: Any
) -> None:
    llm_fake.add(TEXT)
    llm_faults.add(StreamError(after_chunk=1, type="requests", code="rate_limit_exceeded"))
    failure = classify(sdk_error(is_async, stream=True), now=llm_clock.now())

    assert failure.kind is FailureKind.RATE_LIMIT
    assert not failure.breaker


def test_each_sdk_failure_is_classified_by_its_own_type_not_by_luck(
    is_async: bool, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    # The same plan, three requests: the three failures must come out three different kinds.
    llm_faults.sequence(ServerError(503), InsufficientQuota(), ConnectError())
    kinds = [classify(sdk_error(is_async), now=llm_clock.now()).kind for _ in range(3)]

    assert kinds == [FailureKind.SERVER, FailureKind.QUOTA, FailureKind.CONNECT]


# -- the policy on real failures: requests counted where the provider sees them ---------


@dataclass
class Scenario:
    faults: list[Fault]
    policy: RetryPolicy
    requests: int
    sleeps: list[float]
    give_up: type[Exception] | None
    reason: str
    deadline: float | None = None


SCENARIOS = {
    "5xx-persists": Scenario(
        [ServerError(503)] * 4,
        RetryPolicy(max_retries=3, backoff=Backoff(jitter="none")),
        requests=4,
        sleeps=[0.5, 1.0, 2.0],
        give_up=None,
        reason="503 server_error: retries exhausted (3 of 3)",
    ),
    "no-retries": Scenario(
        [Overloaded()],
        RetryPolicy(max_retries=0),
        requests=1,
        sleeps=[],
        give_up=None,
        reason="retries exhausted (0 of 0)",
    ),
    "retry-after-waited-exactly": Scenario(
        [RateLimited(retry_after=7)] * 3,
        RetryPolicy(max_retries=2, backoff=Backoff(max_delay=1)),
        requests=3,
        sleeps=[7.0, 7.0],
        give_up=None,
        reason="retries exhausted (2 of 2)",
    ),
    "retry-after-too-long": Scenario(
        [RateLimited(retry_after=120)],
        RetryPolicy(max_retry_after=60),
        requests=1,
        sleeps=[],
        give_up=RateLimitWaitTooLong,
        reason="retry-after 120 s is over max_retry_after=60",
    ),
    "wait-past-deadline": Scenario(
        [RateLimited(retry_after=7)] * 2,
        RetryPolicy(max_retries=5),
        requests=2,
        sleeps=[7.0],
        give_up=DeadlineExceeded,
        reason="would not end before the deadline (3 s left)",
        deadline=10.0,
    ),
    "should-retry-false": Scenario(
        [ServerError(503, should_retry=False)],
        RetryPolicy(max_retries=5),
        requests=1,
        sleeps=[],
        give_up=None,
        reason="not retryable",
    ),
    "should-retry-true-still-bounded": Scenario(
        [HTTPError(status=400, should_retry=True)] * 3,
        RetryPolicy(max_retries=2, backoff=Backoff(jitter="none")),
        requests=3,
        sleeps=[0.5, 1.0],
        give_up=None,
        reason="retries exhausted (2 of 2)",
    ),
    "quota": Scenario(
        [InsufficientQuota()],
        RetryPolicy(max_retries=5),
        requests=1,
        sleeps=[],
        give_up=QuotaExceeded,
        reason="429 insufficient_quota: not retryable",
    ),
    "context-length": Scenario(
        [ContextLengthExceeded()],
        RetryPolicy(max_retries=5),
        requests=1,
        sleeps=[],
        give_up=None,
        reason="not retryable",
    ),
    "read-timeout-default": Scenario(
        [ReadTimeout()],
        RetryPolicy(max_retries=5),
        requests=1,
        sleeps=[10.0],
        give_up=None,
        reason="no more tries after a read timeout (0 of timeout_retries=0)",
    ),
    "read-timeout-one-more": Scenario(
        [ReadTimeout()] * 2,
        RetryPolicy(max_retries=5, timeout_retries=1, backoff=Backoff(jitter="none")),
        requests=2,
        sleeps=[10.0, 0.5, 10.0],
        give_up=None,
        reason="(1 of timeout_retries=1)",
    ),
    "connect-timeout-retried": Scenario(
        [ConnectTimeout()] * 3,
        RetryPolicy(max_retries=2, backoff=Backoff(jitter="none")),
        requests=3,
        sleeps=[0.5, 1.0],
        give_up=None,
        reason="connect timeout (ConnectTimeout): retries exhausted (2 of 2)",
    ),
    "reset-before-headers": Scenario(
        [ConnectionReset()] * 3,
        RetryPolicy(max_retries=2, backoff=Backoff(jitter="none")),
        requests=3,
        sleeps=[0.5, 1.0],
        give_up=None,
        reason="retries exhausted (2 of 2)",
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_the_policy_on_real_failures_sends_and_waits_what_it_should(
    is_async: bool, llm_faults: FaultPlan, llm_clock: VirtualClock, scenario: Scenario
) -> None:
    llm_faults.sequence(*scenario.faults)
    rng = random.Random(0)
    retries = timeout_retries = 0
    while True:
        failure = classify(sdk_error(is_async), now=llm_clock.now())
        remaining = None
        if scenario.deadline is not None:
            remaining = scenario.deadline - llm_clock.monotonic()
        decision = scenario.policy.decide(
            failure,
            retries_done=retries,
            timeout_retries_done=timeout_retries,
            remaining=remaining,
            rng=rng,
        )
        if not decision.retry:
            break
        llm_clock.sleep(decision.wait)
        retries += 1
        timeout_retries += failure.kind is FailureKind.READ_TIMEOUT

    assert len(llm_faults.log) == scenario.requests  # counted where the provider sees them
    assert llm_clock.sleeps == scenario.sleeps
    assert decision.give_up is scenario.give_up
    assert scenario.reason in decision.reason
