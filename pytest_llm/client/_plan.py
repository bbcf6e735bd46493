"""The one call flow of the resilient client, written once for sync and async.

:func:`run_call` is a generator that *decides* and never does I/O: it yields an action
(:class:`Send` a request, :class:`Wait` on the clock) and receives what happened. The
sync and async drivers in ``_drive.py`` carry the actions out, so every policy is
written once and behaves the same on both paths. The order, and why:

1. **routes**: the candidates in order (tier selection, the route the caller named first);
2. **context window**: a route the request cannot fit is skipped without I/O (32);
3. **breaker**: an open route is skipped without I/O (33); a half-open one gets a probe;
4. **limiter / budget**: reserve before sending (issue 10 hooks, bounded by the deadline);
5. **send** with per-attempt timeouts cut to what is left of the deadline (17);
6. **classify** the outcome; the breaker counts infrastructure failures only (34);
7. **retry** on the same route within its allowance, waiting what backoff or the
   provider's Retry-After says, never past the deadline (8-18), within the retry budget (16);
8. **fall over** to the next route for transient failures, and for context-length or
   content-policy failures only to routes that opt in (5, 6, 30);
9. stop with the provider's own error, or the client's typed one.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._clock import Clock, FlowClock, current_clock
from .._numbers import is_amount, is_positive
from .._urls import public_url
from ._breaker import BreakerState
from ._errors import (
    CircuitOpenError,
    DeadlineExceeded,
    InvalidResponse,
    LLMClientError,
    QuotaExceeded,
    RateLimitExceeded,
    RateLimitWaitTooLong,
    RetryBudgetExhausted,
)
from ._events import Attempt, CallInfo
from ._retry import FailureKind, classify
from ._route import Route
from ._telemetry import Telemetry
from ._usage import usage_of

__all__ = ["Call", "Hedge", "Lane", "Outcome", "Send", "Timeouts", "Wait", "run_call"]


@dataclass(frozen=True)
class Timeouts:
    """Per-attempt timeouts, in seconds (``None``: no limit of that kind).

    ``connect`` and ``read`` go to the SDK's HTTP client; ``first_token`` and ``chunk``
    are the client's own stream timers, on the injected clock.
    """

    connect: float | None = 5.0
    read: float | None = 60.0
    first_token: float | None = None
    """Seconds from the start of each attempt to the first content of a stream (22)."""
    chunk: float | None = None
    """Longest gap between two content events of a stream (21)."""

    def __post_init__(self) -> None:
        for name in ("connect", "read", "first_token", "chunk"):
            value = getattr(self, name)
            if value is None:
                continue
            if not is_positive(value, finite=False):
                from ._errors import ClientConfigError

                raise ClientConfigError(
                    f"Timeouts({name}={value!r}): a timeout is a number of seconds above 0, "
                    "or None for no limit.\nFix: pass e.g. Timeouts(read=30, chunk=10)."
                )


@dataclass(frozen=True)
class Hedge:
    """Start the same request on the next route when the first has not answered in time.

    ``delay`` in seconds, or ``percentile`` (e.g. 95) of the latencies the client has
    seen on the route (falling back to ``delay`` until ``min_samples`` are in).
    The first complete answer wins; the other request is cancelled; both are costed.
    """

    delay: float = 2.0
    percentile: float | None = None
    min_samples: int = 20

    def __post_init__(self) -> None:
        from ._errors import ClientConfigError

        if not is_amount(self.delay):
            raise ClientConfigError(
                f"Hedge(delay={self.delay!r}): the delay is a number of seconds, 0 or more.\n"
                "Fix: pass e.g. Hedge(delay=1.5)."
            )
        if self.percentile is not None and not (0 < self.percentile < 100):
            raise ClientConfigError(
                f"Hedge(percentile={self.percentile!r}): a percentile lies between 0 and 100.\n"
                "Fix: pass e.g. Hedge(percentile=95)."
            )


@dataclass
class Send:
    """Action: send one request to ``route`` (and maybe hedge it on ``hedge_route``)."""

    route: Route
    kwargs: dict[str, Any]
    attempt: Attempt
    timeouts: Timeouts
    deadline_left: float | None
    stream: bool
    api: str = "chat"
    hedge_route: Route | None = None
    hedge_delay: float = 0.0
    hedge_attempt: Attempt | None = None
    hedge_kwargs: dict[str, Any] | None = None


@dataclass
class Wait:
    """Action: wait ``seconds`` on the clock."""

    seconds: float


@dataclass
class Admit:
    """Action: pass the gate (budget, then rate limiter) for one attempt on ``route``.

    The driver answers with an :class:`Outcome` whose value is the ``Hold``."""

    gate: Any
    route: Route
    kwargs: dict[str, Any]
    deadline_at: float | None


@dataclass
class Outcome:
    """What a :class:`Send` produced: a value or an error per request started."""

    value: Any = None
    error: BaseException | None = None
    hedge_value: Any = None
    hedge_error: BaseException | None = None
    hedge_started: bool = False
    winner: str = "primary"
    """``primary`` or ``hedge``: whose answer is :attr:`value`."""


@dataclass(frozen=True, slots=True)
class Lane:
    """A call shape (api, model, stream) on which no policy acts before the first reply:
    no cache, coalescing, gate, hedge, deadline, retry budget or context-window check,
    and a breaker that needs no more than a closed route's ticket. Decided once per
    shape and configuration (``_client._Core._lane``); its calls make their first
    attempt in one short function (``_plain`` of each client) that records exactly
    what :func:`_flow` records, and hand any failure to :func:`_flow` (``Call.resumed``)."""

    route: Route
    """The first route: the one the first attempt goes to."""
    sdk: Any
    """The route's SDK client."""
    resource: Any
    """Its resource for the API (``sdk.chat.completions``, ``sdk.responses``, ...): the
    attempt calls its ``create``, looked up per call as the full flow does."""
    timeout: Any
    """The ``timeout=`` to pass, or ``None`` when it is the SDK client's own."""
    routes: tuple[Route, ...] = ()
    """Every route the call shape tries, :attr:`route` first (for the full flow)."""
    base_url: str | None = None
    """:attr:`route`'s base URL as records show it (``public_url``), worked out once."""


