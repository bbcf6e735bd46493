"""The call-level policies that can answer without the provider: the exact cache, the
semantic cache and coalescing (single flight). They wrap the live flow of ``_plan.py``:

    exact cache -> semantic cache -> coalesce -> the live flow -> store

A hit hands back the SDK's own type rebuilt from the stored reply (CONTRACTS 56) with
``CallInfo.cache`` saying so and a cost of 0; a coalesced follower gets an equal copy
of the leader's result (50); only normally completed results are stored (49).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._events import CallInfo
from ._plan import Call
from ._route import Route
from ._usage import usage_of

__all__ = ["Memo", "sdk_type"]


_USAGE = object()
"""The key of a hit's usage in ``CachedEntry._built``."""


@functools.cache
def _cache() -> Any:
    """``_cache.py``, imported when a call first needs it (not at the client's import)."""
    from . import _cache as module

    return module


@functools.cache
def sdk_type(api: str) -> type[Any]:
    """The SDK's result type of ``api``: what a cache hit is rebuilt as."""
    if api == "chat":
        from openai.types.chat import ChatCompletion

        return ChatCompletion
    if api == "responses":
        from openai.types.responses import Response

        return Response
    from openai.types import CreateEmbeddingResponse

    return CreateEmbeddingResponse


_SCOPES: dict[int, tuple[Sequence[Route], str]] = {}


def _scope(routes: Sequence[Route]) -> str:
    """The cache key's scope: the route set's keys, joined; by identity for the route
    tuples a client looks up once per model (``_Core._candidates``)."""
    known = _SCOPES.get(id(routes))
    if known is not None and known[0] is routes:
        return known[1]
    scope = ",".join([r.key for r in routes])
    if isinstance(routes, tuple) and len(_SCOPES) < 256:
        _SCOPES[id(routes)] = (routes, scope)
    return scope


def answer(info: CallInfo, clock: Any, api: str, lookup: Any, how: str) -> Any | None:
    """The value a cache read answers a call with (recorded on ``info``: who served the
    stored reply, ``cache``, its usage marked as served from here, a cost of 0), or
    ``None`` on a miss; a backend failure goes in the call's events either way."""
    if lookup.error:
        info.extra.setdefault("cache_errors", []).append(str(lookup.error))
        info.extra.setdefault("degraded", []).append(str(lookup.error))
    entry = lookup.entry
    if entry is None or lookup.status not in ("hit", "semantic"):
        return None
    value = _cache().rebuild(entry, sdk_type(api))
    meta = entry.meta  # who served the stored reply (31)
    info.route, info.model = meta.get("route"), meta.get("model")
    info.cache = how
    info.similarity = lookup.similarity if how == "semantic" else None
    # what the stored reply used, marked as served from here (56): the same for every
    # hit on the entry, so read once (each hit gets its own dict)
    usage = entry._built.get(_USAGE, _USAGE)
    if usage is _USAGE:
        usage = entry._built[_USAGE] = usage_of(value)
    info.usage = None if usage is None else {**usage, "from_cache": 1}
    info.cost = 0.0
    info.started = info.ended = clock.monotonic()
    return value


def first_key(
    api: str, params: dict[str, Any], stream: bool, routes: Sequence[Route]
) -> str | None:
    """The exact cache's key of a call, as :meth:`Memo.of` computes it (``None``: a
    stream, or a request that is not cacheable)."""
    if stream:
        return None
    key: str | None = _cache().cache_key(api, params, scope=_scope(routes))
    return key


def read_first(cache: Any, key: str, info: CallInfo, clock: Any, api: str) -> Any | None:
    """The exact cache read before the call's flow is built (the client's short path
    for a client whose only memo before the live call is a :class:`~._cache.Cache`):
    the hit's value, as :meth:`Memo.lookup` answers it, or ``None`` (a miss, recorded;
    the flow then goes on with a :class:`Memo` whose ``read`` is set)."""
    return answer(info, clock, api, cache.lookup(key, shared=True), "hit")


async def aread_first(cache: Any, key: str, info: CallInfo, clock: Any, api: str) -> Any | None:
    """The async twin of :func:`read_first`."""
    return answer(info, clock, api, await cache.alookup(key, shared=True), "hit")


