"""Baseline: the bare openai SDK with its defaults.

What most apps start with (seed articles: "the basic call"): ``openai.OpenAI()`` and
``chat.completions.create``. The SDK retries by itself (``max_retries=2``: 408, 409,
429, 5xx and connection errors, honouring ``retry-after-ms``, ``retry-after`` and
``x-should-retry``), backs off from 0.5 s doubling to 8 s with up to 25 % jitter, and
applies one timeout per attempt. Only its own documented knobs are set: ``max_retries``
and ``timeout`` (read and connect); nothing wraps it.

Conformance: ``pytest --llm-conformance=examples.clients.openai_sdk:adapter``.
"""

from __future__ import annotations

from typing import Any

import openai

from pytest_llm.conformance import Setup

from ._common import SDK_CAPABILITIES, SDK_REASONS, SDKAdapter, openai_kwargs, platform_known

__all__ = ["AsyncSDKClient", "SDKClient", "adapter"]


class SDKClient:
    """``openai.OpenAI`` and one model: the whole client."""

    def __init__(self, model: str, **options: Any) -> None:
        self.model = model
        self.openai = openai.OpenAI(**options)

    def complete(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return self.openai.chat.completions.create(messages=messages, **params)

    def stream(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return self.openai.chat.completions.create(messages=messages, stream=True, **params)

    def close(self) -> None:
        self.openai.close()


class AsyncSDKClient:
    """``openai.AsyncOpenAI`` and one model."""

    def __init__(self, model: str, **options: Any) -> None:
        self.model = model
        self.openai = openai.AsyncOpenAI(**options)

    async def complete(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return await self.openai.chat.completions.create(messages=messages, **params)

    async def stream(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return await self.openai.chat.completions.create(messages=messages, stream=True, **params)

    async def close(self) -> None:
        await self.openai.close()


class SDKBaselineAdapter(SDKAdapter):
    def __init__(self, *, is_async: bool) -> None:
        self.is_async = is_async
        self.name = "openai-sdk-async" if is_async else "openai-sdk"
        caps = set(SDK_CAPABILITIES)
        reasons = dict(SDK_REASONS)
        if is_async:
            caps.add("cancel")
            del reasons["cancel"]
        self.capabilities = frozenset(caps)
        self.reasons = reasons

    def make(self, setup: Setup) -> Any:
        route = setup.routes[0]
        if self.is_async:
            client = AsyncSDKClient(route.model, **openai_kwargs(setup, route))
            platform_known(client.openai)
            return client
        return SDKClient(route.model, **openai_kwargs(setup, route))

    def base_url(self, client: Any, value: Any) -> str | None:
        return str(client.openai.base_url).rstrip("/")


def adapter() -> list[SDKBaselineAdapter]:
    """The sync and the async client."""
    return [SDKBaselineAdapter(is_async=False), SDKBaselineAdapter(is_async=True)]
