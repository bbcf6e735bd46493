"""Circuit breakers, one per route, behind one object.

A breaker stops a client from hammering a route that is down: after
``failure_threshold`` consecutive infrastructure failures (5xx, timeouts, connection
errors) it *opens*, and calls skip the route with no I/O for ``reset_timeout`` seconds
(longer if the provider's ``Retry-After`` said so). Then it is *half-open*: at most
``half_open_max_calls`` probe calls go through at once; ``success_threshold`` probe
successes close it, a failed probe opens it again with a fresh timer.

Three pieces, so state can live elsewhere (issue 10's Redis store) without the rules
moving:

* :class:`BreakerState`, a small frozen record (counts, a deadline, a generation);
* :func:`admit_state` / :func:`record_state`, pure functions of ``(state, now)``: every
  transition is there and nowhere else;
* a :class:`BreakerStore` that only loads and atomically updates records.

:class:`CircuitBreaker` glues them: ``admit()`` hands out a :class:`Ticket` (or ``None``:
skip the route), the caller does its I/O holding no lock, then ``record()`` says how
it went. Nothing blocks or awaits, so the same object serves threads and asyncio tasks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Never, Protocol, TypeVar, get_args, runtime_checkable

from .._clock import Clock, flow_clock
from .._numbers import is_positive
from ..assertions._base import did_you_mean
from ._booking import check_callable, reject_unknown
from ._errors import ClientConfigError

__all__ = [
    "BreakerState",
    "BreakerStatus",
    "BreakerStore",
    "CircuitBreaker",
    "MemoryBreakerStore",
    "Outcome",
    "StateName",
    "Ticket",
    "admit_state",
    "record_state",
]

StateName = Literal["closed", "open", "half_open"]
Outcome = Literal["success", "failure", "ignored", "cancelled"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """The numbers a breaker decides with (validated by :class:`CircuitBreaker`)."""

    failure_threshold: int = 5
    reset_timeout: float = 30.0
    half_open_max_calls: int = 1
    success_threshold: int = 1


@dataclass(frozen=True, slots=True)
class BreakerState:
    """One route's breaker as stored: plain numbers, so any store can hold it.

    Times are in the store's timebase (see :attr:`BreakerStore.shared`).
    ``generation`` changes on every transition: a ticket handed out in an earlier
    generation (a call still in flight when the breaker opened) no longer counts.
    """

    state: StateName = "closed"
    failures: int = 0
    """Consecutive counted failures while closed."""
    open_until: float = 0.0
    """When the open period ends and probing may start."""
    not_before: float = 0.0
    """The latest ``now + retry_after`` a failure carried while closed."""
    probes: int = 0
    """Half-open probe tickets not yet recorded."""
    successes: int = 0
    """Probe successes since the breaker went half-open."""
    generation: int = 0
    opens: int = 0
    """How many times the breaker has opened (reopenings included)."""

    def as_fields(self) -> dict[str, str | int | float]:
        """The record as a flat mapping (a Redis hash, a JSON object)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_fields(cls, fields: Mapping[Any, Any]) -> BreakerState:
        """Inverse of :meth:`as_fields`; accepts the strings or bytes a Redis hash returns."""

        def text(value: Any) -> str:
            return value.decode() if isinstance(value, bytes) else str(value)

        if not fields:
            return cls()
        fields = {text(k): v for k, v in fields.items()}
        state = text(fields["state"])
        if state not in get_args(StateName):
            raise ValueError(
                f"breaker state record has state={state!r}; expected one of {get_args(StateName)}."
            )
        return cls(
            state=state,  # type: ignore[arg-type]
            failures=int(text(fields["failures"])),
            open_until=float(text(fields["open_until"])),
            not_before=float(text(fields["not_before"])),
            probes=int(text(fields["probes"])),
            successes=int(text(fields["successes"])),
            generation=int(text(fields["generation"])),
            opens=int(text(fields["opens"])),
        )


@dataclass(frozen=True, slots=True)
class Admission:
    """What :func:`admit_state` granted: the generation and whether it holds a probe slot."""

    generation: int
    probe: bool
    state: StateName


# -- the rules: pure functions over BreakerState ---------------------------------------


