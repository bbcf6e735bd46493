"""Baseline: the Redis exact cache keyed on the prompt.

The shape (seed articles 000, 001, 002, 004): ``key = "llm:" + sha256(json.dumps(
{"model", "messages", "temperature"}, sort_keys=True))``; ``GET`` the key and, on a hit,
return ``json.loads`` of what was stored; on a miss call the model and ``SETEX`` the
response's ``model_dump()`` JSON with a TTL (3600 s by default). The method's
``temperature`` defaults to 0, as in article 002, so a call that does not say is
cached. The TTL is Redis's own.

Configuration from the suite's ``Setup``: ``ttl = cache.ttl`` (3600 when unset); the
store is ``redis.Redis.from_url(cache.backend)`` for a ``redis://`` backend, else an
in-process ``fakeredis.FakeRedis`` (the same API, no server); the SDK with the setup's
``max_retries`` and timeout.

Conformance: ``pytest --llm-conformance=examples.clients.redis_cache:adapter``.
"""

from __future__ import annotations

import hashlib
import json
from types import MappingProxyType
from typing import Any

import openai

from pytest_llm.conformance import ErrorInfo, Reply, Setup

from ._common import SDK_CAPABILITIES, SDK_REASONS, SDKAdapter, openai_kwargs, reply, sdk_error_kind

__all__ = ["CachedClient", "adapter"]


class CachedClient:
    """An SDK client behind an exact Redis cache."""

    def __init__(self, model: str, cache: Any, *, ttl: int = 3600, **openai_options: Any) -> None:
        self.model = model
        self.cache = cache
        self.cache_ttl = ttl
        self.openai = openai.OpenAI(**openai_options)

    def _cache_key(self, model: str, messages: list[Any], temperature: float) -> str:
        content = json.dumps(
            {"model": model, "messages": messages, "temperature": temperature}, sort_keys=True
        )
        return f"llm:{hashlib.sha256(content.encode()).hexdigest()}"

    def complete(self, messages: list[Any], temperature: float = 0.0, **params: Any) -> Any:
        model = params.pop("model", self.model)
        key = self._cache_key(model, messages, temperature)
        cached = self.cache.get(key)
        if cached:
            return json.loads(cached)
        response = self.openai.chat.completions.create(
            model=model, messages=messages, temperature=temperature, **params
        )
        self.cache.setex(key, self.cache_ttl, json.dumps(response.model_dump()))
        return response

    def close(self) -> None:
        self.openai.close()


class RedisCacheAdapter(SDKAdapter):
    name = "redis-cache"
    capabilities = (SDK_CAPABILITIES - {"stream"}) | {"cache"}
    reasons = MappingProxyType(
        {**SDK_REASONS, "stream": "the pattern caches non-streamed calls only"}
    )

    def make(self, setup: Setup) -> CachedClient:
        route = setup.routes[0]
        backend = setup.cache.backend if setup.cache else "memory"
        if backend.startswith("redis://"):
            import redis

            store: Any = redis.Redis.from_url(backend)
        else:
            import fakeredis

            store = fakeredis.FakeRedis()
        ttl = setup.cache.ttl if setup.cache and setup.cache.ttl else 3600
        return CachedClient(route.model, store, ttl=int(ttl), **openai_kwargs(setup, route))

    def to_reply(self, client: Any, value: Any) -> Reply:
        return reply(value, cache="hit" if isinstance(value, dict) else None)

    def describe(self, error: BaseException) -> ErrorInfo:
        return ErrorInfo(sdk_error_kind(error), chained=error.__cause__ is not None)


def adapter() -> RedisCacheAdapter:
    return RedisCacheAdapter()