@dataclass(slots=True)
class Call:
    """Everything one call needs, fixed before the flow starts."""

    api: str
    kwargs: dict[str, Any]
    routes: Sequence[Route]
    clock: Clock
    rng: random.Random
    retry: Any
    """A ``RetryPolicy``."""
    breaker: Any | None
    retry_budget: Any | None
    timeouts: Timeouts
    deadline: float | None
    hedge: Hedge | None
    info: CallInfo
    stream: bool = False
    classify: Callable[..., Any] | None = None
    validate: Callable[[str, Any], str | None] | None = None
    """Returns why a 200 reply is not a usable result (55), or None."""
    estimate_tokens: Callable[[dict[str, Any]], int] | None = None
    latency: Any | None = None
    """A latency tracker (for percentile hedging)."""
    on_attempt: Callable[[CallInfo, Attempt], None] | None = None
    """Called with every attempt once it is over (besides ``telemetry``)."""
    telemetry: Any | None = None
    """A ``Telemetry``: every attempt is recorded with it, under ``handle`` (the call's
    span state from ``Telemetry.start``)."""
    handle: Any | None = None
    gate: Any | None = None
    """A ``Gate`` (budget and rate limiter), when the client has either."""
    holds: list[Any] = field(default_factory=list)
    """What the call's attempts hold at the gate; whatever is not settled is released."""
    prepare: Callable[[Route], dict[str, Any]] | None = None
    """The request for a route, when it is not the caller's as it is (structured output)."""
    hooks: list[Any] = field(default_factory=list)
    resumed: tuple[Any, Outcome] | None = None
    """The first attempt made outside the flow (the client's ``_plain``, on a
    :class:`Lane`): its breaker ticket and outcome; :func:`_flow` takes it up from there,
    as if it had sent it."""


class _Stop(Exception):
    """Internal: leave the route loop with an error to raise."""


def _remaining(call: Call) -> float | None:
    if call.deadline is None:
        return None
    return call.info.started + call.deadline - call.clock.monotonic()