def current(s: BreakerState, now: float) -> BreakerState:
    """``s`` as of ``now``: an open breaker whose time is up is half-open."""
    if s.state == "open" and now >= s.open_until:
        return dataclasses.replace(
            s, state="half_open", probes=0, successes=0, generation=s.generation + 1
        )
    return s


def _open(s: BreakerState, now: float, p: BreakerPolicy, retry_after: float | None) -> BreakerState:
    until = max(now + p.reset_timeout, s.not_before, now + (retry_after or 0.0))
    return BreakerState(
        state="open",
        open_until=until,
        generation=s.generation + 1,
        opens=s.opens + 1,
    )


def admit_state(
    s: BreakerState, now: float, p: BreakerPolicy
) -> tuple[BreakerState, Admission | None]:
    """May a call go to the route now? The new record and the admission (``None``: skip)."""
    s = current(s, now)
    if s.state == "closed":
        return s, Admission(s.generation, probe=False, state="closed")
    if s.state == "half_open" and s.probes < p.half_open_max_calls:
        return dataclasses.replace(s, probes=s.probes + 1), Admission(
            s.generation, probe=True, state="half_open"
        )
    return s, None


def record_state(
    s: BreakerState,
    now: float,
    p: BreakerPolicy,
    *,
    generation: int,
    probe: bool,
    outcome: Outcome,
    retry_after: float | None = None,
) -> BreakerState:
    """The record after a call admitted in ``generation`` ended with ``outcome``.

    Only ``"failure"`` counts; ``"ignored"`` (client errors, quota) neither counts nor
    resets the run of failures; ``"cancelled"`` is no verdict. Both free a probe slot.
    A ticket from an older generation changes nothing.
    """
    s = current(s, now)
    if generation != s.generation:
        return s
    if s.state == "closed" and not probe:
        if outcome == "failure":
            not_before = s.not_before
            if retry_after is not None:
                not_before = max(not_before, now + retry_after)
            if s.failures + 1 >= p.failure_threshold:
                return _open(dataclasses.replace(s, not_before=not_before), now, p, retry_after)
            return dataclasses.replace(s, failures=s.failures + 1, not_before=not_before)
        if outcome == "success" and (s.failures or s.not_before):
            return dataclasses.replace(s, failures=0, not_before=0.0)
        return s
    if s.state == "half_open" and probe:
        s = dataclasses.replace(s, probes=max(0, s.probes - 1))
        if outcome == "failure":
            return _open(s, now, p, retry_after)
        if outcome == "success":
            if s.successes + 1 >= p.success_threshold:
                return BreakerState(generation=s.generation + 1, opens=s.opens)
            return dataclasses.replace(s, successes=s.successes + 1)
        return s
    return s  # pragma: no cover - a generation is either closed or half-open when it admits


# -- stores ----------------------------------------------------------------------------


@runtime_checkable
class BreakerStore(Protocol):
    """Where breaker records live. The store holds data; the rules stay in this module.

    ``update(key, change)`` must apply ``change`` atomically: read the record (a fresh
    :class:`BreakerState` if there is none), call ``change(record)`` to get
    ``(new_record, result)``, write ``new_record`` and return ``result``, with no other
    update of that key in between. ``change`` is pure and cheap, so it may be called more
    than once: a Redis store does ``WATCH key; HGETALL key; change(); MULTI; HSET key
    ...; EXEC`` and on ``WatchError`` runs ``change`` again on the fresh record (or reads
    and writes in one Lua script with a version field). It must never hold a lock or a
    connection across the caller's I/O; the breaker never asks it to.

    A Redis store also sets ``shared = True``: records then carry wall-clock seconds
    (``clock.now().timestamp()``), the only reading comparable across processes, and
    should expire idle keys (e.g. ``PEXPIRE`` a few ``reset_timeout`` past
    ``open_until``). A probe slot taken by a process that dies stays taken until the key
    expires, so the expiry bounds that. :meth:`BreakerState.as_fields` and
    :meth:`BreakerState.from_fields` convert to and from a hash.
    """

    @property
    def shared(self) -> bool:
        """True when other processes see the same records (timestamps are wall time)."""
        ...

    def get(self, route_key: str) -> BreakerState:
        """The stored record, or a fresh one."""
        ...

    def update(
        self, route_key: str, change: Callable[[BreakerState], tuple[BreakerState, _T]]
    ) -> _T:
        """Atomically replace the record with ``change(record)[0]``; return ``[1]``."""
        ...

    def items(self) -> list[tuple[str, BreakerState]]:
        """Every stored record (for snapshots and metrics)."""
        ...


