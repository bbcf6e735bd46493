"""Faults that answer alone with an HTTP error, as the provider of the request sends it:
OpenAI's shapes here, Anthropic's and Gemini's in :mod:`._provider_shapes`."""

from __future__ import annotations

import email.utils
import math
from dataclasses import dataclass, field
from typing import ClassVar

from .._flow import Exchange, Next, Outcome
from . import _provider_shapes as native
from ._base import (
    Context,
    Fault,
    error_reply,
    header_number,
    model_name,
    openai_duration,
    openai_rate_message,
)

__all__ = [
    "ContextLengthExceeded",
    "HTTPError",
    "InsufficientQuota",
    "Overloaded",
    "RateLimited",
    "ServerError",
]


# -- answering alone: HTTP errors --------------------------------------------------------


@dataclass(frozen=True, repr=False)
class _Status(Fault):
    should_retry: bool | None = field(default=None, kw_only=True)
    """Send ``x-should-retry: true``/``false`` (the SDK obeys it over its own rules)."""

    def __post_init__(self) -> None:
        if self.should_retry is not None and not isinstance(self.should_retry, bool):
            raise self._bad(
                f"should_retry is True, False or None, got {self.should_retry!r}.",
                "pass should_retry=False to tell the SDK not to retry.",
            )

    def _headers(self) -> list[tuple[str, str]]:
        if self.should_retry is None:
            return []
        return [("x-should-retry", "true" if self.should_retry else "false")]


@dataclass(frozen=True, repr=False)
class HTTPError(_Status):
    """Any HTTP error status with an OpenAI error body; the named kinds are special cases."""

    kind: ClassVar[str] = "http_error"
    status: int = 400
    message: str = "Invalid request."
    type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("message", "type", "code", "param"):
            value = getattr(self, name)
            if not isinstance(value, str) and not (value is None and name in ("code", "param")):
                raise self._bad(
                    f"{name} goes into the OpenAI error body as a string, got {value!r}.",
                    f"pass {name}={str(value)!r}.",
                )
        if isinstance(self.status, bool) or not isinstance(self.status, int):
            raise self._bad(f"status must be an int, got {self.status!r}.", "pass e.g. status=400.")
        if not 400 <= self.status <= 599:
            raise self._bad(
                f"status {self.status} is not an error status (400-599).",
                "pass a 4xx or 5xx status, e.g. status=400.",
            )

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        provider = native.provider_of(exchange)
        if provider != "openai":
            return native.error_reply(
                ctx,
                provider,
                self.status,
                message=self.message,
                type=self.type,
                headers=self._headers(),
            )
        return error_reply(
            ctx,
            self.status,
            message=self.message,
            type=self.type,
            code=self.code,
            param=self.param,
            headers=self._headers(),
        )