def _deadline_error(call: Call, last: BaseException | None, what: str) -> DeadlineExceeded:
    err = DeadlineExceeded(
        f"pytest-llm client: the call's deadline of {call.deadline:g} s ran out {what} "
        f"after {call.info.requests} request(s).\n"
        "Fix: raise deadline= if the provider is slow, or lower retries / timeouts so the "
        "attempts fit inside it.",
        info=call.info,
    )
    err.__cause__ = last
    return err


def _begin(call: Call, route: Route, *, hedge: bool = False, state: str | None = None) -> Attempt:
    """``state``: the breaker's state, when the caller has just read it (an admission)."""
    if state is None:
        state = call.breaker.state(route.key) if call.breaker is not None else "closed"
    attempt = Attempt(
        number=len(call.info.attempts) + 1,
        route=route.key,
        model=route.model,
        base_url=route.base_url or "",
        started=call.clock.monotonic(),
        breaker=state,
        hedge=hedge,
        reask=call.info.reasks,
    )
    call.info.attempts.append(attempt)
    return attempt


def _skip(call: Call, route: Route, reason: str) -> None:
    attempt = _begin(call, route)
    attempt.skipped = True
    attempt.reason = reason
    attempt.ended = attempt.started
    _emit(call, attempt)


def _emit(call: Call, attempt: Attempt) -> None:
    if call.telemetry is not None:
        call.telemetry.record_attempt(call.info, attempt, call.handle)
    if call.on_attempt is not None:
        call.on_attempt(call.info, attempt)


def counted_request(call: Call, route: Route) -> dict[str, Any]:
    """The caller's request as ``route`` would get it, for counting its tokens: the
    route's model picks the tokenizer (an unknown model's count is an estimate that errs
    high), so a smaller fallback model is judged by its own count, not the caller's."""
    return request_for(call.kwargs, route)


def request_for(kwargs: dict[str, Any], route: Route) -> dict[str, Any]:
    """The caller's arguments with ``route``'s model (themselves when they name it)."""
    if kwargs.get("model") == route.model:
        return kwargs
    return {**kwargs, "model": route.model}


def _fits(call: Call, route: Route) -> bool:
    if route.context_window is None or call.estimate_tokens is None:
        return True
    want = call.estimate_tokens(counted_request(call, route))
    return want <= route.context_window


def _route_kwargs(call: Call, route: Route) -> dict[str, Any]:
    """The request for ``route``: the caller's, with the route's model (32: nothing added)."""
    if call.prepare is not None:
        return call.prepare(route)
    return request_for(call.kwargs, route)  # read only from here on: the SDK call unpacks it


def _timeouts_for(call: Call) -> tuple[Timeouts, float | None]:
    left = _remaining(call)
    return call.timeouts, left


def _record_success(call: Call, attempt: Attempt, route: Route, value: Any) -> None:
    attempt.ended = call.clock.monotonic()
    attempt.status = 200
    attempt.usage = usage_of(value)
    if route.price is not None:
        attempt.cost = route.price.cost(attempt.usage)
    call.info.cost += attempt.cost
    if call.latency is not None:
        call.latency.observe(route.key, attempt.duration)


def succeed(call: Call, route: Route, attempt: Attempt, ticket: Any, hold: Any, value: Any) -> None:
    """``attempt`` on ``route`` answered ``value``, a usable reply: record it, give the
    breaker its verdict (a stream's waits for the stream's end: 38), count what it used
    at the gate, emit the attempt's event and name the route that served the call."""
    _record_success(call, attempt, route, value)
    if hold is not None:
        if call.stream:  # settled when the stream ends, with what it used
            call.holds.remove(hold)
            call.info.extra["gate_hold"] = hold
        else:
            hold.settle(attempt.usage)
    if call.stream and ticket is not None and not getattr(ticket, "probe", True):
        # the verdict waits for the stream's end: a failure after content
        # counts too (38); a closed-state ticket holds no slot meanwhile
        call.info.extra["breaker_ticket"] = ticket
    elif ticket is not None:
        _record(call, ticket, "success")
    _emit(call, attempt)
    _served(call, route)


