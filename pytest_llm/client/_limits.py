"""Client-side rate limits per route: requests per minute and tokens per minute.

``RateLimiter(rpm=500, tpm=200_000)`` keeps one limit per route key:

* **RPM** is smoothed (GCRA, the "virtual scheduling" form of a leaky bucket):
  requests start ``window / rpm`` seconds apart, and ``burst`` more may start back to
  back. Over *any* sliding ``window`` (60 s) at most ``rpm + burst`` requests start.
  Smoothing matches how providers enforce a per-minute limit over shorter periods.
* **TPM** is a sliding log: ``acquire`` reserves the request's estimated tokens before
  it is sent, :meth:`Reservation.settle` replaces the estimate with the actual usage
  (counted at the time the request started), :meth:`Reservation.release` gives it back
  when the request failed or was cancelled. Reserved plus settled tokens of the last
  ``window`` seconds never exceed ``tpm``. A request larger than ``tpm`` fails at once.
* Waiters are served first come, first served per route: a large request at the head
  of the queue is not overtaken by small ones behind it.
* :meth:`RateLimiter.pause` (a server 429's ``Retry-After``) stops every caller of the
  route until the pause ends.

Waits go through the injected clock (``clock.sleep`` / ``clock.asleep``) and never
while a lock is held; a wait that would end past the caller's ``deadline`` is not
taken: :class:`~pytest_llm.client.RateLimitExceeded` at once. State lives in memory
(one process) or in Redis (:class:`~pytest_llm.client._redis.RedisStore`: every
process shares the limit, decided by one Lua script on the server's clock).
"""

from __future__ import annotations

import bisect
import itertools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Never, Protocol, runtime_checkable

from .._clock import Clock, flow_clock
from .._numbers import is_amount, is_positive
from ._booking import Booking, reject_unknown
from ._errors import ClientConfigError, RateLimitExceeded

if TYPE_CHECKING:
    from ._redis import RedisStore

__all__ = [
    "Decision",
    "LimitSpec",
    "LimiterBackend",
    "MemoryLimiterBackend",
    "RateLimiter",
    "Reservation",
]

POLL = 0.25
"""Seconds between re-checks while the wait is unknown (tokens held by calls in flight)."""
QUEUE_GRACE = 5.0
"""A queued waiter not seen again this long after its announced wake-up is dropped
(a process that died while waiting must not block the queue)."""
EPSILON = 1e-6
"""Waits shorter than this (a microsecond: Redis keeps times to it) count as none."""
QUEUE_STEP = 0.01
"""The shortest wait of a queued caller behind the head (the head goes first)."""
LEASE = 600.0
"""A TPM reservation neither settled nor released after this long is dropped (a process
that died mid-call must not hold tokens forever)."""


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """The numbers a limiter decides with (validated by :class:`RateLimiter`)."""

    rpm: int | None
    tpm: int | None
    burst: int
    window: float

    @property
    def interval(self) -> float:
        """Seconds between request starts at the steady rate (GCRA emission interval)."""
        return self.window / self.rpm if self.rpm else 0.0


@dataclass(frozen=True, slots=True)
class Decision:
    """What the backend decided for one try.

    ``admitted``: the request may start now (``rid`` names its TPM reservation,
    ``started`` is the backend's time of the start). Otherwise ``wait`` is how long
    before the next try makes sense (``None``: unknown, tokens are held by calls in
    flight) and ``ticket`` is the caller's place in the route's queue. ``degraded`` says
    the shared store was unreachable and which policy applied.
    """

    admitted: bool
    rid: str = ""
    started: float = 0.0
    wait: float | None = 0.0
    ticket: str = ""
    degraded: str | None = None


