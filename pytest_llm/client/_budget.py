"""Token or money budgets: reserve before a call, settle after, release on failure.

``Budget(daily=5.0, unit="usd")`` or ``Budget(hourly=200_000, unit="tokens")``; one
object holds one unit (a client that wants both takes two budgets). Limits:

* ``per_request``: no single request may be estimated above it;
* ``hourly`` / ``daily``: reserved plus spent in the current **UTC hour / UTC day**
  (fixed buckets aligned to the wall clock ``clock.now()``, or the Redis server's
  ``TIME``; a bucket resets at the top of the hour / at midnight UTC).

:meth:`Budget.reserve` checks and books the estimate in one atomic step (a lock in
memory, one Lua script in Redis), so any number of concurrent callers never book more
than the limit. :meth:`BudgetReservation.settle` replaces the estimate by what the call
really cost; :meth:`BudgetReservation.release` gives it back (failure, cancellation).
Estimate conservatively (prompt plus ``max_tokens``): a call that spends more than its
estimate is still booked (it was spent) and the next reservations see it.

Amounts are booked as integers (tokens, or nano-dollars for ``usd``), so money never
drifts through float sums. By default one budget covers all routes (``per_route=False``);
``per_route=True`` keeps a separate bucket per route key.
"""

from __future__ import annotations

import datetime as _dt
import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Never, Protocol, runtime_checkable

from .._clock import Clock, flow_clock
from .._numbers import is_amount, is_positive
from ..assertions._base import did_you_mean
from ._booking import Booking, reject_unknown
from ._errors import BudgetExceeded, ClientConfigError
from ._prices import PriceTable

if TYPE_CHECKING:
    from ._redis import RedisStore
    from ._route import Route

__all__ = [
    "Budget",
    "BudgetBackend",
    "BudgetDecision",
    "BudgetLimitExceeded",
    "BudgetReservation",
    "MemoryBudgetBackend",
]

Unit = Literal["tokens", "usd"]
UNITS: tuple[str, ...] = ("tokens", "usd")
SCALE: Mapping[str, int] = {"tokens": 1, "usd": 1_000_000_000}
"""Integer units booked per unit: tokens as they are, dollars as nano-dollars."""
PERIODS: Mapping[str, float] = {"hourly": 3600.0, "daily": 86400.0}


class BudgetLimitExceeded(BudgetExceeded):
    """:class:`~pytest_llm.client.BudgetExceeded` with the numbers: which limit, how much is left."""

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        left: float,
        needed: float,
        unit: str,
        resets_at: _dt.datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.limit = limit
        """``"per_request"``, ``"hourly"``, ``"daily"`` or ``"store"`` (shared store down, fail-closed)."""
        self.left = left
        self.needed = needed
        self.unit = unit
        self.resets_at = resets_at


@dataclass(frozen=True, slots=True)
class BudgetDecision:
    """One atomic check-and-book. ``keys`` name the booked counters (for settle/release)."""

    ok: bool
    keys: tuple[str, ...] = ()
    limit: str = ""
    used: int = 0
    resets_at: float = 0.0
    degraded: str | None = None


@runtime_checkable
class BudgetBackend(Protocol):
    """Where budget counters live. ``limits`` are ``(name, period seconds, limit units)``."""

    shared: bool

    def reserve(
        self, scope: str, amount: int, limits: tuple[tuple[str, float, int], ...]
    ) -> BudgetDecision: ...

    def adjust(self, keys: tuple[str, ...], delta: int) -> str | None:
        """Add ``delta`` to each still-live counter; returns a degradation note or None."""
        ...

    def used(self, scope: str, limits: tuple[tuple[str, float, int], ...]) -> dict[str, int]: ...


class MemoryBudgetBackend:
    """Counters per (scope, limit, bucket) in one process, behind a lock."""

    shared = False

    def __init__(self, clock: Clock = flow_clock) -> None:
        self.clock = clock
        self._counters: dict[str, tuple[int, float]] = {}  # key -> (units, bucket end)
        self._lock = threading.Lock()

    def _key(self, scope: str, name: str, period: float, now: float) -> tuple[str, float]:
        bucket = math.floor(now / period)
        return f"{scope}:{name}:{bucket}", (bucket + 1) * period

    def reserve(
        self, scope: str, amount: int, limits: tuple[tuple[str, float, int], ...]
    ) -> BudgetDecision:
        with self._lock:
            now = self.clock.now().timestamp()
            for key, (_, end) in list(self._counters.items()):
                if end <= now:
                    del self._counters[key]
            keys = []
            for name, period, limit in limits:
                key, end = self._key(scope, name, period, now)
                used = self._counters.get(key, (0, end))[0]
                if used + amount > limit:
                    return BudgetDecision(False, limit=name, used=used, resets_at=end)
                keys.append((key, end))
            for key, end in keys:
                self._counters[key] = (self._counters.get(key, (0, end))[0] + amount, end)
            return BudgetDecision(True, keys=tuple(k for k, _ in keys))

    def adjust(self, keys: tuple[str, ...], delta: int) -> str | None:
        with self._lock:
            for key in keys:
                entry = self._counters.get(key)
                if entry is not None:
                    self._counters[key] = (entry[0] + delta, entry[1])
        return None

    def used(self, scope: str, limits: tuple[tuple[str, float, int], ...]) -> dict[str, int]:
        with self._lock:
            now = self.clock.now().timestamp()
            out = {}
            for name, period, _ in limits:
                key, end = self._key(scope, name, period, now)
                out[name] = self._counters.get(key, (0, end))[0]
            return out

    def __repr__(self) -> str:
        return f"MemoryBudgetBackend(counters={len(self._counters)})"