PlainStart = tuple[Any, float, float]
"""What :func:`plain_start` gives a plain call: the breaker's admission, then the call's
and its first attempt's start (two ``clock.monotonic()`` readings, as the full flow's)."""


def plain_start(breaker: Any, lane: Lane, clock: Clock) -> PlainStart | None:
    """The start of a call on its :class:`Lane`, without a :class:`Call` nor yet any
    record: the breaker's admission and the clock's readings its records take
    (:func:`plain_info`); ``None`` when the route's breaker is not closed (the full flow
    then takes the call whole, nothing done here).

    The admission is ``None`` without a breaker, else the route's record when a success
    on it would record nothing (:meth:`~._breaker.CircuitBreaker.clean_record`: no ticket
    is built unless the call needs one), else a closed-state ticket."""
    admission: Any = None
    if breaker is not None:
        key = lane.route.key
        admission = breaker.clean_record(key)
        if admission is None:
            admission = breaker.admit_closed(key)
            if admission is None:
                return None
    now = (current_clock() if type(clock) is FlowClock else clock).monotonic  # plain_served
    return admission, now(), now()


def plain_info(
    api: str,
    model: str | None,
    prompt: str | None,
    handle: Any,
    lane: Lane,
    start: PlainStart | None,
) -> CallInfo:
    """The :class:`CallInfo` of a plain call as the full flow has it once the first attempt
    began at ``start`` (:func:`plain_start`'s; ``None``: no attempt made)."""
    info = CallInfo(api=api, requested_model=model)
    info.prompt = prompt
    info.extra["telemetry"] = handle
    if start is not None:
        route = lane.route
        info.started = start[1]
        info.attempts.append(
            Attempt(
                number=1,
                route=route.key,
                model=route.model,
                base_url=route.base_url or "",
                started=start[2],
                breaker="closed",
            )
        )
    return info


def plain_ticket(breaker: Any, lane: Lane, admission: Any) -> Any:
    """The breaker ticket of :func:`plain_start`'s admission (``None`` without a breaker)."""
    if isinstance(admission, BreakerState):
        return breaker.ticket_for(lane.route.key, admission)
    return admission


def plain_verdict(breaker: Any, lane: Lane, admission: Any, verdict: str) -> None:
    """Record ``verdict`` for :func:`plain_start`'s admission (not ``None``), as the full
    flow records its ticket: a success against a route record that is still the clean
    one it was admitted on changes nothing, so no ticket is built for it."""
    if not isinstance(admission, BreakerState):
        breaker.record(admission, verdict)
    elif verdict != "success" or breaker.clean_record(lane.route.key) is not admission:
        breaker.record(breaker.ticket_for(lane.route.key, admission), verdict)


def plain_served(
    lane: Lane,
    start: PlainStart,
    *,
    clock: Clock,
    breaker: Any,
    latency: Any,
    telemetry: Any,
    handle: Any,
    stream: bool = False,
) -> tuple[float, bool, Callable[[], float]]:
    """:func:`succeed` for :func:`plain_start`'s attempt, which served a usable reply (or
    an opened stream: ``stream``, whose breaker verdict waits for its end,
    :func:`plain_verdict`), up to its records: the attempt's end read from the clock, the
    latency tracker fed, the breaker's verdict given. Returns the attempt's end, whether
    the call's records are for nobody (:meth:`~._telemetry.Telemetry.quiet`: then
    :func:`plain_record` may wait until someone reads them) and the clock's reading."""
    # the clock the flow clock stands for, read through (the same readings, without the
    # flow clock's indirection each time); after the reply, as it may have changed since
    now = (current_clock() if type(clock) is FlowClock else clock).monotonic
    ended = now()
    if latency is not None:
        took = ended - start[2]
        latency.observe(lane.route.key, took if took > 0.0 else 0.0)  # attempt.duration
    admission = start[0]
    if admission is not None and not stream:
        plain_verdict(breaker, lane, admission, "success")
    return ended, type(telemetry) is Telemetry and telemetry.quiet(handle), now