@dataclass(frozen=True, repr=False)
class RateLimited(_Status):
    """429 ``rate_limit_exceeded`` with ``retry-after`` (seconds, float or HTTP date) or ``retry-after-ms``."""

    kind: ClassVar[str] = "rate_limited"
    retry_after: float | None = 1
    """``retry-after`` in seconds; ``None`` sends no ``retry-after``."""
    retry_after_ms: float | None = None
    """Also send ``retry-after-ms`` (the SDK prefers it)."""
    http_date: bool = False
    """Send ``retry-after`` as an HTTP date (now on the clock + retry_after, rounded up)."""
    limit: str = "requests"
    """Which limit was hit: ``requests`` (RPM) or ``tokens`` (TPM)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._seconds("retry_after", optional=True)
        self._seconds("retry_after_ms", optional=True)
        if self.limit not in ("requests", "tokens"):
            raise self._bad(
                f"limit is 'requests' or 'tokens', got {self.limit!r}.", "pass limit='tokens'."
            )
        if self.http_date and self.retry_after is None:
            raise self._bad(
                "http_date=True needs retry_after (the seconds the date is ahead).",
                "pass e.g. retry_after=7, http_date=True.",
            )

    def _wait(self) -> float:
        if self.retry_after_ms is not None:
            return self.retry_after_ms / 1000
        return self.retry_after if self.retry_after is not None else 1.0

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        wait = openai_duration(self._wait())
        headers = []
        if self.retry_after is not None:
            if self.http_date:
                when = math.ceil(ctx.clock.now().timestamp() + self.retry_after)
                headers.append(("retry-after", email.utils.formatdate(when, usegmt=True)))
            else:
                headers.append(("retry-after", header_number(self.retry_after)))
        if self.retry_after_ms is not None:
            headers.append(("retry-after-ms", header_number(self.retry_after_ms)))
        provider = native.provider_of(exchange)
        if provider != "openai":
            # Gemini sends no retry-after header: the wait is in the body's RetryInfo.
            sent = headers if provider == "anthropic" else []
            return native.rate_limited(
                ctx,
                provider,
                model_name(exchange),
                self._wait(),
                self.limit,
                sent + self._headers(),
            )
        if self.limit == "requests":
            per, limit, used, asked = "requests per min (RPM)", 500, 500, 1
        else:
            per, limit, used, asked = "tokens per min (TPM)", 30000, 29750, 1200
        headers += [
            (f"x-ratelimit-limit-{self.limit}", str(limit)),
            (f"x-ratelimit-remaining-{self.limit}", "0"),
            (f"x-ratelimit-reset-{self.limit}", wait),
        ]
        return error_reply(
            ctx,
            429,
            message=openai_rate_message(model_name(exchange), per, limit, used, asked, wait),
            type=self.limit,
            code="rate_limit_exceeded",
            headers=headers + self._headers(),
        )


@dataclass(frozen=True, repr=False)
class InsufficientQuota(_Status):
    """429 ``insufficient_quota``: billing, not speed; retrying does not help."""

    kind: ClassVar[str] = "insufficient_quota"

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        provider = native.provider_of(exchange)
        if provider != "openai":
            return native.insufficient_quota(ctx, provider, model_name(exchange))
        return error_reply(
            ctx,
            429,
            message=(
                "You exceeded your current quota, please check your plan and billing details. "
                "For more information on this error, read the docs: "
                "https://platform.openai.com/docs/guides/error-codes/api-errors."
            ),
            type="insufficient_quota",
            code="insufficient_quota",
            headers=self._headers(),
        )


_SERVER_BODIES: dict[int, tuple[str, str, str | int | None]] = {
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    # OpenAI's edge sends the number 502 as the code; the SDK's ErrorObject wants a string.
    502: ("Bad gateway.", "cf_bad_gateway", None),
    503: ("The server is overloaded or not ready yet.", "server_error", None),
}


@dataclass(frozen=True, repr=False)
class ServerError(_Status):
    """A 5xx with the body OpenAI sends for it (500, 502, 503; other 5xx get the 500 body)."""

    kind: ClassVar[str] = "server_error"
    status: int = 500

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.status, bool) or not isinstance(self.status, int):
            raise self._bad(f"status must be an int, got {self.status!r}.", "pass status=503.")
        if not 500 <= self.status <= 599:
            raise self._bad(
                f"a server error has a 5xx status, got {self.status}.",
                f"pass status=500, 502 or 503; for a {self.status} use "
                f"HTTPError(status={self.status}, ...).",
            )

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        provider = native.provider_of(exchange)
        if provider != "openai":
            return native.server_error(ctx, provider, self.status, self._headers())
        message, type_, code = _SERVER_BODIES.get(self.status, _SERVER_BODIES[500])
        return error_reply(
            ctx, self.status, message=message, type=type_, code=code, headers=self._headers()
        )


@dataclass(frozen=True, repr=False)
class Overloaded(_Status):
    """529: the provider is overloaded (the SDK retries it as a server error); Anthropic's
    ``overloaded_error``; Gemini says it with 503 ``UNAVAILABLE``."""

    kind: ClassVar[str] = "overloaded"

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        provider = native.provider_of(exchange)
        if provider != "openai":
            return native.overloaded(ctx, provider, self._headers())
        return error_reply(
            ctx,
            529,
            message="Overloaded",
            type="overloaded_error",
            code=None,
            headers=self._headers(),
        )


@dataclass(frozen=True, repr=False)
class ContextLengthExceeded(_Status):
    """400 ``context_length_exceeded``, worded as for chat completions or the Responses API."""

    kind: ClassVar[str] = "context_length_exceeded"
    limit: int = 128000
    """The model's context window, in tokens."""
    tokens: int | None = None
    """How many tokens the request had (default: more than ``limit``, from its size)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("limit", "tokens"):
            value = getattr(self, name)
            if value is None and name == "tokens":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise self._bad(
                    f"{name} is a number of tokens (1 or more), got {value!r}.",
                    f"pass e.g. {name}=128000.",
                )

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        tokens = self.tokens or self.limit + max(1, len(exchange.body) // 4)
        provider = native.provider_of(exchange)
        if provider != "openai":
            return native.context_length(ctx, provider, self.limit, tokens, self._headers())
        if exchange.path.endswith("/responses"):
            message = (
                "Your input exceeds the context window of this model. "
                "Please adjust your input and try again."
            )
            param = "input"
        else:
            message = (
                f"This model's maximum context length is {self.limit} tokens. However, your "
                f"messages resulted in {tokens} tokens. Please reduce the length of the messages."
            )
            param = "messages"
        return error_reply(
            ctx,
            400,
            message=message,
            type="invalid_request_error",
            code="context_length_exceeded",
            param=param,
            headers=self._headers(),
        )
