"""Baseline: the timeouts the seed articles teach.

The shape (seed article 004, "set timeouts"): ``openai.AsyncOpenAI(timeout=
httpx.Timeout(60.0, connect=5.0))`` read as "60 s total, 5 s connect", and for streams
"your own per-chunk timeout": each chunk of ``async for chunk in stream`` passed through
``asyncio.wait_for(asyncio.to_thread(lambda: chunk), timeout=chunk_timeout)``, raising
``Exception("Stream stalled")`` on ``asyncio.TimeoutError``.

Configuration from the suite's ``Setup``: the "total" is ``deadline`` (``read_timeout``
when there is none), ``connect = connect_timeout``, ``chunk_timeout`` as given (10 s,
the article's, when unset); the SDK keeps the setup's ``max_retries``.

Conformance: ``pytest --llm-conformance=examples.clients.seed_timeouts:adapter``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import openai

from pytest_llm.conformance import ErrorInfo, Setup

from ._common import SDK_CAPABILITIES, SDK_REASONS, SDKAdapter, platform_known, sdk_error_kind

__all__ = ["TimeoutClient", "adapter", "stream_with_timeout"]


async def stream_with_timeout(stream: Any, chunk_timeout: float = 10) -> AsyncIterator[Any]:
    """The article's per-chunk timeout around an async stream."""
    async for chunk in stream:
        try:
            yield await asyncio.wait_for(
                asyncio.to_thread(lambda: chunk),  # noqa: B023 (the article's code)
                timeout=chunk_timeout,
            )
        except TimeoutError:
            raise Exception("Stream stalled") from None


class TimeoutClient:
    """An async SDK client with a "total" timeout and a per-chunk stream timeout."""

    def __init__(
        self,
        model: str,
        *,
        total: float | None = 60.0,
        connect: float | None = 5.0,
        chunk_timeout: float = 10,
        **openai_options: Any,
    ) -> None:
        self.model = model
        self.chunk_timeout = chunk_timeout
        self.openai = openai.AsyncOpenAI(
            timeout=openai.Timeout(total, connect=connect), **openai_options
        )

    async def complete(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return await self.openai.chat.completions.create(messages=messages, **params)

    async def stream(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        stream = await self.openai.chat.completions.create(messages=messages, stream=True, **params)
        return stream_with_timeout(stream, self.chunk_timeout)

    async def close(self) -> None:
        await self.openai.close()


class SeedTimeoutsAdapter(SDKAdapter):
    name = "seed-timeouts"
    is_async = True
    capabilities = SDK_CAPABILITIES | {"deadline", "chunk_timeout", "cancel"}
    reasons = SDK_REASONS

    def make(self, setup: Setup) -> TimeoutClient:
        route = setup.routes[0]
        client = TimeoutClient(
            route.model,
            total=setup.deadline if setup.deadline is not None else setup.read_timeout,
            connect=setup.connect_timeout,
            chunk_timeout=setup.chunk_timeout if setup.chunk_timeout is not None else 10,
            api_key=route.key,
            base_url=route.base_url,
            max_retries=setup.max_retries,
        )
        platform_known(client.openai)
        return client

    def describe(self, error: BaseException) -> ErrorInfo:
        if type(error) is Exception and str(error) == "Stream stalled":
            return ErrorInfo("stream_idle")
        return ErrorInfo(sdk_error_kind(error), chained=error.__cause__ is not None)


def adapter() -> SeedTimeoutsAdapter:
    return SeedTimeoutsAdapter()
