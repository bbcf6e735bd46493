"""pytest_llm.client: a resilient, drop-in client for the openai SDK.

``ResilientClient(routes=[...])`` behaves like ``openai.OpenAI()`` (same methods, same
keyword arguments, same return types) and adds retries with honest backoff, deadlines,
stream timeouts, circuit breakers, fallback across routes, hedging, structured output
and telemetry, all on an injected clock. It never imports pytest.
"""

from __future__ import annotations

from ._batches import BatchError, BatchItem, BatchItemError, BatchResult
from ._breaker import BreakerStore, CircuitBreaker, MemoryBreakerStore
from ._cache import Cache, CacheBackend, CacheBackendWarning
from ._client import AsyncResilientClient, ResilientClient
from ._coalesce import SingleFlight
from ._context import ContextBudgetError, atrim_conversation, chunk, trim_conversation, truncate
from ._errors import (
    BudgetExceeded,
    CircuitOpenError,
    ClientConfigError,
    DeadlineExceeded,
    FirstTokenTimeout,
    IncompleteStream,
    InvalidResponse,
    LLMClientError,
    ProviderStreamError,
    QuotaExceeded,
    RateLimitExceeded,
    RateLimitWaitTooLong,
    RetryBudgetExhausted,
    StreamError,
    StreamIdleTimeout,
    StreamInterrupted,
    StreamProtocolError,
    StructuredOutputError,
)
from ._events import Attempt, CallInfo, call_info
from ._injection import (
    Suspicion,
    UnsafeOutput,
    check_action,
    check_code,
    check_json,
    check_path,
    check_sql,
    check_url,
    guarded_messages,
    suspicion,
    wrap_untrusted,
)
from ._plan import Hedge, Timeouts
from ._prices import Price
from ._prompts import Prompt, PromptError, PromptLibrary
from ._retry import Backoff, RetryBudget, RetryPolicy
from ._route import Route
from ._semantic import SemanticCache, openai_embedder
from ._stream import AsyncResilientStream, ResilientStream
from ._telemetry import Telemetry
from ._tokens import Tokenizer, count_request_tokens, count_tokens, tokenizer_for

__all__ = [
    "AsyncResilientClient",
    "AsyncResilientStream",
    "Attempt",
    "Backoff",
    "BatchError",
    "BatchItem",
    "BatchItemError",
    "BatchResult",
    "BreakerStore",
    "BudgetExceeded",
    "Cache",
    "CacheBackend",
    "CacheBackendWarning",
    "CallInfo",
    "CircuitBreaker",
    "CircuitOpenError",
    "ClientConfigError",
    "ContextBudgetError",
    "DeadlineExceeded",
    "FirstTokenTimeout",
    "Hedge",
    "IncompleteStream",
    "InvalidResponse",
    "LLMClientError",
    "MemoryBreakerStore",
    "Price",
    "Prompt",
    "PromptError",
    "PromptLibrary",
    "ProviderStreamError",
    "QuotaExceeded",
    "RateLimitExceeded",
    "RateLimitWaitTooLong",
    "ResilientClient",
    "ResilientStream",
    "RetryBudget",
    "RetryBudgetExhausted",
    "RetryPolicy",
    "Route",
    "SemanticCache",
    "SingleFlight",
    "StreamError",
    "StreamIdleTimeout",
    "StreamInterrupted",
    "StreamProtocolError",
    "StructuredOutputError",
    "Suspicion",
    "Telemetry",
    "Timeouts",
    "Tokenizer",
    "UnsafeOutput",
    "atrim_conversation",
    "call_info",
    "check_action",
    "check_code",
    "check_json",
    "check_path",
    "check_sql",
    "check_url",
    "chunk",
    "count_request_tokens",
    "count_tokens",
    "guarded_messages",
    "openai_embedder",
    "suspicion",
    "tokenizer_for",
    "trim_conversation",
    "truncate",
    "wrap_untrusted",
]
