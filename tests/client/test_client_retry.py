"""What the client retries, and how long it waits, end to end through the real openai SDK
(CONTRACTS A 1-4, 7; B 8-16; M 54, 55), sync and async.

Every count is taken at the provider (``llm_faults.log``, ``llm_fake.requests``), every
wait on the virtual clock (``llm_clock.sleeps``) and in ``call_info(...).waits``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, ClassVar

import openai
import pytest
from client_helpers import Body200, reached, route, seen

from pytest_llm import faults
from pytest_llm._exchange import Exchange, Next, Outcome
from pytest_llm.client import (
    Backoff,
    CircuitBreaker,
    InvalidResponse,
    QuotaExceeded,
    RateLimitWaitTooLong,
    RetryBudget,
    RetryBudgetExhausted,
    RetryPolicy,
    call_info,
)
from pytest_llm.faults._base import Context, error_reply

NO_JITTER = Backoff(base=0.5, max_delay=8.0, jitter="none")


@dataclass(frozen=True, repr=False)
class RawError(faults.Fault):
    """An error reply with exactly these headers (garbage Retry-After values)."""

    kind: ClassVar[str] = ""
    status: int = 429
    headers: tuple[tuple[str, str], ...] = ()

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        return error_reply(
            ctx,
            self.status,
            message="Rate limit reached.",
            type="requests",
            code="rate_limit_exceeded",
            headers=list(self.headers),
        )


def chat(mode: Any, client: Any, **kw: Any) -> Any:
    return mode.call(client.chat.completions.create, **kw)


def chat_error(mode: Any, client: Any, error: Any, **kw: Any) -> Any:
    return mode.raises(error, client.chat.completions.create, **kw)


# -- A. What is retried ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (422, openai.UnprocessableEntityError),
    ],
)
def test_client_errors_are_sent_once(mode, llm_faults, llm_clock, status, error):
    """1: a 4xx without x-should-retry: exactly one request, the SDK's own typed error."""
    llm_faults.add(faults.HTTPError(status=status), model="a", times=None)
    client = mode.client(route("a"), max_retries=3)
    err = chat_error(mode, client, error)
    assert err.status_code == status
    assert seen(llm_faults, "a") == 1
    info = call_info(err)
    assert [(a.status, a.kind, a.wait) for a in info.attempts] == [(status, "client", 0.0)]
    assert "not retryable" in (info.attempts[0].reason or "")
    assert llm_clock.sleeps == []


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (
            faults.HTTPError(status=408, message="timeout", type="server_error"),
            openai.APIStatusError,
        ),
        (
            faults.HTTPError(status=409, message="conflict", type="server_error"),
            openai.ConflictError,
        ),
        (faults.HTTPError(status=429, message="slow down", type="requests"), openai.RateLimitError),
        (faults.ServerError(500), openai.InternalServerError),
        (faults.ServerError(502), openai.InternalServerError),
        (faults.ServerError(503), openai.InternalServerError),
        (faults.ServerError(504), openai.InternalServerError),
        (faults.Overloaded(), openai.InternalServerError),
        (faults.ConnectionReset(), openai.APIConnectionError),
    ],
    ids=["408", "409", "429", "500", "502", "503", "504", "529", "reset"],
)
def test_persistent_transient_failure_sends_max_retries_plus_one(
    mode, llm_faults, llm_fake, llm_clock, fault, error
):
    """2 + 7 + 54: R retries mean exactly R+1 requests at the provider (no SDK retries
    stacked under the client's), with R backoff waits in between."""
    llm_faults.add(fault, model="a", times=None)
    client = mode.client(route("a"), max_retries=3, seed=1)
    err = chat_error(mode, client, error)
    assert seen(llm_faults, "a") == 4
    assert reached(llm_fake) == 0
    info = call_info(err)
    assert info.requests == 4
    assert len(info.waits) == 3
    assert llm_clock.sleeps == info.waits
    assert "retries exhausted (3 of 3)" in (info.attempts[-1].reason or "")


