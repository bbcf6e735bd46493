"""The 57 contracts of ``CONTRACTS.md`` as checks on the harness: each is an ``async``
function of a :class:`~pytest_llm.conformance._context.Ctx` that records evidence and
raises ``ContractFailed`` or ``NotApplicable``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .. import faults as F
from ._context import DEFAULT_TEXT, QUESTION, Ctx, Failed, Streamed, describe, within
from ._faults import ConnectTimeout, GarbledChunk, RawReply, RetryAfterHeader, Switch, WithoutDone
from ._protocol import BreakerSpec, BudgetSpec, CacheSpec, RateLimitSpec, Reply, RetryBudgetSpec
from ._protocol import RouteSpec as R

__all__ = ["CONTRACTS", "Contract"]

Check = Callable[[Ctx], Awaitable[None]]


@dataclass(frozen=True)
class Contract:
    number: int
    family: str
    title: str
    check: Check

    @property
    def id(self) -> str:
        return f"{self.number:02d}"


CONTRACTS: dict[int, Contract] = {}

FAMILIES = {
    "A": "What is retried",
    "B": "Backoff and Retry-After",
    "C": "Deadlines and timeouts",
    "D": "Streaming",
    "E": "Fallback",
    "F": "Circuit breaker",
    "G": "Rate limiting",
    "H": "Budgets and cost",
    "I": "Cache",
    "J": "Coalescing",
    "K": "Structured output",
    "L": "Observability",
    "M": "Field reports",
}


def contract(number: int, family: str, title: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CONTRACTS[number] = Contract(number, family, title, fn)
        return fn

    return register


LONG = "one two three four five six seven eight"
B_URL = "http://llm-b.test/v1"


def _s(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


# -- A. What is retried ------------------------------------------------------------------


@contract(
    1, "A", "4xx (400, 401, 403, 404, 422) without x-should-retry: one request, a typed error"
)
async def c01(ctx: Ctx) -> None:
    ctx.need("retries")
    for status in (400, 401, 403, 404, 422):
        model = f"m{status}"
        ctx.fault(F.HTTPError(status=status), model=model, times=None)
        out, n = await ctx.call_seen(ctx.client(model, max_retries=2), seen=model)
        ctx.check(
            isinstance(out, Failed) and out.kind == "client_error" and n == 1,
            f"{status}: {n} request(s) seen, expected 1; {describe(out)}",
        )


@contract(2, "A", "a persistent transient failure: exactly max_retries + 1 requests")
async def c02(ctx: Ctx) -> None:
    ctx.need("retries")
    cases: list[tuple[str, Any]] = [
        ("408", F.HTTPError(status=408, type="timeout")),
        ("409", F.HTTPError(status=409, type="conflict")),
        ("429", F.RateLimited(retry_after=1)),
        ("500", F.ServerError(500)),
        ("502", F.ServerError(502)),
        ("503", F.ServerError(503)),
        ("504", F.ServerError(504)),
        ("529", F.Overloaded()),
        ("reset", F.ConnectionReset()),
    ]
    for name, fault in cases:
        model = f"m-{name}"
        ctx.fault(fault, model=model, times=None)
        out, n = await ctx.call_seen(ctx.client(model, max_retries=2), seen=model)
        ctx.check(
            isinstance(out, Failed) and n == 3,
            f"{name}: {n} requests seen, expected 3; {describe(out)}",
        )


@contract(3, "A", "x-should-retry: false forbids a retry; true allows one, still bounded")
async def c03(ctx: Ctx) -> None:
    ctx.need("retries")
    ctx.fault(F.ServerError(503, should_retry=False), model="no", times=None)
    out, n = await ctx.call_seen(ctx.client("no", max_retries=2), seen="no")
    ctx.check(n == 1, f"503 with x-should-retry: false: {n} request(s) seen, expected 1")
    ctx.fault(F.HTTPError(status=400, should_retry=True), model="yes", times=None)
    out, n = await ctx.call_seen(ctx.client("yes", max_retries=2), seen="yes")
    ctx.check(
        2 <= n <= 3 and isinstance(out, Failed),
        f"400 with x-should-retry: true: {n} requests seen, expected 2..3 (max_retries 2)",
    )


@contract(4, "A", "429 insufficient_quota: one attempt, a distinct quota error, breaker untouched")
async def c04(ctx: Ctx) -> None:
    ctx.need("retries")
    breaker = BreakerSpec(failure_threshold=1, reset_timeout=60) if ctx.has("breaker") else None
    client = ctx.client("m1", max_retries=2, breaker=breaker)
    ctx.fault(F.InsufficientQuota(), times=1)
    out, n = await ctx.call_seen(client)
    ctx.check(
        isinstance(out, Failed) and out.kind == "quota" and n == 1,
        f"{n} request(s) seen, expected 1; {describe(out)}, expected a quota error",
    )
    if breaker is not None:
        out, n = await ctx.call_seen(client)
        ctx.check(
            isinstance(out, Reply) and n == 2,
            f"next call (breaker threshold 1) {describe(out)}, {n} requests in all: "
            "the quota error left the breaker closed"
            if n == 2
            else f"next call {describe(out)} with {n} requests in all: the quota error opened "
            "the breaker",
        )


@contract(5, "A", "context_length_exceeded: never retried on the same model; context fallback")
async def c05(ctx: Ctx) -> None:
    ctx.need("retries")
    ctx.fault(F.ContextLengthExceeded(limit=100), model="small", times=None)
    out, n = await ctx.call_seen(ctx.client("small", max_retries=2), seen="small")
    ctx.check(n == 1, f"alone: {n} request(s) to the same model, expected 1; {describe(out)}")
    if not (ctx.has("routes") and ctx.has("context_fallback")):
        ctx.note("context fallback: not checked (no routes or context_fallback)")
        return
    client = ctx.client("small", R("big", fallback_on=frozenset({"context_length"})))
    out, n = await ctx.call_seen(client, seen="small")
    ctx.check(
        isinstance(out, Reply) and out.model == "big" and n == 2,
        f"with a context fallback: {describe(out)}, 'small' saw {n - 1} more request(s) "
        "(expected 1, then 'big')",
    )


@contract(6, "A", "content_policy_violation: never retried; only content-policy fallbacks get it")
async def c06(ctx: Ctx) -> None:
    ctx.need("retries", "routes", "content_policy_fallback")
    ctx.fault(
        F.HTTPError(
            status=400, message="Your request was rejected.", code="content_policy_violation"
        ),
        model="m1",
        times=None,
    )
    client = ctx.client("m1", "plain", R("safe", fallback_on=frozenset({"content_policy"})))
    out = await ctx.call(client)
    got = (ctx.seen("m1"), ctx.seen("plain"), ctx.seen("safe"))
    ctx.check(
        got == (1, 0, 1) and isinstance(out, Reply) and out.model == "safe",
        f"requests m1/plain/safe: {got[0]}/{got[1]}/{got[2]}, expected 1/0/1; {describe(out)}",
    )


@contract(7, "A", "one layer retries: R retries mean at most R+1 requests per route")
async def c07(ctx: Ctx) -> None:
    ctx.need("retries", "routes")
    ctx.fault(F.ServerError(500), times=None)
    out = await ctx.call(ctx.client("m1", "m2", max_retries=1))
    got = (ctx.seen("m1"), ctx.seen("m2"))
    ctx.check(
        got == (2, 2),
        f"max_retries 1 over 2 routes: {got[0]} + {got[1]} requests seen, expected 2 + 2 "
        f"(stacked SDK retries multiply); {describe(out)}",
    )


# -- B. Backoff and Retry-After ----------------------------------------------------------


@contract(8, "B", "without hints the n-th wait lies in the jitter envelope of base * 2**(n-1)")
async def c08(ctx: Ctx) -> None:
    ctx.need("retries", "backoff")
    ctx.fault(F.ServerError(503), times=3)
    out, waits = await ctx.call_waits(ctx.client(max_retries=3, backoff_base=0.5, jitter="full"))
    ok = len(waits) == 3 and all(0 <= w <= 0.5 * 2**i + 1e-9 for i, w in enumerate(waits))
    ctx.check(
        ok and isinstance(out, Reply),
        f"waits {_s(waits)}, expected 3 within [0, 0.5], [0, 1], [0, 2]; {describe(out)}",
    )


@contract(9, "B", "never waits longer than max_delay, max_retry_after, or past the deadline")
async def c09(ctx: Ctx) -> None:
    ctx.need("retries", "backoff", "retry_after", "deadline")
    ctx.fault(F.ServerError(503), model="a", times=None)
    _, waits = await ctx.call_waits(
        ctx.client("a", max_retries=5, backoff_base=1, backoff_max_delay=2)
    )
    ctx.check(
        len(waits) == 5 and within(waits, 0, 2), f"max_delay 2: waits {_s(waits)}, expected 5 <= 2"
    )
    ctx.fault(F.RateLimited(retry_after=100), model="b", times=None)
    _, waits = await ctx.call_waits(ctx.client("b", max_retries=2, max_retry_after=30))
    ctx.check(within(waits, 0, 30), f"max_retry_after 30, Retry-After 100: waited {_s(waits)}")
    ctx.fault(F.ServerError(503), model="c", times=None)
    start = ctx.clock.monotonic()
    out = await ctx.call(
        ctx.client(
            "c", max_retries=5, backoff_base=4, backoff_max_delay=8, jitter="none", deadline=5
        )
    )
    took = ctx.clock.monotonic() - start
    ctx.check(took <= 5.001, f"deadline 5: {describe(out)} after {took:g} s")


async def _waits_as_told(ctx: Ctx, fault: Any, low: float, high: float, evidence: str) -> None:
    """One fault, one call: the client waits once, between ``low`` and ``high``, then
    gets its reply. ``evidence`` says what the server told, ``{waited}`` what was seen."""
    ctx.fault(fault, times=1)
    out, waits = await ctx.call_waits(ctx.client())
    ctx.check(
        len(waits) == 1 and within(waits, low, high) and isinstance(out, Reply),
        evidence.format(waited=_s(waits)),
    )


@contract(10, "B", "retry-after-ms wins over retry-after")
async def c10(ctx: Ctx) -> None:
    ctx.need("retries", "retry_after")
    fault = F.RateLimited(retry_after=7, retry_after_ms=250)
    await _waits_as_told(
        ctx, fault, 0.25, 0.25, "waited {waited}, retry-after-ms said 0.25, retry-after 7"
    )


@contract(11, "B", "a zero or invalid retry-after-ms does not hide a valid retry-after")
async def c11(ctx: Ctx) -> None:
    ctx.need("retries", "retry_after")
    for ms in ("0", "soon"):
        fault = RetryAfterHeader(retry_after="3", retry_after_ms=ms)
        evidence = f"retry-after-ms {ms!r}: waited {{waited}}, retry-after said 3"
        await _waits_as_told(ctx, fault, 3.0, 3.0, evidence)


@contract(12, "B", "retry-after as integer or float seconds and as an HTTP date are honoured")
async def c12(ctx: Ctx) -> None:
    ctx.need("retries", "retry_after")
    for fault, low, high, label in (
        (F.RateLimited(retry_after=2), 2.0, 2.0, "2"),
        (F.RateLimited(retry_after=1.5), 1.5, 1.5, "1.5"),
        (F.RateLimited(retry_after=7, http_date=True), 6.0, 8.0, "a date 7 s ahead"),
    ):
        await _waits_as_told(ctx, fault, low, high, f"waited {{waited}}, Retry-After said {label}")


@contract(13, "B", "a Retry-After above max_retry_after is never shortened: fail over or raise")
async def c13(ctx: Ctx) -> None:
    ctx.need("retries", "retry_after")
    ctx.fault(F.RateLimited(retry_after=100), model="m1", times=None)
    out, waits = await ctx.call_waits(ctx.client("m1", max_retry_after=30))
    wait = out.info.retry_after if isinstance(out, Failed) else None
    ctx.check(
        isinstance(out, Failed)
        and out.kind == "rate_limit_wait"
        and wait is not None
        and wait >= 100
        and waits == [],
        f"alone: {describe(out)} carrying a wait of {wait}, waited {_s(waits)}; expected a "
        "rate-limit error carrying 100 s and no wait",
    )
    if not ctx.has("routes"):
        ctx.note("fail over at once: not checked (no routes)")
        return
    out, waits = await ctx.call_waits(ctx.client("m1", "m2", max_retry_after=30))
    ctx.check(
        isinstance(out, Reply) and out.model == "m2" and waits == [],
        f"with a second route: {describe(out)} after waits {_s(waits)}, expected m2 at once",
    )


@contract(14, "B", "garbage Retry-After: plain backoff, no crash, no unbounded wait")
async def c14(ctx: Ctx) -> None:
    ctx.need("retries", "retry_after")
    for value in ("-5", "nan", "inf", "Wed, 01 Jan 2020 00:00:00 GMT", "soon"):
        ctx.fault(RetryAfterHeader(retry_after=value), times=1)
        out, waits = await ctx.call_waits(ctx.client(backoff_max_delay=8))
        ctx.check(
            isinstance(out, Reply) and len(waits) <= 1 and within(waits, 0, 8),
            f"retry-after {value!r}: {describe(out)} after waits {_s(waits)} (max_delay 8)",
        )


@contract(15, "B", "seeded jitter reproduces exactly; unseeded clients do not wake together")
async def c15(ctx: Ctx) -> None:
    ctx.need("retries", "backoff", "seed")
    runs = []
    for _ in range(2):
        ctx.fault(F.ServerError(503), times=2)
        runs.append((await ctx.call_waits(ctx.client(seed=7)))[1])
    ctx.check(
        runs[0] == runs[1] and len(runs[0]) == 2,
        f"seed 7 twice: waits {_s(runs[0])} and {_s(runs[1])}",
    )
    waits: list[float] = []
    for _ in range(10):
        ctx.fault(F.ServerError(503), times=1)
        waits += (await ctx.call_waits(ctx.client(seed=None)))[1]
    distinct = len({round(w, 9) for w in waits})
    ctx.check(
        distinct >= 5, f"10 unseeded clients: {distinct} distinct first waits of {len(waits)}"
    )


@contract(16, "B", "a retry budget caps retries to a ratio of first attempts; then fail fast")
async def c16(ctx: Ctx) -> None:
    ctx.need("retries", "retry_budget")
    ctx.fault(F.ServerError(503), times=None)
    client = ctx.client(
        max_retries=3, retry_budget=RetryBudgetSpec(ratio=0.1, min_retries_per_window=2)
    )
    outs = [await ctx.call(client) for _ in range(10)]
    n = ctx.seen()
    ctx.check(
        n <= 13,
        f"10 calls, max_retries 3, budget ratio 0.1 + 2: {n} requests seen, expected <= 13 "
        "(40 without a budget)",
    )
    last = outs[-1]
    ctx.check(isinstance(last, Failed), f"the last call {describe(last)}")


# -- C. Deadlines and timeouts -----------------------------------------------------------


@contract(17, "C", "deadline=T: the call returns or raises within T, attempts and waits included")
async def c17(ctx: Ctx) -> None:
    ctx.need("deadline")
    ctx.fault(F.ServerError(503), model="a", times=None)
    start = ctx.clock.monotonic()
    out = await ctx.call(ctx.client("a", max_retries=10, backoff_base=1, deadline=3))
    took = ctx.clock.monotonic() - start
    ctx.check(
        took <= 3.001 and isinstance(out, Failed) and out.kind != "other" and ctx.seen("a") >= 2,
        f"503s: {describe(out)} after {took:g} s and {ctx.seen('a')} requests, deadline 3",
    )
    ctx.fault(F.Slow(seconds=30), model="b", times=None)
    start = ctx.clock.monotonic()
    out = await ctx.call(ctx.client("b", read_timeout=30, deadline=3))
    took = ctx.clock.monotonic() - start
    ctx.check(
        took <= 3.001 and isinstance(out, Failed) and out.kind != "other",
        f"a 30 s slow reply: {describe(out)} after {took:g} s, deadline 3",
    )


@contract(18, "C", "a wait that would end past the deadline is not taken; last error chained")
async def c18(ctx: Ctx) -> None:
    ctx.need("deadline", "retry_after")
    ctx.fault(F.RateLimited(retry_after=5), times=None)
    mark = len(ctx.clock.sleeps)
    start = ctx.clock.monotonic()
    out = await ctx.call(ctx.client(deadline=2))
    took = ctx.clock.monotonic() - start
    waits = ctx.sleeps_since(mark)
    ctx.check(
        isinstance(out, Failed) and out.kind != "other" and 5.0 not in waits and took < 2,
        f"Retry-After 5, deadline 2: {describe(out)} after {took:g} s (no 5 s wait begun)",
    )
    ctx.check(
        isinstance(out, Failed) and out.info.chained,
        f"{describe(out)}: the 429 is chained or carried",
    )


@contract(19, "C", "a connect timeout is separate and retryable (nothing was sent)")
async def c19(ctx: Ctx) -> None:
    ctx.need("timeouts", "retries")
    ctx.fault(ConnectTimeout(seconds=5), times=1)
    out, n = await ctx.call_seen(ctx.client(timeout_retries=0, max_retries=2))
    ctx.check(
        isinstance(out, Reply) and n == 2,
        f"connect timeout, then a reply (timeout_retries 0): {describe(out)}, {n} requests",
    )


@contract(20, "C", "no bytes before the read timeout: timeout_retries more tries, then fail over")
async def c20(ctx: Ctx) -> None:
    ctx.need("timeouts", "routes")
    ctx.fault(F.ReadTimeout(), model="m1", times=None)
    out, n = await ctx.call_seen(
        ctx.client("m1", "m2", read_timeout=5, timeout_retries=0, max_retries=2), seen="m1"
    )
    ctx.check(
        n == 1 and isinstance(out, Reply) and out.model == "m2",
        f"timeout_retries 0: m1 saw {n} request(s), expected 1; {describe(out)}",
    )
    out = await ctx.call(ctx.client("m1", "m2", read_timeout=5, timeout_retries=1, max_retries=2))
    n = ctx.seen("m1") - 1
    ctx.check(
        n == 2 and isinstance(out, Reply) and out.model == "m2",
        f"timeout_retries 1: m1 saw {n} request(s), expected 2; {describe(out)}",
    )


@contract(21, "C", "per-chunk idle timeout kills a stalled stream, never a steady one")
async def c21(ctx: Ctx) -> None:
    ctx.need("stream", "chunk_timeout")
    ctx.fake.add(LONG)
    ctx.fault(F.Stall(after_chunk=3, seconds=30), times=1)
    got = await ctx.stream(ctx.client(chunk_timeout=5, read_timeout=60, max_retries=0))
    ctx.check(
        got.failed is not None and got.failed.kind == "stream_idle",
        f"a 30 s gap, chunk_timeout 5: {got.failed or 'no error'} after {got.text!r}",
    )
    ctx.fake.add(LONG)
    ctx.fault(F.Stall(after_chunk=3, seconds=4), times=1)
    got = await ctx.stream(ctx.client(chunk_timeout=5, read_timeout=60, max_retries=0))
    ctx.check(
        got.failed is None and got.text == LONG,
        f"a 4 s gap, chunk_timeout 5: {got.failed or 'completed'} with {got.text!r}",
    )


@contract(22, "C", "time to first token: role-only chunks are not content; fails over")
async def c22(ctx: Ctx) -> None:
    ctx.need("stream", "first_token_timeout", "routes")
    ctx.fault(F.Stall(after_chunk=1, seconds=30), model="m1", times=None)
    start = ctx.clock.monotonic()
    got = await ctx.stream(ctx.client("m1", "m2", first_token_timeout=5, read_timeout=60))
    took = ctx.clock.monotonic() - start
    n, m = ctx.seen("m1"), ctx.seen("m2")
    ctx.check(
        got.failed is None and got.text == DEFAULT_TEXT and 1 <= n <= 3 and m == 1,
        f"role chunk then 30 s silence on m1, first_token 5: m1 saw {n} request(s), m2 {m}; "
        f"stream {got.failed or 'completed'} with {got.text!r}",
    )
    ctx.check(
        took <= n * 5 + 20,
        f"{took:g} s in all: each attempt's first-token clock started at the attempt",
    )


@contract(
    23, "C", "cancelling the caller aborts the request and starts no further attempt; leaks nothing"
)
async def c23(ctx: Ctx) -> None:
    ctx.need("cancel")
    if ctx.has("stream"):
        await _cancel_mid_stream(ctx)
    else:
        ctx.note(f"a stream cancelled mid-body not checked: {ctx.adapter.unsupported('stream')}")
    before = ctx.seen()
    ctx.fault(F.Slow(seconds=30), times=None)
    client = ctx.client(max_retries=3, read_timeout=60)
    task = asyncio.ensure_future(ctx.call(client))
    await ctx.until(lambda: ctx.seen() > before, "the first request")
    cancelled = await _cancelled(task)
    ctx.clock.advance(120)
    await asyncio.sleep(0)
    n = ctx.seen() - before
    ctx.check(
        cancelled and n == 1, f"cancelled before the headers: {n} request(s) in all, {_was(task)}"
    )
    open_ = [r.number for r in ctx.fake.requests if r.left_open]
    ctx.check(not open_, f"response bodies left open: {open_ or 'none'}")


async def _cancel_mid_stream(ctx: Ctx) -> None:
    """Cancel a caller stalled in the middle of a stream: the response is closed at once
    (at the provider, on the virtual clock), never read on in the background."""
    ctx.fake.add(LONG)
    ctx.fault(F.Stall(after_chunk=3, seconds=30), times=1)
    client = ctx.client(max_retries=3, read_timeout=60)
    got = Streamed()
    task = asyncio.ensure_future(ctx.stream(client, into=got))
    await ctx.until(lambda: len(got.pieces) >= 2, "two pieces of the stream")
    for _ in range(20):  # let the reader reach the stall
        await asyncio.sleep(0)
    at = ctx.clock.monotonic()
    cancelled = await _cancelled(task)
    ctx.clock.advance(120)
    for _ in range(20):
        await asyncio.sleep(0)
    n = ctx.seen()
    entry = ctx.fake.requests.last
    ctx.check(
        cancelled and n == 1,
        f"cancelled after {len(got.pieces)} pieces of a stream: {n} request(s), {_was(task)}",
    )
    if entry.closed_at is None:
        closed = "left open 120 s after the cancel"
    elif not entry.closed_early:
        closed = f"read on to its end, closed {entry.closed_at - at:g} s after the cancel"
    else:
        closed = f"closed {entry.closed_at - at:g} s after the cancel"
    ctx.check(
        entry.closed_early is True and entry.closed_at is not None and entry.closed_at <= at,
        f"its response {closed}",
    )


async def _cancelled(task: asyncio.Future[Any]) -> bool:
    """Cancel ``task``; whether the cancellation reached the caller."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False


