"""``ResilientClient`` and ``AsyncResilientClient``: drop-ins for ``openai.OpenAI`` and
``openai.AsyncOpenAI`` whose every call goes through the one flow of ``_plan.py``."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import math
import random
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from .._clock import Clock, current_clock, flow_clock
from .._numbers import is_positive
from .._urls import public_url
from ..assertions._base import did_you_mean
from ._drive import (
    drive_async,
    drive_sync,
    not_on_asyncio,
    open_stream_async,
    open_stream_sync,
    sdk_timeout,
)
from ._errors import ClientConfigError, LLMClientError
from ._events import CallInfo, attach_info, attach_parsed, attach_pending, scrub_error
from ._gate import Gate
from ._memo import Memo, aread_first, first_key, read_first
from ._plan import (
    Call,
    Hedge,
    Lane,
    Outcome,
    PlainStart,
    Send,
    Timeouts,
    plain_info,
    plain_pending,
    plain_record,
    plain_served,
    plain_start,
    plain_ticket,
    plain_verdict,
    request_for,
    run_call,
    stream_verdict,
)
from ._prompts import prompt_of
from ._route import Route, check_routes
from ._stream import AsyncResilientStream, ResilientStream
from ._telemetry import CallHandle, Telemetry
from ._usage import estimate_request_tokens

__all__ = ["AsyncResilientClient", "LatencyTracker", "ResilientClient"]

_PER_CALL = (
    "deadline",
    "hedge",
    "max_reasks",
    "max_retries",
    "retry",
    "structured_strategy",
    "tier",
    "timeout",
    "timeouts",
)
"""Options :meth:`with_options` can change; the rest is shared state, fixed at construction."""

_LANE_INPUTS = frozenset(
    {
        "_routes",
        "breaker",
        "budget",
        "cache",
        "coalescer",
        "deadline",
        "gate",
        "hedge",
        "limiter",
        "retry_budget",
        "semantic_cache",
        "tier",
        "timeouts",
    }
)
"""Attributes whose change may make a policy act on a call shape: setting one forgets
the client's lanes (:meth:`_Core._lane`)."""

_HOOKS = (
    "_call",
    "_finish_error",
    "_finish_value",
    "_memo",
    "_method",
    "_on_stream_end",
    "_request",
    "_result",
    "_run",
    "_sdk",
    "_sdk_for",
    "_send",
)
"""Methods of the full flow a subclass may override (the conformance suite's broken
clients do): a class that overrides one keeps every call on the full flow."""


_KEPT: dict[tuple[type[Any], type[Any]], bool] = {}


def _hooks_kept(cls: type[Any], base: type[Any]) -> bool:
    kept = _KEPT.get((cls, base))
    if kept is None:
        kept = _KEPT[cls, base] = all(getattr(cls, n) is getattr(base, n) for n in _HOOKS)
    return kept


_OPTIONS = (
    "api_key",
    "base_url",
    "breaker",
    "budget",
    "cache",
    "clock",
    "coalesce",
    "limiter",
    "semantic_cache",
    "default_headers",
    "organization",
    "project",
    "retry_budget",
    "seed",
    "telemetry",
    *_PER_CALL,
)


def _with_timeout(base: Timeouts, timeout: Any, where: str) -> Timeouts:
    """``base`` with the SDK-style ``timeout=`` applied: seconds, or an httpx ``Timeout``."""
    if timeout is None:
        return base
    if isinstance(timeout, int | float) and not isinstance(timeout, bool):
        return dataclasses.replace(base, read=float(timeout))
    if hasattr(timeout, "read") and hasattr(timeout, "connect"):
        return dataclasses.replace(base, connect=timeout.connect, read=timeout.read)
    raise ClientConfigError(
        f"{where}: {timeout!r} is not a timeout.\nFix: pass seconds (timeout=30), an "
        "openai.Timeout, or Timeouts(...) as timeouts= on the client."
    )


