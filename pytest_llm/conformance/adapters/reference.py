"""The adapter of the reference client, ``pytest_llm.client.ResilientClient`` and
``AsyncResilientClient``.

``pytest --llm-conformance=pytest_llm.conformance.adapters.reference:adapters`` runs
the suite against both. Capabilities that need the client's issue-10 options (cache,
limiter, budget, coalescing) are declared only when the client accepts them.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from .._protocol import Adapter, ErrorInfo, Reply, Request, Setup

__all__ = ["ReferenceAdapter", "adapters", "async_adapter", "sync_adapter"]

_BASE = frozenset(
    {
        "retries",
        "backoff",
        "retry_after",
        "seed",
        "deadline",
        "timeouts",
        "stream",
        "stream_usage",
        "first_token_timeout",
        "chunk_timeout",
        "routes",
        "context_fallback",
        "content_policy_fallback",
        "breaker",
        "retry_budget",
        "concurrency",
        "cost",
        "events",
        "structured",
    }
)

_ISSUE_10 = {"cache": "cache", "rate_limit": "limiter", "budget": "budget", "coalesce": "coalesce"}
"""Capability -> the client option it needs."""


def _client_options() -> tuple[str, ...]:
    from ...client import _client

    return tuple(_client._OPTIONS)


class ReferenceAdapter(Adapter):
    """``ResilientClient`` (``is_async=False``) or ``AsyncResilientClient``."""

    def __init__(
        self, *, is_async: bool = False, name: str | None = None, client_class: Any = None
    ) -> None:
        self.is_async = is_async
        self.client_class = client_class
        self.name = name or ("reference-async" if is_async else "reference-sync")
        options = _client_options()
        caps = set(_BASE)
        reasons: dict[str, str] = {}
        for cap, option in _ISSUE_10.items():
            if option in options:
                caps.add(cap)
            else:
                reasons[cap] = f"not wired yet (ResilientClient has no {option}= option)"
        caps.add("redis")  # the breaker's shared store; limiter/budget need their options too
        if is_async:
            caps.add("cancel")
        else:
            reasons["cancel"] = "a blocking call cannot be cancelled; the async adapter checks it"
        self.capabilities = frozenset(caps)
        self.reasons = reasons
        self._opened: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()

    # -- building --------------------------------------------------------------------

    def options(self, setup: Setup) -> dict[str, Any]:
        """The client's keyword arguments for ``setup`` (a subclass may change them)."""
        from ...client import (
            Backoff,
            CircuitBreaker,
            RetryBudget,
            RetryPolicy,
            Timeouts,
        )

        clock = setup.clock
        store = None
        if setup.redis_url is not None:
            from ...client._redis import RedisStore

            outage: Any = setup.redis_on_outage
            store = RedisStore(setup.redis_url, on_outage=outage, clock=clock, timeout=2.0)
        breaker: Any = False
        if setup.breaker is not None:
            breaker_store = None
            if store is not None:
                from ...client._redis import RedisBreakerStore

                breaker_store = RedisBreakerStore(store)
            breaker = CircuitBreaker(
                failure_threshold=setup.breaker.failure_threshold,
                reset_timeout=setup.breaker.reset_timeout,
                half_open_max_calls=setup.breaker.half_open_max_calls,
                clock=clock,
                store=breaker_store,
            )
        options: dict[str, Any] = {
            "clock": clock,
            "seed": setup.seed,
            "breaker": breaker,
            "deadline": setup.deadline,
            "retry": RetryPolicy(
                max_retries=setup.max_retries,
                backoff=Backoff(
                    base=setup.backoff_base,
                    max_delay=setup.backoff_max_delay,
                    jitter=setup.jitter,  # type: ignore[arg-type]
                ),
                max_retry_after=setup.max_retry_after,
                timeout_retries=setup.timeout_retries,
            ),
            "timeouts": Timeouts(
                connect=setup.connect_timeout,
                read=setup.read_timeout,
                first_token=setup.first_token_timeout,
                chunk=setup.chunk_timeout,
            ),
        }
        if setup.retry_budget is not None:
            rb = setup.retry_budget
            options["retry_budget"] = RetryBudget(
                ratio=rb.ratio,
                min_retries_per_window=rb.min_retries_per_window,
                window=rb.window,
                clock=clock,
            )
        if setup.cache is not None:
            from ...client._cache import Cache

            options["cache"] = Cache(setup.cache.backend, ttl=setup.cache.ttl, clock=clock)
        if setup.rate_limit is not None:
            from ...client._limits import RateLimiter

            rl = setup.rate_limit
            options["limiter"] = RateLimiter(
                rpm=rl.rpm, tpm=rl.tpm, burst=rl.burst, window=rl.window, clock=clock, store=store
            )
        if setup.budget is not None:
            from ...client._budget import Budget

            options["budget"] = Budget(
                per_request=setup.budget.per_request,
                daily=setup.budget.limit,
                unit=setup.budget.unit,  # type: ignore[arg-type]
                clock=clock,
                store=store,
            )
        if setup.coalesce:
            options["coalesce"] = True
        return options

    def make(self, setup: Setup) -> Any:
        from ...client import AsyncResilientClient, ResilientClient

        cls = self.client_class or (AsyncResilientClient if self.is_async else ResilientClient)
        return cls(self._routes(setup), **self.options(setup))

    def _routes(self, setup: Setup) -> list[Any]:
        from ...client import Price, Route

        return [
            Route(
                r.model,
                base_url=r.base_url,
                api_key=r.key,
                context_window=r.context_window,
                fallback_on=frozenset(r.fallback_on),
                price=None if r.price is None else Price(input=r.price[0], output=r.price[1]),
            )
            for r in setup.routes
        ]

    # -- calling ---------------------------------------------------------------------

    def _kwargs(self, request: Request) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"messages": [dict(m) for m in request.messages]}
        if request.model is not None:
            kwargs["model"] = request.model
        kwargs.update(request.params)
        return kwargs

    def reply(self, value: Any) -> Reply:
        from ...client import call_info

        info = call_info(value)
        message = value.choices[0].message
        calls = [(c.function.name, c.function.arguments) for c in (message.tool_calls or [])]
        usage = value.usage.model_dump() if value.usage is not None else None
        return Reply(
            text=message.content or "",
            model=info.model,
            base_url=info.base_url,
            tool_calls=calls,
            usage=usage,
            cost=info.cost,
            cache=info.cache,
            type_name=type(value).__name__,
            raw=value,
        )

    def call(self, client: Any, request: Request) -> Any:
        if self.is_async:
            return self._acall(client, request)
        return self.reply(client.chat.completions.create(**self._kwargs(request)))

    async def _acall(self, client: Any, request: Request) -> Reply:
        return self.reply(await client.chat.completions.create(**self._kwargs(request)))

    @staticmethod
    def _pieces(chunk: Any) -> Iterator[str]:
        for choice in chunk.choices or ():
            delta = choice.delta
            if delta.content:
                yield delta.content
            for call in delta.tool_calls or ():
                if call.function is not None and call.function.arguments:
                    yield call.function.arguments

    def stream(self, client: Any, request: Request) -> Iterator[str] | AsyncIterator[str]:
        kwargs = self._kwargs(request)
        kwargs["stream"] = True
        opened: list[Any] = []  # the client's stream, once the generator opens it
        pieces: Iterator[str] | AsyncIterator[str]
        if self.is_async:
            pieces = self._astream(client, kwargs, opened)
        else:
            pieces = self._sstream(client, kwargs, opened)
        self._opened[pieces] = opened
        return pieces

    def stream_usage(self, stream: Any) -> Mapping[str, int] | None:
        """The usage on the client's stream (its ``CallInfo``): partial after a close."""
        opened = self._opened.get(stream)
        return opened[-1].info.usage if opened else None

    def _sstream(self, client: Any, kwargs: dict[str, Any], opened: list[Any]) -> Iterator[str]:
        stream = client.chat.completions.create(**kwargs)
        opened.append(stream)
        try:
            for chunk in stream:
                yield from self._pieces(chunk)
        finally:
            stream.close()

    async def _astream(
        self, client: Any, kwargs: dict[str, Any], opened: list[Any]
    ) -> AsyncIterator[str]:
        stream = await client.chat.completions.create(**kwargs)
        opened.append(stream)
        try:
            async for chunk in stream:
                for piece in self._pieces(chunk):
                    yield piece
        finally:
            await stream.close()

    def parse(self, client: Any, request: Request, schema: type[Any]) -> Any:
        kwargs = self._kwargs(request)
        kwargs["response_format"] = schema
        if self.is_async:
            return self._aparse(client, kwargs)
        return client.chat.completions.parse(**kwargs).choices[0].message.parsed

    async def _aparse(self, client: Any, kwargs: dict[str, Any]) -> Any:
        return (await client.chat.completions.parse(**kwargs)).choices[0].message.parsed

    # -- reading outcomes ------------------------------------------------------------

    def describe(self, error: BaseException) -> ErrorInfo:
        import asyncio

        import openai

        from ... import client as c

        kind = "other"
        retry_after: float | None = None
        partial: str | None = None
        usage: Mapping[str, int] | None = None
        if isinstance(error, c.StreamError):
            partial = error.partial_text
            usage = error.usage
        table: list[tuple[type[BaseException], str]] = [
            (c.QuotaExceeded, "quota"),
            (c.RateLimitWaitTooLong, "rate_limit_wait"),
            (c.DeadlineExceeded, "deadline"),
            (c.CircuitOpenError, "circuit_open"),
            (c.RetryBudgetExhausted, "retry_budget"),
            (c.InvalidResponse, "invalid_response"),
            (c.StreamIdleTimeout, "stream_idle"),  # these may also be StreamInterrupted
            (c.FirstTokenTimeout, "first_token"),
            (c.IncompleteStream, "incomplete_stream"),
            (c.StreamProtocolError, "stream_protocol"),
            (c.ProviderStreamError, "provider_stream"),
            (c.StreamInterrupted, "stream_interrupted"),
            (c.BudgetExceeded, "budget"),
            (c.RateLimitExceeded, "rate_limited"),
            (c.StructuredOutputError, "structured"),
            (asyncio.CancelledError, "cancelled"),
            (openai.APITimeoutError, "timeout"),
            (openai.APIConnectionError, "connection"),
        ]
        for cls, name in table:
            if isinstance(error, cls):
                kind = name
                break
        if isinstance(error, c.RateLimitWaitTooLong):
            retry_after = error.retry_after
        if kind == "other" and isinstance(error, openai.APIStatusError):
            code = (error.body or {}).get("code") if isinstance(error.body, dict) else None
            status = error.status_code
            if code == "context_length_exceeded":
                kind = "context_length"
            elif code == "content_policy_violation":
                kind = "content_policy"
            elif status == 429:
                kind = "rate_limit"
            elif status == 408:
                kind = "timeout"
            elif status >= 500 or status == 409:  # 409: a transient conflict
                kind = "server_error"
            elif 400 <= status < 500:
                kind = "client_error"
        chained = error.__cause__ is not None or error.__context__ is not None
        return ErrorInfo(kind, partial, usage, retry_after, chained)

    def events(self, outcome: Any) -> list[Mapping[str, Any]]:
        from ...client import call_info

        target = outcome.raw if isinstance(outcome, Reply) else outcome
        info = call_info(target)
        return [
            {
                "number": a.number,
                "route": a.route,
                "status": a.status,
                "error": a.error,
                "reason": a.reason,
                "wait": a.wait,
                "breaker": a.breaker,
                "limiter_wait": a.limiter_wait,
                "skipped": a.skipped,
            }
            for a in info.attempts
        ]

    def log_text(self, outcome: Any) -> str:
        """Everything the client says about a call, for the credential check (53)."""
        from ...client import call_info

        target = outcome.raw if isinstance(outcome, Reply) else outcome
        return call_info(target).summary()


def sync_adapter() -> ReferenceAdapter:
    return ReferenceAdapter(is_async=False)


def async_adapter() -> ReferenceAdapter:
    return ReferenceAdapter(is_async=True)


def adapters() -> list[ReferenceAdapter]:
    """Both: ``--llm-conformance=pytest_llm.conformance.adapters.reference:adapters``."""
    return [sync_adapter(), async_adapter()]
