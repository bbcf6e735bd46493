"""Baseline: the ``circuitbreaker`` package's ``@circuit`` decorator.

The shape (the package's documented use; "circuit breakers" in seed article 003): the
async call decorated with ``circuit(failure_threshold=..., recovery_timeout=...,
expected_exception=...)``, counting the failures that mean the provider is down
(``openai.APIConnectionError``, which includes timeouts, and
``openai.InternalServerError``, every 5xx); an open circuit raises
``CircuitBreakerError``. One breaker per provider; a provider that is down or open
passes the call to the next one in order. Under each, an ``openai.AsyncOpenAI`` with
the setup's ``max_retries`` and timeout.

Configuration from the suite's ``Setup``: ``failure_threshold`` and
``recovery_timeout = reset_timeout`` from ``Setup.breaker`` (the package has no
half-open limit). Without a breaker in the setup the decorator still applies, with the
package's defaults (5 failures, 30 s).

Time: the package reads ``time.monotonic`` through the name ``monotonic`` it imported
into its module; the adapter points that name at the harness clock while its clients
live (``circuitbreaker.monotonic``), and puts the real one back when the last closes.

Conformance: ``pytest --llm-conformance=examples.clients.circuit_breaker:adapter``.
"""

from __future__ import annotations

import time
from types import MappingProxyType
from typing import Any

import circuitbreaker
import openai
from circuitbreaker import CircuitBreakerError, circuit

from pytest_llm.conformance import ErrorInfo, Setup

from ._common import (
    SDK_CAPABILITIES,
    SDK_REASONS,
    SDKAdapter,
    openai_kwargs,
    platform_known,
    sdk_error_kind,
)

__all__ = ["BreakerClient", "adapter"]

PROVIDER_DOWN = (openai.APIConnectionError, openai.InternalServerError)
"""What counts as a failure of the provider (the rest are the caller's problem)."""


class BreakerClient:
    """One ``@circuit`` per provider; an open or failing provider passes to the next."""

    def __init__(
        self,
        routes: list[tuple[str, dict[str, Any]]],
        *,
        failure_threshold: int = 5,
        recovery_timeout: float = 30,
    ) -> None:
        self.providers: list[tuple[str, openai.AsyncOpenAI, Any]] = []
        for model, options in routes:
            breaker = circuit(
                failure_threshold=failure_threshold,
                recovery_timeout=recovery_timeout,
                expected_exception=PROVIDER_DOWN,
                name=f"llm-{model}-{id(self)}",
            )
            client = openai.AsyncOpenAI(**options)
            self.providers.append((model, client, breaker(self._create)))

    @staticmethod
    async def _create(client: openai.AsyncOpenAI, **params: Any) -> Any:
        return await client.chat.completions.create(**params)

    async def complete(self, messages: list[Any], **params: Any) -> Any:
        return await self._first(messages=messages, **params)

    async def stream(self, messages: list[Any], **params: Any) -> Any:
        return await self._first(messages=messages, stream=True, **params)

    async def _first(self, **params: Any) -> Any:
        params.pop("model", None)
        error: BaseException | None = None
        for model, client, call in self.providers:
            try:
                return await call(client, model=model, **params)
            except (CircuitBreakerError, *PROVIDER_DOWN) as e:
                error = e  # this provider is down or open: try the next
        assert error is not None
        raise error

    async def close(self) -> None:
        for _, client, _ in self.providers:
            await client.close()


class BreakerAdapter(SDKAdapter):
    name = "circuitbreaker"
    is_async = True
    capabilities = SDK_CAPABILITIES | {"breaker", "cancel", "routes"}
    reasons = MappingProxyType(
        {k: v for k, v in SDK_REASONS.items() if k not in {"breaker", "cancel"}}
    )

    def __init__(self) -> None:
        self._live = 0

    def make(self, setup: Setup) -> BreakerClient:
        circuitbreaker.monotonic = setup.clock.monotonic
        self._live += 1
        spec = setup.breaker
        options: dict[str, Any] = {}
        if spec is not None:
            options = {
                "failure_threshold": spec.failure_threshold,
                "recovery_timeout": spec.reset_timeout,
            }
        routes = [(r.model, openai_kwargs(setup, r)) for r in setup.routes]
        client = BreakerClient(routes, **options)
        for _, sdk, _ in client.providers:
            platform_known(sdk)
        return client

    async def close(self, client: Any) -> None:
        await client.close()
        self._live -= 1
        if self._live <= 0:
            circuitbreaker.monotonic = time.monotonic

    def describe(self, error: BaseException) -> ErrorInfo:
        if isinstance(error, CircuitBreakerError):
            return ErrorInfo("circuit_open")
        return ErrorInfo(sdk_error_kind(error), chained=error.__cause__ is not None)


def adapter() -> BreakerAdapter:
    return BreakerAdapter()