def _was(task: asyncio.Future[Any]) -> str:
    return "the caller saw CancelledError" if task.cancelled() else "the cancel was swallowed"


# -- D. Streaming ------------------------------------------------------------------------


@contract(24, "D", "a stream that handed out content is never retried; error carries the partial")
async def c24(ctx: Ctx) -> None:
    ctx.need("stream")
    ctx.fake.add(LONG, times=None)
    ctx.fault(F.ConnectionReset(after_chunks=3), times=None)
    got = await ctx.stream(ctx.client(max_retries=2))
    n = ctx.seen()
    partial = got.failed.info.partial_text if got.failed else None
    ctx.check(
        n == 1 and got.failed is not None and LONG.startswith(got.text),
        f"reset after 2 pieces: {n} request(s), stream {got.failed or 'completed'} "
        f"with {got.text!r}",
    )
    ctx.check(
        got.failed is not None and got.failed.kind == "stream_interrupted" and partial == got.text,
        f"error {got.failed} carries partial text {partial!r}",
    )
    ctx.fake.reset()
    ctx.fake.add(tool_calls=[{"name": "weather", "arguments": {"city": "Paris", "days": 3}}])
    ctx.fault(F.ConnectionReset(after_chunks=3), times=1)
    got = await ctx.stream(ctx.client(max_retries=2))
    n = ctx.seen() - 1
    ctx.check(
        n == 1 and got.failed is not None,
        f"tool-call arguments then a reset: {n} request(s), {got.failed or 'completed'}",
    )