def test_one_retry_layer_recovers_with_exact_request_count(mode, llm_faults, llm_fake):
    """7 + 54: two failures then a pass: 3 requests at the provider, 1 reached the fake."""
    llm_fake.add("Paris.")
    llm_faults.add(faults.ServerError(503), model="a", times=2)
    client = mode.client(route("a"), max_retries=2)
    reply = chat(mode, client)
    assert reply.choices[0].message.content == "Paris."
    assert isinstance(reply, openai.types.chat.ChatCompletion)
    assert seen(llm_faults, "a") == 3
    assert reached(llm_fake, "a") == 1
    assert [a.status for a in call_info(reply).attempts] == [503, 503, 200]


def test_max_retries_zero_sends_one_request(mode, llm_faults):
    """7: max_retries=0 is one request, whatever the wrapped SDK would have done."""
    llm_faults.add(faults.ServerError(503), model="a", times=None)
    client = mode.client(route("a"), max_retries=0)
    chat_error(mode, client, openai.InternalServerError)
    assert seen(llm_faults, "a") == 1


def test_should_retry_false_forbids_retrying_a_503(mode, llm_faults, llm_clock):
    """3: x-should-retry: false wins over the status."""
    llm_faults.add(faults.ServerError(503, should_retry=False), model="a", times=None)
    client = mode.client(route("a"), max_retries=3)
    err = chat_error(mode, client, openai.InternalServerError)
    assert seen(llm_faults, "a") == 1
    assert llm_clock.sleeps == []
    assert call_info(err).attempts[0].status == 503


def test_should_retry_true_allows_bounded_retries_of_a_400(mode, llm_faults):
    """3: x-should-retry: true makes a 400 retryable, still bounded by max_retries."""
    llm_faults.add(faults.HTTPError(status=400, should_retry=True), model="a", times=None)
    client = mode.client(route("a"), max_retries=2)
    err = chat_error(mode, client, openai.BadRequestError)
    assert seen(llm_faults, "a") == 3
    assert call_info(err).requests == 3


def test_insufficient_quota_is_one_attempt_and_a_quota_error(mode, llm_faults, llm_clock):
    """4: one request, QuotaExceeded chaining the SDK's 429, the breaker untouched."""
    llm_faults.add(faults.InsufficientQuota(), model="a", times=None)
    breaker = CircuitBreaker(failure_threshold=1, clock=llm_clock)
    client = mode.client(route("a"), max_retries=3, breaker=breaker)
    for _ in range(3):
        err = chat_error(mode, client, QuotaExceeded)
        assert isinstance(err.__cause__, openai.RateLimitError)
        assert err.__cause__.code == "insufficient_quota"
    assert seen(llm_faults, "a") == 3  # one per call
    assert breaker.state(route("a").key) == "closed"
    info = call_info(err)
    assert [(a.status, a.kind) for a in info.attempts] == [(429, "quota")]
    assert llm_clock.sleeps == []


# -- B. Backoff and Retry-After -------------------------------------------------------------


def test_backoff_without_hints_doubles_exactly_without_jitter(mode, llm_faults, llm_fake):
    """8: with jitter off, the n-th wait is base * 2**(n-1)."""
    llm_fake.add("ok")
    llm_faults.add(faults.ServerError(500), model="a", times=3)
    client = mode.client(route("a"), retry=RetryPolicy(max_retries=3, backoff=NO_JITTER))
    reply = chat(mode, client)
    assert mode.clock.sleeps == [0.5, 1.0, 2.0]
    assert call_info(reply).waits == [0.5, 1.0, 2.0]
    assert seen(llm_faults, "a") == 4


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_jittered_waits_lie_in_their_envelope(mode, llm_faults, llm_fake, seed):
    """8: equal jitter: wait n in [d/2, d] with d = 0.5 * 2**(n-1)."""
    llm_fake.add("ok")
    llm_faults.add(faults.ServerError(502), model="a", times=4)
    backoff = Backoff(base=0.5, max_delay=60, jitter="equal")
    client = mode.client(route("a"), retry=RetryPolicy(max_retries=4, backoff=backoff), seed=seed)
    waits = call_info(chat(mode, client)).waits
    assert len(waits) == 4
    for n, wait in enumerate(waits, 1):
        d = 0.5 * 2 ** (n - 1)
        assert d / 2 <= wait <= d, (n, wait)