class BudgetReservation(Booking):
    """A booked estimate: settled or released once (later calls are no-ops).

    ``amount`` is the estimate in the budget's unit; ``status`` a degradation note for
    the call's events (``None`` when all was well).
    """

    __slots__ = ("_backend", "_keys", "_scale", "_units", "amount")

    def __init__(
        self,
        route_key: str,
        amount: float,
        units: int,
        *,
        scale: int,
        keys: tuple[str, ...],
        backend: BudgetBackend | None,
        status: str | None,
    ) -> None:
        super().__init__(route_key, status)
        self.amount = amount
        self._units = units
        self._scale = scale
        self._keys = keys
        self._backend = backend

    def settle(self, actual: float | None) -> None:
        """The call finished: book ``actual`` (None: the estimate) instead of the estimate."""
        if not self._finish("settled"):
            return
        if actual is None or self._backend is None or not self._keys:
            return
        units = math.ceil(max(0.0, float(actual)) * self._scale - 1e-6)
        if units != self._units:
            self._note(self._backend.adjust(self._keys, units - self._units))

    def _give_back(self) -> str | None:
        if self._backend is not None and self._keys and self._units:
            return self._backend.adjust(self._keys, -self._units)
        return None

    def __repr__(self) -> str:
        return (
            f"BudgetReservation({self.route_key!r}, amount={self.amount:g}, "
            f"done={self._done!r}, status={self.status!r})"
        )


_OPTIONS = ("per_request", "hourly", "daily", "unit", "prices", "per_route", "clock", "store")


