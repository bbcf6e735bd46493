"""The client's error tree.

Errors the *provider* sent (a 429 that outlasted the retries, a 400) reach the caller as
the openai SDK's own exceptions, exactly as a bare ``openai.OpenAI()`` would raise them,
so code written against the SDK keeps catching what it catches today. The errors below
are the ones the *client* originates: a deadline, an open circuit, a stream that broke
after output, a budget. Every one carries :attr:`LLMClientError.info`, the record of
what the call did (attempts, waits, routes), and chains the last provider error as its
``__cause__`` where there was one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import ConfigError

if TYPE_CHECKING:
    from ._events import CallInfo

__all__ = [
    "BudgetExceeded",
    "CircuitOpenError",
    "ClientConfigError",
    "DeadlineExceeded",
    "FirstTokenTimeout",
    "IncompleteStream",
    "InvalidResponse",
    "LLMClientError",
    "ProviderStreamError",
    "QuotaExceeded",
    "RateLimitExceeded",
    "RateLimitWaitTooLong",
    "RetryBudgetExhausted",
    "StreamError",
    "StreamIdleTimeout",
    "StreamInterrupted",
    "StreamProtocolError",
    "StructuredOutputError",
]


class ClientConfigError(ConfigError):
    """The client or one of its policies was configured with a value it cannot use."""


class LLMClientError(Exception):
    """Base of the errors the resilient client originates (not the provider)."""

    info: CallInfo | None

    def __init__(self, message: str, *, info: CallInfo | None = None) -> None:
        super().__init__(message)
        self.info = info


class DeadlineExceeded(LLMClientError, TimeoutError):
    """The call's total deadline ran out (attempts, waits and fallbacks included)."""


class CircuitOpenError(LLMClientError):
    """Every route that could serve the call has an open circuit: nothing was sent."""


class RetryBudgetExhausted(LLMClientError):
    """Retries are over their share of first attempts in the window: failing fast."""


class RateLimitWaitTooLong(LLMClientError):
    """The provider asked for a wait longer than ``max_retry_after`` and no route was left.

    The wait is never shortened: :attr:`retry_after` says how long the provider asked for.
    """

    def __init__(self, message: str, *, retry_after: float, info: CallInfo | None = None) -> None:
        super().__init__(message, info=info)
        self.retry_after = retry_after


class QuotaExceeded(LLMClientError):
    """429 ``insufficient_quota``: the account is out of credit. Never retried."""


class InvalidResponse(LLMClientError):
    """A 200 whose body is an error object or carries no choices / no output."""


class StreamError(LLMClientError):
    """A stream failed. :attr:`partial_text` and :attr:`usage` hold what had arrived."""

    def __init__(
        self,
        message: str,
        *,
        partial_text: str = "",
        usage: dict[str, Any] | None = None,
        info: CallInfo | None = None,
    ) -> None:
        super().__init__(message, info=info)
        self.partial_text = partial_text
        self.usage = usage


class StreamInterrupted(StreamError):
    """The stream failed after content reached the caller: never retried or restarted."""


class StreamIdleTimeout(StreamError):
    """No content event for longer than ``chunk_timeout`` in the middle of a stream."""


class FirstTokenTimeout(StreamError):
    """No content arrived within ``first_token_timeout``: a pre-output failure, retryable."""


class IncompleteStream(StreamError):
    """The stream closed without its terminal event (finish_reason, ``[DONE]``, completed)."""


class StreamProtocolError(StreamError):
    """A stream event that is not what the protocol allows (not JSON, wrong shape)."""


class ProviderStreamError(StreamError):
    """An error event inside a 200 stream (chat ``{"error": ...}``, ``response.failed``)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        partial_text: str = "",
        usage: dict[str, Any] | None = None,
        info: CallInfo | None = None,
    ) -> None:
        super().__init__(message, partial_text=partial_text, usage=usage, info=info)
        self.code = code


class StructuredOutputError(LLMClientError):
    """The reply did not validate against the requested schema after repair and re-asks."""

    def __init__(
        self,
        message: str,
        *,
        errors: list[str] | None = None,
        raw: str = "",
        info: CallInfo | None = None,
    ) -> None:
        super().__init__(message, info=info)
        self.errors = list(errors or [])
        self.raw = raw


class BudgetExceeded(LLMClientError):
    """A token or cost budget would be exceeded: the request was not sent."""


class RateLimitExceeded(LLMClientError):
    """The client's own rate limit could not admit the request within its deadline."""