@contract(25, "D", "failures before the first content are retried; one clean stream")
async def c25(ctx: Ctx) -> None:
    ctx.need("stream", "retries")
    for fault in (F.ConnectionReset(), F.ServerError(503)):
        before = ctx.seen()
        ctx.fault(fault, times=1)
        got = await ctx.stream(ctx.client(max_retries=2))
        n = ctx.seen() - before
        ctx.check(
            got.failed is None and got.text == DEFAULT_TEXT and n == 2,
            f"{fault!r} then a stream: {n} requests, {got.failed or 'completed'} with {got.text!r}",
        )


@contract(26, "D", "in-band error events raise typed errors and are never yielded as content")
async def c26(ctx: Ctx) -> None:
    ctx.need("stream")
    ctx.fault(F.StreamError(after_chunk=2, message="The model crashed."), times=1)
    got = await ctx.stream(ctx.client(max_retries=0))
    ctx.check(
        got.failed is not None
        and got.failed.kind == "provider_stream"
        and "crashed" not in got.text,
        f"error event after 2 chunks: {got.failed or 'no error'}, content {got.text!r}",
    )


@contract(27, "D", "a stream with no terminal event is incomplete; a finish_reason completes")
async def c27(ctx: Ctx) -> None:
    ctx.need("stream")
    ctx.fault(F.TruncatedStream(), times=1)
    got = await ctx.stream(ctx.client(max_retries=0))
    ctx.check(
        got.failed is not None and got.failed.kind == "incomplete_stream",
        f"no finish_reason, no [DONE]: {got.failed or 'completed'} with {got.text!r}",
    )
    ctx.fault(WithoutDone(), times=1)
    got = await ctx.stream(ctx.client(max_retries=0))
    ctx.check(
        got.failed is None and got.text == DEFAULT_TEXT,
        f"finish_reason without [DONE]: {got.failed or 'completed'} with {got.text!r}",
    )


