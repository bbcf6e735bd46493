"""pytest_llm.client: a resilient, drop-in client for the openai SDK.

``ResilientClient(routes=[...])`` behaves like ``openai.OpenAI()`` (same methods, same
keyword arguments, same return types) and adds retries with honest backoff, deadlines,
stream timeouts, circuit breakers, fallback across routes, hedging, structured output
and telemetry, all on an injected clock. It never imports pytest.

Names load on first use (the package facade is lazy, like the rest of pytest_llm).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_facade

if TYPE_CHECKING:
    from ._batches import (
        BatchError as BatchError,
    )
    from ._batches import (
        BatchItem as BatchItem,
    )
    from ._batches import (
        BatchItemError as BatchItemError,
    )
    from ._batches import (
        BatchResult as BatchResult,
    )
    from ._breaker import (
        BreakerStore as BreakerStore,
    )
    from ._breaker import (
        CircuitBreaker as CircuitBreaker,
    )
    from ._breaker import (
        MemoryBreakerStore as MemoryBreakerStore,
    )
    from ._budget import (
        Budget as Budget,
    )
    from ._budget import (
        BudgetLimitExceeded as BudgetLimitExceeded,
    )
    from ._cache import (
        Cache as Cache,
    )
    from ._cache import (
        CacheBackend as CacheBackend,
    )
    from ._cache import (
        CacheBackendWarning as CacheBackendWarning,
    )
    from ._client import (
        AsyncResilientClient as AsyncResilientClient,
    )
    from ._client import (
        ResilientClient as ResilientClient,
    )
    from ._coalesce import (
        SingleFlight as SingleFlight,
    )
    from ._context import (
        ContextBudgetError as ContextBudgetError,
    )
    from ._context import (
        atrim_conversation as atrim_conversation,
    )
    from ._context import (
        chunk as chunk,
    )
    from ._context import (
        trim_conversation as trim_conversation,
    )
    from ._context import (
        truncate as truncate,
    )
    from ._errors import (
        BudgetExceeded as BudgetExceeded,
    )
    from ._errors import (
        CircuitOpenError as CircuitOpenError,
    )
    from ._errors import (
        ClientConfigError as ClientConfigError,
    )
    from ._errors import (
        DeadlineExceeded as DeadlineExceeded,
    )
    from ._errors import (
        FirstTokenTimeout as FirstTokenTimeout,
    )
    from ._errors import (
        IncompleteStream as IncompleteStream,
    )
    from ._errors import (
        InvalidResponse as InvalidResponse,
    )
    from ._errors import (
        LLMClientError as LLMClientError,
    )
    from ._errors import (
        ProviderStreamError as ProviderStreamError,
    )
    from ._errors import (
        QuotaExceeded as QuotaExceeded,
    )
    from ._errors import (
        RateLimitExceeded as RateLimitExceeded,
    )
    from ._errors import (
        RateLimitWaitTooLong as RateLimitWaitTooLong,
    )
    from ._errors import (
        RetryBudgetExhausted as RetryBudgetExhausted,
    )
    from ._errors import (
        StreamError as StreamError,
    )
    from ._errors import (
        StreamIdleTimeout as StreamIdleTimeout,
    )
    from ._errors import (
        StreamInterrupted as StreamInterrupted,
    )
    from ._errors import (
        StreamProtocolError as StreamProtocolError,
    )
    from ._errors import (
        StructuredOutputError as StructuredOutputError,
    )
    from ._events import (
        Attempt as Attempt,
    )
    from ._events import (
        CallInfo as CallInfo,
    )
    from ._events import (
        call_info as call_info,
    )
    from ._injection import (
        Suspicion as Suspicion,
    )
    from ._injection import (
        UnsafeOutput as UnsafeOutput,
    )
    from ._injection import (
        check_action as check_action,
    )
    from ._injection import (
        check_code as check_code,
    )
    from ._injection import (
        check_json as check_json,
    )
    from ._injection import (
        check_path as check_path,
    )
    from ._injection import (
        check_sql as check_sql,
    )
    from ._injection import (
        check_url as check_url,
    )
    from ._injection import (
        guarded_messages as guarded_messages,
    )
    from ._injection import (
        suspicion as suspicion,
    )
    from ._injection import (
        wrap_untrusted as wrap_untrusted,
    )
    from ._limits import (
        RateLimiter as RateLimiter,
    )
    from ._plan import (
        Hedge as Hedge,
    )
    from ._plan import (
        Timeouts as Timeouts,
    )
    from ._prices import (
        Price as Price,
    )
    from ._prices import (
        PriceTable as PriceTable,
    )
    from ._prompts import (
        Prompt as Prompt,
    )
    from ._prompts import (
        PromptError as PromptError,
    )
    from ._prompts import (
        PromptLibrary as PromptLibrary,
    )
    from ._redis import (
        RedisStore as RedisStore,
    )
    from ._retry import (
        Backoff as Backoff,
    )
    from ._retry import (
        RetryBudget as RetryBudget,
    )
    from ._retry import (
        RetryPolicy as RetryPolicy,
    )
    from ._route import (
        Route as Route,
    )
    from ._semantic import (
        SemanticCache as SemanticCache,
    )
    from ._semantic import (
        openai_embedder as openai_embedder,
    )
    from ._stream import (
        AsyncResilientStream as AsyncResilientStream,
    )
    from ._stream import (
        ResilientStream as ResilientStream,
    )
    from ._telemetry import (
        Telemetry as Telemetry,
    )
    from ._tokens import (
        Tokenizer as Tokenizer,
    )
    from ._tokens import (
        count_request_tokens as count_request_tokens,
    )
    from ._tokens import (
        count_tokens as count_tokens,
    )
    from ._tokens import (
        tokenizer_for as tokenizer_for,
    )

# The one table: each public name and the module it loads from, on first use.
_WHERE = {
    "BatchError": "._batches",
    "BatchItem": "._batches",
    "BatchItemError": "._batches",
    "BatchResult": "._batches",
    "BreakerStore": "._breaker",
    "CircuitBreaker": "._breaker",
    "MemoryBreakerStore": "._breaker",
    "Budget": "._budget",
    "BudgetLimitExceeded": "._budget",
    "Cache": "._cache",
    "CacheBackend": "._cache",
    "CacheBackendWarning": "._cache",
    "AsyncResilientClient": "._client",
    "ResilientClient": "._client",
    "SingleFlight": "._coalesce",
    "ContextBudgetError": "._context",
    "atrim_conversation": "._context",
    "chunk": "._context",
    "trim_conversation": "._context",
    "truncate": "._context",
    "BudgetExceeded": "._errors",
    "CircuitOpenError": "._errors",
    "ClientConfigError": "._errors",
    "DeadlineExceeded": "._errors",
    "FirstTokenTimeout": "._errors",
    "IncompleteStream": "._errors",
    "InvalidResponse": "._errors",
    "LLMClientError": "._errors",
    "ProviderStreamError": "._errors",
    "QuotaExceeded": "._errors",
    "RateLimitExceeded": "._errors",
    "RateLimitWaitTooLong": "._errors",
    "RetryBudgetExhausted": "._errors",
    "StreamError": "._errors",
    "StreamIdleTimeout": "._errors",
    "StreamInterrupted": "._errors",
    "StreamProtocolError": "._errors",
    "StructuredOutputError": "._errors",
    "Attempt": "._events",
    "CallInfo": "._events",
    "call_info": "._events",
    "Suspicion": "._injection",
    "UnsafeOutput": "._injection",
    "check_action": "._injection",
    "check_code": "._injection",
    "check_json": "._injection",
    "check_path": "._injection",
    "check_sql": "._injection",
    "check_url": "._injection",
    "guarded_messages": "._injection",
    "suspicion": "._injection",
    "wrap_untrusted": "._injection",
    "RateLimiter": "._limits",
    "Hedge": "._plan",
    "Timeouts": "._plan",
    "Price": "._prices",
    "PriceTable": "._prices",
    "Prompt": "._prompts",
    "PromptError": "._prompts",
    "PromptLibrary": "._prompts",
    "RedisStore": "._redis",
    "Backoff": "._retry",
    "RetryBudget": "._retry",
    "RetryPolicy": "._retry",
    "Route": "._route",
    "SemanticCache": "._semantic",
    "openai_embedder": "._semantic",
    "AsyncResilientStream": "._stream",
    "ResilientStream": "._stream",
    "Telemetry": "._telemetry",
    "Tokenizer": "._tokens",
    "count_request_tokens": "._tokens",
    "count_tokens": "._tokens",
    "tokenizer_for": "._tokens",
}
__all__, __getattr__, __dir__ = lazy_facade(__name__, _WHERE)
