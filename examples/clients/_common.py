"""What every baseline adapter shares: building an openai SDK client from a ``Setup``,
turning a ``ChatCompletion`` into a ``Reply``, and naming the SDK's errors in the
suite's words.

Nothing here adds resilience: it only translates between the conformance protocol and
the plain openai SDK objects the baselines return.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai

from pytest_llm.conformance import Adapter, ErrorInfo, Reply, Request, RouteSpec, Setup

__all__ = [
    "SDKAdapter",
    "call_args",
    "openai_kwargs",
    "pieces",
    "platform_known",
    "reply",
    "sdk_error_kind",
]


def openai_kwargs(setup: Setup, route: RouteSpec) -> dict[str, Any]:
    """The SDK's own documented knobs for ``route``: key, base URL, retries, timeout."""
    timeout: Any = None
    if setup.read_timeout is not None or setup.connect_timeout is not None:
        timeout = openai.Timeout(setup.read_timeout, connect=setup.connect_timeout)
    return {
        "api_key": route.key,
        "base_url": route.base_url,
        "max_retries": setup.max_retries,
        "timeout": timeout,
    }


def platform_known(client: Any) -> Any:
    """Let an ``openai.AsyncOpenAI`` skip its first-request platform lookup.

    On a client's first request the async SDK looks the platform up in a worker thread
    (``asyncify(get_platform)``). Under the harness's virtual clock a task waiting on a
    worker thread does not hold time still (docs/clock.md, "Concurrency"), so when a
    contract starts several calls at once on a fresh client, how far the clock moves
    depends on the thread scheduling of the machine. The adapter does the lookup here,
    synchronously, through the SDK's own ``get_platform``; nothing else changes.
    """
    from openai._base_client import get_platform

    if getattr(client, "_platform", "absent") is None:
        client._platform = get_platform()
    return client


def call_args(request: Request) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``(messages, keywords)`` of a request, as a baseline's ``complete`` takes them."""
    kwargs: dict[str, Any] = dict(request.params)
    if request.model is not None:
        kwargs["model"] = request.model
    return [dict(m) for m in request.messages], kwargs


def reply(
    completion: Any,
    *,
    base_url: str | None = None,
    cost: float | None = None,
    cache: str | None = None,
) -> Reply:
    """A ``Reply`` from a ``ChatCompletion`` (or from what a baseline returns instead)."""
    if isinstance(completion, dict):  # e.g. a cache that hands back the stored JSON
        message = completion["choices"][0]["message"]
        calls = [
            (c["function"]["name"], c["function"]["arguments"])
            for c in message.get("tool_calls") or []
        ]
        return Reply(
            text=message.get("content") or "",
            model=completion.get("model"),
            base_url=base_url,
            tool_calls=calls,
            usage=completion.get("usage"),
            cost=cost,
            cache=cache,
            type_name=type(completion).__name__,
            raw=completion,
        )
    message = completion.choices[0].message
    tool_calls = [
        (c.function.name, c.function.arguments)
        for c in (message.tool_calls or [])
        if getattr(c, "function", None) is not None
    ]
    usage = completion.usage.model_dump() if completion.usage is not None else None
    return Reply(
        text=message.content or "",
        model=completion.model,
        base_url=base_url,
        tool_calls=tool_calls,
        usage=usage,
        cost=cost,
        cache=cache,
        type_name=type(completion).__name__,
        raw=completion,
    )


def pieces(chunk: Any) -> Iterator[str]:
    """The content of one stream chunk: text and tool-call argument deltas."""
    for choice in getattr(chunk, "choices", None) or ():
        delta = choice.delta
        if delta is None:
            continue
        if delta.content:
            yield delta.content
        for call in delta.tool_calls or ():
            if call.function is not None and call.function.arguments:
                yield call.function.arguments


