"""Deliberately broken variants of the reference client (``pytest_llm.client``).

Each variant is the reference client with one safeguard taken out of its configuration
(the adapter still declares the capability, so the suite checks it): the contracts that
no baseline here breaks must still catch a client that lacks the safeguard. Each variant
declares only the capabilities its target contracts need, so the rest are "not
applicable" and the run stays short.

Conformance: ``pytest --llm-conformance=examples.clients.broken_reference:adapter``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from pytest_llm.conformance import Setup
from pytest_llm.conformance.adapters.reference import ReferenceAdapter

__all__ = ["VARIANTS", "Variant", "adapter"]

Mutation = Callable[[Setup, dict[str, Any]], None]


def _no_retry_budget(setup: Setup, options: dict[str, Any]) -> None:
    options.pop("retry_budget", None)


def _fixed_seed(setup: Setup, options: dict[str, Any]) -> None:
    options["seed"] = 0  # every client draws the same jitter, whatever it was given


def _no_retries(setup: Setup, options: dict[str, Any]) -> None:
    from pytest_llm.client import RetryPolicy

    old = options["retry"]
    options["retry"] = RetryPolicy(
        max_retries=0,
        backoff=old.backoff,
        max_retry_after=old.max_retry_after,
        timeout_retries=old.timeout_retries,
    )


def _no_first_token(setup: Setup, options: dict[str, Any]) -> None:
    options["timeouts"] = dataclasses.replace(options["timeouts"], first_token=None)


def _no_deadline(setup: Setup, options: dict[str, Any]) -> None:
    options["deadline"] = None


def _no_limiter(setup: Setup, options: dict[str, Any]) -> None:
    options.pop("limiter", None)


def _local_limiter(setup: Setup, options: dict[str, Any]) -> None:
    limiter = options.get("limiter")
    if limiter is not None and setup.rate_limit is not None:
        from pytest_llm.client._limits import RateLimiter

        rl = setup.rate_limit
        options["limiter"] = RateLimiter(
            rpm=rl.rpm, tpm=rl.tpm, burst=rl.burst, window=rl.window, clock=setup.clock
        )


def _outage_inverted(setup: Setup, options: dict[str, Any]) -> None:
    breaker = options.get("breaker")
    if setup.redis_url is None or not breaker:
        return
    from pytest_llm.client import CircuitBreaker
    from pytest_llm.client._redis import RedisBreakerStore, RedisStore

    inverted: Any = "closed" if setup.redis_on_outage == "open" else "open"
    store = RedisStore(setup.redis_url, on_outage=inverted, clock=setup.clock, timeout=0.2)
    assert setup.breaker is not None
    options["breaker"] = CircuitBreaker(
        failure_threshold=setup.breaker.failure_threshold,
        reset_timeout=setup.breaker.reset_timeout,
        half_open_max_calls=setup.breaker.half_open_max_calls,
        clock=setup.clock,
        store=RedisBreakerStore(store),
    )


def _no_coalescing(setup: Setup, options: dict[str, Any]) -> None:
    options.pop("coalesce", None)


class Variant(ReferenceAdapter):
    """The reference client with ``mutation`` applied to its options."""

    def __init__(
        self,
        name: str,
        mutation: Mutation,
        capabilities: set[str],
        *,
        is_async: bool = False,
        drop_prices: bool = False,
        pieces: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(is_async=is_async, name=name)
        missing = capabilities - set(self.capabilities)
        if missing:  # the reference client lacks an option this variant needs
            self.reasons = {**self.reasons, **dict.fromkeys(missing, "not in the reference")}
        self.capabilities = frozenset(capabilities) & frozenset(self.capabilities)
        self.mutation = mutation
        self.drop_prices = drop_prices
        self.pieces = pieces

    def options(self, setup: Setup) -> dict[str, Any]:
        options = super().options(setup)
        self.mutation(setup, options)
        return options

    def make(self, setup: Setup) -> Any:
        if self.drop_prices:
            routes = tuple(dataclasses.replace(r, price=None) for r in setup.routes)
            setup = dataclasses.replace(setup, routes=routes)
        return super().make(setup)

    def stream(self, client: Any, request: Any) -> Any:
        pieces = super().stream(client, request)
        return pieces if self.pieces is None else self.pieces(pieces)


class _Unclosed:
    """``for chunk in stream: ... break`` on a stream with no ``with`` and no
    ``close()``: the loop stops, the response stays open until the garbage collector
    finds it (CPython's cycle collector: the SDK's stream refers to itself)."""

    def __init__(self, pieces: Iterator[str]) -> None:
        self._pieces = pieces

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._pieces)


class _Pumped:
    """A reader task pumps the stream into a queue the caller reads (the usual way to
    put a per-chunk timeout or a fan-out on a stream). Cancelling the caller cancels
    its ``queue.get()``, not the pump: the response is read on in the background."""

    def __init__(self, pieces: Any) -> None:
        # one piece ahead at most, as a reader with back-pressure does
        self._queue: asyncio.Queue[tuple[str | None, BaseException | None]] = asyncio.Queue(1)
        self._pump = asyncio.ensure_future(self._run(pieces))

    async def _run(self, pieces: Any) -> None:
        try:
            async for piece in pieces:
                await self._queue.put((piece, None))
        except Exception as exc:
            await self._queue.put((None, exc))
        else:
            await self._queue.put((None, None))
        finally:
            await pieces.aclose()

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        piece, error = await self._queue.get()
        if error is not None:
            raise error
        if piece is None:
            raise StopAsyncIteration
        return piece

    async def aclose(self) -> None:  # an early break is handled: only a cancel leaks
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump


def _keep(setup: Setup, options: dict[str, Any]) -> None:
    return None


VARIANTS: dict[str, tuple[Mutation, set[str], dict[str, Any]]] = {
    "ref-no-retry-budget": (_no_retry_budget, {"retries", "retry_budget"}, {}),
    "ref-fixed-seed": (_fixed_seed, {"retries", "backoff", "seed"}, {}),
    "ref-no-retries": (_no_retries, {"retries", "timeouts", "stream"}, {}),
    "ref-no-first-token": (
        _no_first_token,
        {"stream", "first_token_timeout", "routes", "retries"},
        {},
    ),
    "ref-no-deadline": (
        _no_deadline,
        {"deadline", "rate_limit", "retries", "backoff", "retry_after"},
        {},
    ),
    "ref-no-limiter": (_no_limiter, {"rate_limit", "retry_after"}, {}),
    "ref-local-limiter": (_local_limiter, {"rate_limit", "redis"}, {}),
    "ref-outage-inverted": (_outage_inverted, {"breaker", "redis"}, {}),
    "ref-no-prices": (_keep, {"cost", "routes", "retries"}, {"drop_prices": True}),
    "ref-no-coalescing": (
        _no_coalescing,
        {"coalesce", "concurrency", "cancel"},
        {"is_async": True},
    ),
    "ref-unclosed-stream": (_keep, {"stream", "stream_usage"}, {"pieces": _Unclosed}),
    "ref-pumped-stream": (_keep, {"stream", "cancel"}, {"is_async": True, "pieces": _Pumped}),
}
"""name -> (what is taken out, the capabilities it declares, adapter options)."""


def adapter() -> list[Variant]:
    return [
        Variant(name, mutation, caps, **extra) for name, (mutation, caps, extra) in VARIANTS.items()
    ]
