"""The client adapter protocol: how the suite builds a client, calls it and reads what
happened, without knowing which client it is.

An adapter is any object with the attributes and methods of :class:`Adapter` (subclass
it for the defaults). The suite describes a client's configuration as a :class:`Setup`
and asks the adapter to build it; a call's outcome comes back as a :class:`Reply` or as
an exception the adapter describes with :meth:`Adapter.describe`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CAPABILITIES",
    "ERROR_KINDS",
    "Adapter",
    "BreakerSpec",
    "BudgetSpec",
    "CacheSpec",
    "ErrorInfo",
    "RateLimitSpec",
    "Reply",
    "Request",
    "RetryBudgetSpec",
    "RouteSpec",
    "Setup",
]

BASE_URL = "http://llm.test/v1"

CAPABILITIES: dict[str, str] = {
    "retries": "Setup.max_retries bounds the retries per route",
    "backoff": "Setup.backoff_base / backoff_max_delay / jitter shape the waits",
    "retry_after": "server Retry-After honoured, capped by Setup.max_retry_after",
    "seed": "Setup.seed makes the jitter repeat",
    "deadline": "Setup.deadline bounds the whole call",
    "timeouts": "Setup.connect_timeout / read_timeout / timeout_retries",
    "stream": "Adapter.stream() yields the text of a streamed call",
    "stream_usage": "Adapter.stream_usage() reads the usage the client recorded for a stream",
    "first_token_timeout": "Setup.first_token_timeout for streams",
    "chunk_timeout": "Setup.chunk_timeout (idle gap) for streams",
    "routes": "several RouteSpecs: fallback in order, context windows",
    "context_fallback": "RouteSpec.fallback_on={'context_length'}",
    "content_policy_fallback": "RouteSpec.fallback_on={'content_policy'}",
    "breaker": "Setup.breaker (a BreakerSpec)",
    "retry_budget": "Setup.retry_budget (a RetryBudgetSpec)",
    "cancel": "an async call can be cancelled (asyncio task cancellation)",
    "concurrency": "concurrent calls on one client (threads for sync, tasks for async)",
    "cost": "Reply.cost from RouteSpec.price",
    "events": "Adapter.events() lists one record per attempt",
    "structured": "Adapter.parse() validates against a pydantic model",
    "cache": "Setup.cache (a CacheSpec)",
    "rate_limit": "Setup.rate_limit (a RateLimitSpec: rpm, tpm, burst)",
    "budget": "Setup.budget (a BudgetSpec)",
    "coalesce": "Setup.coalesce: identical concurrent calls share one request",
    "redis": "Setup.redis_url: shared state (limiter, breaker) in Redis",
}
"""Every capability a contract may need, with what supporting it means."""

ERROR_KINDS = (
    "client_error",  # a 4xx the provider sent (400, 401, 403, 404, 422)
    "rate_limit",  # a 429 that exhausted retries
    "rate_limit_wait",  # a Retry-After above max_retry_after, not waited
    "quota",  # 429 insufficient_quota
    "server_error",  # 5xx that exhausted retries
    "timeout",  # connect or read timeout
    "connection",  # connection refused / reset
    "context_length",
    "content_policy",
    "deadline",
    "circuit_open",
    "retry_budget",
    "invalid_response",  # a 200 whose body is an error / has no choices
    "stream_interrupted",  # failure after content reached the caller
    "stream_idle",
    "first_token",
    "incomplete_stream",
    "stream_protocol",  # malformed chunk
    "provider_stream",  # in-band error event
    "rate_limited",  # the client's own limiter refused (RPM/TPM)
    "budget",
    "structured",  # structured output gave up
    "cancelled",
    "other",
)
"""What :meth:`Adapter.describe` may call an error."""


@dataclass(frozen=True)
class RouteSpec:
    """One candidate: a model on a base URL (the fake answers any host)."""

    model: str
    base_url: str = BASE_URL
    api_key: str | None = None
    """``None``: a per-model test key (``sk-conformance-<model>-SECRET...``)."""
    context_window: int | None = None
    fallback_on: frozenset[str] = frozenset()
    """Extra failures this route receives: ``context_length``, ``content_policy``."""
    price: tuple[float, float] | None = None
    """US dollars per 1M (input, output) tokens."""

    @property
    def key(self) -> str:
        return self.api_key or f"sk-conformance-{self.model}-SECRET0123456789abcdef"


@dataclass(frozen=True)
class BreakerSpec:
    failure_threshold: int = 5
    reset_timeout: float = 30.0
    half_open_max_calls: int = 1


@dataclass(frozen=True)
class RetryBudgetSpec:
    ratio: float = 0.2
    min_retries_per_window: int = 10
    window: float = 60.0


@dataclass(frozen=True)
class CacheSpec:
    ttl: float | None = None
    backend: str = "memory"
    """``memory`` or a ``redis://`` URL."""


@dataclass(frozen=True)
class RateLimitSpec:
    rpm: int | None = None
    tpm: int | None = None
    burst: int = 0
    window: float = 60.0