def test_backoff_never_exceeds_max_delay(mode, llm_faults, llm_fake):
    """9: the computed wait is capped at max_delay."""
    llm_fake.add("ok")
    llm_faults.add(faults.ServerError(500), model="a", times=3)
    backoff = Backoff(base=4, max_delay=5, jitter="none")
    client = mode.client(route("a"), retry=RetryPolicy(max_retries=3, backoff=backoff))
    chat(mode, client)
    assert mode.clock.sleeps == [4.0, 5.0, 5.0]


def test_retry_after_above_max_is_not_shortened_and_raises_with_the_wait(mode, llm_faults):
    """9 + 13: Retry-After 90 > max_retry_after 60: no wait, no retry, the error carries 90."""
    llm_faults.add(faults.RateLimited(retry_after=90), model="a", times=None)
    client = mode.client(route("a"), retry=RetryPolicy(max_retries=3, max_retry_after=60))
    err = chat_error(mode, client, RateLimitWaitTooLong)
    assert err.retry_after == 90.0
    assert isinstance(err.__cause__, openai.RateLimitError)
    assert seen(llm_faults, "a") == 1
    assert mode.clock.sleeps == []
    assert call_info(err).attempts[0].retry_after == 90.0


def test_retry_after_above_max_fails_over_at_once(mode, llm_faults, llm_fake):
    """13: with a fallback, a too-long Retry-After goes to the next route without waiting."""
    llm_fake.add("from b", model="b")
    llm_faults.add(faults.RateLimited(retry_after=600), model="a", times=None)
    client = mode.client(route("a"), route("b"), retry=RetryPolicy(max_retry_after=60))
    reply = chat(mode, client)
    assert reply.choices[0].message.content == "from b"
    assert (seen(llm_faults, "a"), seen(llm_faults, "b")) == (1, 1)
    assert mode.clock.sleeps == []
    assert call_info(reply).model == "b"


@pytest.mark.parametrize(
    ("fault", "wait"),
    [
        (faults.RateLimited(retry_after=7), 7.0),  # integer seconds
        (faults.RateLimited(retry_after=1.5), 1.5),  # float seconds
        (faults.RateLimited(retry_after=7, http_date=True), 7.0),  # HTTP date
        (faults.RateLimited(retry_after=7, retry_after_ms=250), 0.25),  # 10: ms wins
        (faults.RateLimited(retry_after=7, retry_after_ms=0), 7.0),  # 11: zero ms
        (RawError(headers=(("retry-after-ms", "soon"), ("retry-after", "7"))), 7.0),  # 11
        (RawError(headers=(("retry-after-ms", "-5"), ("retry-after", "3"))), 3.0),  # 11
    ],
    ids=["int", "float", "http-date", "ms-wins", "zero-ms", "bad-ms", "negative-ms"],
)
def test_retry_after_is_waited_exactly(mode, llm_faults, llm_fake, fault, wait):
    """10, 11, 12: the server's wait, exactly, on the virtual clock."""
    llm_fake.add("ok")
    llm_faults.add(fault, model="a", times=1)
    client = mode.client(route("a"))
    reply = chat(mode, client)
    assert mode.clock.sleeps == [wait]
    assert call_info(reply).waits == [wait]
    assert call_info(reply).attempts[0].retry_after == wait
    assert seen(llm_faults, "a") == 2


@pytest.mark.parametrize(
    "value",
    ["-3", "nan", "inf", "NaN", "Thu, 01 Jan 2015 00:00:00 GMT", "tomorrow", "1e400", ""],
)
def test_garbage_retry_after_falls_back_to_plain_backoff(mode, llm_faults, llm_fake, value):
    """14: an unusable Retry-After: no crash, no unbounded wait, plain backoff."""
    llm_fake.add("ok")
    llm_faults.add(RawError(headers=(("retry-after", value),)), model="a", times=1)
    client = mode.client(route("a"), retry=RetryPolicy(backoff=NO_JITTER))
    reply = chat(mode, client)
    assert mode.clock.sleeps == [0.5]
    assert call_info(reply).attempts[0].retry_after is None
    assert math.isfinite(mode.clock.monotonic())