@contract(28, "D", "a malformed chunk raises a typed protocol error; the client stays healthy")
async def c28(ctx: Ctx) -> None:
    ctx.need("stream")
    client = ctx.client(max_retries=0)
    ctx.fault(GarbledChunk(at=2), times=1)
    got = await ctx.stream(client)
    ctx.check(
        got.failed is not None and got.failed.kind == "stream_protocol",
        f"chunk 2 not JSON: {got.failed or 'completed'} with {got.text!r}",
    )
    out = await ctx.call(client)
    ctx.check(isinstance(out, Reply), f"the next call {describe(out)}")


@contract(29, "D", "breaking out of a stream early closes the response; partial usage recorded")
async def c29(ctx: Ctx) -> None:
    ctx.need("stream")
    client = ctx.client()
    ctx.fake.add(LONG)
    with _no_gc():  # only the cycle collector would close a stream left open: not it
        got = await ctx.stream(client, take=2)
        entry = ctx.fake.requests.last
        ctx.check(
            got.failed is None and got.pieces == ["one", " two"],
            f"read 2 pieces and stopped: {got.pieces!r}"
            + (f", {got.failed}" if got.failed else ""),
        )
        if entry.closed_at is None:
            closed = "still open after the break (closed only once garbage-collected)"
        elif not entry.closed_early:
            closed = "read to its end after the break instead of closed"
        else:
            closed = "closed right after the break"
        ctx.check(entry.closed_early is True, f"the response was {closed}")
        if ctx.has("stream_usage"):
            usage = ctx.adapter.stream_usage(got.iterator) or {}
            tokens_in = usage.get("input_tokens", usage.get("prompt_tokens")) or 0
            tokens_out = usage.get("output_tokens", usage.get("completion_tokens")) or 0
            ctx.check(
                tokens_in > 0 and tokens_out > 0,
                f"partial usage recorded: {tokens_in} in, {tokens_out} out"
                + ("" if usage else " (none)"),
            )
        else:
            ctx.note(f"partial usage not checked: {ctx.adapter.unsupported('stream_usage')}")
        del got
    out = await ctx.call(client)
    ctx.check(isinstance(out, Reply), f"the next call {describe(out)}")


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- E. Fallback -------------------------------------------------------------------------


@contract(30, "E", "candidates in order, each within its own retries, none visited twice")
async def c30(ctx: Ctx) -> None:
    ctx.need("routes", "retries")
    ctx.fault(F.ServerError(503), times=None)
    out = await ctx.call(ctx.client("m1", "m2", "m3", max_retries=1))
    order = ctx.models_seen()
    ctx.check(
        order == ["m1", "m1", "m2", "m2", "m3", "m3"] and isinstance(out, Failed),
        f"requests went to {order}, expected m1 m1 m2 m2 m3 m3; {describe(out)}",
    )


@contract(31, "E", "the result names the model and base_url that served it; cost at its price")
async def c31(ctx: Ctx) -> None:
    ctx.need("routes")
    ctx.fault(F.ServerError(503), model="m1", times=None)
    client = ctx.client("m1", R("m2", base_url=B_URL, price=(1.0, 2.0)), max_retries=0)
    out = await ctx.call(client)
    ctx.check(
        isinstance(out, Reply) and out.model == "m2" and out.base_url == B_URL,
        f"{describe(out)} at {getattr(out, 'base_url', None)}, expected m2 at {B_URL}",
    )
    assert isinstance(out, Reply)
    if ctx.has("cost") and out.usage:
        usage = out.usage
        expected = (
            usage.get("prompt_tokens", 0) * 1.0 + usage.get("completion_tokens", 0) * 2.0
        ) / 1e6
        ctx.check(
            out.cost is not None and math.isclose(out.cost, expected, rel_tol=1e-6),
            f"cost {out.cost}, expected {expected:g} at m2's price",
        )