class MemoryBreakerStore:
    """The default store: a dict and a lock held only while a pure ``change`` runs."""

    shared = False

    def __init__(self) -> None:
        self._records: dict[str, BreakerState] = {}
        self._lock = threading.Lock()

    def get(self, route_key: str) -> BreakerState:
        return self._records.get(route_key) or BreakerState()

    def update(
        self, route_key: str, change: Callable[[BreakerState], tuple[BreakerState, _T]]
    ) -> _T:
        with self._lock:
            new, result = change(self._records.get(route_key) or BreakerState())
            self._records[route_key] = new
        return result

    def items(self) -> list[tuple[str, BreakerState]]:
        with self._lock:
            return list(self._records.items())

    def __repr__(self) -> str:
        return f"MemoryBreakerStore(routes={len(self._records)})"


# -- the breaker -----------------------------------------------------------------------


class Ticket:
    """Permission for one call on one route; give it back with :meth:`CircuitBreaker.record`.

    :attr:`state` is the breaker's state when the call was admitted (``"closed"`` or
    ``"half_open"``); :attr:`probe` says it holds one of the half-open probe slots,
    which only :meth:`CircuitBreaker.record` (any outcome) frees.
    """

    __slots__ = ("_owner", "generation", "probe", "recorded", "route_key", "state")

    def __init__(self, owner: CircuitBreaker, route_key: str, admission: Admission) -> None:
        self._owner = owner
        self.route_key = route_key
        self.state: StateName = admission.state
        self.probe = admission.probe
        self.generation = admission.generation
        self.recorded = False

    def __repr__(self) -> str:
        kind = "probe" if self.probe else "call"
        done = ", recorded" if self.recorded else ""
        return f"Ticket({self.route_key!r}, {kind}, state={self.state!r}{done})"


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """One route's breaker as events and metrics show it."""

    route: str
    state: StateName
    failures: int
    probes: int
    successes: int
    opens: int
    retry_in: float | None
    """Seconds until probing may start (``None`` unless open)."""


Listener = Callable[[str, StateName, StateName], None]


