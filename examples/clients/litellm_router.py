"""Baseline: LiteLLM's ``Router`` (retries, fallbacks, cooldowns, caching, rate limits).

Configured the way LiteLLM's router documentation shows: a ``model_list`` with one
deployment per route (``model: "openai/<name>"``, ``api_base``, ``api_key``,
``timeout``; ``rpm`` / ``tpm`` when the setup limits them; ``input_cost_per_token`` /
``output_cost_per_token`` when the route has a price), ``num_retries``, ``fallbacks``
from the first route to the plain routes after it, ``context_window_fallbacks`` and
``content_policy_fallbacks`` to the routes that take them, ``allowed_fails`` and
``cooldown_time`` for the breaker (LiteLLM's cooldowns), and ``cache_responses=True``
with an in-memory ``litellm.Cache()`` for the cache.

Offline: ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (set here before the import, as LiteLLM
documents) makes it read its bundled price map instead of fetching one at import; the
calls go through the openai SDK it wraps, so the harness answers them.

Time: the router's backoff sleeps go through its host object
(``PythonHost.sleep_sync`` / ``sleep``: ``time.sleep`` / ``asyncio.sleep``); the
adapter builds the router with ``Router.from_config(..., host)`` and a host whose two
sleeps go to the harness clock. Cooldowns and the cache's TTL stay on LiteLLM's own
wall clock. The router's backoff jitter (up to 0.75 s on every wait) is drawn
inside its native core, which takes no seed: the waits in this baseline's report differ
from run to run (``check_reports.py`` masks their decimals for it).

Conformance: ``pytest --llm-conformance=examples.clients.litellm_router:adapter``.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from types import MappingProxyType
from typing import Any

import litellm
from litellm.caching.caching import Cache
from litellm.router import Router, router_arguments
from litellm.router_config import build_router_config
from litellm.router_python_host import PythonHost

from pytest_llm.conformance import ErrorInfo, Reply, Setup

from ._common import SDKAdapter, reply, sdk_error_kind

__all__ = ["LiteLLMClient", "adapter", "router_options"]


def router_options(setup: Setup) -> dict[str, Any]:
    """``Router(**options)`` for ``setup``, as LiteLLM's docs configure each feature."""
    model_list: list[dict[str, Any]] = []
    for r in setup.routes:
        params: dict[str, Any] = {
            "model": f"openai/{r.model}",
            "api_base": r.base_url,
            "api_key": r.key,
            "timeout": setup.read_timeout,
        }
        if setup.rate_limit is not None:
            if setup.rate_limit.rpm:
                params["rpm"] = setup.rate_limit.rpm
            if setup.rate_limit.tpm:
                params["tpm"] = setup.rate_limit.tpm
        if r.price is not None:
            params["input_cost_per_token"] = r.price[0] / 1e6
            params["output_cost_per_token"] = r.price[1] / 1e6
        info: dict[str, Any] = {}
        if r.context_window is not None:
            info["max_input_tokens"] = r.context_window
        model_list.append({"model_name": r.model, "litellm_params": params, "model_info": info})
    first = setup.routes[0].model
    plain = [r.model for r in setup.routes[1:] if not r.fallback_on]
    context = [r.model for r in setup.routes[1:] if "context_length" in r.fallback_on]
    policy = [r.model for r in setup.routes[1:] if "content_policy" in r.fallback_on]
    options: dict[str, Any] = {
        "model_list": model_list,
        "num_retries": setup.max_retries,
        "timeout": setup.read_timeout,
    }
    if plain:
        options["fallbacks"] = [{first: plain}]
    if context:
        options["context_window_fallbacks"] = [{first: context}]
    if policy:
        options["content_policy_fallbacks"] = [{first: policy}]
    if any(r.context_window for r in setup.routes):
        options["enable_pre_call_checks"] = True  # skip deployments whose window is too small
    if setup.breaker is not None:
        options["allowed_fails"] = setup.breaker.failure_threshold
        options["cooldown_time"] = setup.breaker.reset_timeout
    if setup.rate_limit is not None:
        options["routing_strategy"] = "usage-based-routing-v2"
    if setup.cache is not None:
        options["cache_responses"] = True
    return options