def plain_record(info: CallInfo, lane: Lane, value: Any, ended: float, telemetry: Any) -> None:
    """The records :func:`succeed` makes of ``info``'s first attempt, which served
    ``value`` and ended at ``ended`` (:func:`plain_served`'s), in its order, but for the
    call's end (``info.ended``: the caller's to read from the clock next); the attempt's
    event goes to ``telemetry`` (``None``: nobody listens)."""
    route = lane.route
    attempt = info.attempts[-1]
    attempt.ended = ended
    attempt.status = 200
    attempt.usage = usage = usage_of(value)
    if route.price is not None:
        attempt.cost = route.price.cost(usage)
    info.cost += attempt.cost
    if telemetry is not None:
        telemetry.record_attempt(info, attempt, info.extra["telemetry"])
    info.route = route.key
    info.model = route.model
    info.base_url = lane.base_url
    info.usage = usage


def plain_pending(value: Any, facts: PlainFacts) -> CallInfo:
    """The :class:`CallInfo` of a quiet plain call whose records were left for whoever
    asks (:func:`~._events.attach_pending`), built from ``value``, its reply (alive while
    someone asks about it), and ``facts``, what the call knew and read from the clock:
    as :func:`plain_info` and :func:`plain_record` would have made it then."""
    from ._telemetry import CallHandle

    api, model, prompt, lane, start, ended, finished = facts
    info = plain_info(api, model, prompt, CallHandle(api, model, None, 0, 0.0), lane, start)
    plain_record(info, lane, value, ended, None)
    info.ended = finished
    return info


PlainFacts = tuple[str, str | None, str | None, Lane, PlainStart, float, float]
""":func:`plain_pending`'s facts: the API, the model asked for, the prompt, the lane,
:func:`plain_start`'s start, the attempt's end and the call's end."""


def _cost_unfinished(call: Call, attempt: Attempt, route: Route) -> None:
    """A request cancelled in flight (the loser of a hedge race) was sent all the same:
    the provider bills at least its prompt, so it is costed on an estimate (47)."""
    if call.estimate_tokens is None:
        return
    tokens = call.estimate_tokens(counted_request(call, route))
    attempt.usage = {
        "input_tokens": tokens,
        "output_tokens": 0,
        "total_tokens": tokens,
        "cached_tokens": 0,
        "estimated": 1,
    }
    if route.price is not None:
        attempt.cost = route.price.cost(attempt.usage)
        call.info.cost += attempt.cost


def _charge(call: Call, route: Route, attempt: Attempt) -> None:
    """A hedge is started without waiting at the gate; what it used still counts (47)."""
    if call.gate is not None:
        note = call.gate.charge(route, attempt.usage)
        if note:
            call.info.extra.setdefault("degraded", []).append(note)


def _record_failure(call: Call, attempt: Attempt, failure: Any) -> None:
    attempt.ended = call.clock.monotonic()
    attempt.status = failure.status
    attempt.error = type(failure.error).__name__
    attempt.kind = str(failure.kind)
    attempt.reason = failure.reason
    attempt.retry_after = failure.retry_after


def _record(call: Call, ticket: Any, outcome: str, *, retry_after: float | None = None) -> None:
    if call.breaker is not None and ticket is not None and ticket is not True:
        call.breaker.record(ticket, outcome, retry_after=retry_after)


def _breaker_outcome(failure: Any) -> str:
    if str(failure.kind) == "cancelled":
        return "cancelled"
    return "failure" if failure.breaker else "ignored"


def stream_verdict(error: BaseException | None, clock: Clock) -> str:
    """The breaker's verdict on a stream that ended with ``error`` (``None``: whole) (38)."""
    if error is None:
        return "success"
    return _breaker_outcome(classify(error, now=clock.now()))


def _note_store(call: Call, breaker: Any) -> None:
    """A shared breaker store that could not be reached says so in the call's events (39)."""
    status = getattr(getattr(breaker, "store", None), "status", None)
    if status:
        notes = call.info.extra.setdefault("degraded", [])
        if status not in notes:
            notes.append(status)


def _is_cancel(error: BaseException) -> bool:
    return isinstance(error, asyncio.CancelledError | KeyboardInterrupt | GeneratorExit)