@contract(32, "E", "a fallback receives the original request, checked against its context window")
async def c32(ctx: Ctx) -> None:
    ctx.need("routes")
    ctx.fault(F.ServerError(503), model="m1", times=None)
    out = await ctx.call(ctx.client("m1", "m2", max_retries=0))
    sent = [r.json.get("messages") for r in ctx.fake.requests if r.model == "m2"]
    ctx.check(
        isinstance(out, Reply) and sent == [[{"role": "user", "content": QUESTION}]],
        f"m2 received {sent}",
    )
    big = "word " * 400
    before = ctx.seen("tiny")
    out = await ctx.call(ctx.client("m1", R("tiny", context_window=50), "m3", max_retries=0), big)
    n = ctx.seen("tiny") - before
    ctx.check(
        n == 0 and isinstance(out, Reply) and out.model == "m3",
        f"a ~500-token request: the 50-token route saw {n} request(s); {describe(out)}",
    )


@contract(33, "E", "a candidate whose breaker is open is skipped without I/O")
async def c33(ctx: Ctx) -> None:
    ctx.need("routes", "breaker")
    ctx.fault(F.ServerError(503), model="m1", times=None)
    client = ctx.client("m1", "m2", max_retries=0, breaker=BreakerSpec(1, 60))
    await ctx.call(client)
    out, n = await ctx.call_seen(client, seen="m1")
    ctx.check(
        n == 1 and isinstance(out, Reply) and out.model == "m2",
        f"breaker open on m1: m1 saw {n} request(s) over 2 calls, expected 1; {describe(out)}",
    )
    if ctx.has("events"):
        events = ctx.adapter.events(out)
        skipped = [e for e in events if e.get("skipped")]
        ctx.check(bool(skipped), f"events of the second call: {len(skipped)} skip logged")


# -- F. Circuit breaker ------------------------------------------------------------------


@contract(34, "F", "opens after exactly failure_threshold failures; client errors do not reset")
async def c34(ctx: Ctx) -> None:
    ctx.need("breaker")
    client = ctx.client(max_retries=0, breaker=BreakerSpec(3, 60))
    ctx.faults.sequence(
        F.ServerError(503), F.ServerError(503), F.HTTPError(400), F.ServerError(503)
    )
    for _ in range(4):
        await ctx.call(client)
    before = ctx.seen()
    out = await ctx.call(client)
    n = ctx.seen() - before
    ctx.check(
        n == 0 and isinstance(out, Failed) and out.kind == "circuit_open",
        f"503, 503, 400, 503 with threshold 3: the 5th call {describe(out)} with {n} request(s), "
        "expected an open circuit and none",
    )


@contract(35, "F", "an outage of W s costs <= threshold + ceil(W / reset) * probes requests")
async def c35(ctx: Ctx) -> None:
    ctx.need("breaker")
    switch = Switch(down=True)
    ctx.fault(switch.fault(), times=None)
    client = ctx.client(max_retries=0, breaker=BreakerSpec(2, 10, 1))
    for _ in range(60):
        await ctx.call(client)
        ctx.clock.advance(1)
    n = ctx.seen()
    bound = 2 + math.ceil(60 / 10) * 1
    ctx.check(n <= bound, f"60 s outage, 1 call/s: {n} requests reached the route, bound {bound}")
    switch.down = False
    start = ctx.clock.monotonic()
    for _ in range(30):
        out = await ctx.call(client)
        if isinstance(out, Reply):
            break
        ctx.clock.advance(1)
    took = ctx.clock.monotonic() - start
    ctx.check(
        isinstance(out, Reply) and took <= 11, f"after recovery: served after {took:g} s (<= 11)"
    )
    ctx.note("a Retry-After longer than reset_timeout and other processes not checked")


@contract(36, "F", "half-open admits at most half_open_max_calls concurrent probes")
async def c36(ctx: Ctx) -> None:
    ctx.need("breaker", "routes", "concurrency")
    ctx.need_async("overlapping calls on virtual time need tasks; blocking calls end at once")
    ctx.fault(F.ServerError(503), model="m1", times=1)
    client = ctx.client("m1", "m2", max_retries=0, breaker=BreakerSpec(1, 10, 1))
    await ctx.call(client)
    ctx.clock.advance(11)
    ctx.fault(F.Slow(seconds=5), model="m1", times=None)
    before = ctx.seen("m1")
    await ctx.together(*(lambda: ctx.call(client) for _ in range(5)))
    n = ctx.seen("m1") - before
    ctx.check(n == 1, f"5 concurrent calls while half-open: m1 saw {n} probe(s), expected 1")


@contract(37, "F", "a failed probe reopens with a fresh timer; a cancelled probe frees its slot")
async def c37(ctx: Ctx) -> None:
    ctx.need("breaker")
    ctx.fault(F.ServerError(503), times=2)
    client = ctx.client(max_retries=0, breaker=BreakerSpec(1, 10, 1))
    await ctx.call(client)
    ctx.clock.advance(11)
    await ctx.call(client)  # the probe fails
    ctx.clock.advance(5)
    before = ctx.seen()
    out = await ctx.call(client)
    ctx.check(
        ctx.seen() == before and isinstance(out, Failed),
        f"5 s after a failed probe (reset 10): {describe(out)}, {ctx.seen() - before} request(s)",
    )
    ctx.clock.advance(6)
    out = await ctx.call(client)
    ctx.check(
        isinstance(out, Reply) and ctx.seen() == before + 1,
        f"11 s after the failed probe: {describe(out)}",
    )
    if not ctx.has("cancel"):
        ctx.note("cancelled probe: not checked (no cancellation)")
        return
    ctx.fault(F.ServerError(503), model="c", times=1)
    client = ctx.client("c", max_retries=0, breaker=BreakerSpec(1, 10, 1), read_timeout=60)
    await ctx.call(client)
    ctx.clock.advance(11)
    ctx.fault(F.Slow(seconds=30), model="c", times=1)
    task = asyncio.ensure_future(ctx.call(client))
    await ctx.until(lambda: ctx.seen("c") >= 2, "the probe's request")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    out, n = await ctx.call_seen(client, seen="c")
    ctx.check(
        isinstance(out, Reply) and n == 3,
        f"after a cancelled probe: {describe(out)}, {n} requests (expected a new probe)",
    )


@contract(38, "F", "async calls and streams count; calls through a closed breaker run in parallel")
async def c38(ctx: Ctx) -> None:
    ctx.need("breaker")

    async def third(model: str, run: Callable[[Any], Awaitable[Any]]) -> Any:
        """The 3rd of three runs after 2 failures, with a breaker's threshold of 2."""
        ctx.fault(F.ServerError(503), model=model, times=2)
        client = ctx.client(model, max_retries=0, breaker=BreakerSpec(2, 60))
        await run(client)
        await run(client)
        return await run(client)

    out = await third("a", ctx.call)
    ctx.check(
        ctx.seen("a") == 2 and isinstance(out, Failed),
        f"2 failed calls, threshold 2: the 3rd {describe(out)}, {ctx.seen('a')} requests",
    )
    if ctx.has("stream"):
        got = await third("s", ctx.stream)
        ctx.check(
            ctx.seen("s") == 2 and got.failed is not None,
            f"2 failed streams, threshold 2: the 3rd {got.failed or 'completed'}, "
            f"{ctx.seen('s')} requests",
        )
    if ctx.adapter.is_async and ctx.has("concurrency"):
        ctx.fault(F.Slow(seconds=10), model="p", times=None)
        client = ctx.client("p", breaker=BreakerSpec(5, 60), read_timeout=60)
        start = ctx.clock.monotonic()
        await ctx.together(*(lambda: ctx.call(client) for _ in range(5)))
        took = ctx.clock.monotonic() - start
        ctx.check(took <= 10.5, f"5 concurrent 10 s calls took {took:g} s (serialised: 50)")


