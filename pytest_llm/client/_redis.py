"""Redis as the shared-state engine: rate limits, budgets and breaker records that every
process of a deployment sees.

``RedisStore("redis://host:6379/0")`` is one connection pool and a handful of Lua
scripts (loaded once, re-loaded if the server lost them). Every decision is one script
run on the server, so check-and-book is atomic across processes; the limiter and the
budget read the **server's** ``TIME`` inside the script, so clock skew between client
machines does not matter (``clock=`` replaces it with a client clock, for tests on
virtual time in one process).

**Outages.** When the server cannot be reached (refused, timed out, reset) the store
applies ``on_outage`` and says so in the status the component returns (the caller puts
it into the call's events); it then skips the server for ``retry_interval`` seconds so
an outage costs one timeout, not one per call:

* ``"open"`` (default): the limiter admits, the budget books nothing (both report
  ``"... unreachable ...: failed open"``); the breaker falls back to this process's own
  in-memory records.
* ``"closed"``: the limiter raises :class:`~pytest_llm.client.RateLimitExceeded`, the
  budget :class:`~pytest_llm.client.BudgetExceeded` (``limit="store"``), the breaker
  reads every route as open (calls are skipped: ``CircuitOpenError``). At construction,
  an unreachable server is a :class:`~pytest_llm.client.ClientConfigError`.

Settling or releasing during an outage never raises (the request already happened);
the note lands in the reservation's ``status``. Reservations granted while failed open
hold no shared state.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Never, TypeVar
from urllib.parse import urlsplit

from .._clock import Clock, system_clock
from .._numbers import is_positive
from .._urls import safe_url
from ..assertions._base import did_you_mean
from ._booking import reject_unknown
from ._breaker import BreakerState, MemoryBreakerStore
from ._budget import BudgetDecision
from ._errors import ClientConfigError
from ._limits import LEASE, POLL, QUEUE_GRACE, QUEUE_STEP, Decision, LimitSpec

if TYPE_CHECKING:
    import redis as _redis

__all__ = [
    "RedisBreakerStore",
    "RedisBudgetBackend",
    "RedisLimiterBackend",
    "RedisStore",
    "StoreUnavailable",
    "safe_url",
]

OnOutage = Literal["open", "closed"]
SCHEMES = ("redis", "rediss", "unix")
_T = TypeVar("_T")

_CLOCK = """
local function clock()
  if ARGV[1] ~= '' then return tonumber(ARGV[1]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function f(x) return string.format('%.6f', x) end
"""

# The limiter's time (to the microsecond) never goes backwards, whatever order scripts
# arrive in (KEYS[12]).
_MONO = """
local function mono()
  local now = tonumber(f(math.max(clock(), tonumber(redis.call('GET', KEYS[12]) or '0'))))
  redis.call('SET', KEYS[12], f(now), 'EX', 86400)
  return now
end
"""

# KEYS: 1 tat, 2 pause, 3 settled zset, 4 settled sum, 5 inflight zset, 6 inflight tokens
#       hash, 7 inflight sum, 8 queue zset (arrival), 9 queue expiry zset, 10 queue tokens
#       hash, 11 id counter, 12 last time (the script's time never goes backwards)
# ARGV: 1 now|'', 2 rpm (0: none), 3 tpm (-1: none), 4 burst, 5 window, 6 tokens,
#       7 ticket|'', 8 lease, 9 grace, 10 poll, 11 step
LIMIT_ACQUIRE = (
    _CLOCK
    + _MONO
    + """
local now = mono()
local rpm = tonumber(ARGV[2]); local tpm = tonumber(ARGV[3]); local burst = tonumber(ARGV[4])
local window = tonumber(ARGV[5]); local tokens = tonumber(ARGV[6]); local ticket = ARGV[7]
local lease = tonumber(ARGV[8]); local grace = tonumber(ARGV[9])
local poll = tonumber(ARGV[10]); local step = tonumber(ARGV[11])
local ttl = math.ceil(window + lease + grace)
local interval = 0
if rpm > 0 then interval = window / rpm end

local cut = now - window
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', f(cut))
if #old > 0 then
  local freed = 0
  for _, m in ipairs(old) do freed = freed + tonumber(string.match(m, ':(%d+)$')) end
  redis.call('DECRBY', KEYS[4], freed)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', f(cut))
end
local stale = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', '(' .. f(now - lease))
for _, rid in ipairs(stale) do
  redis.call('DECRBY', KEYS[7], tonumber(redis.call('HGET', KEYS[6], rid) or '0'))
  redis.call('HDEL', KEYS[6], rid)
  redis.call('ZREM', KEYS[5], rid)
end
local gone = redis.call('ZRANGEBYSCORE', KEYS[9], '-inf', '(' .. f(now))
for _, q in ipairs(gone) do
  redis.call('ZREM', KEYS[8], q); redis.call('ZREM', KEYS[9], q); redis.call('HDEL', KEYS[10], q)
end

local function wait_for(n)
  local w = 0
  local p = redis.call('GET', KEYS[2])
  if p then w = math.max(w, tonumber(p) - now) end
  if rpm > 0 then
    local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
    if tat < now then tat = now end
    w = math.max(w, tat - burst * interval - now)
  end
  if tpm >= 0 then
    local used = tonumber(redis.call('GET', KEYS[4]) or '0') + tonumber(redis.call('GET', KEYS[7]) or '0')
    local over = used + n - tpm
    if over > 0 then
      local entries = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
      local freed = 0
      for i = 1, #entries, 2 do
        freed = freed + tonumber(string.match(entries[i], ':(%d+)$'))
        if freed >= over then return math.max(w, tonumber(entries[i + 1]) + window - now) end
      end
      return nil
    end
  end
  return w
end

local head = redis.call('ZRANGE', KEYS[8], 0, 0)[1]
local w = wait_for(tokens)
if (head == nil or head == ticket) and w ~= nil and w < 0.000001 then
  if ticket ~= '' then
    redis.call('ZREM', KEYS[8], ticket); redis.call('ZREM', KEYS[9], ticket)
    redis.call('HDEL', KEYS[10], ticket)
  end
  if rpm > 0 then
    local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
    if tat < now then tat = now end
    redis.call('SET', KEYS[1], f(tat + interval), 'EX', ttl)
  end
  local rid = 'r' .. redis.call('INCR', KEYS[11])
  redis.call('ZADD', KEYS[5], f(now), rid)
  redis.call('HSET', KEYS[6], rid, tokens)
  redis.call('INCRBY', KEYS[7], tokens)
  for i = 3, 11 do redis.call('EXPIRE', KEYS[i], ttl) end
  return {1, rid, f(now), '', ''}
end
if head ~= nil and head ~= ticket then
  local hw = wait_for(tonumber(redis.call('HGET', KEYS[10], head) or '0'))
  local hwake = tonumber(redis.call('ZSCORE', KEYS[9], head) or '0') - grace
  local b = math.max(hwake - now, 0) + step
  if w ~= nil then b = math.max(b, w) end
  if hw ~= nil then b = math.max(b, hw) end
  if rpm > 0 then
    local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
    if tat < now then tat = now end
    local rw = tat - burst * interval - now
    if rw > 0 then
      local place = redis.call('ZRANK', KEYS[8], ticket)
      if not place then place = redis.call('ZCARD', KEYS[8]) end
      b = math.max(b, rw + place * interval)
    end
  end
  w = b
end
if ticket == '' or not redis.call('ZSCORE', KEYS[8], ticket) then
  if ticket == '' then ticket = 'q' .. redis.call('INCR', KEYS[11]) end
  redis.call('ZADD', KEYS[8], redis.call('INCR', KEYS[11]), ticket)
end
redis.call('ZADD', KEYS[9], f(now + (w or poll) + grace), ticket)
redis.call('HSET', KEYS[10], ticket, tokens)
for i = 8, 11 do redis.call('EXPIRE', KEYS[i], ttl) end
local ws = ''
if w ~= nil then ws = f(w) end
return {0, '', f(now), ws, ticket}
"""
)

# Same KEYS. ARGV: 1 now|'', 2 rid, 3 actual tokens (-1: release), 4 window
LIMIT_SETTLE = (
    _CLOCK
    + _MONO
    + """
local now = mono()
local rid = ARGV[2]; local actual = tonumber(ARGV[3]); local window = tonumber(ARGV[4])
local t = redis.call('ZSCORE', KEYS[5], rid)
if not t then return 0 end
redis.call('DECRBY', KEYS[7], tonumber(redis.call('HGET', KEYS[6], rid) or '0'))
redis.call('HDEL', KEYS[6], rid)
redis.call('ZREM', KEYS[5], rid)
if actual > 0 and tonumber(t) > now - window then
  redis.call('ZADD', KEYS[3], t, rid .. ':' .. ARGV[3])
  redis.call('INCRBY', KEYS[4], actual)
end
return 1
"""
)

# Same KEYS. ARGV: 1 now|'', 2 op ('leave' | 'pause' | 'paused'), 3 ticket | seconds
LIMIT_MISC = (
    _CLOCK
    + _MONO
    + """
local now = mono()
local op = ARGV[2]
if op == 'leave' then
  redis.call('ZREM', KEYS[8], ARGV[3]); redis.call('ZREM', KEYS[9], ARGV[3])
  redis.call('HDEL', KEYS[10], ARGV[3])
  return ''
end
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if op == 'pause' then
  local untl = now + tonumber(ARGV[3])
  if untl > cur then
    redis.call('SET', KEYS[2], f(untl), 'PX', math.ceil(tonumber(ARGV[3]) * 1000) + 1000)
  end
  return ''
end
return f(math.max(0, cur - now))
"""
)

# KEYS: 1 prefix. ARGV: 1 now|'', 2 amount (integer units), 3 n, then (name, period, limit)*n
BUDGET_RESERVE = (
    _CLOCK
    + """
local now = clock()
local amount = tonumber(ARGV[2]); local n = tonumber(ARGV[3])
local keys = {}
for i = 0, n - 1 do
  local name = ARGV[4 + 3 * i]; local period = tonumber(ARGV[5 + 3 * i])
  local limit = tonumber(ARGV[6 + 3 * i])
  local bucket = math.floor(now / period)
  local key = KEYS[1] .. ':' .. name .. ':' .. string.format('%d', bucket)
  local used = tonumber(redis.call('GET', key) or '0')
  if used + amount > limit then
    return {0, name, string.format('%.0f', used), f((bucket + 1) * period)}
  end
  keys[#keys + 1] = {key, period}
end
local out = {1}
for _, kp in ipairs(keys) do
  redis.call('INCRBY', kp[1], ARGV[2])
  redis.call('EXPIRE', kp[1], math.ceil(kp[2] * 2))
  out[#out + 1] = kp[1]
end
return out
"""
)

# KEYS: counters. ARGV: 1 delta
BUDGET_ADJUST = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, ARGV[1]) end
end
return 1
"""

# KEYS: 1 prefix. ARGV: 1 now|'', 2 n, then (name, period)*n
BUDGET_USED = (
    _CLOCK
    + """
local now = clock()
local out = {}
for i = 0, tonumber(ARGV[2]) - 1 do
  local bucket = math.floor(now / tonumber(ARGV[4 + 2 * i]))
  local key = KEYS[1] .. ':' .. ARGV[3 + 2 * i] .. ':' .. string.format('%d', bucket)
  out[#out + 1] = redis.call('GET', key) or '0'
end
return out
"""
)

# KEYS: 1 record. ARGV: 1 expected version ('' if none), 2 ttl ms, then field, value, ...
BREAKER_CAS = """
local v = redis.call('HGET', KEYS[1], '_v') or ''
if v ~= ARGV[1] then return 0 end
local nv = (tonumber(v) or 0) + 1
local args = {}
for i = 3, #ARGV do args[#args + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], '_v', nv, unpack(args))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

SCRIPTS = {
    "limit_acquire": LIMIT_ACQUIRE,
    "limit_settle": LIMIT_SETTLE,
    "limit_misc": LIMIT_MISC,
    "budget_reserve": BUDGET_RESERVE,
    "budget_adjust": BUDGET_ADJUST,
    "budget_used": BUDGET_USED,
    "breaker_cas": BREAKER_CAS,
}


class StoreUnavailable(Exception):
    """The shared store could not be reached (internal: components turn it into a status)."""


_OPTIONS = ("on_outage", "timeout", "retry_interval", "namespace", "max_connections", "clock")


class RedisStore:
    """One Redis server as the client's shared state; see the module docstring.

    ``timeout`` bounds every command and connection attempt (seconds);
    ``retry_interval`` is how long an outage is assumed to last before the server is
    tried again; ``namespace`` prefixes every key; ``clock`` (tests only) replaces the
    server's ``TIME`` with a client clock and times ``retry_interval``. Up to
    ``max_connections`` commands run at once; more callers wait for a connection.
    """

    def __init__(
        self,
        url: str,
        *,
        on_outage: OnOutage = "open",
        timeout: float = 0.5,
        retry_interval: float = 1.0,
        namespace: str = "pytest-llm",
        max_connections: int = 32,
        clock: Clock | None = None,
        **unknown: Never,
    ) -> None:
        reject_unknown("RedisStore", unknown, _OPTIONS)
        shown = safe_url(url) if isinstance(url, str) else repr(url)
        scheme = urlsplit(url).scheme if isinstance(url, str) else ""
        if scheme not in SCHEMES:
            raise ClientConfigError(
                f"RedisStore({shown!r}): not a Redis URL (scheme {scheme!r}).\n"
                "Fix: pass e.g. redis://localhost:6379/0, rediss://host:6380/0 (TLS) or "
                "unix:///run/redis.sock."
            )
        if on_outage not in ("open", "closed"):
            raise ClientConfigError(
                f"RedisStore(on_outage={on_outage!r}): unknown policy"
                f"{did_you_mean(str(on_outage), ('open', 'closed'))}\n"
                'Fix: on_outage="open" (admit without the shared limits) or "closed" (refuse).'
            )
        for name, value in (("timeout", timeout), ("retry_interval", retry_interval)):
            if not is_positive(value):
                raise ClientConfigError(
                    f"RedisStore({name}={value!r}): a finite number of seconds above 0.\n"
                    f"Fix: pass e.g. {name}={0.5 if name == 'timeout' else 1.0}."
                )
        if clock is not None and not isinstance(clock, Clock):
            raise ClientConfigError(
                f"RedisStore(clock={clock!r}): not a pytest_llm Clock.\n"
                "Fix: leave it out (the server's TIME decides), or pass a VirtualClock in tests."
            )
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        self.on_outage: OnOutage = on_outage
        self.timeout = float(timeout)
        self.retry_interval = float(retry_interval)
        self.namespace = namespace
        self.clock = clock
        self._timer: Clock = clock or system_clock
        self._errors: tuple[type[BaseException], ...] = (
            redis.ConnectionError,
            redis.TimeoutError,
            OSError,
        )
        self._noscript = redis.exceptions.NoScriptError
        try:
            # A blocking pool: a burst of threads waits for a free connection (each use
            # is bounded by ``timeout``) instead of failing as if the server were down.
            pool = redis.BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=None,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
            )
            self.client: _redis.Redis = redis.Redis(connection_pool=pool)
        except ValueError as exc:
            raise ClientConfigError(
                f"RedisStore({shown!r}): {exc}.\nFix: pass e.g. redis://localhost:6379/0."
            ) from exc
        self._shas = {
            name: hashlib.sha1(text.encode()).hexdigest() for name, text in SCRIPTS.items()
        }
        self._lock = threading.Lock()
        self._down_until = -math.inf
        self.outages = 0
        """How many times the server was found unreachable."""
        self.last_error: str | None = None
        try:
            self._load()
        except self._errors as exc:
            if on_outage == "closed":
                raise ClientConfigError(
                    f"RedisStore({shown!r}): cannot reach the server "
                    f"({type(exc).__name__}: {exc}), and on_outage='closed' would refuse every "
                    "call.\nFix: start Redis at that address or correct the URL; or pass "
                    "on_outage='open' to run without the shared limits while it is down."
                ) from exc
            self._mark_down(exc)

    # -- plumbing ---------------------------------------------------------------------

    def _load(self) -> None:
        for name, text in SCRIPTS.items():
            sha = self.client.script_load(text)
            self._shas[name] = str(sha)

    def _mark_down(self, exc: BaseException) -> None:
        with self._lock:
            self._down_until = self._timer.monotonic() + self.retry_interval
            self.outages += 1
            self.last_error = f"{type(exc).__name__}: {exc}"

    def note(self, component: str) -> str:
        """The status line a component reports while the server is unreachable."""
        policy = "failed open" if self.on_outage == "open" else "failed closed"
        return (
            f"shared store {safe_url(self.url)} unreachable ({self.last_error}): {component} "
            f"{policy}.\nFix: check the Redis server; on_outage={self.on_outage!r} applies "
            "until it answers again."
        )

    @property
    def down(self) -> bool:
        """True while an outage is assumed (within ``retry_interval`` of the last failure)."""
        return self._timer.monotonic() < self._down_until

    def run(self, name: str, keys: list[str], args: list[str | int | float]) -> Any:
        """Run one script atomically on the server; :class:`StoreUnavailable` if unreachable."""
        if self.down:
            raise StoreUnavailable(self.last_error)
        try:
            try:
                return self.client.evalsha(self._shas[name], len(keys), *keys, *args)
            except self._noscript:  # the server restarted and lost its scripts
                self._load()
                return self.client.evalsha(self._shas[name], len(keys), *keys, *args)
        except self._errors as exc:
            self._mark_down(exc)
            raise StoreUnavailable(self.last_error) from exc

    async def arun(self, name: str, keys: list[str], args: list[str | int | float]) -> Any:
        """:meth:`run` for asyncio callers: inline, on the event loop's thread.

        One script is one round trip (sub-millisecond on a LAN), and a call that cannot
        be interrupted half-way never loses what the script granted to a cancellation;
        an outage costs at most one ``timeout`` per ``retry_interval``.
        """
        return self.run(name, keys, args)

    def now_arg(self, wall: bool) -> str:
        """The ``now`` argument of a script: '' (server TIME) or the client clock's reading."""
        if self.clock is None:
            return ""
        return repr(self.clock.now().timestamp() if wall else self.clock.monotonic())

    def key(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except self._errors:
            return False

    def flush(self) -> None:
        """Delete every key of this store's namespace (tests, resets)."""
        for key in self.client.scan_iter(match=f"{self.namespace}:*", count=500):
            self.client.delete(key)

    def close(self) -> None:
        self.client.close()

    # -- component backends -----------------------------------------------------------

    def limiter_backend(self) -> RedisLimiterBackend:
        return RedisLimiterBackend(self)

    def budget_backend(self) -> RedisBudgetBackend:
        return RedisBudgetBackend(self)

    def breaker_store(self, *, ttl: float = 3600.0) -> RedisBreakerStore:
        return RedisBreakerStore(self, ttl=ttl)

    def __repr__(self) -> str:
        return f"RedisStore({safe_url(self.url)!r}, on_outage={self.on_outage!r})"


class RedisLimiterBackend:
    """:class:`~pytest_llm.client._limits.LimiterBackend` on Redis (one script per step)."""

    shared = True

    def __init__(self, store: RedisStore) -> None:
        self.store = store

    def _keys(self, key: str) -> list[str]:
        s = self.store
        return [
            s.key("lim", key, part)
            for part in (
                "tat",
                "pause",
                "set",
                "setsum",
                "inf",
                "inftok",
                "infsum",
                "q",
                "qe",
                "qt",
                "seq",
                "now",
            )
        ]

    def _args(self, spec: LimitSpec, tokens: int, ticket: str) -> list[str | int | float]:
        return [
            self.store.now_arg(False),
            spec.rpm or 0,
            -1 if spec.tpm is None else spec.tpm,
            spec.burst,
            repr(spec.window),
            tokens,
            ticket,
            repr(LEASE),
            repr(QUEUE_GRACE),
            repr(POLL),
            repr(QUEUE_STEP),
        ]

    def _degraded(self) -> Decision:
        note = self.store.note("rate limiter")
        if self.store.on_outage == "open":
            return Decision(True, started=self.store._timer.monotonic(), degraded=note)
        return Decision(False, wait=None, degraded=note)

    @staticmethod
    def _decision(raw: list[Any]) -> Decision:
        if int(raw[0]) == 1:
            return Decision(True, rid=str(raw[1]), started=float(raw[2]))
        wait = None if raw[3] == "" else max(0.0, float(raw[3]))
        return Decision(False, wait=wait, ticket=str(raw[4]), started=float(raw[2]))

    def try_acquire(self, key: str, spec: LimitSpec, tokens: int, ticket: str) -> Decision:
        try:
            raw = self.store.run("limit_acquire", self._keys(key), self._args(spec, tokens, ticket))
        except StoreUnavailable:
            return self._degraded()
        return self._decision(raw)

    async def atry_acquire(self, key: str, spec: LimitSpec, tokens: int, ticket: str) -> Decision:
        # Inline on purpose (see RedisStore.arun): a cancellation cannot land between
        # the script granting a reservation and this caller learning of it.
        return self.try_acquire(key, spec, tokens, ticket)

    def settle(self, key: str, spec: LimitSpec, rid: str, actual: int) -> str | None:
        try:
            self.store.run(
                "limit_settle",
                self._keys(key),
                [self.store.now_arg(False), rid, actual, repr(spec.window)],
            )
        except StoreUnavailable:
            return self.store.note("rate limiter (settle)")
        return None

    def release(self, key: str, spec: LimitSpec, rid: str) -> str | None:
        try:
            self.store.run(
                "limit_settle",
                self._keys(key),
                [self.store.now_arg(False), rid, -1, repr(spec.window)],
            )
        except StoreUnavailable:
            return self.store.note("rate limiter (release)")
        return None

    def leave(self, key: str, ticket: str) -> str | None:
        if not ticket:
            return None
        try:
            self.store.run(
                "limit_misc", self._keys(key), [self.store.now_arg(False), "leave", ticket]
            )
        except StoreUnavailable:
            return self.store.note("rate limiter (leave queue)")
        return None

    def pause(self, key: str, seconds: float) -> str | None:
        try:
            self.store.run(
                "limit_misc", self._keys(key), [self.store.now_arg(False), "pause", repr(seconds)]
            )
        except StoreUnavailable:
            return self.store.note("rate limiter (pause)")
        return None

    def paused_for(self, key: str) -> float:
        try:
            return float(
                self.store.run(
                    "limit_misc", self._keys(key), [self.store.now_arg(False), "paused", ""]
                )
            )
        except StoreUnavailable:
            return 0.0

    def __repr__(self) -> str:
        return f"RedisLimiterBackend({self.store!r})"


class RedisBudgetBackend:
    """:class:`~pytest_llm.client._budget.BudgetBackend` on Redis: one script books all limits."""

    shared = True

    def __init__(self, store: RedisStore) -> None:
        self.store = store

    def reserve(
        self, scope: str, amount: int, limits: tuple[tuple[str, float, int], ...]
    ) -> BudgetDecision:
        args: list[str | int | float] = [self.store.now_arg(True), amount, len(limits)]
        for name, period, limit in limits:
            args += [name, repr(period), limit]
        try:
            raw = self.store.run("budget_reserve", [self.store.key("budget", scope)], args)
        except StoreUnavailable:
            note = self.store.note("budget")
            return BudgetDecision(self.store.on_outage == "open", degraded=note)
        if int(raw[0]) == 1:
            return BudgetDecision(True, keys=tuple(str(k) for k in raw[1:]))
        return BudgetDecision(False, limit=str(raw[1]), used=int(raw[2]), resets_at=float(raw[3]))

    def adjust(self, keys: tuple[str, ...], delta: int) -> str | None:
        try:
            self.store.run("budget_adjust", list(keys), [delta])
        except StoreUnavailable:
            return self.store.note("budget (settle)")
        return None

    def used(self, scope: str, limits: tuple[tuple[str, float, int], ...]) -> dict[str, int]:
        args: list[str | int | float] = [self.store.now_arg(True), len(limits)]
        for name, period, _ in limits:
            args += [name, repr(period)]
        try:
            raw = self.store.run("budget_used", [self.store.key("budget", scope)], args)
        except StoreUnavailable:
            return {}  # unknown while the server is unreachable
        return {name: int(value) for (name, _, _), value in zip(limits, raw, strict=True)}

    def __repr__(self) -> str:
        return f"RedisBudgetBackend({self.store!r})"


class RedisBreakerStore:
    """:class:`~pytest_llm.client._breaker.BreakerStore` on Redis: compare-and-set in Lua.

    ``update`` reads the record (a hash with a version field), runs the pure ``change``
    and writes the result only if the version did not move (one Lua script); otherwise
    it reads again and re-runs ``change``. Records expire ``ttl`` seconds after their
    last update, which bounds a probe slot held by a process that died.
    """

    shared = True

    def __init__(self, store: RedisStore, *, ttl: float = 3600.0) -> None:
        self.store = store
        self.ttl_ms = math.ceil(ttl * 1000)
        self.local = MemoryBreakerStore()
        """This process's records while the server is unreachable and on_outage='open'."""
        self.status: str | None = None
        """The last degradation note (None once the server answered again)."""

    def _key(self, route_key: str) -> str:
        return self.store.key("breaker", route_key)

    def _read(self, route_key: str) -> tuple[BreakerState, str]:
        if self.store.down:
            raise StoreUnavailable(self.store.last_error)
        try:
            fields = self.store.client.hgetall(self._key(route_key))
        except self.store._errors as exc:
            self.store._mark_down(exc)
            raise StoreUnavailable(self.store.last_error) from exc
        version = str(fields.pop("_v", ""))
        return BreakerState.from_fields(fields), version

    def get(self, route_key: str) -> BreakerState:
        try:
            state = self._read(route_key)[0]
        except StoreUnavailable:
            return self._outage(route_key, lambda s: (s, s))
        self.status = None
        return state

    def update(
        self, route_key: str, change: Callable[[BreakerState], tuple[BreakerState, _T]]
    ) -> _T:
        try:
            for _ in range(64):
                state, version = self._read(route_key)
                new, result = change(state)
                args: list[str | int | float] = [version, self.ttl_ms]
                for field, value in new.as_fields().items():
                    args += [field, repr(value) if isinstance(value, float) else value]
                if int(self.store.run("breaker_cas", [self._key(route_key)], args)):
                    self.status = None
                    return result
            # Starved by other writers (a loaded machine): never fail the call over
            # bookkeeping; this one update goes to this process's records, reported.
            self.status = (
                f"breaker record {route_key!r} on {safe_url(self.store.url)}: 64 concurrent "
                "updates in a row won over this one; it was applied to this process's own "
                "records.\nFix: nothing to do if rare; many processes hammering one route "
                "record contend here."
            )
            return self.local.update(route_key, change)
        except StoreUnavailable:
            return self._outage(route_key, change)

    def _outage(
        self, route_key: str, change: Callable[[BreakerState], tuple[BreakerState, _T]]
    ) -> _T:
        self.status = self.store.note("circuit breaker")
        if self.store.on_outage == "open":
            return self.local.update(route_key, change)
        # closed: every route reads as open (calls skip it); nothing is written
        return change(BreakerState(state="open", open_until=math.inf))[1]

    def items(self) -> list[tuple[str, BreakerState]]:
        prefix = self.store.key("breaker", "")
        try:
            keys = list(self.store.client.scan_iter(match=prefix + "*", count=500))
            out = []
            for key in keys:
                fields = self.store.client.hgetall(key)
                fields.pop("_v", None)
                out.append((str(key)[len(prefix) :], BreakerState.from_fields(fields)))
            return out
        except self.store._errors:
            return self.local.items()

    def __repr__(self) -> str:
        return f"RedisBreakerStore({self.store!r})"