@runtime_checkable
class LimiterBackend(Protocol):
    """Where limiter state lives. Every method is one atomic step; none blocks on a wait."""

    shared: bool

    def try_acquire(self, key: str, spec: LimitSpec, tokens: int, ticket: str) -> Decision: ...

    async def atry_acquire(
        self, key: str, spec: LimitSpec, tokens: int, ticket: str
    ) -> Decision: ...

    def settle(self, key: str, spec: LimitSpec, rid: str, actual: int) -> str | None:
        """Replace the reservation by ``actual`` tokens; returns a degradation note or None."""
        ...

    def release(self, key: str, spec: LimitSpec, rid: str) -> str | None: ...

    def leave(self, key: str, ticket: str) -> str | None:
        """Drop a waiter's place in the queue (it gave up or was cancelled)."""
        ...

    def pause(self, key: str, seconds: float) -> str | None: ...

    def paused_for(self, key: str) -> float:
        """Seconds left of the route's pause (0 if none)."""
        ...


# -- memory backend ------------------------------------------------------------------


@dataclass
class _Route:
    tat: float = -math.inf
    paused_until: float = -math.inf
    settled: list[tuple[float, int, int]] = field(default_factory=list)  # (t, seq, tokens)
    settled_sum: int = 0
    inflight: dict[str, tuple[float, int]] = field(default_factory=dict)  # rid -> (t, tokens)
    inflight_sum: int = 0
    queue: dict[str, tuple[float, int]] = field(default_factory=dict)  # ticket -> (wake, tokens)


class MemoryLimiterBackend:
    """One process's limiter state: dicts behind a lock held only for a decision."""

    shared = False

    def __init__(self, clock: Clock = flow_clock) -> None:
        self.clock = clock
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def _route(self, key: str) -> _Route:
        route = self._routes.get(key)
        if route is None:
            route = self._routes[key] = _Route()
        return route

    def _purge(self, r: _Route, spec: LimitSpec, now: float) -> None:
        cut = now - spec.window
        n = bisect.bisect_right(r.settled, (cut, math.inf, 0))
        if n:
            r.settled_sum -= sum(e[2] for e in r.settled[:n])
            del r.settled[:n]
        for rid, (t, tokens) in list(r.inflight.items()):
            if t < now - LEASE:
                del r.inflight[rid]
                r.inflight_sum -= tokens
        # Queue entries need no expiry here: a waiter of this process always leaves the
        # queue (admitted, gave up or cancelled); the Redis store expires the entries of
        # processes that died.

    def _wait(self, r: _Route, spec: LimitSpec, tokens: int, now: float) -> float | None:
        """Seconds until ``tokens`` could start (0: now; None: unknown)."""
        wait = max(0.0, r.paused_until - now)
        if spec.rpm:
            tau = spec.burst * spec.interval
            wait = max(wait, max(r.tat, now) - tau - now)
        if spec.tpm is not None:
            over = r.settled_sum + r.inflight_sum + tokens - spec.tpm
            if over > 0:
                freed = 0
                for t, _, n in r.settled:
                    freed += n
                    if freed >= over:
                        wait = max(wait, t + spec.window - now)
                        break
                else:
                    return None
        return wait

    def try_acquire(self, key: str, spec: LimitSpec, tokens: int, ticket: str) -> Decision:
        with self._lock:
            now = self.clock.monotonic()
            r = self._route(key)
            self._purge(r, spec, now)
            head = next(iter(r.queue), None)
            wait = self._wait(r, spec, tokens, now)
            if (head is None or head == ticket) and wait is not None and wait < EPSILON:
                r.queue.pop(ticket, None)
                if spec.rpm:
                    r.tat = max(r.tat, now) + spec.interval
                rid = f"m{next(self._ids)}"
                r.inflight[rid] = (now, tokens)
                r.inflight_sum += tokens
                return Decision(True, rid=rid, started=now)
            if head is not None and head != ticket:
                # Behind the head: not before it retries (its wake-up), nor before what
                # it or this request waits for, whichever is known.
                # Under RPM, the p-th in line starts p intervals after the head at best.
                head_wake, head_tokens = r.queue[head]
                head_wait = self._wait(r, spec, head_tokens, now)
                ahead = 0.0
                if spec.rpm:
                    rpm_wait = max(r.tat, now) - spec.burst * spec.interval - now
                    if rpm_wait > 0:
                        keys = list(r.queue)
                        place = keys.index(ticket) if ticket in r.queue else len(keys)
                        ahead = rpm_wait + place * spec.interval
                wait = max(
                    max(head_wake - now, 0.0) + QUEUE_STEP,
                    wait or 0.0,
                    head_wait or 0.0,
                    ahead,
                )
            if not ticket:
                ticket = f"q{next(self._ids)}"
            r.queue[ticket] = (now + (POLL if wait is None else wait), tokens)
            return Decision(False, wait=wait, ticket=ticket)

    async def atry_acquire(self, key: str, spec: LimitSpec, tokens: int, ticket: str) -> Decision:
        return self.try_acquire(key, spec, tokens, ticket)

    def settle(self, key: str, spec: LimitSpec, rid: str, actual: int) -> str | None:
        with self._lock:
            now = self.clock.monotonic()
            r = self._route(key)
            entry = r.inflight.pop(rid, None)
            if entry is None:
                return None
            t, tokens = entry
            r.inflight_sum -= tokens
            if actual > 0 and t > now - spec.window:
                bisect.insort(r.settled, (t, next(self._ids), actual))
                r.settled_sum += actual
        return None

    def release(self, key: str, spec: LimitSpec, rid: str) -> str | None:
        with self._lock:
            r = self._route(key)
            entry = r.inflight.pop(rid, None)
            if entry is not None:
                r.inflight_sum -= entry[1]
        return None

    def leave(self, key: str, ticket: str) -> str | None:
        with self._lock:
            self._route(key).queue.pop(ticket, None)
        return None

    def pause(self, key: str, seconds: float) -> str | None:
        with self._lock:
            r = self._route(key)
            r.paused_until = max(r.paused_until, self.clock.monotonic() + seconds)
        return None

    def paused_for(self, key: str) -> float:
        with self._lock:
            r = self._routes.get(key)
            return 0.0 if r is None else max(0.0, r.paused_until - self.clock.monotonic())

    def usage(self, key: str) -> tuple[int, int, int]:
        """``(settled, reserved, queued)`` tokens/waiters of a route right now (for tests)."""
        with self._lock:
            r = self._route(key)
            return r.settled_sum, r.inflight_sum, len(r.queue)

    def __repr__(self) -> str:
        return f"MemoryLimiterBackend(routes={len(self._routes)})"