def test_seeded_jitter_reproduces_exactly(mode, llm_faults, llm_fake):
    """15: same seed, same failures: the same waits, to the last bit."""
    runs = []
    for _ in range(2):
        llm_fake.add("ok")
        llm_faults.add(faults.ServerError(503), model="a", times=2)
        client = mode.client(route("a"), seed=1234)
        runs.append(call_info(chat(mode, client)).waits)
    assert len(runs[0]) == 2
    assert runs[0] == runs[1]


def test_unseeded_clients_do_not_wake_at_one_instant(mode, llm_faults, llm_fake):
    """15: many unseeded clients retrying the same failure spread their waits."""
    waits = []
    for _ in range(12):
        llm_fake.add("ok")
        llm_faults.add(faults.ServerError(503), model="a", times=1)
        client = mode.client(route("a"))
        waits.append(call_info(chat(mode, client)).waits[0])
    assert len(set(waits)) >= 10
    assert all(0 <= w <= 0.5 for w in waits)


def test_unseeded_client_on_a_virtual_clock_draws_from_its_seeded_jitter(
    mode, llm_faults, llm_fake
):
    """15 and issue 7 (every jitter draw from the clock and a seeded RNG): under
    ``llm_clock`` an unseeded client draws its jitter from the clock's ``jitter``
    (seeded), so a test's waits are the same in every run; the next client draws the
    next values, so unseeded clients still spread."""
    mode.clock.jitter = random.Random(7)  # the run before, and this one: the same seed
    expected = random.Random(7)
    waits = []
    for _ in range(3):
        llm_fake.add("ok")
        llm_faults.add(faults.ServerError(503), model="a", times=1)
        waits.append(call_info(chat(mode, mode.client(route("a")))).waits[0])
    assert waits == [0.5 * expected.random() for _ in range(3)]
    assert len(set(waits)) == 3


def test_retry_budget_caps_retries_then_fails_fast(mode, llm_faults, llm_clock):
    """16: a budget of 2 retries per window (ratio 0): the first call spends both, the
    next fails fast after its first attempt; counted at the provider."""
    llm_faults.add(faults.ServerError(503), model="a", times=None)
    budget = RetryBudget(ratio=0.0, min_retries_per_window=2, window=60, clock=llm_clock)
    client = mode.client(route("a"), max_retries=2, retry_budget=budget, breaker=False)
    chat_error(mode, client, openai.InternalServerError)
    assert seen(llm_faults, "a") == 3
    err = chat_error(mode, client, RetryBudgetExhausted)
    assert isinstance(err.__cause__, openai.InternalServerError)
    assert seen(llm_faults, "a") == 4
    assert call_info(err).requests == 1
    llm_clock.advance(61)  # a new window: retries again
    chat_error(mode, client, openai.InternalServerError)
    assert seen(llm_faults, "a") == 7


# -- M 55. A 200 that is not an answer ------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "upstream failed", "type": "server_error", "code": None}},
        {
            "id": "chatcmpl-x",
            "object": "chat.completion",
            "created": 0,
            "model": "a",
            "choices": [],
        },
    ],
    ids=["error-object", "no-choices"],
)
def test_200_that_is_not_an_answer_is_retried_like_a_5xx(mode, llm_faults, llm_fake, body):
    """55: never handed to the caller; retried; the attempt is recorded as failed."""
    llm_fake.add("Paris.")
    llm_faults.add(Body200(body=body), model="a", times=1)
    client = mode.client(route("a"))
    reply = chat(mode, client)
    assert reply.choices[0].message.content == "Paris."
    assert seen(llm_faults, "a") == 2
    first = call_info(reply).attempts[0]
    assert (first.status, first.error) == (200, "InvalidResponse")
    assert len(call_info(reply).waits) == 1


def test_200_error_body_every_time_raises_invalid_response(mode, llm_faults):
    """55: a persistent bad 200 exhausts the retries and raises a typed error."""
    body = {"error": {"message": "upstream failed", "type": "server_error", "code": None}}
    llm_faults.add(Body200(body=body), model="a", times=None)
    client = mode.client(route("a"), max_retries=1)
    err = chat_error(mode, client, InvalidResponse)
    assert seen(llm_faults, "a") == 2
    assert call_info(err).requests == 2