def sdk_error_kind(error: BaseException) -> str:
    """The suite's name for an error the openai SDK (or httpx under it) raised."""
    if isinstance(error, openai.APIStatusError):
        body = error.body if isinstance(error.body, dict) else {}
        code = body.get("code") or (body.get("error") or {}).get("code")
        status = error.status_code
        if code == "insufficient_quota":
            return "quota"
        if code == "context_length_exceeded":
            return "context_length"
        if code == "content_policy_violation":
            return "content_policy"
        if status == 429:
            return "rate_limit"
        if status >= 500:
            return "server_error"
        return "client_error"
    if isinstance(error, openai.APITimeoutError):
        return "timeout"
    if isinstance(error, openai.APIConnectionError):
        return "connection"
    if isinstance(error, openai.APIError):
        # the SDK raises a bare APIError for an in-band error event of a stream
        return "provider_stream"
    name = type(error).__name__
    if name in {"ReadTimeout", "ConnectTimeout", "PoolTimeout", "WriteTimeout"}:
        return "timeout"  # httpx's own, let through mid-stream by openai 2.x
    if name in {"ReadError", "RemoteProtocolError", "ConnectError"}:
        return "connection"
    if name in {"JSONDecodeError", "ValidationError"}:
        return "stream_protocol"
    return "other"


class SDKAdapter(Adapter):
    """Calls a baseline whose ``complete(messages, **params)`` returns a
    ``ChatCompletion`` and whose ``stream(messages, **params)`` returns the SDK's stream
    (coroutines when ``is_async``). Subclasses set ``name``, ``capabilities``,
    ``reasons`` and ``make``."""

    def base_url(self, client: Any, value: Any) -> str | None:
        return None

    def cost(self, client: Any, value: Any) -> float | None:
        return None

    def to_reply(self, client: Any, value: Any) -> Reply:
        return reply(value, base_url=self.base_url(client, value), cost=self.cost(client, value))

    def call(self, client: Any, request: Request) -> Any:
        if self.is_async:
            return self._acall(client, request)
        messages, kwargs = call_args(request)
        return self.to_reply(client, client.complete(messages, **kwargs))

    async def _acall(self, client: Any, request: Request) -> Reply:
        messages, kwargs = call_args(request)
        return self.to_reply(client, await client.complete(messages, **kwargs))

    def stream(self, client: Any, request: Request) -> Iterator[str] | AsyncIterator[str]:
        if self.is_async:
            return self._astream(client, request)
        return self._sstream(client, request)

    def _sstream(self, client: Any, request: Request) -> Iterator[str]:
        messages, kwargs = call_args(request)
        stream = client.stream(messages, **kwargs)
        try:
            for chunk in stream:
                yield from pieces(chunk)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    async def _astream(self, client: Any, request: Request) -> AsyncIterator[str]:
        messages, kwargs = call_args(request)
        stream = await client.stream(messages, **kwargs)
        try:
            async for chunk in stream:
                for piece in pieces(chunk):
                    yield piece
        finally:
            close = getattr(stream, "aclose", None) or getattr(stream, "close", None)
            if close is not None:
                await close()

    def describe(self, error: BaseException) -> ErrorInfo:
        kind = self.kind(error)
        chained = error.__cause__ is not None or error.__context__ is not None
        return ErrorInfo(kind, chained=chained)

    def kind(self, error: BaseException) -> str:
        return sdk_error_kind(error)

    def close(self, client: Any) -> Any:
        close = getattr(client, "close", None)
        return close() if close is not None else None


SDK_CAPABILITIES = frozenset(
    {"retries", "backoff", "retry_after", "timeouts", "stream", "concurrency"}
)
"""What the openai SDK itself does, so what every baseline built on it has at least."""

SDK_REASONS: dict[str, str] = {
    "seed": "the openai SDK draws its jitter from the random module (no seed option)",
    "deadline": "the openai SDK has a per-attempt timeout, no deadline for the whole call",
    "routes": "one model on one base URL: the SDK has no fallback",
    "first_token_timeout": "the openai SDK has no time-to-first-token limit",
    "chunk_timeout": "only the read timeout, which the SDK applies per socket read",
    "breaker": "no circuit breaker",
    "retry_budget": "no retry budget",
    "events": "no per-attempt records (the SDK only logs)",
    "cost": "no price table",
    "structured": "not part of this baseline",
    "cache": "no cache",
    "rate_limit": "no client-side rate limiter",
    "budget": "no budget",
    "coalesce": "no request coalescing",
    "redis": "no shared state",
    "cancel": "a blocking call cannot be cancelled",
    "stream_usage": "the SDK keeps no usage for a stream closed early (it comes in the last chunk)",
}
"""Why a capability is missing, for the baselines built on the plain SDK."""