def run_call(call: Call) -> Generator[Send | Wait | Admit, Outcome | None, Any]:
    """The flow of one call; see the module docstring for the order of the policies.

    Whatever an attempt holds at the gate and did not settle is released however the
    call ends: a failure, a cancellation, a deadline (57)."""
    try:
        return (yield from _flow(call))
    finally:
        for hold in call.holds:
            hold.release()


def _flow(call: Call) -> Generator[Send | Wait | Admit, Outcome | None, Any]:
    classify_ = call.classify or classify
    info = call.info
    if not info.attempts:
        info.started = call.clock.monotonic()
    last: BaseException | None = None
    last_failure_kind = ""
    open_skipped = 0
    wait_too_long: RateLimitWaitTooLong | None = None
    routes = list(call.routes)
    if call.retry_budget is not None:
        call.retry_budget.record_call()

    index = 0
    while index < len(routes):
        route = routes[index]
        index += 1
        if last is not None and not _accepts(route, last_failure_kind):
            _skip(call, route, f"does not take {last_failure_kind} fallbacks")
            continue
        if not _fits(call, route):
            _skip(call, route, f"request does not fit the context window of {route.context_window}")
            continue
        retries = 0
        timeout_retries = 0
        while True:
            resumed = call.resumed
            if resumed is not None:  # the first attempt, made by the client's _plain
                call.resumed = None
                ticket, outcome = resumed
                attempt = info.attempts[-1]
                hold = None
                hedged: Route | None = None
            else:
                ticket = None
                if call.breaker is not None:
                    ticket = call.breaker.admit(route.key)
                    _note_store(call, call.breaker)
                    if ticket is None:
                        open_skipped += 1
                        _skip(call, route, "circuit open: skipped without I/O")
                        break
                left = _remaining(call)
                if left is not None and left <= 0:
                    if ticket is not None:
                        _record(call, ticket, "cancelled")
                    raise _deadline_error(call, last, "before the next attempt")
                kwargs = _route_kwargs(call, route)
                hold = None
                if call.gate is not None:
                    deadline_at = None if left is None else call.clock.monotonic() + left
                    admitted = yield Admit(call.gate, route, kwargs, deadline_at)
                    assert admitted is not None
                    if admitted.error is not None:
                        _record(call, ticket, "cancelled")
                        refused = admitted.error
                        if isinstance(refused, RateLimitExceeded) and index < len(routes):
                            _skip(call, route, str(refused).splitlines()[0])
                            last, last_failure_kind = refused, "rate_limit"
                            break
                        if isinstance(refused, LLMClientError) and refused.info is None:
                            refused.info = info
                        raise refused
                    hold = admitted.value
                    call.holds.append(hold)
                    left = _remaining(call)
                # the admission's state, unless the gate may have waited since
                state = getattr(ticket, "state", None) if hold is None else None
                attempt = _begin(call, route, state=state)
                if hold is not None:
                    attempt.limiter_wait = hold.waited
                    if hold.notes:
                        info.extra.setdefault("degraded", []).extend(hold.notes)
                send = Send(route, kwargs, attempt, call.timeouts, left, call.stream, api=call.api)
                hedge_ticket = None
                hedge_route = _hedge_route(call, routes, index) if not info.reasks else None
                if hedge_route is not None and len(info.attempts) == 1:
                    hedge_ticket = (
                        call.breaker.admit(hedge_route.key) if call.breaker is not None else True
                    )
                    if hedge_ticket is not None:
                        send.hedge_route = hedge_route
                        send.hedge_delay = _hedge_delay(call, route)
                        send.hedge_kwargs = _route_kwargs(call, hedge_route)
                        send.hedge_attempt = Attempt(
                            number=0,
                            route=hedge_route.key,
                            model=hedge_route.model,
                            base_url=hedge_route.base_url or "",
                            started=0.0,
                            breaker=call.breaker.state(hedge_route.key)
                            if call.breaker
                            else "closed",
                            hedge=True,
                        )
                sent = yield send
                assert sent is not None
                outcome = sent
                hedged = send.hedge_route
            # -- the hedge, when one was started ---------------------------------------
            if hedged is not None:
                if outcome.hedge_started:
                    hattempt = send.hedge_attempt
                    assert hattempt is not None
                    hattempt.number = len(info.attempts) + 1
                    info.attempts.append(hattempt)
                    herr = outcome.hedge_error
                    if herr is None and outcome.winner == "hedge":
                        herr = _invalid(call, outcome.hedge_value)
                    if herr is None and outcome.winner == "hedge":
                        _record_success(call, hattempt, hedged, outcome.hedge_value)
                        _charge(call, hedged, hattempt)
                        if call.breaker is not None and hedge_ticket is not True:
                            _record(call, hedge_ticket, "success")
                        _emit(call, hattempt)
                    else:
                        hfail = classify_(herr or asyncio.CancelledError(), now=call.clock.now())
                        _record_failure(call, hattempt, hfail)
                        if outcome.winner == "primary" and (herr is None or _is_cancel(herr)):
                            hattempt.reason = "hedge lost: cancelled"
                            _cost_unfinished(call, hattempt, hedged)
                            _charge(call, hedged, hattempt)
                        if call.breaker is not None and hedge_ticket is not True:
                            _record(call, hedge_ticket, _breaker_outcome(hfail))
                        _emit(call, hattempt)
                elif call.breaker is not None and hedge_ticket not in (None, True):
                    _record(call, hedge_ticket, "cancelled")
                if outcome.winner == "hedge":
                    if ticket is not None:
                        _record(call, ticket, "cancelled")
                    _record_failure(
                        call, attempt, classify_(asyncio.CancelledError(), now=call.clock.now())
                    )
                    attempt.reason = "hedge won: cancelled"
                    _cost_unfinished(call, attempt, route)
                    if hold is not None:
                        hold.settle(attempt.usage)  # sent, so billed: on its estimate (47)
                    _emit(call, attempt)
                    _served(call, hedged)
                    return outcome.hedge_value
            # -- the primary ----------------------------------------------------------
            error = outcome.error
            if error is None:
                error = _invalid(call, outcome.value)
            if error is None:
                succeed(call, route, attempt, ticket, hold, outcome.value)
                return outcome.value
            failure = classify_(error, now=call.clock.now())
            _record_failure(call, attempt, failure)
            if outcome.error is None and attempt.status is None:
                attempt.status = 200  # the provider answered 200 with no usable reply (55)
            left = _remaining(call)
            cut = (  # a timeout the deadline cut short: the deadline's, not the provider's
                failure.kind in (FailureKind.READ_TIMEOUT, FailureKind.CONNECT_TIMEOUT)
                and left is not None
                and left <= 1e-6
            )
            if isinstance(error, DeadlineExceeded) or cut:
                if ticket is not None:
                    _record(call, ticket, "cancelled")
                attempt.reason = "deadline reached during the attempt"
                _emit(call, attempt)
                raise _deadline_error(call, error if cut else last, "during an attempt")
            if ticket is not None:
                _record(call, ticket, _breaker_outcome(failure), retry_after=failure.retry_after)
            if hold is not None:
                hold.release()
            if call.gate is not None and failure.kind == FailureKind.RATE_LIMIT:
                call.gate.pause(route, failure.retry_after)  # every caller of the route (44)
            last = error
            last_failure_kind = str(failure.kind)
            if failure.kind == FailureKind.CANCELLED or _is_cancel(error):
                attempt.reason = "cancelled by the caller"
                _emit(call, attempt)
                raise error
            if failure.kind == FailureKind.QUOTA:
                attempt.reason = "insufficient quota: not retried"
                _emit(call, attempt)
                if index >= len(routes):
                    quota = QuotaExceeded(
                        f"pytest-llm client: {route.key} answered 429 insufficient_quota: the "
                        "account is out of credit; not retried.\nFix: add credit or a route "
                        "with another account.",
                        info=info,
                    )
                    quota.__cause__ = error
                    raise quota
                break
            decision = call.retry.decide(
                failure,
                retries_done=retries,
                timeout_retries_done=timeout_retries,
                remaining=_remaining(call),
                rng=call.rng,
            )
            if decision.retry:
                if call.retry_budget is not None and not call.retry_budget.try_spend():
                    attempt.reason = "retry budget spent: failing fast"
                    _emit(call, attempt)
                    exhausted = RetryBudgetExhausted(
                        f"pytest-llm client: retries are over the retry budget "
                        f"({call.retry_budget!r}); {route.key} failed with {failure.reason} "
                        "and is not retried.\nFix: this protects a struggling provider; raise "
                        "the budget's ratio only if retries are cheap for it.",
                        info=info,
                    )
                    exhausted.__cause__ = error
                    raise exhausted
                attempt.reason = decision.reason
                attempt.wait = decision.wait
                _emit(call, attempt)
                if failure.kind == FailureKind.READ_TIMEOUT:
                    timeout_retries += 1
                retries += 1
                if decision.wait > 0:
                    for hook in call.hooks:
                        hook.on_wait(route, decision.wait, failure)
                    yield Wait(decision.wait)
                continue
            attempt.reason = decision.reason
            _emit(call, attempt)
            give_up = decision.give_up
            if give_up is DeadlineExceeded and not (failure.fallback and index < len(routes)):
                raise _deadline_error(call, error, "waiting to retry")
            # a wait that does not fit the deadline: the next route may still (13, 18, 30)
            if give_up is RateLimitWaitTooLong:
                wait_too_long = RateLimitWaitTooLong(
                    f"pytest-llm client: {route.key} asked to wait {failure.retry_after:g} s, "
                    f"more than max_retry_after ({call.retry.max_retry_after:g} s); the wait "
                    "is not shortened and no other route could serve the call.\nFix: add a "
                    "fallback route, or raise max_retry_after if the caller can wait.",
                    retry_after=failure.retry_after or 0.0,
                    info=info,
                )
                wait_too_long.__cause__ = error
            if not failure.fallback:
                raise error
            break
    # Every route is spent, skipped or open.
    if wait_too_long is not None:
        raise wait_too_long
    if last is not None:
        raise last
    if open_skipped:
        raise CircuitOpenError(
            f"pytest-llm client: every route's circuit is open "
            f"({', '.join(r.key for r in routes)}); nothing was sent.\nFix: wait for the "
            "breakers' reset_timeout, or add a route on another provider.",
            info=info,
        )
    raise LLMClientError(
        "pytest-llm client: no route could take the request (see the attempts: "
        + "; ".join(f"{a.route}: {a.reason}" for a in info.attempts)
        + ").\nFix: add a route whose context window fits the request.",
        info=info,
    )


