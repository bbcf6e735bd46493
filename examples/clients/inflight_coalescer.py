"""Baseline: the ``_inflight`` dict coalescer.

The shape (seed article 003, "request coalescing"): a dict from a prompt hash to an
``asyncio.Future``; a request whose hash is in the dict awaits that future; otherwise it
makes the future, stores it, calls the model, ``set_result`` / ``set_exception``
(``except Exception``) and, in ``finally``, deletes the key. The dict lives on the
client here (the article's is a module global) so clients do not share it.

Configuration from the suite's ``Setup``: the key is ``sha256`` of the messages (the
article's ``prompt_hash``); an ``openai.AsyncOpenAI`` with the setup's ``max_retries``
and timeout does the call.

The adapter guards one thing the pattern cannot: a follower whose leader was cancelled
waits on a future nobody will resolve, forever. So that the suite reports it instead of
hanging, the adapter remembers each leader's task and fails a follower that is still
waiting when its leader's task was cancelled with its future unresolved
(``FollowerAbandoned``; no timer, real or virtual).

Conformance: ``pytest --llm-conformance=examples.clients.inflight_coalescer:adapter``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import weakref
from types import MappingProxyType
from typing import Any

import openai

from pytest_llm.conformance import ErrorInfo, Reply, Request, Setup

from ._common import (
    SDK_CAPABILITIES,
    SDK_REASONS,
    SDKAdapter,
    call_args,
    openai_kwargs,
    platform_known,
    sdk_error_kind,
)

__all__ = ["CoalescingClient", "FollowerAbandoned", "adapter"]


class FollowerAbandoned(Exception):
    """The adapter's verdict: this follower's leader is gone and its future never ends."""


class CoalescingClient:
    """Identical concurrent prompts share one in-flight call."""

    def __init__(self, model: str, **openai_options: Any) -> None:
        self.model = model
        self.openai = openai.AsyncOpenAI(**openai_options)
        self._inflight: dict[str, asyncio.Future[Any]] = {}

    @staticmethod
    def prompt_hash(messages: list[Any]) -> str:
        return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()

    async def _call_llm(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return await self.openai.chat.completions.create(messages=messages, **params)

    async def complete(self, messages: list[Any], **params: Any) -> Any:
        prompt_hash = self.prompt_hash(messages)
        if prompt_hash in self._inflight:
            return await self._inflight[prompt_hash]

        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[prompt_hash] = future

        try:
            result = await self._call_llm(messages, **params)
            future.set_result(result)
            return result
        except Exception as e:
            future.set_exception(e)
            raise
        finally:
            del self._inflight[prompt_hash]

    async def stream(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return await self.openai.chat.completions.create(messages=messages, stream=True, **params)

    async def close(self) -> None:
        await self.openai.close()


class CoalescerAdapter(SDKAdapter):
    name = "inflight-coalescer"
    is_async = True
    capabilities = SDK_CAPABILITIES | {"coalesce", "cancel"}
    reasons = MappingProxyType({k: v for k, v in SDK_REASONS.items() if k != "cancel"})

    def __init__(self) -> None:
        self._leaders: weakref.WeakKeyDictionary[Any, dict[str, asyncio.Task[Any]]] = (
            weakref.WeakKeyDictionary()
        )

    def make(self, setup: Setup) -> CoalescingClient:
        route = setup.routes[0]
        client = CoalescingClient(route.model, **openai_kwargs(setup, route))
        platform_known(client.openai)
        return client

    async def _acall(self, client: Any, request: Request) -> Reply:
        messages, kwargs = call_args(request)
        key = client.prompt_hash(messages)
        future = client._inflight.get(key)
        leaders = self._leaders.setdefault(client, {})
        task = asyncio.ensure_future(client.complete(messages, **kwargs))
        if future is None:  # this call leads
            leaders[key] = task
            return self.to_reply(client, await task)
        leader = leaders.get(key)
        if leader is not None:
            await asyncio.wait({task, leader}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done() and leader.cancelled() and not future.done():
                # the follower's task is left waiting: cancelling it would cancel the
                # shared future too (asyncio cancels what a task awaits); asyncio.run
                # cancels it when the loop closes
                raise FollowerAbandoned(
                    "the leader was cancelled: its future is never resolved and this "
                    "follower would wait forever"
                )
        return self.to_reply(client, await task)

    def describe(self, error: BaseException) -> ErrorInfo:
        if isinstance(error, FollowerAbandoned):
            return ErrorInfo("other")
        return ErrorInfo(sdk_error_kind(error), chained=error.__cause__ is not None)


def adapter() -> CoalescerAdapter:
    return CoalescerAdapter()
