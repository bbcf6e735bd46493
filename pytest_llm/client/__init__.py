"""pytest_llm.client: a resilient, drop-in client for the openai SDK.

``ResilientClient(routes=[...])`` behaves like ``openai.OpenAI()`` (same methods, same
keyword arguments, same return types) and adds retries with honest backoff, deadlines,
stream timeouts, circuit breakers, fallback across routes, hedging, structured output
and telemetry, all on an injected clock. It never imports pytest.
"""

from __future__ import annotations

from ._breaker import BreakerStore, CircuitBreaker, MemoryBreakerStore
from ._cache import Cache, CacheBackend, CacheBackendWarning
from ._client import AsyncResilientClient, ResilientClient
from ._coalesce import SingleFlight
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
from ._plan import Hedge, Timeouts
from ._prices import Price
from ._retry import Backoff, RetryBudget, RetryPolicy
from ._route import Route
from ._semantic import SemanticCache, openai_embedder
from ._stream import AsyncResilientStream, ResilientStream
from ._telemetry import Telemetry

__all__ = [
    "AsyncResilientClient",
    "AsyncResilientStream",
    "Attempt",
    "Backoff",
    "BreakerStore",
    "BudgetExceeded",
    "Cache",
    "CacheBackend",
    "CacheBackendWarning",
    "CallInfo",
    "CircuitBreaker",
    "CircuitOpenError",
    "ClientConfigError",
    "DeadlineExceeded",
    "FirstTokenTimeout",
    "Hedge",
    "IncompleteStream",
    "InvalidResponse",
    "LLMClientError",
    "MemoryBreakerStore",
    "Price",
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
    "Telemetry",
    "Timeouts",
    "call_info",
    "openai_embedder",
]