@dataclass
class Memo:
    """The cache and coalescing state of one call."""

    call: Call
    cache: Any | None
    semantic: Any | None
    coalescer: Any | None
    key: str | None = None
    query: Any | None = None
    read: bool = False
    """The exact cache was read before the call's flow was built (:func:`read_first`):
    a miss, already recorded; :meth:`lookup` does not read it again."""

    @property
    def shared(self) -> bool:
        """Whether the cache can hand back a shared, read-only entry (``Cache`` can; an
        object of the user's with ``lookup`` is asked as it always was)."""
        return isinstance(self.cache, _cache().Cache)

    @classmethod
    def of(
        cls,
        call: Call,
        params: dict[str, Any],
        cache: Any | None,
        semantic: Any | None,
        coalescer: Any | None,
    ) -> Memo:
        memo = cls(call, cache, semantic, coalescer)
        if call.stream or (cache is None and semantic is None and coalescer is None):
            call.info.cache = "off"
            return memo
        scope = _scope(call.routes)
        memo.key = _cache().cache_key(call.api, params, scope=scope)
        if memo.key is not None and semantic is not None:
            memo.query = semantic.query(call.api, params, scope=scope)
        call.info.cache = "miss" if memo.key is not None else "off"
        return memo

    # -- reading ----------------------------------------------------------------------

    def _hit(self, lookup: Any, how: str) -> Any | None:
        return answer(self.call.info, self.call.clock, self.call.api, lookup, how)

    def lookup(self) -> Any | None:
        if self.key is None:
            return None
        if self.cache is not None and not self.read:
            lookup = self.cache.lookup
            found = lookup(self.key, shared=True) if self.shared else lookup(self.key)
            value = self._hit(found, "hit")
            if value is not None:
                return value
        if self.query is not None:
            return self._hit(self.semantic.lookup(self.query), "semantic")  # type: ignore[union-attr]
        return None

    async def alookup(self) -> Any | None:
        if self.key is None:
            return None
        if self.cache is not None and not self.read:
            alookup = self.cache.alookup
            found = await (alookup(self.key, shared=True) if self.shared else alookup(self.key))
            value = self._hit(found, "hit")
            if value is not None:
                return value
        if self.query is not None:
            return self._hit(await self.semantic.alookup(self.query), "semantic")  # type: ignore[union-attr]
        return None

    # -- coalescing -------------------------------------------------------------------

    def _follow(self, shared: tuple[Any, CallInfo]) -> Any:
        value, leader = shared
        info = self.call.info
        info.cache = "coalesced"
        info.route, info.model, info.base_url = leader.route, leader.model, leader.base_url
        info.usage = leader.usage
        info.cost = 0.0
        info.extra["leader"] = leader
        info.ended = self.call.clock.monotonic()
        return copy.deepcopy(value)

    def coalesce(self, live: Callable[[], Any]) -> Any:
        if self.coalescer is None or self.key is None:
            return live()
        shared, follower = self.coalescer.do_ex(self.key, lambda: (live(), self.call.info))
        return self._follow(shared) if follower else shared[0]

    async def acoalesce(self, live: Callable[[], Awaitable[Any]]) -> Any:
        if self.coalescer is None or self.key is None:
            return await live()

        async def lead() -> tuple[Any, CallInfo]:
            return (await live(), self.call.info)

        shared, follower = await self.coalescer.ado_ex(self.key, lead)
        return self._follow(shared) if follower else shared[0]

    # -- storing ----------------------------------------------------------------------

    def storable(self, value: Any) -> bool:
        if self.key is None or self.call.info.cache not in ("miss",):
            return False
        from ._cache import storable

        return storable(value)

    def _store_failed(self) -> None:
        extra = self.call.info.extra
        extra.setdefault("cache_errors", []).append("store failed")
        note = f"cache: {self.cache!r} failed to store the reply (a warning says why)"
        extra.setdefault("degraded", []).append(note)

    def store(self, value: Any) -> None:
        if not self.storable(value):
            return
        meta = {"route": self.call.info.route, "model": self.call.info.model}
        if self.cache is not None:
            status = self.cache.put(self.key, value, meta=meta)
            if status == "error":
                self._store_failed()
        if self.query is not None:
            self.semantic.put(self.query, value, meta=meta)  # type: ignore[union-attr]

    async def astore(self, value: Any) -> None:
        if not self.storable(value):
            return
        meta = {"route": self.call.info.route, "model": self.call.info.model}
        if self.cache is not None:
            status = await self.cache.aput(self.key, value, meta=meta)
            if status == "error":
                self._store_failed()
        if self.query is not None:
            await self.semantic.aput(self.query, value, meta=meta)  # type: ignore[union-attr]