def _reject_unknown(where: str, options: dict[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        name = unknown[0]
        raise ClientConfigError(
            f"{where}: unknown option {name!r}{did_you_mean(name, known)}\n"
            f"Fix: use one of {', '.join(sorted(known))}."
        )


_DEFAULT_TIMEOUTS = Timeouts()


_Start = tuple[
    dict[str, Any],  # the request, without timeout=
    Timeouts,
    bool,  # streamed
    str | None,  # the model asked for
    tuple[Route, ...],  # the routes it tries
    CallInfo,
    Any,  # the telemetry handle
    Callable[[Route], dict[str, Any]] | None,  # a structured call's request per route
]
"""What :meth:`_Core._start` gives a call before any policy (a plain tuple: one per call)."""


class LatencyTracker:
    """Recent latencies per route, for hedging at a percentile."""

    def __init__(self, size: int = 200) -> None:
        self._seen: dict[str, deque[float]] = {}
        self._size = size
        self._lock = threading.Lock()

    def observe(self, route: str, seconds: float) -> None:
        seen = self._seen.get(route)
        if seen is None:
            with self._lock:  # two threads' first samples of a route: one deque
                seen = self._seen.setdefault(route, deque(maxlen=self._size))
        seen.append(seconds)  # one call into the deque: no lock needed around it

    def percentile(self, route: str, pct: float, min_samples: int) -> float | None:
        known = self._seen.get(route)
        seen = [] if known is None else sorted(known.copy())  # copy: one call, as append
        if len(seen) < min_samples:
            return None
        index = min(len(seen) - 1, max(0, math.ceil(pct / 100 * len(seen)) - 1))
        return seen[index]


@functools.cache
def _platform() -> Any:
    from openai._base_client import get_platform

    return get_platform()


def _resource(sdk: Any, api: str) -> Any:
    """The SDK client's resource for ``api``: what has its ``create``."""
    if api == "chat":
        return sdk.chat.completions
    if api == "responses":
        return sdk.responses
    return sdk.embeddings


def validate_reply(api: str, value: Any) -> str | None:
    """Why a 200 reply is not a usable result (CONTRACTS 55), or ``None``."""
    if isinstance(value, tuple):  # an opened stream: its own rules apply
        return None
    extra = getattr(value, "model_extra", None) or {}
    if isinstance(extra, dict) and extra.get("error"):
        return "its body is an error object"
    if api == "chat" and not getattr(value, "choices", None):
        return "its body has no choices"
    if api == "responses":
        if getattr(value, "status", None) == "failed" or getattr(value, "error", None):
            return "the response failed"
        if not getattr(value, "output", None):
            return "the response has no output"
    if api == "embeddings" and not getattr(value, "data", None):
        return "the embeddings reply has no data"
    return None


class _Core:
    """What the sync and async clients share: configuration, routes, SDK clients."""

    _async = False
    _lanes: dict[tuple[str, str | None, bool], Lane | None]
    _first: bool | None = None
    """Whether the exact cache is read before the call's flow is built (:meth:`_reads_first`);
    ``None``: not decided since the configuration last changed."""

    def _resources(self) -> None:
        raise NotImplementedError

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in _LANE_INPUTS:  # a policy may act now where it did not: decide again
            object.__setattr__(self, "_lanes", {})
            object.__setattr__(self, "_first", None)

    def __init__(self, routes: Any = None, **options: Any) -> None:
        _reject_unknown(f"{type(self).__name__}()", options, _OPTIONS)
        from ._breaker import CircuitBreaker
        from ._telemetry import Telemetry

        self.clock: Clock = options.get("clock") or flow_clock
        self._rng = random.Random(options.get("seed"))
        self._seeded = options.get("seed") is not None
        self._api_key = options.get("api_key")
        self._base_url = options.get("base_url")
        self._organization = options.get("organization")
        self._project = options.get("project")
        self._headers = options.get("default_headers")
        self._routes: tuple[Route, ...] = () if routes is None else check_routes(routes)

        breaker = options.get("breaker", True)
        if breaker is True:
            breaker = CircuitBreaker(clock=self.clock)
        self.breaker = breaker or None
        self.retry_budget = options.get("retry_budget")
        secrets = [self._api_key, *(r.api_key for r in self._routes)]
        telemetry = options.get("telemetry")
        self.telemetry = (
            Telemetry(clock=self.clock, secrets=secrets) if telemetry is None else telemetry
        )
        self.latency = LatencyTracker()
        self._shared_state(options)
        self._configure({k: v for k, v in options.items() if k in _PER_CALL})
        self._sdk_clients: dict[tuple[Any, ...], Any] = {}
        self._sdk_of: dict[int, tuple[Route, Any]] = {}
        """The SDK client by route object (``_sdk``'s look-up without a lock or a key)."""
        self._sdk_lock = threading.Lock()
        for route in self._routes:
            self._sdk(route)  # a missing key fails now, as openai.OpenAI() would
        self._resources()

    def _shared_state(self, options: dict[str, Any]) -> None:
        """Cache, semantic cache, coalescing, limiter and budget: shared by every call."""
        from ._cache import Cache

        where = type(self).__name__
        cache = options.get("cache")
        if cache is True or isinstance(cache, str):
            cache = Cache("memory" if cache is True else cache, clock=self.clock)
        if cache is not None and cache is not False and not hasattr(cache, "lookup"):
            raise ClientConfigError(
                f"{where}(cache={cache!r}): expected a Cache, a backend URL or True.\n"
                'Fix: cache=True (memory), cache="sqlite:///llm-cache.db", '
                'cache="redis://127.0.0.1:6379/0" or cache=Cache(...).'
            )
        self.cache = cache or None
        self.semantic_cache = options.get("semantic_cache")
        coalesce = options.get("coalesce", False)
        if coalesce is True:
            from ._coalesce import SingleFlight

            coalesce = SingleFlight(copy=None)
        self.coalescer = coalesce or None
        self.limiter = options.get("limiter")
        self.budget = options.get("budget")
        if self.budget is not None and hasattr(self.budget, "check_routes"):
            self.budget.check_routes(self._routes)
        self.gate = (
            Gate(self.limiter, self.budget, self.clock)
            if self.limiter is not None or self.budget is not None
            else None
        )

    def _configure(self, options: dict[str, Any]) -> None:
        """Set (and check) the options that :meth:`with_options` may change per call."""
        from ._retry import RetryPolicy

        where = type(self).__name__
        self._call_options = dict(options)
        retry = options.get("retry")
        max_retries = options.get("max_retries")
        if retry is not None and max_retries is not None:
            raise ClientConfigError(
                f"{where}(retry=..., max_retries={max_retries!r}): give one of them.\n"
                "Fix: pass RetryPolicy(max_retries=...) as retry=, or max_retries= alone."
            )
        if retry is None:
            retry = RetryPolicy() if max_retries is None else RetryPolicy(max_retries=max_retries)
        self.retry = retry

        deadline = options.get("deadline")
        if deadline is not None and not is_positive(deadline, finite=False):
            raise ClientConfigError(
                f"{where}(deadline={deadline!r}): the deadline is the whole call's time in "
                "seconds, above 0 (or None for none).\nFix: pass e.g. deadline=30."
            )
        self.deadline: float | None = deadline

        timeouts = options.get("timeouts")
        timeout = options.get("timeout")
        if timeouts is None:
            timeouts = _with_timeout(_DEFAULT_TIMEOUTS, timeout, f"{where}(timeout=...)")
        if not isinstance(timeouts, Timeouts):
            raise ClientConfigError(
                f"{where}(timeouts={timeouts!r}): expected a Timeouts.\n"
                "Fix: timeouts=Timeouts(connect=5, read=60, first_token=10, chunk=15)."
            )
        self.timeouts = timeouts

        hedge = options.get("hedge")
        if isinstance(hedge, int | float) and not isinstance(hedge, bool):
            hedge = Hedge(delay=float(hedge))
        if hedge is not None and not isinstance(hedge, Hedge):
            raise ClientConfigError(
                f"{where}(hedge={hedge!r}): expected Hedge(...) or a delay in seconds.\n"
                "Fix: hedge=Hedge(delay=2.0) or hedge=Hedge(percentile=95)."
            )
        if hedge is not None and not self._async:
            raise ClientConfigError(
                "ResilientClient(hedge=...): hedging races two requests and needs the async "
                "client (a blocking call cannot be overtaken on the injected clock).\n"
                "Fix: use AsyncResilientClient(hedge=...), or drop hedge=."
            )
        if hedge is not None and len(self._routes) < 2:
            raise ClientConfigError(
                f"{where}(hedge=...): hedging starts the request on the next route, and "
                f"there are {len(self._routes)} route(s).\nFix: give two routes or more."
            )
        self.hedge: Hedge | None = hedge

        max_reasks = options.get("max_reasks", 2)
        if isinstance(max_reasks, bool) or not isinstance(max_reasks, int) or max_reasks < 0:
            raise ClientConfigError(
                f"{where}(max_reasks={max_reasks!r}): the number of re-asks for structured "
                "output is 0 or more.\nFix: pass e.g. max_reasks=2."
            )
        self.max_reasks = max_reasks
        self.structured_strategy = options.get("structured_strategy", "auto")
        tier = options.get("tier")
        if tier is not None and (isinstance(tier, bool) or not isinstance(tier, int)):
            raise ClientConfigError(
                f"{where}(tier={tier!r}): the tier is an int (higher is better).\n"
                "Fix: pass e.g. tier=2."
            )
        self.tier: int | None = tier
        self._route_memo: dict[str | None, tuple[Route, ...]] = {}
        self._lanes = {}

    # -- routes and SDK clients ------------------------------------------------------

    def _sdk(self, route: Route) -> Any:
        known = self._sdk_of.get(id(route))
        if known is not None and known[0] is route:  # the route object itself: no id reuse
            return known[1]
        client = self._sdk_for(route)
        if len(self._sdk_of) < 256:  # routes of the client, and per-call ones memoised
            self._sdk_of[id(route)] = (route, client)
        return client

    def _sdk_for(self, route: Route) -> Any:
        import openai

        key = route.api_key or self._api_key
        base_url = route.base_url or self._base_url
        cache_key: tuple[Any, ...] = (
            key,
            base_url,
            route.organization or self._organization,
            route.headers,
        )
        if route.provider != "openai":  # Anthropic, Gemini: their own SDKs (_native.py)
            cache_key = (route.provider, route.key, route.api_key, route.base_url, route.headers)
        with self._sdk_lock:
            client = self._sdk_clients.get(cache_key)
            if client is None and route.provider != "openai":
                from ._native_routes import native_sdk

                client = self._sdk_clients[cache_key] = native_sdk(
                    route,
                    is_async=self._async,
                    timeout=sdk_timeout(self.timeouts, None, False),
                    headers={**(self._headers or {}), **dict(route.headers)},
                    clock=self.clock,
                )
            if client is None:
                cls = openai.AsyncOpenAI if self._async else openai.OpenAI
                headers = dict(self._headers or {})
                headers.update(dict(route.headers))
                client = cls(
                    api_key=key,
                    base_url=base_url,
                    organization=route.organization or self._organization,
                    project=self._project,
                    max_retries=0,  # one retrying layer: this client's (CONTRACTS 7)
                    default_headers=headers or None,
                    # the usual attempt's timeout, set once: a request passes its own only
                    # when it differs (a deadline, a stream timer, another with_options)
                    timeout=sdk_timeout(self.timeouts, None, False),
                )
                if self._async and getattr(client, "_platform", ...) is None:
                    # the async SDK looks the platform up in a worker thread on its first
                    # request: real time, which a race on the injected clock (hedge, stream
                    # timers) must not depend on. Look it up here, once, instead.
                    client._platform = _platform()
                self._sdk_clients[cache_key] = client
        return client

    def _candidates_all(self) -> tuple[Route, ...]:
        return self._routes

    def _candidates(self, model: str | None) -> tuple[Route, ...]:
        """The routes a call asking for ``model`` tries, in order; the same for every call
        with that model under this configuration, so looked up once."""
        routes = self._route_memo.get(model)
        if routes is None:
            routes = tuple(self._candidates_for(model))
            if len(self._route_memo) < 64:
                self._route_memo[model] = routes
        return routes

    def _lane(self, api: str, model: str | None, stream: bool, routes: tuple[Route, ...]) -> Any:
        """The call shape's :class:`Lane` when no policy acts on its calls before the first
        reply, else ``None``; decided once per shape, again after a change of
        configuration (``with_options``, setting a policy attribute, ``close``)."""
        key = (api, model, stream)
        try:
            return self._lanes[key]
        except KeyError:
            pass
        lane = self._lane_for(api, stream, routes)
        if len(self._lanes) < 64:
            self._lanes[key] = lane
        return lane

    def _reads_first(self) -> bool:
        """Whether a call's exact cache is read before its flow is built: the client's
        cache is a :class:`~._cache.Cache` (shared entries), it has no semantic cache
        (whose query comes before the exact read in :meth:`Memo.of`), and no subclass
        replaced a step of the full flow. A hit is then answered at once; a miss goes on
        into the full flow with its key and read done (:meth:`_run`)."""
        first = self._first
        if first is None:
            from ._cache import Cache

            base = AsyncResilientClient if self._async else ResilientClient
            first = (
                isinstance(self.cache, Cache)
                and self.semantic_cache is None
                and _hooks_kept(type(self), base)
            )
            object.__setattr__(self, "_first", first)
        return first

    def _lane_for(self, api: str, stream: bool, routes: tuple[Route, ...]) -> Lane | None:
        from ._breaker import CircuitBreaker

        base = AsyncResilientClient if self._async else ResilientClient
        if not _hooks_kept(type(self), base):
            return None
        if (
            self.gate is not None
            or self.hedge is not None
            or self.deadline is not None
            or self.retry_budget is not None
            or (self.breaker is not None and type(self.breaker) is not CircuitBreaker)
        ):
            return None
        # a stream is never cached nor coalesced (Memo.of)
        if not stream and (
            self.cache is not None or self.semantic_cache is not None or self.coalescer is not None
        ):
            return None
        route = routes[0]
        if route.context_window is not None:  # checked against the request: the full flow
            return None
        sdk = self._sdk(route)
        timeout = sdk_timeout(self.timeouts, None, stream)
        return Lane(
            route,
            sdk,
            _resource(sdk, api),
            None if timeout is getattr(sdk, "timeout", None) else timeout,
            routes,
            public_url(route.base_url),
        )

    def _candidates_for(self, model: str | None) -> list[Route]:
        routes = list(self._routes)
        if self.tier is not None:
            eligible = [r for r in routes if r.tier >= self.tier]
            if not eligible:
                tiers = sorted({r.tier for r in routes})
                raise ClientConfigError(
                    f"tier={self.tier}: no route is at that quality tier or above (tiers: "
                    f"{tiers}).\nFix: ask for a tier the routes have, or add a route."
                )
            return sorted(eligible, key=_price_key)
        if not routes:
            if not model:
                raise ClientConfigError(
                    "model= is missing and the client has no routes.\nFix: pass model=..., "
                    'or construct ResilientClient(routes=["gpt-4o-mini"]).'
                )
            return [Route(model, base_url=self._base_url, api_key=self._api_key)]
        if model:
            first = [r for r in routes if model in (r.model, r.name, r.key)]
            if not first:
                raise ClientConfigError(
                    f"model={model!r} is not one of the client's routes "
                    f"({', '.join(r.key for r in routes)}){did_you_mean(model, [r.model for r in routes])}"
                    "\nFix: call with one of them, leave model= out to use the routes in order, "
                    "or add a Route for it."
                )
            routes = [first[0]] + [r for r in routes if r is not first[0]]
        return routes

    def with_options(self, **options: Any) -> Any:
        """A copy with some per-call options changed (``deadline``, ``timeouts``,
        ``retry``, ``tier``, ...), sharing breakers, budgets, caches, telemetry and SDK
        clients, like the SDK's ``with_options``."""
        _reject_unknown("with_options()", options, _PER_CALL)
        clone = copy.copy(self)
        merged = dict(self._call_options)
        if "max_retries" in options:
            merged.pop("retry", None)
        if "retry" in options:
            merged.pop("max_retries", None)
        if "timeout" in options:
            merged.pop("timeouts", None)
        merged.update(options)
        clone._configure(merged)
        clone._resources()
        return clone

    # -- one call --------------------------------------------------------------------

    def _start(
        self, api: str, kwargs: dict[str, Any], structured: _StructuredCall | None
    ) -> _Start:
        """What every call starts with, before any policy: its request (without
        ``timeout=``, the flow's own), timeouts, routes, :class:`CallInfo` and telemetry
        handle; a bad ``timeout=`` or a model no route serves fails here."""
        prepare = structured.prepare if structured is not None else None
        info = structured.info if structured is not None else None
        timeouts = self.timeouts
        if "timeout" in kwargs:  # the flow's own per attempt: not sent as the caller gave it
            kwargs = dict(kwargs)
            timeouts = _with_timeout(timeouts, kwargs.pop("timeout"), "create(timeout=...)")
        stream = bool(kwargs.get("stream"))
        model = kwargs.get("model")
        if not isinstance(model, str):
            model = None
        routes = self._candidates(model)
        if structured is not None:
            able = tuple(r for r in routes if structured.plan.supports(r))
            if not able:
                raise ClientConfigError(
                    f"{api}.parse(): no route can use structured_strategy="
                    f"{structured.plan.strategy!r} ({', '.join(r.key for r in routes)}).\n"
                    "Fix: add the capability to a Route(capabilities=...), or use "
                    'structured_strategy="auto".'
                )
            routes = able
        if info is None:
            info = CallInfo(api=api, requested_model=model)
        if info.prompt is None and "extra_headers" in kwargs:  # the x-pytest-llm-prompt header
            info.prompt = prompt_of(kwargs)  # (_prompts.py); parse() too
        handle = info.extra.get("telemetry")  # a re-ask continues the call's span
        if handle is None:
            handle = self.telemetry.start(api, model, base_url=routes[0].base_url)
            info.extra["telemetry"] = handle
        return kwargs, timeouts, stream, model, routes, info, handle, prepare

    def _call(
        self,
        api: str,
        kwargs: dict[str, Any],
        structured: _StructuredCall | None = None,
        start: _Start | None = None,
    ) -> Call:
        """The call's :class:`Call` (``start``: its :meth:`_start`, when already made)."""
        if start is None:
            start = self._start(api, kwargs, structured)
        kwargs, timeouts, stream, _, routes, info, handle, prepare = start
        return Call(
            api=api,
            kwargs=kwargs,
            routes=routes,
            clock=self.clock,
            rng=self._draws(),
            retry=self.retry,
            breaker=self.breaker,
            retry_budget=self.retry_budget,
            timeouts=timeouts,
            deadline=self.deadline,
            hedge=self.hedge,
            info=info,
            stream=stream,
            validate=validate_reply,
            estimate_tokens=estimate_request_tokens,
            latency=self.latency,
            telemetry=self.telemetry,
            handle=handle,
            gate=self.gate,
            prepare=prepare,
        )

    def _draws(self) -> random.Random:
        """Where a call's jitter is drawn from: the client's own ``random.Random(seed)``
        when ``seed=`` was given or the flow runs on the real clock; on a virtual clock
        (``llm_clock``) without ``seed=``, the clock's seeded ``jitter``, which the openai
        SDK draws from too while the clock is installed: a test's waits repeat from run
        to run, and unseeded clients still spread (each draw is the next of one stream)."""
        if self._seeded:
            return self._rng
        clock = current_clock() if self.clock is flow_clock else self.clock
        jitter = getattr(clock, "jitter", None)
        return jitter if isinstance(jitter, random.Random) else self._rng

    def _lane_of(self, api: str, kwargs: dict[str, Any]) -> Lane | None:
        """:meth:`_plain_lane` for any call but a structured one, its shape's lane decided
        here when not yet (:meth:`_lane`): ``None`` when it passes ``timeout=``, or reads
        the exact cache first (:meth:`_reads_first`: never a stream), or no lane serves it.
        A model no route serves fails here (:meth:`_candidates`), before anything else."""
        if "timeout" in kwargs:
            return None
        stream = bool(kwargs.get("stream"))
        first = self._first
        if first is None:  # decided here for a stream too: _plain_lane needs it decided
            first = self._reads_first()
        if first and not stream:
            return None
        model = kwargs.get("model")
        if not isinstance(model, str):
            model = None
        lane: Lane | None = self._lane(api, model, stream, self._candidates(model))
        return lane

    def _plain_lane(self, api: str, kwargs: dict[str, Any]) -> Lane | None:
        """The :class:`Lane` of a plain call (no ``timeout=``, no cache read first; streamed
        or not) once its shape has one, else ``None`` (not decided yet, or no lane:
        :meth:`_run`, which a subclass may override, and which then decides no lanes)."""
        if self._first is not False or "timeout" in kwargs:
            return None
        model = kwargs.get("model")
        key = (api, model if isinstance(model, str) else None, bool(kwargs.get("stream")))
        return self._lanes.get(key)

    def _plain_begin(
        self, api: str, kwargs: dict[str, Any], lane: Lane
    ) -> tuple[str | None, str | None, Any]:
        """What :meth:`_start` gives a plain call on a known lane: the model it asked for,
        its prompt and its telemetry handle; ``None`` for the handle of a
        :class:`~._telemetry.Telemetry` that opens no span (:meth:`_plain_info` builds it
        when a record is made: a quiet call's success makes none until someone asks)."""
        model = kwargs.get("model")
        if not isinstance(model, str):
            model = None
        prompt = None
        if "extra_headers" in kwargs:  # the x-pytest-llm-prompt header (_prompts.py)
            prompt = prompt_of(kwargs)
        telemetry = self.telemetry
        if type(telemetry) is Telemetry:
            handle = telemetry.span_handle(api, model, base_url=lane.route.base_url)
        else:
            handle = telemetry.start(api, model, base_url=lane.route.base_url)
        return model, prompt, handle

    def _plain_info(
        self,
        api: str,
        model: str | None,
        prompt: str | None,
        handle: Any,
        lane: Lane,
        start: PlainStart | None,
    ) -> CallInfo:
        """The plain call's :class:`CallInfo` (:func:`plain_info`), with its telemetry
        handle (:meth:`_plain_begin`'s, or the no-span one it left to build)."""
        if handle is None and type(self.telemetry) is Telemetry:
            handle = CallHandle(api, model, None, 0, 0.0)  # what Telemetry.start returns
        return plain_info(api, model, prompt, handle, lane, start)

    def _plain_call(
        self,
        api: str,
        kwargs: dict[str, Any],
        lane: Lane,
        info: CallInfo,
        model: str | None,
        resumed: tuple[Any, Outcome] | None,
    ) -> Call:
        """The :class:`Call` the full flow takes a plain call up with: its first attempt
        over (``resumed``: its ticket and outcome), or not made (the breaker not closed)."""
        call = self._call(
            api,
            kwargs,
            None,
            (
                kwargs,
                self.timeouts,
                bool(kwargs.get("stream")),
                model,
                lane.routes,
                info,
                info.extra["telemetry"],
                None,
            ),
        )
        call.resumed = resumed
        return call

    def _plain_settle(
        self,
        api: str,
        kwargs: dict[str, Any],
        lane: Lane,
        model: str | None,
        prompt: str | None,
        handle: Any,
        start: PlainStart,
        value: Any,
        error: BaseException | None,
    ) -> tuple[CallInfo | None, Call | None, Any]:
        """The outcome of a plain call's first attempt (``start``: :func:`plain_start`'s),
        its reply ``value`` (an opened stream for a stream) or ``error``: recorded as
        served, or the :class:`Call` the full flow takes the call up with. Returns the
        call's :class:`CallInfo`, that call (``None``: served) and ``value``; or, for a
        call whose records nobody reads (:meth:`~._telemetry.Telemetry.quiet`), ``None``,
        ``None`` and what the caller gets, its info left for whoever asks to build
        (:func:`~._events.attach_pending`; a stream's ``info``)."""
        stream = bool(kwargs.get("stream"))
        if error is None and validate_reply(api, value) is None:
            telemetry = self.telemetry
            ended, quiet, now = plain_served(
                lane,
                start,
                clock=self.clock,
                breaker=self.breaker,
                latency=self.latency,
                telemetry=telemetry,
                handle=handle,
                stream=stream,
            )
            if quiet:  # the records are for whoever asks, built then
                if not stream:
                    attach_pending(
                        value, (api, model, prompt, lane, start, ended, now()), plain_pending
                    )
                    return None, None, value
                facts = (api, model, prompt, lane, start, ended, now(), kwargs)
                return (
                    None,
                    None,
                    self._plain_stream(None, lane, kwargs, value, start[0], None, facts),
                )
            info = self._plain_info(api, model, prompt, handle, lane, start)
            plain_record(info, lane, value, ended, telemetry)
            info.ended = now()
            return info, None, value
        info = self._plain_info(api, model, prompt, handle, lane, start)
        ticket = plain_ticket(self.breaker, lane, start[0])
        outcome = Outcome(error=error) if error is not None else Outcome(value=value)
        return info, self._plain_call(api, kwargs, lane, info, model, (ticket, outcome)), value

    def _plain_result(
        self,
        info: CallInfo | None,
        lane: Lane,
        kwargs: dict[str, Any],
        call: Call | None,
        value: Any,
        start: PlainStart | None,
    ) -> Any:
        """What the caller of a plain call gets: its stream, or its finished value."""
        if info is None:  # served, quiet: its info is built when someone asks
            return value
        if kwargs.get("stream"):
            if call is not None:
                return self._result(call, value, None)
            admission = None if start is None else start[0]  # served: start is not None
            return self._plain_stream(info, lane, kwargs, value, admission, info.extra["telemetry"])
        return self._finish_value(info, value)

    def _request(self, action: Send, timeout: Any) -> Any:
        """The SDK's call for ``action`` (its result, or the coroutine of the async SDK)."""
        sdk = self._sdk(action.route)
        method = self._method(sdk, action.api)
        if timeout is sdk.timeout:  # the SDK client's own: passing it costs the SDK a merge
            return method(**action.kwargs)
        return method(**action.kwargs, timeout=timeout)

    def _method(self, sdk: Any, api: str) -> Any:
        return _resource(sdk, api).create

    def _on_stream_end(self, call: Call, route_of: Callable[[], Route | None]) -> Any:
        info = call.info

        def end(error: BaseException | None, _: CallInfo | None = None) -> None:
            ticket = info.extra.pop("breaker_ticket", None)
            if ticket is not None and call.breaker is not None:  # the stream's verdict (38)
                call.breaker.record(ticket, stream_verdict(error, call.clock))
            route = route_of()
            if route is not None:
                _stream_used(info, route, call.kwargs)
            hold = info.extra.pop("gate_hold", None)
            if hold is not None:  # what the stream used, partial or whole, counts (47)
                hold.settle(info.usage)
            info.ended = call.clock.monotonic()
            self.telemetry.record_finish(info, error, info.extra.get("telemetry"))

        return end

    def _plain_stream(
        self,
        info: CallInfo | None,
        lane: Lane,
        kwargs: dict[str, Any],
        opened: tuple[Any, Any, list[Any]],
        admission: Any,
        handle: Any,
        facts: _StreamFacts | None = None,
    ) -> Any:
        """:meth:`_result` for a stream a plain call opened on its :class:`Lane`
        (:meth:`ResilientClient._plain`), without a :class:`Call`: its end records what
        :meth:`_on_stream_end`'s does (the breaker's verdict through ``admission``, no
        ticket for a success on a still clean record). A quiet call's stream (``info``
        ``None``, its ``facts`` instead) builds its info when someone asks
        (:func:`_plain_stream_info`); its end then gives the verdict and reads the clock,
        and records nothing unless it failed."""
        clock, breaker, telemetry, route = self.clock, self.breaker, self.telemetry, lane.route

        def end(error: BaseException | None, info: CallInfo | None) -> float | None:
            if admission is not None:  # the stream's verdict (38)
                plain_verdict(breaker, lane, admission, stream_verdict(error, clock))
            if info is None:  # pending, and ended whole: its records wait for a reader
                return clock.monotonic()
            _stream_used(info, route, kwargs)
            info.ended = clock.monotonic()
            if error is not None or facts is None:  # a quiet success records nothing
                telemetry.record_finish(info, error, info.extra.get("telemetry"))
            return None

        raw, tracker, buffered = opened
        pending = None if facts is None else (_plain_stream_info, facts)
        stream: Any
        if self._async:  # a lane has no deadline
            stream = AsyncResilientStream(
                raw, tracker, buffered, info, self.timeouts.chunk, end, pending=pending
            )
        else:
            stream = ResilientStream(
                raw, tracker, buffered, info, self.timeouts.chunk, end, pending=pending
            )
        if info is not None:  # else call_info reads stream.info, which builds it
            attach_info(stream, info)
        return stream

    def _result(self, call: Call, value: Any, structured: _StructuredCall | None) -> Any:
        """What the caller gets: the stream (sync or async) over an opened one, the value
        as is for a structured call (its check finishes it), else the finished value."""
        if call.stream:
            raw, tracker, buffered = value
            end = self._on_stream_end(call, lambda: self._route_named(call))
            stream: Any
            if self._async:
                deadline_at = None if call.deadline is None else call.info.started + call.deadline
                stream = AsyncResilientStream(
                    raw,
                    tracker,
                    buffered,
                    call.info,
                    call.timeouts.chunk,
                    end,
                    deadline_at=deadline_at,
                )
            else:
                stream = ResilientStream(
                    raw, tracker, buffered, call.info, call.timeouts.chunk, end
                )
            attach_info(stream, call.info)
            return stream
        if structured is not None:
            return value  # checked (and finished) by the structured call
        return self._finish_value(call.info, value)

    def _take_sdk_clients(self) -> list[Any]:
        """The SDK clients underneath, forgotten (for ``close``)."""
        with self._sdk_lock:
            clients, self._sdk_clients = list(self._sdk_clients.values()), {}
            self._sdk_of = {}
            self._lanes = {}  # they hold the SDK clients
        return clients

    def _finish_error(self, info: CallInfo, error: BaseException) -> None:
        info.ended = self.clock.monotonic()
        scrub_error(error)
        attach_info(error, info)
        if isinstance(error, LLMClientError) and error.info is None:
            error.info = info
        self.telemetry.record_finish(info, error, info.extra.get("telemetry"))

    def _finish_value(self, info: CallInfo, value: Any) -> Any:
        attach_info(value, info)
        self.telemetry.record_finish(info, None, info.extra.get("telemetry"))
        return value

    def _memo(self, call: Call, kwargs: dict[str, Any], structured: _StructuredCall | None) -> Memo:
        """The call's cache and coalescing state; a structured call's re-asks skip both
        (the first request's answer is stored once it validates)."""
        if structured is not None and structured.runs > 0:
            return Memo(call, None, None, None)
        memo = Memo.of(call, kwargs, self.cache, self.semantic_cache, self.coalescer)
        if structured is not None:
            structured.runs += 1
            structured.memo = memo
        return memo

    def _memo_read(self, call: Call, key: str | None) -> Memo:
        """The :class:`Memo` of a call whose exact cache was read first (a miss), as
        :meth:`_memo` would have made it (no semantic cache on this path)."""
        if key is None:
            return Memo.of(call, call.kwargs, None, None, None)  # a stream or uncacheable
        call.info.cache = "miss"
        return Memo(call, self.cache, None, self.coalescer, key=key, read=True)

    def _structured(self, api: str, kwargs: dict[str, Any]) -> _StructuredCall:
        return _StructuredCall(self, api, kwargs)

    def _route_named(self, call: Call) -> Route | None:
        for route in call.routes:
            if route.key == call.info.route:
                return route
        return None


class _StructuredCall:
    """One ``parse`` call: the plan, the re-ask messages, and one ``CallInfo`` across
    the first request and its re-asks (CONTRACTS 52: counted apart from retries)."""

    def __init__(self, client: _Core, api: str, kwargs: dict[str, Any]) -> None:
        from ._structured import StructuredPlan

        key = "response_format" if api == "chat" else "text_format"
        if key not in kwargs:
            raise ClientConfigError(
                f"{api}.parse(): {key}= is missing: parse() validates the answer against it.\n"
                f"Fix: pass {key}=YourModel (a pydantic model) or a JSON Schema dict, or call "
                "create() for a free-form answer."
            )
        self.client = client
        self.kwargs = kwargs
        self.plan = StructuredPlan(
            api,  # type: ignore[arg-type]
            kwargs[key],
            max_reasks=client.max_reasks,
            strategy=client.structured_strategy,
        )
        model = kwargs.get("model")
        self.info = CallInfo(api=api, requested_model=model if isinstance(model, str) else None)
        self.reask_messages: list[Any] | None = None
        self.runs = 0
        self.memo: Memo | None = None
        """Set for the first request: its answer is stored once it validates."""

    def prepare(self, route: Route) -> dict[str, Any]:
        kwargs = {k: v for k, v in self.kwargs.items() if k != "timeout"}  # the flow's own
        out = self.plan.prepare(kwargs, route, reask_messages=self.reask_messages)
        out["model"] = route.model
        return out

    def check(self, value: Any) -> Any:
        """The parsed result, or ``None`` to ask again; raises when the plan gives up."""
        from ._structured import Failed, Parsed

        route = next((r for r in self.client._candidates_all() if r.key == self.info.route), None)
        if route is None:
            route = Route(self.info.model or "unknown", base_url=self.info.base_url)
        if self.info.cache in ("hit", "semantic") and not self.info.attempts:
            self.prepare(route)  # a cache hit: no request was prepared, check it as if sent
        outcome = self.plan.check(value, route)
        if isinstance(outcome, Parsed):
            self.info.extra["repairs"] = list(outcome.repairs)
            attach_parsed(outcome.value, self.info)
            return self.client._finish_value(self.info, outcome.value)
        if isinstance(outcome, Failed):
            error = outcome.error
            error.info = self.info
            self.client._finish_error(self.info, error)
            raise error
        self.info.reasks = self.plan.reasks
        self.reask_messages = outcome.messages
        return None


_StreamFacts = tuple[str, str | None, str | None, Lane, PlainStart, float, float, dict[str, Any]]
"""A quiet plain stream's facts: :data:`~._plan.PlainFacts` and the request."""


def _plain_stream_info(stream: Any, facts: _StreamFacts) -> CallInfo:
    """The :class:`CallInfo` of a quiet plain call's stream (``_Core._plain_stream``),
    built when first asked for: as the call had it when the stream opened (the same
    :func:`plain_info` / :func:`plain_record` as a recorded one's), and, when the stream
    has ended since, as its end left it (``stream._ended_at``: the clock's reading then)."""
    api, model, prompt, lane, start, ended, finished, kwargs = facts
    info = plain_info(api, model, prompt, CallHandle(api, model, None, 0, 0.0), lane, start)
    plain_record(info, lane, None, ended, None)  # an opened stream carries no usage yet
    info.ended = finished
    if stream._ended_at is not None:
        stream._end_records(info)
        _stream_used(info, lane.route, kwargs)
        info.ended = stream._ended_at
    return info


def _stream_used(info: CallInfo, route: Route, kwargs: dict[str, Any]) -> None:
    """What a stream served by ``route`` used, once it ended: its usage estimated when it
    reported none (47: it ended early or without usage; the text that reached the caller
    included, about 4 characters a token) and its cost on the attempt that served it."""
    if info.usage is None:
        estimate = estimate_request_tokens(request_for(kwargs, route))
        output = math.ceil(info.extra.get("streamed_chars", 0) / 4)
        info.usage = {
            "input_tokens": estimate,
            "output_tokens": output,
            "total_tokens": estimate + output,
            "cached_tokens": 0,
            "estimated": 1,
        }
    if route.price is not None:
        served = [a for a in info.attempts if a.route == route.key and a.ok]
        if served:
            before = served[-1].cost
            served[-1].usage = info.usage
            served[-1].cost = route.price.cost(info.usage)
            info.cost += served[-1].cost - before


def _price_key(route: Route) -> tuple[float, int]:
    if route.price is None:
        return (math.inf, route.tier)
    return (route.price.input + route.price.output, route.tier)


# -- sync --------------------------------------------------------------------------------


class _Resource:
    """``chat.completions``, ``responses`` or ``embeddings`` of the sync client: the SDK's
    ``create`` for ``api``, through the client's flow."""

    def __init__(self, client: ResilientClient, api: str) -> None:
        self._client = client
        self._api = api

    def create(self, **kwargs: Any) -> Any:
        """As the SDK's ``create`` (``openai.OpenAI().chat.completions.create``, ...): same
        arguments, same types."""
        client = self._client
        lane = client._plain_lane(self._api, kwargs)
        if lane is not None:
            return client._plain(self._api, kwargs, lane)
        return client._run(self._api, kwargs)


class _Parsing(_Resource):
    """A resource with the SDK's ``parse`` too (chat completions, Responses)."""

    def parse(self, **kwargs: Any) -> Any:
        """As the SDK's ``parse``: ``response_format`` / ``text_format`` a pydantic model or
        a JSON Schema; local repair, then bounded re-asks (CONTRACTS 52)."""
        return self._client._parse(self._api, kwargs)


class _Chat:
    """``client.chat``: holds ``completions``, as the SDK's."""

    def __init__(self, completions: Any) -> None:
        self.completions = completions


class ResilientClient(_Core):
    """A drop-in for ``openai.OpenAI`` with retries, deadlines, breakers, fallback,
    structured output and telemetry on an injected clock. See ``docs/client.md``."""

    def _resources(self) -> None:
        from ._batches import Batches

        self.chat = _Chat(_Parsing(self, "chat"))
        self.responses = _Parsing(self, "responses")
        self.embeddings = _Resource(self, "embeddings")
        self.batches = Batches(self)  # batches.run(requests): _batches.py

    def _send(self, action: Send, timeout: Any) -> Any:
        return self._request(action, timeout)

    def _run(
        self,
        api: str,
        kwargs: dict[str, Any],
        structured: _StructuredCall | None = None,
    ) -> Any:
        if structured is None:
            lane = self._lane_of(api, kwargs)
            if lane is not None:  # decided here for its shape's first call
                return self._plain(api, kwargs, lane)
        if structured is None and (self._first or (self._first is None and self._reads_first())):
            start = self._start(api, kwargs, None)
            info = start[5]
            key = first_key(api, kwargs, start[2], start[4])
            if key is not None:
                try:
                    value = read_first(self.cache, key, info, self.clock, api)
                except BaseException as exc:
                    self._finish_error(info, exc)
                    raise
                if value is not None:  # a hit: nothing else to build
                    return self._finish_value(info, value)
            call = self._call(api, kwargs, None, start)
            memo = self._memo_read(call, key)
        else:
            call = self._call(api, kwargs, structured)
            memo = self._memo(call, kwargs, structured)
        try:
            if memo.key is None:  # no cache, no coalescing: lookup, coalesce, store are no-ops
                value = drive_sync(run_call(call), self._send, self.clock)
            else:
                value = memo.lookup()
                if value is None:
                    value = memo.coalesce(
                        lambda: drive_sync(run_call(call), self._send, self.clock)
                    )
                    if structured is None:
                        memo.store(value)
        except BaseException as exc:
            self._finish_error(call.info, exc)
            raise
        return self._result(call, value, structured)

    def _plain(self, api: str, kwargs: dict[str, Any], lane: Lane) -> Any:
        """A call on a :class:`Lane` (no policy acts before its first reply): its first
        attempt made here, without a :class:`Call`,
        which is built only when the full flow takes the call up (its first attempt
        failed or was unusable, its stream broke before content, or the route's breaker
        is not closed); a stream's end is :meth:`_plain_stream`'s. Every record is the
        full flow's (``tests/client/test_client_plain_path.py`` compares the two)."""
        model, prompt, handle = self._plain_begin(api, kwargs, lane)
        stream = bool(kwargs.get("stream"))
        start = None
        info: CallInfo | None = None
        call: Call | None = None
        value: Any = None
        try:
            start = plain_start(self.breaker, lane, self.clock)
            if start is None:
                info = self._plain_info(api, model, prompt, handle, lane, None)
                call = self._plain_call(api, kwargs, lane, info, model, None)
            else:
                request = request_for(kwargs, lane.route)
                error: BaseException | None = None
                try:
                    create = lane.resource.create
                    if lane.timeout is None:
                        value = create(**request)
                    else:
                        value = create(**request, timeout=lane.timeout)
                    if stream:
                        value = open_stream_sync(
                            value, api, start[2], self.timeouts.first_token, self.clock
                        )
                except BaseException as exc:
                    error = exc
                info, call, value = self._plain_settle(
                    api, kwargs, lane, model, prompt, handle, start, value, error
                )
            if call is not None:
                value = drive_sync(run_call(call), self._send, self.clock)
        except BaseException as exc:
            if info is None:
                info = self._plain_info(api, model, prompt, handle, lane, start)
            self._finish_error(info, exc)
            raise
        return self._plain_result(info, lane, kwargs, call, value, start)

    def close(self) -> None:
        """Close the SDK clients underneath (their connection pools), as ``OpenAI.close()``."""
        for client in self._take_sdk_clients():
            client.close()

    def __enter__(self) -> ResilientClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _parse(self, api: str, kwargs: dict[str, Any]) -> Any:
        structured = self._structured(api, kwargs)
        while True:
            value = self._run(api, kwargs, structured)
            done = structured.check(value)
            if done is not None:
                if structured.memo is not None:
                    structured.memo.store(value)
                return done

    def __repr__(self) -> str:
        routes = ", ".join(r.key for r in self._routes) or "per call"
        return f"ResilientClient(routes=[{routes}], retry={self.retry!r}, deadline={self.deadline})"


# -- async -------------------------------------------------------------------------------


class _AsyncResource:
    """The async twin of :class:`_Resource` (``create`` stays a coroutine function, as the
    SDK's: frameworks tell async clients apart by it)."""

    def __init__(self, client: AsyncResilientClient, api: str) -> None:
        self._client = client
        self._api = api

    async def create(self, **kwargs: Any) -> Any:
        client = self._client
        lane = client._plain_lane(self._api, kwargs)
        if lane is not None:
            return await client._plain(self._api, kwargs, lane)
        return await client._run(self._api, kwargs)


class _AsyncParsing(_AsyncResource):
    async def parse(self, **kwargs: Any) -> Any:
        return await self._client._parse(self._api, kwargs)


class AsyncResilientClient(_Core):
    """A drop-in for ``openai.AsyncOpenAI``; every timer runs on the injected clock."""

    _async = True

    def _resources(self) -> None:
        from ._batches import AsyncBatches

        self.chat = _Chat(_AsyncParsing(self, "chat"))
        self.responses = _AsyncParsing(self, "responses")
        self.embeddings = _AsyncResource(self, "embeddings")
        self.batches = AsyncBatches(self)  # await batches.run(requests): _batches.py

    async def _send(self, action: Send, timeout: Any) -> Any:
        return await self._request(action, timeout)

    async def _run(
        self,
        api: str,
        kwargs: dict[str, Any],
        structured: _StructuredCall | None = None,
    ) -> Any:
        if structured is None:
            lane = self._lane_of(api, kwargs)
            if lane is not None:  # decided here for its shape's first call
                return await self._plain(api, kwargs, lane)
        if structured is None and (self._first or (self._first is None and self._reads_first())):
            start = self._start(api, kwargs, None)
            info = start[5]
            key = first_key(api, kwargs, start[2], start[4])
            if key is not None:
                try:
                    value = await aread_first(self.cache, key, info, self.clock, api)
                except BaseException as exc:
                    self._finish_error(info, exc)
                    raise
                if value is not None:  # a hit: nothing else to build
                    return self._finish_value(info, value)
            call = self._call(api, kwargs, None, start)
            memo = self._memo_read(call, key)
        else:
            call = self._call(api, kwargs, structured)
            memo = self._memo(call, kwargs, structured)
        try:
            if memo.key is None:  # no cache, no coalescing: lookup, coalesce, store are no-ops
                value = await drive_async(run_call(call), self._send, self.clock)
            else:
                value = await memo.alookup()
                if value is None:
                    value = await memo.acoalesce(
                        lambda: drive_async(run_call(call), self._send, self.clock)
                    )
                    if structured is None:
                        await memo.astore(value)
        except BaseException as exc:
            self._finish_error(call.info, exc)
            raise
        return self._result(call, value, structured)

    async def _plain(self, api: str, kwargs: dict[str, Any], lane: Lane) -> Any:
        """The async twin of :meth:`ResilientClient._plain`."""
        model, prompt, handle = self._plain_begin(api, kwargs, lane)
        stream = bool(kwargs.get("stream"))
        start = None
        info: CallInfo | None = None
        call: Call | None = None
        value: Any = None
        try:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                raise not_on_asyncio() from None
            start = plain_start(self.breaker, lane, self.clock)
            if start is None:
                info = self._plain_info(api, model, prompt, handle, lane, None)
                call = self._plain_call(api, kwargs, lane, info, model, None)
            else:
                request = request_for(kwargs, lane.route)
                error: BaseException | None = None
                try:
                    create = lane.resource.create
                    if lane.timeout is None:
                        value = await create(**request)
                    else:
                        value = await create(**request, timeout=lane.timeout)
                    if stream:
                        value = await open_stream_async(
                            value,
                            api,
                            start[2],
                            self.timeouts.first_token,
                            self.clock,
                            None,
                        )
                except BaseException as exc:
                    error = exc
                info, call, value = self._plain_settle(
                    api, kwargs, lane, model, prompt, handle, start, value, error
                )
            if call is not None:
                value = await drive_async(run_call(call), self._send, self.clock)
        except BaseException as exc:
            if info is None:
                info = self._plain_info(api, model, prompt, handle, lane, start)
            self._finish_error(info, exc)
            raise
        return self._plain_result(info, lane, kwargs, call, value, start)

    async def close(self) -> None:
        """Close the SDK clients underneath, as ``await AsyncOpenAI.close()``."""
        for client in self._take_sdk_clients():
            await client.close()

    async def __aenter__(self) -> AsyncResilientClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _parse(self, api: str, kwargs: dict[str, Any]) -> Any:
        structured = self._structured(api, kwargs)
        while True:
            value = await self._run(api, kwargs, structured)
            done = structured.check(value)
            if done is not None:
                if structured.memo is not None:
                    await structured.memo.astore(value)
                return done

    def __repr__(self) -> str:
        routes = ", ".join(r.key for r in self._routes) or "per call"
        return (
            f"AsyncResilientClient(routes=[{routes}], retry={self.retry!r}, "
            f"deadline={self.deadline})"
        )