# -- the limiter ---------------------------------------------------------------------


class Reservation(Booking):
    """What an admitted request holds: its TPM reservation, settled or released once.

    ``waited`` is the limiter wait before the start (``Attempt.limiter_wait``),
    ``status`` a degradation note for the call's events (``None`` when all was well).
    """

    __slots__ = ("_release", "_settle", "started", "tokens", "waited")

    def __init__(
        self,
        route_key: str,
        tokens: int,
        *,
        started: float,
        waited: float,
        status: str | None,
        settle: Callable[[int], str | None] | None,
        release: Callable[[], str | None] | None,
    ) -> None:
        super().__init__(route_key, status)
        self.tokens = tokens
        self.started = started
        self.waited = waited
        self._settle = settle
        self._release = release

    def settle(self, actual_tokens: int | None) -> None:
        """The request finished: count ``actual_tokens`` (None: the estimate) instead."""
        if not self._finish("settled"):
            return
        actual = self.tokens if actual_tokens is None else max(0, int(actual_tokens))
        if self._settle is not None:
            self._note(self._settle(actual))

    def _give_back(self) -> str | None:
        return self._release() if self._release is not None else None

    def __repr__(self) -> str:
        return (
            f"Reservation({self.route_key!r}, tokens={self.tokens}, waited={self.waited:g}, "
            f"done={self._done!r}, status={self.status!r})"
        )


_OPTIONS = ("rpm", "tpm", "burst", "window", "clock", "store")


