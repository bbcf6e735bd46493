"""Deliberately broken variants of the reference client, one per contract family at
least: each is what a well-known client gets wrong, and the suite must fail it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

from pytest_llm.client import ResilientClient, RetryPolicy
from pytest_llm.conformance import Request, Setup
from pytest_llm.conformance.adapters.reference import ReferenceAdapter


class StackedRetriesClient(ResilientClient):
    """A: lets the SDK retry under the client's own retries (2 x 3 requests)."""

    def _sdk(self, route: Any) -> Any:
        return super()._sdk(route).with_options(max_retries=2)


def stacked_retries() -> ReferenceAdapter:
    return ReferenceAdapter(name="stacked-retries", client_class=StackedRetriesClient)


class _NoRetryAfter(RetryPolicy):
    def decide(self, failure: Any, **kwargs: Any) -> Any:
        return super().decide(dataclasses.replace(failure, retry_after=None), **kwargs)


class IgnoresRetryAfter(ReferenceAdapter):
    """B: plain backoff whatever the server says."""

    def options(self, setup: Setup) -> dict[str, Any]:
        options = super().options(setup)
        old = options["retry"]
        options["retry"] = _NoRetryAfter(
            max_retries=old.max_retries,
            backoff=old.backoff,
            max_retry_after=old.max_retry_after,
            timeout_retries=old.timeout_retries,
        )
        return options


def ignores_retry_after() -> ReferenceAdapter:
    return IgnoresRetryAfter(name="ignores-retry-after")


class NoDeadline(ReferenceAdapter):
    """C: says it has deadlines, drops them."""

    def options(self, setup: Setup) -> dict[str, Any]:
        options = super().options(setup)
        options["deadline"] = None
        return options


def no_deadline() -> ReferenceAdapter:
    return NoDeadline(name="no-deadline")


class RestartsStreams(ReferenceAdapter):
    """D: a wrapper that restarts a stream that failed, even after output (duplicated text)."""

    def _sstream(self, client: Any, kwargs: dict[str, Any], opened: list[Any]) -> Iterator[str]:
        for attempt in range(2):
            try:
                yield from super()._sstream(client, kwargs, opened)
                return
            except Exception:
                if attempt:
                    raise

    async def _astream(
        self, client: Any, kwargs: dict[str, Any], opened: list[Any]
    ) -> AsyncIterator[str]:
        for attempt in range(2):
            try:
                async for piece in super()._astream(client, kwargs, opened):
                    yield piece
                return
            except Exception:
                if attempt:
                    raise


def restarts_streams() -> list[ReferenceAdapter]:
    return [
        RestartsStreams(name="restarts-sync"),
        RestartsStreams(is_async=True, name="restarts-async"),
    ]


class FirstRouteOnly(ReferenceAdapter):
    """E: no fallback: only the first route is ever built."""

    def make(self, setup: Setup) -> Any:
        return super().make(dataclasses.replace(setup, routes=setup.routes[:1]))


def first_route_only() -> ReferenceAdapter:
    return FirstRouteOnly(name="first-route-only")


class NoBreaker(ReferenceAdapter):
    """F: claims a breaker, never opens."""

    def options(self, setup: Setup) -> dict[str, Any]:
        options = super().options(setup)
        options["breaker"] = False
        return options


def no_breaker() -> ReferenceAdapter:
    return NoBreaker(name="no-breaker")


class DropsParams(ReferenceAdapter):
    """I: a cache in front of a client that drops top_p and seed (so they never reach the key)."""

    def _kwargs(self, request: Request) -> dict[str, Any]:
        kwargs = super()._kwargs(request)
        kwargs.pop("top_p", None)
        kwargs.pop("seed", None)
        return kwargs


def drops_params() -> ReferenceAdapter:
    return DropsParams(name="drops-params")


class NoCoalesce(ReferenceAdapter):
    """J: claims coalescing, sends every request."""

    def options(self, setup: Setup) -> dict[str, Any]:
        options = super().options(setup)
        options.pop("coalesce", None)
        return options


def no_coalesce() -> ReferenceAdapter:
    return NoCoalesce(is_async=True, name="no-coalesce")


class NoLimiter(ReferenceAdapter):
    """G: claims rate limits, sends everything at once."""

    def options(self, setup: Setup) -> dict[str, Any]:
        options = super().options(setup)
        options.pop("limiter", None)
        return options


def no_limiter() -> ReferenceAdapter:
    return NoLimiter(name="no-limiter")


class NoBudget(ReferenceAdapter):
    """H: claims a budget, books nothing."""

    def options(self, setup: Setup) -> dict[str, Any]:
        options = super().options(setup)
        options.pop("budget", None)
        return options


def no_budget() -> ReferenceAdapter:
    return NoBudget(is_async=True, name="no-budget")


class NoReask(ReferenceAdapter):
    """K: structured output that never asks again."""

    def options(self, setup: Setup) -> dict[str, Any]:
        options = super().options(setup)
        options["max_reasks"] = 0
        return options


def no_reask() -> ReferenceAdapter:
    return NoReask(name="no-reask")


class OneEventPerCall(ReferenceAdapter):
    """L: logs one line per call (the last attempt), not one per attempt."""

    def events(self, outcome: Any) -> list[Any]:
        return super().events(outcome)[-1:]


def one_event_per_call() -> ReferenceAdapter:
    return OneEventPerCall(name="one-event-per-call")


class TrustsEvery200(ResilientClient):
    """M: hands any 200 to the caller, an error body included."""

    def _call(self, *args: Any, **kwargs: Any) -> Any:
        return dataclasses.replace(super()._call(*args, **kwargs), validate=None)


def trusts_every_200() -> ReferenceAdapter:
    return ReferenceAdapter(name="trusts-every-200", client_class=TrustsEvery200)


class ProviderUsageOnly(ResilientClient):
    """D: books only the usage the provider sent: a stream closed early records none."""

    def _on_stream_end(self, call: Any, route_of: Any) -> Any:
        end = super()._on_stream_end(call, route_of)

        def only_sent(error: BaseException | None) -> None:
            if call.info.usage is None:  # no usage chunk came: nothing recorded
                call.info.usage = {}
            end(error)

        return only_sent


def provider_usage_only() -> ReferenceAdapter:
    return ReferenceAdapter(name="provider-usage-only", client_class=ProviderUsageOnly)