@contract(39, "F", "an unreachable shared store applies the configured policy (open or closed)")
async def c39(ctx: Ctx) -> None:
    ctx.need("breaker", "redis")
    with ctx.redis_server() as server:
        opened = ctx.client(
            breaker=BreakerSpec(5, 60), redis_url=server.url, redis_on_outage="open"
        )
        closed = ctx.client(
            breaker=BreakerSpec(5, 60), redis_url=server.url, redis_on_outage="closed"
        )
        out = await ctx.call(opened)
        ctx.check(isinstance(out, Reply), f"store up: {describe(out)}")
        server.stop()
        before = ctx.seen()
        out = await ctx.call(opened)
        ctx.check(
            isinstance(out, Reply) and ctx.seen() == before + 1,
            f"store down, fail open: {describe(out)}",
        )
        out = await ctx.call(closed)
        ctx.check(
            isinstance(out, Failed) and ctx.seen() == before + 1,
            f"store down, fail closed: {describe(out)}, {ctx.seen() - before - 1} request(s)",
        )


# -- G. Rate limiting --------------------------------------------------------------------


def _stamp(ctx: Ctx) -> list[tuple[float, int]]:
    """(virtual time, index) of every request that reaches the fake."""
    seen: list[tuple[float, int]] = []

    def match(request: Any) -> bool:
        seen.append((ctx.clock.monotonic(), len(seen)))
        return False

    ctx.fake.add("never", match=match, times=None)
    return seen


def _most_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max((sum(1 for u in times if t <= u < t + window) for t in times), default=0)


@contract(40, "G", "over any sliding window, started requests stay within RPM (+ burst)")
async def c40(ctx: Ctx) -> None:
    ctx.need("rate_limit")
    stamps = _stamp(ctx)
    client = ctx.client(rate_limit=RateLimitSpec(rpm=10, burst=0))
    for _ in range(25):
        await ctx.call(client)
    most = _most_in_window([t for t, _ in stamps], 60)
    ctx.check(
        len(stamps) == 25 and most <= 10,
        f"25 calls, rpm 10: {most} requests started in one 60 s window ({len(stamps)} in all)",
    )


@contract(41, "G", "TPM: reserve the estimate, settle to actual; within TPM over any window")
async def c41(ctx: Ctx) -> None:
    ctx.need("rate_limit")
    stamps = _stamp(ctx)
    client = ctx.client(rate_limit=RateLimitSpec(tpm=300))
    used: list[tuple[float, int]] = []
    for _ in range(20):
        mark = len(stamps)
        out = await ctx.call(client, max_tokens=20)
        if isinstance(out, Reply) and out.usage and len(stamps) > mark:
            used.append((stamps[-1][0], int(out.usage.get("total_tokens", 0))))
    worst = max((sum(n for u, n in used if t <= u < t + 60) for t, _ in used), default=0)
    ctx.check(
        len(used) == 20 and worst <= 300,
        f"20 calls of ~21 tokens (max_tokens 20), tpm 300: {worst} tokens in one 60 s window "
        f"({len(used)} calls served)",
    )


@contract(42, "G", "a request larger than the whole TPM fails at once instead of hanging")
async def c42(ctx: Ctx) -> None:
    ctx.need("rate_limit")
    start = ctx.clock.monotonic()
    out = await ctx.call(ctx.client(rate_limit=RateLimitSpec(tpm=50)), "word " * 400)
    took = ctx.clock.monotonic() - start
    ctx.check(
        isinstance(out, Failed) and took == 0 and ctx.seen() == 0,
        f"~500 tokens against tpm 50: {describe(out)} after {took:g} s, {ctx.seen()} request(s)",
    )


@contract(43, "G", "limiter waits are bounded by the deadline")
async def c43(ctx: Ctx) -> None:
    ctx.need("rate_limit", "deadline")
    client = ctx.client(rate_limit=RateLimitSpec(rpm=1), deadline=5)
    await ctx.call(client)
    start = ctx.clock.monotonic()
    out = await ctx.call(client)
    took = ctx.clock.monotonic() - start
    ctx.check(
        isinstance(out, Failed) and took <= 5.001 and ctx.seen() == 1,
        f"rpm 1, deadline 5, second call: {describe(out)} after {took:g} s, "
        f"{ctx.seen()} request(s) in all",
    )
    ctx.note("fairness between large and small requests not checked")


@contract(44, "G", "a server 429 with Retry-After pauses the route for every caller")
async def c44(ctx: Ctx) -> None:
    ctx.need("rate_limit", "retry_after")
    stamps = _stamp(ctx)
    client = ctx.client(rate_limit=RateLimitSpec(rpm=1000), max_retries=0)
    ctx.fault(F.RateLimited(retry_after=10), times=1)
    await ctx.call(client)
    out = await ctx.call(client)
    when = stamps[0][0] if stamps else None
    ctx.check(
        (when is not None and when >= 10) or (isinstance(out, Failed) and not stamps),
        f"429 Retry-After 10 at t=0, next call: {describe(out)}, its request at t={when}",
    )


@contract(45, "G", "processes sharing a Redis limiter stay within the limit together")
async def c45(ctx: Ctx) -> None:
    ctx.need("rate_limit", "redis")
    stamps = _stamp(ctx)
    with ctx.redis_server() as server:
        spec = RateLimitSpec(rpm=10)
        a = ctx.client(rate_limit=spec, redis_url=server.url)
        b = ctx.client(rate_limit=spec, redis_url=server.url)
        for i in range(24):
            await ctx.call(a if i % 2 else b)
    most = _most_in_window([t for t, _ in stamps], 60)
    ctx.check(most <= 10, f"2 clients, one Redis, rpm 10: {most} requests in one 60 s window")
    ctx.note("two clients in one process (no in-process sharing); clock skew not checked")


# -- H. Budgets and cost -----------------------------------------------------------------


@contract(46, "H", "concurrent budget checks never overshoot")
async def c46(ctx: Ctx) -> None:
    ctx.need("budget", "concurrency")
    client = ctx.client(budget=BudgetSpec(limit=100, unit="tokens"))
    outs = await ctx.together(*(lambda: ctx.call(client, max_tokens=20) for _ in range(12)))
    served = [o for o in outs if isinstance(o, Reply)]
    spent = sum(int(o.usage.get("total_tokens", 0)) for o in served if o.usage)
    refused = sum(1 for o in outs if isinstance(o, Failed) and o.kind == "budget")
    ctx.check(
        spent <= 100 and refused > 0 and len(served) > 0 and ctx.seen() == len(served),
        f"12 concurrent calls of ~21 tokens (max_tokens 20), budget 100 tokens: "
        f"{len(served)} served, {spent} tokens spent, {refused} refused, "
        f"{ctx.seen()} requests sent",
    )