class RateLimiter:
    """Per-route RPM and TPM limits; see the module docstring for the rules.

    >>> limiter = RateLimiter(rpm=500, tpm=200_000)
    >>> res = limiter.acquire("gpt-4o-mini@api.openai.com", 1200, deadline=clock.monotonic() + 30)
    >>> try: reply = send()
    ... except BaseException: res.release(); raise
    >>> res.settle(reply.usage.total_tokens)

    ``deadline`` is on ``clock.monotonic()``'s scale. ``store=RedisStore(url)`` shares
    the limits between processes (the server's clock decides; client clock skew does
    not matter); ``None`` keeps them in this process.
    """

    def __init__(
        self,
        rpm: int | None = None,
        tpm: int | None = None,
        burst: int = 0,
        *,
        window: float = 60.0,
        clock: Clock = flow_clock,
        store: RedisStore | None = None,
        **unknown: Never,
    ) -> None:
        reject_unknown("RateLimiter", unknown, _OPTIONS)
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value <= 0
            ):
                raise ClientConfigError(
                    f"RateLimiter({name}={value!r}): {name} must be a whole number above 0, "
                    "or None for no limit.\nFix: pass e.g. "
                    f"{name}={500 if name == 'rpm' else 200_000}, or leave it out."
                )
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
            raise ClientConfigError(
                f"RateLimiter(burst={burst!r}): burst is a whole number of extra requests, "
                "0 or more.\nFix: pass e.g. burst=10."
            )
        if not is_positive(window):
            raise ClientConfigError(
                f"RateLimiter(window={window!r}): the window is a finite number of seconds "
                "above 0.\nFix: leave it at 60.0 (per minute)."
            )
        if not isinstance(clock, Clock):
            raise ClientConfigError(
                f"RateLimiter(clock={clock!r}): not a pytest_llm Clock.\n"
                "Fix: leave it out for real time, or pass pytest_llm.VirtualClock() in tests."
            )
        self.spec = LimitSpec(rpm=rpm, tpm=tpm, burst=burst, window=float(window))
        self.clock = clock
        self.store = store
        if store is None:
            self.backend: LimiterBackend = MemoryLimiterBackend(clock)
        else:
            backend = getattr(store, "limiter_backend", None)
            if backend is None:
                raise ClientConfigError(
                    f"RateLimiter(store={store!r}): not a shared-state store.\n"
                    "Fix: pass pytest_llm.client._redis.RedisStore(url), or leave it out."
                )
            self.backend = backend()

    @property
    def rpm(self) -> int | None:
        return self.spec.rpm

    @property
    def tpm(self) -> int | None:
        return self.spec.tpm

    @property
    def burst(self) -> int:
        return self.spec.burst

    def _check(self, route_key: str, tokens: int) -> int:
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise ValueError(
                f"acquire({route_key!r}, tokens={tokens!r}): tokens is the request's estimated "
                "size, a whole number 0 or more.\nFix: pass the prompt estimate plus max_tokens."
            )
        tpm = self.spec.tpm
        if tpm is not None and tokens > tpm:
            raise RateLimitExceeded(
                f"rate limit: a request of ~{tokens} tokens on {route_key} can never fit in "
                f"tpm={tpm} (tokens per {self.spec.window:g} s); not sent.\n"
                f"Fix: raise tpm to at least {tokens}, lower max_tokens, or shorten the prompt."
            )
        return tokens

    def _reservation(self, route_key: str, tokens: int, d: Decision, waited: float) -> Reservation:
        spec, backend = self.spec, self.backend
        held = bool(d.rid)  # False: admitted without state (store degraded, fail-open)
        return Reservation(
            route_key,
            tokens,
            started=d.started,
            waited=waited,
            status=d.degraded,
            settle=(lambda actual: backend.settle(route_key, spec, d.rid, actual))
            if held
            else None,
            release=(lambda: backend.release(route_key, spec, d.rid)) if held else None,
        )

    def _next(
        self, route_key: str, tokens: int, d: Decision, deadline: float | None, began: float
    ) -> float:
        """How long to sleep before the next try, or raise when the deadline forbids it."""
        now = self.clock.monotonic()
        wait = POLL if d.wait is None else max(d.wait, EPSILON)  # never a busy loop
        if deadline is not None:
            left = deadline - now
            if d.wait is not None and d.wait > left:
                self.backend.leave(route_key, d.ticket)
                raise RateLimitExceeded(
                    f"rate limit: {route_key} could start this request (~{tokens} tokens) in "
                    f"{d.wait:.3g} s, past the deadline ({max(left, 0.0):.3g} s left); not sent.\n"
                    f"Fix: give the call a longer deadline, or raise rpm/tpm "
                    f"(rpm={self.spec.rpm}, tpm={self.spec.tpm}, burst={self.spec.burst})."
                )
            if left <= 0:
                self.backend.leave(route_key, d.ticket)
                raise RateLimitExceeded(
                    f"rate limit: {route_key} had no room for this request (~{tokens} tokens) "
                    f"within the deadline (waited {now - began:.3g} s for calls in flight to "
                    "finish); not sent.\nFix: give the call a longer deadline, or raise tpm "
                    f"(tpm={self.spec.tpm})."
                )
            wait = min(wait, left)
        return wait

    def acquire(
        self, route_key: str, tokens: int = 0, *, deadline: float | None = None
    ) -> Reservation:
        """Wait (on the clock) until ``route_key`` may start a request of ``tokens``."""
        with _Acquiring(self, route_key, tokens, deadline) as a:
            while not isinstance(step := a.step(a.try_sync()), Reservation):
                self.clock.sleep(step)
            return step

    async def aacquire(
        self, route_key: str, tokens: int = 0, *, deadline: float | None = None
    ) -> Reservation:
        """:meth:`acquire` for asyncio: waits with ``clock.asleep``; cancellation leaves the queue."""
        with _Acquiring(self, route_key, tokens, deadline) as a:
            while not isinstance(step := a.step(await a.try_async()), Reservation):
                await self.clock.asleep(step)
            return step

    def pause(self, route_key: str, seconds: float) -> str | None:
        """Stop every caller of ``route_key`` for ``seconds`` (a 429's Retry-After).

        Pauses only extend: a shorter pause never cuts a longer one. Returns a
        degradation note when the shared store could not be told.
        """
        if not is_amount(seconds):
            raise ValueError(
                f"pause({route_key!r}, {seconds!r}): a pause is a finite number of seconds, "
                "0 or more.\nFix: pass the parsed Retry-After in seconds."
            )
        return self.backend.pause(route_key, float(seconds))

    def paused_for(self, route_key: str) -> float:
        """Seconds left of ``route_key``'s pause (0.0 when it is not paused)."""
        return self.backend.paused_for(route_key)

    def __repr__(self) -> str:
        where = "memory" if self.store is None else repr(self.store)
        return (
            f"RateLimiter(rpm={self.spec.rpm}, tpm={self.spec.tpm}, burst={self.spec.burst}, "
            f"window={self.spec.window:g}, store={where})"
        )