def _accepts(route: Route, kind: str) -> bool:
    """Whether ``route`` takes a call that failed with ``kind`` on the route before (5, 6)."""
    if kind == "context_length":
        return "context_length" in route.fallback_on
    if kind == "content_policy":
        return "content_policy" in route.fallback_on
    return True


def _hedge_route(call: Call, routes: list[Route], index: int) -> Route | None:
    if call.hedge is None or index >= len(routes):
        return None
    return routes[index]


def _hedge_delay(call: Call, route: Route) -> float:
    hedge = call.hedge
    assert hedge is not None
    if hedge.percentile is not None and call.latency is not None:
        seen = call.latency.percentile(route.key, hedge.percentile, hedge.min_samples)
        if seen is not None:
            return float(seen)
    return hedge.delay


def _invalid(call: Call, value: Any) -> BaseException | None:
    if call.validate is None:
        return None
    why = call.validate(call.api, value)
    if why is None:
        return None
    return InvalidResponse(
        f"pytest-llm client: the provider answered 200 but {why}; treated as a failed "
        "attempt (retried like a 5xx).\nFix: nothing on your side if it passes on retry; "
        "otherwise check the provider's status page.",
        info=call.info,
    )


def _served(call: Call, route: Route) -> None:
    info = call.info
    key = info.route = route.key
    info.model = route.model
    info.base_url = public_url(route.base_url)
    attempts = info.attempts
    last = attempts[-1] if attempts else None
    if last is not None and last.route == key and last.ok:  # the usual case: no scan
        info.usage = last.usage
    else:  # the latest attempt of the route that served (a hedge's loser may come after)
        info.usage = next((a.usage for a in reversed(attempts) if a.route == key and a.ok), None)
    info.ended = call.clock.monotonic()


def clone_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of the caller's arguments, so nothing the client does reaches them."""
    return copy.deepcopy(kwargs)