@contract(47, "H", "retries, fallbacks and partial streams count at the serving price; hits cost 0")
async def c47(ctx: Ctx) -> None:
    ctx.need("cost", "routes")
    ctx.fault(F.ServerError(503), model="m1", times=None)
    client = ctx.client(R("m1", price=(5.0, 5.0)), R("m2", price=(1.0, 2.0)), max_retries=0)
    out = await ctx.call(client)
    ok = isinstance(out, Reply) and out.usage is not None and out.cost is not None
    expected = 0.0
    if ok and isinstance(out, Reply) and out.usage:
        expected = (
            out.usage.get("prompt_tokens", 0) + 2 * out.usage.get("completion_tokens", 0)
        ) / 1e6
    ctx.check(
        ok and math.isclose(out.cost or 0, expected, rel_tol=1e-6),  # type: ignore[union-attr]
        f"fallback to m2: cost {getattr(out, 'cost', None)}, expected {expected:g} at m2's price",
    )
    if not ctx.has("cache"):
        ctx.note("cache hits cost 0: not checked (no cache)")
        return
    client = ctx.client(R("m2", price=(1.0, 2.0)), cache=CacheSpec())
    await ctx.call(client, temperature=0)
    hit = await ctx.call(client, temperature=0)
    ctx.check(
        isinstance(hit, Reply) and hit.cost == 0, f"a cache hit costs {getattr(hit, 'cost', None)}"
    )
    ctx.note("retries, re-asks and partial streams not priced here (no portable reading)")


# -- I. Cache ----------------------------------------------------------------------------

_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("top_p", {"top_p": 0.5}),
    ("max_tokens", {"max_tokens": 50}),
    ("stop", {"stop": ["END"]}),
    ("seed", {"seed": 3}),
    ("presence_penalty", {"presence_penalty": 0.5}),
    ("frequency_penalty", {"frequency_penalty": 0.5}),
    ("response_format", {"response_format": {"type": "json_object"}}),
    (
        "tools",
        {
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
            ]
        },
    ),
    ("tool_choice", {"tool_choice": "none"}),
    ("reasoning_effort", {"reasoning_effort": "low"}),
    ("extra_body", {"extra_body": {"x": 1}}),
]


@contract(48, "I", "the cache key covers every field that changes output; key order does not")
async def c48(ctx: Ctx) -> None:
    ctx.need("cache")
    client = ctx.client(cache=CacheSpec())
    base: dict[str, Any] = {"temperature": 0}
    await ctx.call(client, **base)
    await ctx.call(client, **base)
    ctx.check(ctx.seen() == 1, f"the same request twice: {ctx.seen()} request(s), expected 1")
    misses = []
    for name, change in _VARIANTS:
        before = ctx.seen()
        await ctx.call(client, **base, **change)
        if ctx.seen() == before:
            misses.append(name)
    before = ctx.seen()
    named = ctx.request(QUESTION, temperature=0)
    named = type(named)(({"role": "user", "content": QUESTION, "name": "bob"},), None, named.params)
    await ctx.call(client, named)
    if ctx.seen() == before:
        misses.append("messages[].name")
    ctx.check(not misses, f"served from the cache although changed: {', '.join(misses) or 'none'}")
    schema1 = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    schema2 = {"json_schema": {"schema": {"type": "object"}, "name": "a"}, "type": "json_schema"}
    await ctx.call(client, temperature=0, response_format=schema1)
    before = ctx.seen()
    await ctx.call(client, temperature=0, response_format=schema2)
    ctx.check(ctx.seen() == before, "the same response_format in another key order was a hit")


@contract(49, "I", "only temperature 0, n 1, completed results are stored; TTL on virtual time")
async def c49(ctx: Ctx) -> None:
    ctx.need("cache")
    client = ctx.client(cache=CacheSpec(ttl=10), max_retries=0)
    await ctx.call(client, "no temperature")
    await ctx.call(client, "no temperature")
    ctx.check(ctx.seen() == 2, f"no explicit temperature: {ctx.seen()} requests for 2 calls")
    ctx.fake.add("cut", finish_reason="length")
    await ctx.call(client, "length", temperature=0)
    await ctx.call(client, "length", temperature=0)
    ctx.check(ctx.seen() == 4, f"finish_reason length: {ctx.seen() - 2} requests for 2 calls")
    ctx.fault(F.ServerError(503), times=1)
    await ctx.call(client, "error", temperature=0)
    out = await ctx.call(client, "error", temperature=0)
    ctx.check(
        ctx.seen() == 6 and isinstance(out, Reply),
        f"an error then a call: {ctx.seen() - 4} requests, {describe(out)}",
    )
    await ctx.call(client, "ttl", temperature=0)
    ctx.clock.advance(5)
    await ctx.call(client, "ttl", temperature=0)
    ctx.check(ctx.seen() == 7, f"5 s later (ttl 10): {ctx.seen() - 6} request(s), expected a hit")
    ctx.clock.advance(6)
    await ctx.call(client, "ttl", temperature=0)
    ctx.check(ctx.seen() == 8, f"11 s later (ttl 10): {ctx.seen() - 7} request(s), expected a miss")
    ctx.note(
        "interrupted streams, failed validations, backend failures, semantic cache not checked"
    )


# -- J. Coalescing -----------------------------------------------------------------------


@contract(50, "J", "N identical concurrent requests: one upstream call; different keys never merge")
async def c50(ctx: Ctx) -> None:
    ctx.need("coalesce", "concurrency")
    ctx.need_async("concurrent calls must overlap on virtual time")
    ctx.fault(F.Slow(seconds=2), times=None)
    client = ctx.client(coalesce=True, cache=CacheSpec() if ctx.has("cache") else None)
    outs = await ctx.together(*(lambda: ctx.call(client, temperature=0) for _ in range(5)))
    texts = {o.text for o in outs if isinstance(o, Reply)}
    ctx.check(
        ctx.seen() == 1 and len(texts) == 1 and all(isinstance(o, Reply) for o in outs),
        f"5 identical concurrent calls: {ctx.seen()} request(s), {len(texts)} distinct result(s)",
    )
    outs = await ctx.together(
        lambda: ctx.call(client, "a", temperature=0), lambda: ctx.call(client, "b", temperature=0)
    )
    ctx.check(ctx.seen() == 3, f"2 different concurrent calls: {ctx.seen() - 1} requests")


@contract(51, "J", "a cancelled leader never hands followers None; errors reach all, not cached")
async def c51(ctx: Ctx) -> None:
    ctx.need("coalesce", "cancel")
    ctx.fault(F.Slow(seconds=10), times=1)
    client = ctx.client(coalesce=True, read_timeout=60, max_retries=0)
    leader = asyncio.ensure_future(ctx.call(client, temperature=0))
    await ctx.until(lambda: ctx.seen() >= 1, "the leader's request")
    followers = [asyncio.ensure_future(ctx.call(client, temperature=0)) for _ in range(2)]
    await asyncio.sleep(0)
    leader.cancel()
    outs = await asyncio.gather(*followers)
    ctx.check(
        all(isinstance(o, Reply) and o.text for o in outs),
        f"leader cancelled: followers {[describe(o) for o in outs]}",
    )
    switch = Switch(down=True)
    ctx.fault(switch.fault(), model="e", times=None)
    client = ctx.client("e", coalesce=True, max_retries=0)
    outs = await ctx.together(*(lambda: ctx.call(client, temperature=0) for _ in range(3)))
    ctx.check(
        all(isinstance(o, Failed) for o in outs), f"leader error: {[describe(o) for o in outs]}"
    )
    switch.down = False
    out = await ctx.call(client, temperature=0)
    ctx.check(isinstance(out, Reply), f"after the error: {describe(out)}")


# -- K. Structured output ----------------------------------------------------------------