class _Acquiring:
    """One :meth:`RateLimiter.acquire`, sans I/O: ``step`` turns each try's decision
    into the reservation or the wait before the next try; leaving the block by an
    error (or a cancellation) leaves the queue. The sync and async twins do only the
    trying and the waiting."""

    __slots__ = ("began", "deadline", "limiter", "route_key", "ticket", "tokens")

    def __init__(
        self, limiter: RateLimiter, route_key: str, tokens: int, deadline: float | None
    ) -> None:
        self.limiter = limiter
        self.route_key = route_key
        self.tokens = limiter._check(route_key, tokens)
        self.deadline = deadline
        self.began = limiter.clock.monotonic()
        self.ticket = ""

    def __enter__(self) -> _Acquiring:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None and self.ticket:
            self.limiter.backend.leave(self.route_key, self.ticket)

    def try_sync(self) -> Decision:
        limiter = self.limiter
        return limiter.backend.try_acquire(self.route_key, limiter.spec, self.tokens, self.ticket)

    async def try_async(self) -> Decision:
        limiter = self.limiter
        return await limiter.backend.atry_acquire(
            self.route_key, limiter.spec, self.tokens, self.ticket
        )

    def step(self, d: Decision) -> Reservation | float:
        limiter, route_key, tokens = self.limiter, self.route_key, self.tokens
        if d.admitted:
            return limiter._reservation(
                route_key, tokens, d, limiter.clock.monotonic() - self.began
            )
        if d.degraded and not d.ticket:  # fail-closed outage: typed error, at once
            raise RateLimitExceeded(d.degraded)
        self.ticket = d.ticket
        return limiter._next(route_key, tokens, d, self.deadline, self.began)