class ClockHost(PythonHost):
    """LiteLLM's router host with its two backoff sleeps on the given clock."""

    __slots__ = ("clock",)

    def __init__(self, clock: Any) -> None:
        self.clock = clock

    def sleep(self, seconds: float) -> Any:
        return self.clock.asleep(seconds)

    def sleep_sync(self, seconds: float) -> None:
        self.clock.sleep(seconds)


class LiteLLMClient:
    """A ``litellm.Router`` and the model group calls go to."""

    def __init__(self, model: str, *, host: PythonHost | None = None, **options: Any) -> None:
        self.model = model
        if host is None:
            self.router = Router(**options)
        else:  # the router's own constructor, with another host for its sleeps
            self.router = Router.from_config(build_router_config(router_arguments(**options)), host)

    def complete(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return self.router.completion(messages=messages, **params)

    def stream(self, messages: list[Any], **params: Any) -> Any:
        params.setdefault("model", self.model)
        return self.router.completion(messages=messages, stream=True, **params)


_KINDS = {
    "ContextWindowExceededError": "context_length",
    "ContentPolicyViolationError": "content_policy",
    "RateLimitError": "rate_limit",
    "Timeout": "timeout",
    "APIConnectionError": "connection",
    "ServiceUnavailableError": "server_error",
    "InternalServerError": "server_error",
    "BadGatewayError": "server_error",
    "BadRequestError": "client_error",
    "AuthenticationError": "client_error",
    "PermissionDeniedError": "client_error",
    "NotFoundError": "client_error",
    "UnprocessableEntityError": "client_error",
    "MidStreamFallbackError": "stream_interrupted",
}


def sdk_error_kind_for_status(status: int) -> str:
    if status == 429:
        return "rate_limit"
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "other"


class LiteLLMAdapter(SDKAdapter):
    name = "litellm-router"
    capabilities = frozenset(
        {
            "retries",
            "backoff",
            "retry_after",
            "timeouts",
            "stream",
            "routes",
            "context_fallback",
            "content_policy_fallback",
            "breaker",
            "cost",
            "cache",
            "rate_limit",
            "concurrency",
        }
    )
    reasons = MappingProxyType(
        {
            "seed": "no seed for the router's jitter",
            "deadline": "no deadline for the whole call",
            "first_token_timeout": "no time-to-first-token limit",
            "chunk_timeout": "no per-chunk idle timeout",
            "retry_budget": "no retry budget",
            "events": "no per-attempt records",
            "structured": "not part of this baseline",
            "budget": "budgets are per provider / key over real-time windows, not per client",
            "coalesce": "no request coalescing",
            "redis": "Redis for the router's state is not wired here",
            "cancel": "the sync router call cannot be cancelled",
            "stream_usage": "the adapter does not read the router's usage for a stream",
        }
    )

    def __init__(self) -> None:
        self._live = 0

    def make(self, setup: Setup) -> LiteLLMClient:
        if setup.cache is not None:
            litellm.cache = Cache()
        self._live += 1
        host = ClockHost(setup.clock)
        return LiteLLMClient(setup.routes[0].model, host=host, **router_options(setup))

    def close(self, client: Any) -> None:
        self._live -= 1
        if self._live <= 0:
            litellm.cache = None

    def to_reply(self, client: Any, value: Any) -> Reply:
        hidden = getattr(value, "_hidden_params", None) or {}
        out = reply(value, base_url=hidden.get("api_base"), cost=hidden.get("response_cost"))
        cached = hidden.get("cache_hit")
        out.cache = "hit" if cached else None
        return out

    def describe(self, error: BaseException) -> ErrorInfo:
        kind = _KINDS.get(type(error).__name__) or sdk_error_kind(error)
        status = getattr(error, "status_code", None)
        if kind in {"other", "provider_stream"} and isinstance(status, int):
            kind = sdk_error_kind_for_status(status)
        if "insufficient_quota" in str(error):
            kind = "quota"
        return ErrorInfo(kind, chained=error.__cause__ is not None)


def adapter() -> LiteLLMAdapter:
    return LiteLLMAdapter()