class Budget:
    """A token or money budget; see the module docstring.

    >>> budget = Budget(daily=5.0, unit="usd")
    >>> res = budget.reserve(route.key, budget.estimate(route, prompt_tokens=900, max_tokens=500))
    >>> try: reply = send()
    ... except BaseException: res.release(); raise
    >>> res.settle(budget.amount(route, usage))
    """

    def __init__(
        self,
        per_request: float | None = None,
        hourly: float | None = None,
        daily: float | None = None,
        *,
        unit: Unit = "tokens",
        prices: PriceTable | Mapping[str, object] | None = None,
        per_route: bool = False,
        clock: Clock = flow_clock,
        store: RedisStore | None = None,
        **unknown: Never,
    ) -> None:
        reject_unknown("Budget", unknown, _OPTIONS)
        if unit not in UNITS:
            raise ClientConfigError(
                f"Budget(unit={unit!r}): unknown unit{did_you_mean(str(unit), UNITS)}\n"
                'Fix: unit="tokens" or unit="usd".'
            )
        example = "5.0" if unit == "usd" else "200_000"
        for name, value in (("per_request", per_request), ("hourly", hourly), ("daily", daily)):
            if value is not None and not is_positive(value):
                raise ClientConfigError(
                    f"Budget({name}={value!r}): a budget limit is a finite amount of {unit} above "
                    f"0, or None for no limit.\nFix: pass e.g. {name}={example}, or leave it out."
                )
        if per_request is None and hourly is None and daily is None:
            raise ClientConfigError(
                "Budget(): no limit given (per_request, hourly and daily are all None).\n"
                f"Fix: pass e.g. Budget(daily={example}, unit={unit!r})."
            )
        if not isinstance(clock, Clock):
            raise ClientConfigError(
                f"Budget(clock={clock!r}): not a pytest_llm Clock.\n"
                "Fix: leave it out for real time, or pass pytest_llm.VirtualClock() in tests."
            )
        if prices is None or isinstance(prices, PriceTable):
            self.prices = prices or PriceTable()
        else:
            self.prices = PriceTable(prices)  # type: ignore[arg-type]  # validated there
        self.unit: Unit = unit
        self.per_request = per_request
        self.hourly = hourly
        self.daily = daily
        self.per_route = bool(per_route)
        self.clock = clock
        self.store = store
        self._scale = SCALE[unit]
        self._limits: tuple[tuple[str, float, int], ...] = tuple(
            (name, PERIODS[name], math.floor(value * self._scale + 1e-6))
            for name, value in (("hourly", hourly), ("daily", daily))
            if value is not None
        )
        if store is None:
            self.backend: BudgetBackend = MemoryBudgetBackend(clock)
        else:
            make = getattr(store, "budget_backend", None)
            if make is None:
                raise ClientConfigError(
                    f"Budget(store={store!r}): not a shared-state store.\n"
                    "Fix: pass pytest_llm.client._redis.RedisStore(url), or leave it out."
                )
            self.backend = make()

    # -- configuration against routes -------------------------------------------------

    def check_routes(self, routes: Iterable[Route]) -> None:
        """At client construction: a money budget needs a price for every route."""
        if self.unit == "usd":
            self.prices.require(routes, why=f"a money budget ({self!r})")

    def amount(self, route: Route, usage: Mapping[str, int] | None) -> float:
        """What ``usage`` counts against this budget on ``route``: tokens or dollars."""
        if not usage:
            return 0.0
        if self.unit == "tokens":
            total = usage.get("total_tokens")
            if total is None:
                total = int(usage.get("input_tokens", usage.get("prompt_tokens", 0)) or 0) + int(
                    usage.get("output_tokens", usage.get("completion_tokens", 0)) or 0
                )
            return float(total)
        price = self.prices.for_route(route)
        return 0.0 if price is None else price.cost(usage)

    def estimate(self, route: Route, prompt_tokens: int, max_tokens: int) -> float:
        """A conservative estimate before sending: the prompt plus the whole output allowance."""
        return self.amount(
            route,
            {
                "input_tokens": prompt_tokens,
                "output_tokens": max_tokens,
                "total_tokens": prompt_tokens + max_tokens,
            },
        )

    # -- booking ----------------------------------------------------------------------

    def _fmt(self, value: float) -> str:
        return (
            f"${value:,.6f}".rstrip("0").rstrip(".")
            if self.unit == "usd"
            else f"{value:,.0f} tokens"
        )

    def _scope(self, route_key: str) -> str:
        return f"route:{route_key}" if self.per_route else "all"

    def reserve(self, route_key: str, estimate: float) -> BudgetReservation:
        """Book ``estimate`` atomically, or raise :class:`BudgetLimitExceeded` (nothing booked)."""
        if not is_amount(estimate):
            raise ValueError(
                f"reserve({route_key!r}, {estimate!r}): the estimate is a finite amount of "
                f"{self.unit}, 0 or more.\nFix: use Budget.estimate(route, prompt_tokens, max_tokens)."
            )
        scope_text = f"route {route_key}" if self.per_route else "all routes"
        if self.per_request is not None and estimate > self.per_request:
            raise BudgetLimitExceeded(
                f"budget: this request on {route_key} is estimated at {self._fmt(estimate)}, "
                f"over the per_request limit of {self._fmt(self.per_request)}; not sent.\n"
                "Fix: lower max_tokens or shorten the prompt, or raise Budget(per_request=...).",
                limit="per_request",
                left=self.per_request,
                needed=estimate,
                unit=self.unit,
            )
        units = math.ceil(estimate * self._scale - 1e-6)
        if not self._limits:
            return BudgetReservation(
                route_key, estimate, units, scale=self._scale, keys=(), backend=None, status=None
            )
        d = self.backend.reserve(self._scope(route_key), units, self._limits)
        if d.ok:
            return BudgetReservation(
                route_key,
                estimate,
                units,
                scale=self._scale,
                keys=d.keys,
                backend=self.backend,
                status=d.degraded,
            )
        if d.degraded:
            raise BudgetLimitExceeded(
                d.degraded, limit="store", left=0.0, needed=estimate, unit=self.unit
            )
        limit_value = self.hourly if d.limit == "hourly" else self.daily
        assert limit_value is not None
        left = max(0.0, limit_value - d.used / self._scale)
        resets = _dt.datetime.fromtimestamp(d.resets_at, _dt.UTC)
        raise BudgetLimitExceeded(
            f"budget: the {d.limit} limit of {self._fmt(limit_value)} ({scope_text}) has "
            f"{self._fmt(left)} left and this request on {route_key} needs ~{self._fmt(estimate)}; "
            f"not sent (the window resets at {resets:%Y-%m-%d %H:%M} UTC).\n"
            f"Fix: raise Budget({d.limit}=...), lower max_tokens, or wait for the reset.",
            limit=d.limit,
            left=left,
            needed=estimate,
            unit=self.unit,
            resets_at=resets,
        )

    def used(self, route_key: str = "") -> dict[str, float]:
        """Reserved plus spent in the current hour/day, in the budget's unit (``{}``
        while a shared store is unreachable)."""
        raw = self.backend.used(self._scope(route_key), self._limits)
        return {name: units / self._scale for name, units in raw.items()}

    def __repr__(self) -> str:
        parts = [
            f"{name}={value!r}"
            for name, value in (
                ("per_request", self.per_request),
                ("hourly", self.hourly),
                ("daily", self.daily),
            )
            if value is not None
        ]
        where = "memory" if self.store is None else repr(self.store)
        return f"Budget({', '.join(parts)}, unit={self.unit!r}, store={where})"