@dataclass(frozen=True)
class BudgetSpec:
    """A budget in tokens (``unit="tokens"``) or US dollars (``unit="usd"``)."""

    limit: float
    unit: str = "tokens"
    per_request: float | None = None


@dataclass(frozen=True)
class Setup:
    """A client's configuration, as each contract asks for it. ``None``: off."""

    routes: tuple[RouteSpec, ...]
    clock: Any
    """The test's ``VirtualClock``: every wait and timer of the client goes on it."""
    seed: int | None = 1
    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_max_delay: float = 8.0
    jitter: str = "full"
    """``full``: a wait ``n`` lies in ``[0, base * 2**(n-1)]`` (capped at max_delay)."""
    max_retry_after: float = 60.0
    deadline: float | None = None
    connect_timeout: float | None = 5.0
    read_timeout: float | None = 30.0
    timeout_retries: int = 0
    first_token_timeout: float | None = None
    chunk_timeout: float | None = None
    breaker: BreakerSpec | None = None
    retry_budget: RetryBudgetSpec | None = None
    cache: CacheSpec | None = None
    rate_limit: RateLimitSpec | None = None
    budget: BudgetSpec | None = None
    coalesce: bool = False
    redis_url: str | None = None
    """Shared state (breaker, limiter, budget) in this Redis, when set."""
    redis_on_outage: str = "open"


@dataclass(frozen=True)
class Request:
    """One chat completion call. ``model=None``: the client's routes, in order."""

    messages: tuple[Mapping[str, Any], ...] = ({"role": "user", "content": "Capital of France?"},)
    model: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    """More keywords for the call: ``temperature``, ``tools``, ``max_tokens``..."""


@dataclass
class Reply:
    """What a successful call returned, as the suite reads it."""

    text: str
    model: str | None = None
    """The model that served it."""
    base_url: str | None = None
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    """(name, arguments JSON) pairs."""
    usage: Mapping[str, int] | None = None
    cost: float | None = None
    cache: str | None = None
    """``hit``, ``miss``, ``coalesced``, ``off``... (``None``: the client does not say)."""
    type_name: str = ""
    raw: Any = None


@dataclass
class ErrorInfo:
    """What an error the client raised means, in the suite's words."""

    kind: str
    """One of :data:`ERROR_KINDS`."""
    partial_text: str | None = None
    usage: Mapping[str, int] | None = None
    retry_after: float | None = None
    """For ``rate_limit_wait``: the wait the server asked for."""
    chained: bool = False
    """Whether the provider's last error is chained (``__cause__``) or carried."""


class Adapter:
    """The base of adapters: override what your client has; declare it in ``capabilities``.

    ``call`` / ``stream`` / ``parse`` may be plain methods or coroutines: set
    ``is_async = True`` for the latter (the suite then runs concurrent calls as tasks of
    one event loop, and ``stream`` returns an async iterator).
    """

    name: str = "client"
    is_async: bool = False
    capabilities: frozenset[str] = frozenset()
    reasons: Mapping[str, str] = {}
    """Why a capability is missing, shown in the "not applicable" verdict."""

    def unsupported(self, capability: str) -> str | None:
        """``None`` when supported, else the reason it is not."""
        if capability in self.capabilities:
            return None
        return self.reasons.get(capability, f"{self.name} does not declare {capability!r}")

    def make(self, setup: Setup) -> Any:
        """A new client configured as ``setup`` says (the clock included)."""
        raise NotImplementedError

    def call(self, client: Any, request: Request) -> Any:
        """Make the call; return a :class:`Reply` or raise the client's error."""
        raise NotImplementedError

    def stream(self, client: Any, request: Request) -> Iterator[str] | AsyncIterator[str]:
        """A streamed call: yield each piece of content (text or tool-call arguments) as
        it arrives; raise the client's error; closing the iterator closes the stream."""
        raise NotImplementedError

    def stream_usage(self, stream: Any) -> Mapping[str, int] | None:
        """The usage the client recorded for a stream, given what :meth:`stream`
        returned, once it is read or closed: after an early close, the partial usage
        (``input_tokens`` / ``output_tokens``, or ``prompt_tokens`` /
        ``completion_tokens``); ``None``: none was recorded."""
        raise NotImplementedError

    def describe(self, error: BaseException) -> ErrorInfo:
        """Classify an error the client raised (kind, partial text, wait)."""
        return ErrorInfo("other")

    def parse(self, client: Any, request: Request, schema: type[Any]) -> Any:
        """Structured output: a validated ``schema`` instance, or raise."""
        raise NotImplementedError

    def events(self, outcome: Any) -> list[Mapping[str, Any]]:
        """One record per attempt of the call that gave ``outcome`` (a Reply or an
        error): at least ``status`` (int or None), ``error`` (str or None), ``wait``."""
        raise NotImplementedError

    def close(self, client: Any) -> Any:
        """Release the client (optional; may be a coroutine)."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