class CircuitBreaker:
    """Per-route circuit breakers: ``admit(key)`` before a call, ``record(ticket, outcome)`` after.

    >>> breaker = CircuitBreaker(failure_threshold=5, reset_timeout=30.0)
    >>> ticket = breaker.admit("gpt-4o@api.openai.com")
    >>> if ticket is None: ...          # open: skip the route, no I/O
    >>> ...                             # the call, holding no lock
    >>> breaker.record(ticket, "failure", retry_after=20.0)

    Pass ``"failure"`` only for infrastructure failures (5xx, timeouts, connection
    errors), ``"ignored"`` for the rest (4xx, quota, content policy), ``"cancelled"`` for
    a call abandoned without a verdict (a cancelled task, a lost hedge). ``on_change``
    (``(route_key, old, new)``) is called after a transition, outside every lock.
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        clock: Clock = flow_clock,
        store: BreakerStore | None = None,
        on_change: Listener | None = None,
        **unknown: Never,
    ) -> None:
        reject_unknown("CircuitBreaker", unknown, _OPTIONS)
        self.policy = BreakerPolicy(
            failure_threshold=_count("failure_threshold", failure_threshold, 5),
            reset_timeout=_seconds("reset_timeout", reset_timeout),
            half_open_max_calls=_count("half_open_max_calls", half_open_max_calls, 1),
            success_threshold=_count("success_threshold", success_threshold, 1),
        )
        if not isinstance(clock, Clock):
            raise ClientConfigError(
                f"CircuitBreaker(clock={clock!r}): not a pytest_llm Clock "
                "(monotonic, now, sleep, asleep).\n"
                "Fix: leave it out for real time, or pass pytest_llm.VirtualClock() in tests."
            )
        if store is not None and not isinstance(store, BreakerStore):
            raise ClientConfigError(
                f"CircuitBreaker(store={store!r}): not a BreakerStore (shared, get, update, items).\n"
                "Fix: leave it out for the in-memory store, or pass a store implementing "
                "pytest_llm.client._breaker.BreakerStore."
            )
        check_callable(
            "CircuitBreaker",
            "on_change",
            on_change,
            "pass a function (route_key, old_state, new_state) -> None, or leave it out.",
        )
        self.clock = clock
        self.store: BreakerStore = store if store is not None else MemoryBreakerStore()
        self.on_change = on_change
        self._tickets = threading.Lock()  # only for Ticket.recorded's check-and-set

    @property
    def failure_threshold(self) -> int:
        return self.policy.failure_threshold

    @property
    def reset_timeout(self) -> float:
        return self.policy.reset_timeout

    @property
    def half_open_max_calls(self) -> int:
        return self.policy.half_open_max_calls

    @property
    def success_threshold(self) -> int:
        return self.policy.success_threshold

    def _now(self) -> float:
        return self.clock.now().timestamp() if self.store.shared else self.clock.monotonic()

    def admit(self, route_key: str) -> Ticket | None:
        """A ticket for one call on ``route_key``, or ``None``: the circuit is open, skip it."""
        store = self.store
        if type(store) is MemoryBreakerStore:
            # the common case, without the lock: a closed record admits and stays as it is
            # (reading one immutable record is atomic, so this is the locked update's result)
            s = store._records.get(route_key)
            if s is not None and s.state == "closed":
                return Ticket(self, route_key, Admission(s.generation, False, "closed"))
        now = self._now()
        policy = self.policy

        def change(
            s: BreakerState,
        ) -> tuple[BreakerState, tuple[StateName, BreakerState, Admission | None]]:
            new, admission = admit_state(s, now, policy)
            return new, (s.state, new, admission)

        old, new, admission = self.store.update(route_key, change)
        self._changed(route_key, old, new.state)
        return None if admission is None else Ticket(self, route_key, admission)

    def admit_closed(self, route_key: str) -> Ticket | None:
        """:meth:`admit` when the route is closed in the in-memory store (a route not yet
        on record is closed, and now on record, as :meth:`admit` leaves it): the same
        ticket, without the admission's clock reading and update. ``None``, having done
        nothing, for any other state or store: :meth:`admit` decides those."""
        store = self.store
        if type(store) is not MemoryBreakerStore:
            return None
        s = store._records.get(route_key)
        if s is None:
            with store._lock:
                s = store._records.setdefault(route_key, BreakerState())
        if s.state != "closed":
            return None
        return self.ticket_for(route_key, s)

    def clean_record(self, route_key: str) -> BreakerState | None:
        """The route's record when it is closed in the in-memory store with no failure
        counted and no Retry-After pending: a success recorded against it (a closed-state
        ticket of its generation) changes nothing, so a call that sees the same record
        when it ends need not build its ticket (:meth:`ticket_for` builds it when it does).
        ``None`` for any other record or store."""
        store = self.store
        if type(store) is not MemoryBreakerStore:
            return None
        s = store._records.get(route_key)
        if s is None or s.state != "closed" or s.failures or s.not_before:
            return None
        return s

    def ticket_for(self, route_key: str, record: BreakerState) -> Ticket:
        """The ticket :meth:`admit_closed` hands out for ``record``, a closed record of
        ``route_key`` (from :meth:`clean_record`)."""
        return Ticket(self, route_key, Admission(record.generation, False, "closed"))

    def record(
        self, ticket: Ticket, outcome: Outcome, *, retry_after: float | None = None
    ) -> StateName:
        """How the ticket's call ended; returns the route's state after it.

        A ticket is recorded once: later records change nothing. ``retry_after`` (what
        the provider asked for, in seconds) makes an opening last at least that long.
        """
        if not isinstance(ticket, Ticket) or ticket._owner is not self:
            raise ValueError(
                f"record({ticket!r}): not a ticket from this breaker.\n"
                "Fix: record the ticket that this breaker's admit() returned."
            )
        if outcome not in OUTCOMES:
            raise ValueError(
                f"record(outcome={outcome!r}): unknown outcome{did_you_mean(str(outcome), OUTCOMES)}\n"
                f"Fix: use one of {', '.join(map(repr, OUTCOMES))}."
            )
        if retry_after is not None and not (
            isinstance(retry_after, int | float) and math.isfinite(retry_after) and retry_after >= 0
        ):
            raise ValueError(
                f"record(retry_after={retry_after!r}): a wait is a finite number of seconds, 0 or more.\n"
                "Fix: pass the parsed Retry-After in seconds, or None when there was none."
            )
        with self._tickets:
            first = not ticket.recorded
            ticket.recorded = True
        if not first:
            return self.state(ticket.route_key)
        store = self.store
        if outcome == "success" and not ticket.probe and type(store) is MemoryBreakerStore:
            # a success on a clean closed record leaves it as it is: nothing to write
            s = store._records.get(ticket.route_key)
            if (
                s is not None
                and s.state == "closed"
                and s.generation == ticket.generation
                and not s.failures
                and not s.not_before
            ):
                return "closed"
        now = self._now()
        policy = self.policy

        def change(s: BreakerState) -> tuple[BreakerState, tuple[StateName, StateName]]:
            new = record_state(
                s,
                now,
                policy,
                generation=ticket.generation,
                probe=ticket.probe,
                outcome=outcome,
                retry_after=retry_after,
            )
            return new, (s.state, new.state)

        old, new = self.store.update(ticket.route_key, change)
        self._changed(ticket.route_key, old, new)
        return new

    @contextlib.contextmanager
    def guard(
        self,
        route_key: str,
        *,
        classify: Callable[[Exception], Outcome] | None = None,
    ) -> Iterator[Ticket | None]:
        """``with breaker.guard(key) as ticket:``; ``None`` means open: skip the I/O.

        Records for you unless the body did: ``"success"`` on a normal exit,
        ``classify(error)`` (default ``"failure"``) on an exception, ``"cancelled"`` on a
        ``BaseException`` such as ``asyncio.CancelledError`` or ``KeyboardInterrupt``.
        """
        ticket = self.admit(route_key)
        if ticket is None:
            yield None
            return
        try:
            yield ticket
        except Exception as error:
            self.record(ticket, classify(error) if classify is not None else "failure")
            raise
        except BaseException:
            self.record(ticket, "cancelled")
            raise
        self.record(ticket, "success")

    def state(self, route_key: str) -> StateName:
        """``"closed"``, ``"open"`` or ``"half_open"`` (an open circuit whose time is up)."""
        return current(self.store.get(route_key), self._now()).state

    def status(self, route_key: str) -> BreakerStatus:
        """One route's breaker for events and metrics."""
        return self._status(route_key, self.store.get(route_key), self._now())

    def snapshot(self) -> dict[str, BreakerStatus]:
        """Every route the breaker has seen, by route key."""
        now = self._now()
        return {key: self._status(key, s, now) for key, s in sorted(self.store.items())}

    def _status(self, route_key: str, s: BreakerState, now: float) -> BreakerStatus:
        s = current(s, now)
        return BreakerStatus(
            route=route_key,
            state=s.state,
            failures=s.failures,
            probes=s.probes,
            successes=s.successes,
            opens=s.opens,
            retry_in=s.open_until - now if s.state == "open" else None,
        )

    def _changed(self, route_key: str, old: StateName, new: StateName) -> None:
        if old != new and self.on_change is not None:
            self.on_change(route_key, old, new)

    def __repr__(self) -> str:
        p = self.policy
        states = {key: status.state for key, status in self.snapshot().items()}
        not_closed = {k: v for k, v in states.items() if v != "closed"}
        return (
            f"CircuitBreaker(failure_threshold={p.failure_threshold}, "
            f"reset_timeout={p.reset_timeout:g}, half_open_max_calls={p.half_open_max_calls}, "
            f"success_threshold={p.success_threshold}, routes={len(states)}, "
            f"not_closed={not_closed})"
        )


# -- validation ------------------------------------------------------------------------

_OPTIONS = (
    "clock",
    "failure_threshold",
    "half_open_max_calls",
    "on_change",
    "reset_timeout",
    "store",
    "success_threshold",
)


def _count(field: str, value: object, example: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ClientConfigError(
            f"CircuitBreaker({field}={value!r}): {field} must be a whole number, 1 or more.\n"
            f"Fix: pass e.g. {field}={example}."
        )
    return value


def _seconds(field: str, value: object) -> float:
    if not is_positive(value):
        raise ClientConfigError(
            f"CircuitBreaker({field}={value!r}): {field} must be a finite number of seconds "
            "above 0.\nFix: pass e.g. reset_timeout=30.0."
        )
    return float(value)