@contract(52, "K", "local repair before a paid re-ask; re-asks bounded, carrying the error")
async def c52(ctx: Ctx) -> None:
    ctx.need("structured")
    from pydantic import BaseModel

    class Capital(BaseModel):
        city: str
        country: str

    client = ctx.client(max_retries=0)
    request = ctx.request("Capital of France as JSON")
    ctx.fake.add({"city": "Paris", "country": "France"})
    ctx.fault(F.MalformedJSON("fenced"), times=1)
    out = await ctx.parse(client, request, Capital)
    ctx.check(
        isinstance(out, Capital) and ctx.seen() == 1,
        f"fenced JSON: {out!r} after {ctx.seen()} request(s), expected a local repair",
    )
    ctx.fake.add({"city": "Paris"})
    ctx.fake.add({"city": "Paris", "country": "France"})
    out = await ctx.parse(client, request, Capital)
    reask = ctx.fake.requests[-1].json.get("messages", [])
    said = str(reask[1:]) if len(reask) > 1 else ""
    ctx.check(
        isinstance(out, Capital) and ctx.seen() == 3 and "country" in said,
        f"a missing field: {out!r} after {ctx.seen() - 1} requests; the re-ask "
        f"{'names' if 'country' in said else 'does not name'} the missing field",
    )
    ctx.check(
        list(request.messages) == [{"role": "user", "content": "Capital of France as JSON"}],
        "the caller's messages unchanged",
    )
    ctx.fake.add('{"city": "Par', finish_reason="length")
    out = await ctx.parse(client, request, Capital)
    ctx.check(
        isinstance(out, Failed) and ctx.seen() == 4,
        f"finish_reason length: {describe(out) if isinstance(out, Failed) else repr(out)} after "
        f"{ctx.seen() - 3} request(s), expected no blind re-ask",
    )
    ctx.note("re-ask tokens against budgets, retries and re-asks counted apart: not checked")


# -- L. Observability --------------------------------------------------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a record that cannot format is not a leak
            self.lines.append(record.getMessage() + " " + str(record.__dict__))


@contract(53, "L", "one event per attempt; no credential in any log line or exception")
async def c53(ctx: Ctx) -> None:
    ctx.need("events")
    capture = _Capture()
    root = logging.getLogger()
    old = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        ctx.fault(F.ServerError(500), times=2)
        out = await ctx.call(ctx.client(max_retries=2))
        ctx.fault(F.HTTPError(status=401, message="Incorrect API key provided."), times=1)
        bad = await ctx.call(ctx.client(max_retries=2))
    finally:
        root.removeHandler(capture)
        root.setLevel(old)
    events = ctx.adapter.events(out)
    statuses = [e.get("status") for e in events]
    ctx.check(statuses == [500, 500, 200], f"events' statuses {statuses}, expected [500, 500, 200]")
    secret = "SECRET0123456789abcdef"
    texts = [*capture.lines, str(getattr(bad, "error", "")), repr(getattr(bad, "error", ""))]
    log_text = getattr(ctx.adapter, "log_text", None)
    if callable(log_text):
        texts += [str(log_text(out)), str(log_text(bad.error if isinstance(bad, Failed) else bad))]
    leaks = [t for t in texts if secret in t]
    ctx.check(
        not leaks,
        f"{len(capture.lines)} log records and the errors: {len(leaks)} hold the API key",
    )
    ctx.note("metrics against events not checked")


# -- M. Field reports --------------------------------------------------------------------


@contract(54, "M", "requests are counted at the provider: stacked retry layers are caught")
async def c54(ctx: Ctx) -> None:
    ctx.need("retries")
    ctx.fault(F.ServerError(500), times=None)
    out, n = await ctx.call_seen(ctx.client(max_retries=3))
    ctx.check(n == 4, f"max_retries 3: {n} requests seen at the provider, expected 4")
    if ctx.has("events"):
        own = len(ctx.adapter.events(out.error if isinstance(out, Failed) else out))
        ctx.check(own == n, f"the client's own log says {own}, the provider saw {n}")


@contract(55, "M", "a 200 whose body is an error or has no choices is a failed attempt")
async def c55(ctx: Ctx) -> None:
    ctx.need("retries")
    bodies = {
        "an error body": {"error": {"message": "upstream failed", "type": "server_error"}},
        "no choices": {
            "id": "chatcmpl-x",
            "object": "chat.completion",
            "created": 0,
            "model": "m1",
            "choices": [],
        },
    }
    for name, body in bodies.items():
        before = ctx.seen()
        ctx.fault(RawReply(200, body), times=1)
        out = await ctx.call(ctx.client(max_retries=2))
        n = ctx.seen() - before
        ctx.check(
            isinstance(out, Reply) and out.text == DEFAULT_TEXT and n == 2,
            f"200 with {name}: {describe(out)} after {n} request(s), expected a retry",
        )


@contract(56, "M", "a cache hit hands back what the live call returned; errors never cached")
async def c56(ctx: Ctx) -> None:
    ctx.need("cache")
    ctx.fake.add(tool_calls=[{"name": "weather", "arguments": {"city": "Paris"}}])
    client = ctx.client(cache=CacheSpec(), max_retries=0)
    live = await ctx.call(client, "weather?", temperature=0)
    hit = await ctx.call(client, "weather?", temperature=0)
    ok = isinstance(live, Reply) and isinstance(hit, Reply)
    ctx.check(
        ok
        and ctx.seen() == 1
        and hit.type_name == live.type_name  # type: ignore[union-attr]
        and hit.text == live.text  # type: ignore[union-attr]
        and hit.tool_calls == live.tool_calls,  # type: ignore[union-attr]
        f"live {describe(live)}, then {describe(hit)} after {ctx.seen()} request(s)",
    )
    if isinstance(hit, Reply) and hit.cost is not None:
        ctx.check(hit.cost == 0, f"the hit costs {hit.cost}")
    if isinstance(hit, Reply) and hit.cache is not None:
        ctx.check(hit.cache == "hit", f"the hit says cache={hit.cache!r}")
    ctx.fault(F.RateLimited(retry_after=1), times=1)
    first = await ctx.call(client, "limited", temperature=0)
    out = await ctx.call(client, "limited", temperature=0)
    ctx.check(
        isinstance(first, Failed) and isinstance(out, Reply) and ctx.seen() == 3,
        f"a 429, then the same call: {describe(out)}, {ctx.seen() - 1} requests",
    )


@contract(57, "M", "cancellation or an error releases budget, TPM and limiter reservations")
async def c57(ctx: Ctx) -> None:
    if not (ctx.has("budget") or ctx.has("rate_limit")):
        ctx.need("budget")
    if ctx.has("budget"):
        client = ctx.client(budget=BudgetSpec(limit=40, unit="tokens"), max_retries=0)
        ctx.fault(F.ServerError(503), times=1)
        first = await ctx.call(client, max_tokens=20)
        out = await ctx.call(client, max_tokens=20)
        ctx.check(
            isinstance(first, Failed) and first.kind == "server_error" and isinstance(out, Reply),
            f"budget 40 tokens, requests of ~28 (max_tokens 20): a 503 {describe(first)}, "
            f"then {describe(out)}",
        )
    if ctx.has("rate_limit"):
        client = ctx.client(rate_limit=RateLimitSpec(tpm=40), max_retries=0)
        ctx.fault(F.ServerError(503), model="m1", times=1)
        first = await ctx.call(client, max_tokens=20)
        start = ctx.clock.monotonic()
        out = await ctx.call(client, max_tokens=20)
        took = ctx.clock.monotonic() - start
        ctx.check(
            isinstance(first, Failed) and isinstance(out, Reply) and took < 1,
            f"tpm 40, requests of ~28 tokens: a 503 {describe(first)}, then {describe(out)} "
            f"after {took:g} s",
        )


assert sorted(CONTRACTS) == list(range(1, 58)), sorted(set(range(1, 58)) - set(CONTRACTS))
_unused = (Streamed,)
