"""pytest_llm.client: a resilient, drop-in client for the openai SDK.

``ResilientClient(routes=[...])`` behaves like ``openai.OpenAI()`` (same methods, same
keyword arguments, same return types) and adds retries with honest backoff, deadlines,
stream timeouts, circuit breakers, fallback across routes, hedging, structured output
and telemetry, all on an injected clock. It never imports pytest.
"""

from __future__ import annotations

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
from ._prices import Price
from ._route import Route

__all__ = [
    "Attempt",
    "BudgetExceeded",
    "CallInfo",
    "CircuitOpenError",
    "ClientConfigError",
    "DeadlineExceeded",
    "FirstTokenTimeout",
    "IncompleteStream",
    "InvalidResponse",
    "LLMClientError",
    "Price",
    "ProviderStreamError",
    "QuotaExceeded",
    "RateLimitExceeded",
    "RateLimitWaitTooLong",
    "RetryBudgetExhausted",
    "Route",
    "StreamError",
    "StreamIdleTimeout",
    "StreamInterrupted",
    "StreamProtocolError",
    "StructuredOutputError",
    "call_info",
]
