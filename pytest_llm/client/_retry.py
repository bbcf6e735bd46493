"""What to do after a failed attempt: classify it, then retry, wait, fail over or give up.

Pure logic on purpose: nothing here sends a request, sleeps or reads the time by itself.
The call flow passes in the clock's wall time (for ``Retry-After`` dates), the time left
before the deadline and a seeded ``random.Random``, and takes the wait this module
computes on the injected clock. That keeps every branch a plain function of its inputs,
testable without a network and reproducible from a seed.

* :func:`classify` turns any exception the openai SDK (2.x on httpx, 3.x on httpx2), its
  transport or this client raises into a :class:`Failure`: what kind it is, whether the
  same route may be tried again, whether the breaker counts it, whether the next route
  may take it, and the wait the server asked for.
* :func:`parse_retry_after` reads ``retry-after-ms`` / ``retry-after`` defensively.
* :class:`Backoff` is the jittered exponential wait without server hints.
* :class:`RetryPolicy` decides one failure at a time (:class:`Decision`).
* :class:`RetryBudget` caps retries to a share of first attempts, so an outage does not
  turn every caller into a retry storm.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import errno
import math
import random
import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus
from typing import TYPE_CHECKING, Final, Literal

import openai

from .._clock import Clock, flow_clock
from .._numbers import is_amount
from .._retry_after import header as _header
from .._retry_after import parse_retry_after
from ..assertions._base import did_you_mean
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

if TYPE_CHECKING:
    from ._route import Route

__all__ = [
    "Backoff",
    "Decision",
    "Failure",
    "FailureKind",
    "RetryBudget",
    "RetryPolicy",
    "classify",
    "parse_retry_after",
]


# -- classification ---------------------------------------------------------------------


class FailureKind(StrEnum):
    """What went wrong, in the vocabulary of events, metrics and ``Route.fallback_on``."""

    RATE_LIMIT = "rate_limit"
    QUOTA = "quota"
    SERVER = "server"
    OVERLOADED = "overloaded"
    CONNECT = "connect"
    CONNECT_TIMEOUT = "connect_timeout"
    READ_TIMEOUT = "read_timeout"
    CONNECTION = "connection"
    CONTEXT_LENGTH = "context_length"
    CONTENT_POLICY = "content_policy"
    CLIENT = "client"
    INVALID_RESPONSE = "invalid_response"
    FIRST_TOKEN_TIMEOUT = "first_token_timeout"
    STREAM = "stream"
    CANCELLED = "cancelled"
    DEADLINE = "deadline"
    UNKNOWN = "unknown"


_OPT_IN: Final = frozenset({FailureKind.CONTEXT_LENGTH, FailureKind.CONTENT_POLICY})
"""Kinds that only reach a route that names them in ``Route.fallback_on``."""


@dataclass(frozen=True, repr=False)
class Failure:
    """One failed attempt, classified.

    ``retryable`` is the final word for the same route, the server's ``x-should-retry``
    header already applied (``false`` forbids, ``true`` allows); the number of retries is
    the policy's business. ``breaker`` is true only for infrastructure failures (5xx, 529,
    timeouts, connection failures, invalid responses): a 4xx, a quota or a cancelled call
    says nothing about the route's health. ``fallback`` says whether the next route may
    take the request at all; for context-length and content-policy failures only routes
    that opt in (:meth:`accepted_by`).
    """

    kind: FailureKind
    error: BaseException
    status: int | None
    retryable: bool
    breaker: bool
    fallback: bool
    retry_after: float | None
    reason: str

    @property
    def fallback_on(self) -> str | None:
        """The ``Route.fallback_on`` entry a route needs to receive this failure, if any."""
        return self.kind.value if self.kind in _OPT_IN else None

    def accepted_by(self, route: Route) -> bool:
        """Whether ``route`` (a later candidate) may receive the request after this failure."""
        need = self.fallback_on
        return self.fallback and (need is None or need in route.fallback_on)

    def __repr__(self) -> str:
        parts = [f"kind={self.kind.value!r}"]
        if self.status is not None:
            parts.append(f"status={self.status}")
        parts += [
            f"retryable={self.retryable}",
            f"breaker={self.breaker}",
            f"fallback={self.fallback}",
        ]
        if self.retry_after is not None:
            parts.append(f"retry_after={self.retry_after}")
        parts += [f"reason={self.reason!r}", f"error={type(self.error).__name__}"]
        return f"Failure({', '.join(parts)})"


_CANCELLATION: Final = (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit)

_CONTEXT_CODES: Final = frozenset({"context_length_exceeded"})
_CONTEXT_TEXT: Final = re.compile(
    r"maximum context length|context window|context_length_exceeded|prompt is too long",
    re.IGNORECASE,
)
_POLICY_CODES: Final = frozenset(
    {"content_policy_violation", "content_filter", "responsibleaipolicyviolation"}
)
_POLICY_TEXT: Final = re.compile(
    r"content[ _](management[ _])?policy|content filter|safety system", re.IGNORECASE
)
_QUOTA_CODES: Final = frozenset({"insufficient_quota"})
_RATE_CODES: Final = frozenset({"rate_limit_exceeded", "rate_limit_error"})

_TRANSIENT_4XX: Final = frozenset({408, 409, 429})
_ROUTE_SPECIFIC_4XX: Final = frozenset({401, 402, 403, 404})
"""Client errors that another route (another key, account or model) may not have."""

_TRANSPORT_MODULES: Final = frozenset({"httpx", "httpx2", "httpcore", "anyio", "h11", "h2"})
_TRANSPORT_NAMES: Final[dict[str, tuple[FailureKind, str]]] = {
    "ConnectTimeout": (FailureKind.CONNECT_TIMEOUT, "connect timeout"),
    "PoolTimeout": (FailureKind.CONNECT_TIMEOUT, "pool timeout"),
    "ReadTimeout": (FailureKind.READ_TIMEOUT, "read timeout"),
    "WriteTimeout": (FailureKind.READ_TIMEOUT, "write timeout"),
    "ConnectError": (FailureKind.CONNECT, "connection refused"),
    "ProxyError": (FailureKind.CONNECT, "proxy error"),
    "ReadError": (FailureKind.CONNECTION, "connection reset"),
    "WriteError": (FailureKind.CONNECTION, "connection reset"),
    "CloseError": (FailureKind.CONNECTION, "connection closed"),
    "RemoteProtocolError": (FailureKind.CONNECTION, "connection closed"),
    "EndOfStream": (FailureKind.CONNECTION, "connection closed"),
    "BrokenResourceError": (FailureKind.CONNECTION, "connection closed"),
    "TimeoutException": (FailureKind.READ_TIMEOUT, "timeout"),
    "NetworkError": (FailureKind.CONNECTION, "network error"),
    "TransportError": (FailureKind.CONNECTION, "transport error"),
}
"""Exception class names of the HTTP stacks under the SDK, most specific first."""

_CONNECT_ERRNOS: Final = frozenset(
    {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}
)


def classify(error: BaseException, *, now: _dt.datetime) -> Failure:
    """Classify ``error`` (raised by one attempt). ``now`` is the clock's wall time.

    Never raises: an exception it does not know is a non-retryable ``UNKNOWN`` failure
    whose reason names the type, so a bug elsewhere is not retried into an outage.
    """
    if isinstance(error, _CANCELLATION):
        return _failure(FailureKind.CANCELLED, error, reason="cancelled")
    if isinstance(error, LLMClientError):
        return _own(error)
    if isinstance(error, openai.APIStatusError):
        return _status(error, now)
    if isinstance(error, openai.APIConnectionError):  # APITimeoutError is one too
        return _connection(error)
    if isinstance(error, openai.APIResponseValidationError):
        return _failure(
            FailureKind.INVALID_RESPONSE,
            error,
            status=error.status_code,
            retryable=True,
            breaker=True,
            fallback=True,
            reason=f"{error.status_code} body does not match the API's schema",
        )
    if isinstance(error, openai.ContentFilterFinishReasonError):
        return _failure(
            FailureKind.CONTENT_POLICY, error, fallback=True, reason="finish_reason=content_filter"
        )
    if isinstance(error, openai.LengthFinishReasonError):
        return _failure(FailureKind.CLIENT, error, reason="finish_reason=length")
    if isinstance(error, openai.APIError):
        # An error event inside a 200 stream (the SDK raises a bare APIError for it).
        return _in_band(error, _codes(error), error.message, stream=None)
    found = _transport(error)
    if found is not None:
        return found
    return _failure(FailureKind.UNKNOWN, error, reason=f"unexpected {_type_name(error)}")


def _failure(
    kind: FailureKind,
    error: BaseException,
    *,
    reason: str,
    status: int | None = None,
    retryable: bool = False,
    breaker: bool = False,
    fallback: bool = False,
    retry_after: float | None = None,
) -> Failure:
    return Failure(kind, error, status, retryable, breaker, fallback, retry_after, reason)


def _type_name(error: BaseException) -> str:
    cls = type(error)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _codes(error: openai.APIError) -> list[str]:
    """Every code and type the SDK error carries, lower-cased (top level and nested)."""
    found = [error.code, error.type]
    body = error.body
    if isinstance(body, Mapping):
        inner = body.get("error")
        for part in (body, inner if isinstance(inner, Mapping) else None):
            if part is None:
                continue
            found += [part.get("code"), part.get("type")]
            nested = part.get("innererror")
            if isinstance(nested, Mapping):
                found.append(nested.get("code"))
    return [str(c).lower() for c in found if c is not None and str(c)]


def _status(error: openai.APIStatusError, now: _dt.datetime) -> Failure:
    status = error.status_code
    headers = error.response.headers
    codes = _codes(error)
    label = f"{status} {codes[0] if codes else _phrase(status)}"
    retry_after = parse_retry_after(headers, now=now)
    message = error.message or ""

    kind: FailureKind
    retryable = breaker = False
    fallback = True
    if any(c in _QUOTA_CODES for c in codes):
        kind, label = FailureKind.QUOTA, f"{status} insufficient_quota"
    elif any(c in _CONTEXT_CODES for c in codes) or (
        400 <= status < 500 and status != 429 and _CONTEXT_TEXT.search(message)
    ):
        kind = FailureKind.CONTEXT_LENGTH
        if not codes or codes[0] not in _CONTEXT_CODES:
            label = f"{status} context_length (from the message)"
    elif any(c in _POLICY_CODES for c in codes) or (status == 400 and _POLICY_TEXT.search(message)):
        kind = FailureKind.CONTENT_POLICY
        if not codes or codes[0] not in _POLICY_CODES:
            label = f"{status} content_policy (from the message)"
    elif status == 429:
        kind, retryable = FailureKind.RATE_LIMIT, True
    elif status == 529:
        kind, retryable, breaker = FailureKind.OVERLOADED, True, True
    elif status >= 500:
        kind, retryable, breaker = FailureKind.SERVER, True, True
    else:
        kind = FailureKind.CLIENT
        retryable = status in _TRANSIENT_4XX
        fallback = retryable or status in _ROUTE_SPECIFIC_4XX

    should_retry = _header(headers, "x-should-retry")
    if should_retry is not None:
        verdict = should_retry.strip().lower()
        if verdict in ("true", "false") and (verdict == "true") != retryable:
            retryable = verdict == "true"
            label += f" (x-should-retry: {verdict})"
    return _failure(
        kind,
        error,
        status=status,
        retryable=retryable,
        breaker=breaker,
        fallback=fallback,
        retry_after=retry_after,
        reason=label,
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_")
    except ValueError:
        return "error"


def _broken(kind: FailureKind, error: BaseException, pre_output: bool, reason: str) -> Failure:
    """A stream that broke: counts against the route's breaker; retried and failed over
    only while nothing reached the caller."""
    return _failure(
        kind, error, retryable=pre_output, breaker=True, fallback=pre_output, reason=reason
    )


def _in_band(
    error: BaseException, codes: list[str], message: str, *, stream: StreamError | None
) -> Failure:
    """An error event inside a 200 stream: classified by its code like its HTTP twin."""
    label = f"in-band error {codes[0]}" if codes else "in-band error"
    pre_output = stream is None or not _delivered(stream)
    if any(c in _QUOTA_CODES for c in codes):
        return _failure(FailureKind.QUOTA, error, fallback=pre_output, reason=label)
    if any(c in _CONTEXT_CODES for c in codes) or _CONTEXT_TEXT.search(message):
        return _failure(FailureKind.CONTEXT_LENGTH, error, fallback=pre_output, reason=label)
    if any(c in _POLICY_CODES for c in codes):
        return _failure(FailureKind.CONTENT_POLICY, error, fallback=pre_output, reason=label)
    if any(c in _RATE_CODES for c in codes):
        return _failure(
            FailureKind.RATE_LIMIT,
            error,
            retryable=pre_output,
            fallback=pre_output,
            reason=label,
        )
    return _broken(FailureKind.STREAM, error, pre_output, label)


def _delivered(error: StreamError) -> bool:
    """Whether the stream had handed the caller content: then it is never restarted."""
    return isinstance(error, StreamInterrupted) or bool(error.partial_text)


def _own(error: LLMClientError) -> Failure:
    """The client's own errors (raised by the stream wrapper, the limiter, the flow)."""
    name = type(error).__name__
    if isinstance(error, DeadlineExceeded):
        return _failure(FailureKind.DEADLINE, error, reason="deadline exceeded")
    if isinstance(error, InvalidResponse):
        return _failure(
            FailureKind.INVALID_RESPONSE,
            error,
            retryable=True,
            breaker=True,
            fallback=True,
            reason=f"invalid response: {error}".splitlines()[0],
        )
    if isinstance(error, QuotaExceeded):
        return _failure(FailureKind.QUOTA, error, fallback=True, reason="insufficient_quota")
    if isinstance(error, RateLimitWaitTooLong):
        return _failure(
            FailureKind.RATE_LIMIT,
            error,
            fallback=True,
            retry_after=error.retry_after,
            reason=f"retry-after {error.retry_after:g} s is too long",
        )
    if isinstance(error, RateLimitExceeded):
        # The client's own limiter for this route: another route may have room.
        return _failure(FailureKind.RATE_LIMIT, error, fallback=True, reason="client rate limit")
    if isinstance(error, StreamError):
        return _stream(error)
    if isinstance(
        error, CircuitOpenError | RetryBudgetExhausted | BudgetExceeded | StructuredOutputError
    ):
        return _failure(FailureKind.CLIENT, error, reason=name)
    return _failure(FailureKind.UNKNOWN, error, reason=f"unexpected {name}")


def _stream(error: StreamError) -> Failure:
    pre_output = not _delivered(error)
    if isinstance(error, ProviderStreamError):
        codes = [error.code.lower()] if error.code else []
        return _in_band(error, codes, str(error), stream=error)
    if isinstance(error, FirstTokenTimeout):
        return _broken(FailureKind.FIRST_TOKEN_TIMEOUT, error, pre_output, "no first token in time")
    reason = f"stream error ({type(error).__name__})"
    for cls, text in (
        (StreamIdleTimeout, "stream idle timeout"),
        (IncompleteStream, "stream ended without its terminal event"),
        (StreamProtocolError, "malformed stream event"),
        (StreamInterrupted, "stream interrupted"),
    ):
        if isinstance(error, cls):
            reason = text
            break
    if not pre_output:
        reason += " (after output)"
    return _broken(FailureKind.STREAM, error, pre_output, reason)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what it wraps (``raise ... from``), nearest first, each once.

    Only explicit causes: the SDK and httpx/httpx2 wrap transport errors with ``from``,
    while an implicit ``__context__`` is often a bug raised while handling something
    else, which must not pass for a retryable connection failure.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__


def _transport(error: BaseException) -> Failure | None:
    """A transport failure, raw or inside the SDK's connection error, by its cause chain."""
    for link in _chain(error):
        for cls in type(link).__mro__:
            root = cls.__module__.split(".")[0]
            if root in _TRANSPORT_MODULES and cls.__name__ in _TRANSPORT_NAMES:
                kind, text = _TRANSPORT_NAMES[cls.__name__]
                return _transport_failure(kind, error, f"{text} ({type(link).__name__})")
        if isinstance(link, ConnectionRefusedError) or (
            isinstance(link, OSError)
            and not isinstance(link, TimeoutError)
            and link.errno in _CONNECT_ERRNOS
        ):
            return _transport_failure(
                FailureKind.CONNECT, error, f"connection refused ({type(link).__name__})"
            )
        if isinstance(link, ConnectionError):
            return _transport_failure(
                FailureKind.CONNECTION, error, f"connection reset ({type(link).__name__})"
            )
        if isinstance(link, TimeoutError):
            return _transport_failure(
                FailureKind.READ_TIMEOUT, error, f"timeout ({type(link).__name__})"
            )
    return None


def _transport_failure(kind: FailureKind, error: BaseException, reason: str) -> Failure:
    # Nothing came back: retryable and a breaker failure alike. Read timeouts are capped
    # separately by RetryPolicy.timeout_retries (the request may have been processed).
    return _failure(kind, error, retryable=True, breaker=True, fallback=True, reason=reason)


def _connection(error: openai.APIConnectionError) -> Failure:
    found = _transport(error)
    if found is not None:
        return found
    if isinstance(error, openai.APITimeoutError):
        # No cause to tell the phase: assume bytes may have been sent (the cautious side).
        return _transport_failure(FailureKind.READ_TIMEOUT, error, "request timed out")
    return _transport_failure(FailureKind.CONNECTION, error, "connection error")


# -- configuration checks ----------------------------------------------------------------


def _reject_unknown(where: str, unknown: Mapping[str, object], known: Iterable[str]) -> None:
    if not unknown:
        return
    names = sorted(known)
    name = sorted(unknown)[0]
    raise ClientConfigError(
        f"{where}({name}={unknown[name]!r}): unknown option {name!r}"
        f"{did_you_mean(name, names) or '.'}\n"
        f"Fix: use one of {', '.join(names)}."
    )


def _seconds(where: str, name: str, value: object, example: str, *, minimum: float = 0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ClientConfigError(
            f"{where}({name}={value!r}): {name} is a number of seconds, got "
            f"{type(value).__name__}.\nFix: pass e.g. {name}={example}."
        )
    if math.isnan(value) or math.isinf(value):
        raise ClientConfigError(
            f"{where}({name}={value!r}): {name} must be a finite number of seconds.\n"
            f"Fix: pass e.g. {name}={example}."
        )
    if value < minimum:
        what = "cannot be negative" if minimum == 0 else f"must be {minimum:g} or more"
        raise ClientConfigError(
            f"{where}({name}={value!r}): {name} {what} (got {value!r}).\n"
            f"Fix: pass {name}={minimum:g} or more, e.g. {name}={example}."
        )
    return float(value)


def _count(where: str, name: str, value: object, example: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ClientConfigError(
            f"{where}({name}={value!r}): {name} is a whole number, got {type(value).__name__}.\n"
            f"Fix: pass e.g. {name}={example}."
        )
    if value < 0:
        raise ClientConfigError(
            f"{where}({name}={value!r}): {name} cannot be negative (got {value}).\n"
            f"Fix: pass {name}=0 or more, e.g. {name}={example}."
        )
    return value


# -- backoff ---------------------------------------------------------------------------------

JitterMode = Literal["full", "equal", "none"]
_JITTER_MODES: Final = ("full", "equal", "none")


class Backoff:
    """The wait before retry ``n`` without a server hint: ``base * multiplier**(n-1)``,
    capped at ``max_delay``, then jittered so that many clients failing together do not
    come back together.

    ``jitter``: ``"full"`` draws from ``[0, d]`` (the widest spread: least contention),
    ``"equal"`` from ``[d/2, d]`` (a guaranteed floor), ``"none"`` is exactly ``d``, and
    a fraction ``f`` in ``[0, 1]`` from ``[d * (1 - f), d]`` (the openai SDK's own is
    0.25). Draws come from the ``random.Random`` passed to :meth:`delay`: seeded, the
    waits repeat exactly.
    """

    __slots__ = ("base", "jitter", "max_delay", "multiplier")

    def __init__(
        self,
        base: float = 0.5,
        multiplier: float = 2.0,
        max_delay: float = 8.0,
        jitter: JitterMode | float = "full",
        **unknown: object,
    ) -> None:
        where = "Backoff"
        _reject_unknown(where, unknown, ("base", "multiplier", "max_delay", "jitter"))
        self.base = _seconds(where, "base", base, "0.5")
        self.multiplier = _seconds(where, "multiplier", multiplier, "2.0", minimum=1)
        self.max_delay = _seconds(where, "max_delay", max_delay, "8.0")
        if self.max_delay < self.base:
            raise ClientConfigError(
                f"Backoff(base={base!r}, max_delay={max_delay!r}): max_delay is smaller than "
                f"base, so every wait would be cut below the first one.\n"
                f"Fix: pass max_delay={base!r} or more, or a smaller base."
            )
        self.jitter: JitterMode | float = _jitter(jitter)

    def envelope(self, n: int) -> tuple[float, float]:
        """The interval the ``n``-th wait (``n`` >= 1) is drawn from."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"Backoff.envelope({n!r}): retries are numbered from 1.")
        d = self._nominal(n)
        if self.jitter == "none":
            return (d, d)
        if self.jitter == "full":
            return (0.0, d)
        if self.jitter == "equal":
            return (d / 2, d)
        return (d * (1 - float(self.jitter)), d)

    def delay(self, n: int, rng: random.Random) -> float:
        """The wait before retry ``n`` (>= 1), drawn from :meth:`envelope` with ``rng``."""
        low, high = self.envelope(n)
        if low == high:
            return low
        return low + (high - low) * rng.random()

    def _nominal(self, n: int) -> float:
        if self.base == 0:
            return 0.0
        try:
            return min(self.base * self.multiplier ** (n - 1), self.max_delay)
        except OverflowError:  # a power past the largest float: far past the cap
            return self.max_delay

    def __repr__(self) -> str:
        return (
            f"Backoff(base={self.base!r}, multiplier={self.multiplier!r}, "
            f"max_delay={self.max_delay!r}, jitter={self.jitter!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Backoff):
            return NotImplemented
        return repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))


def _jitter(value: object) -> JitterMode | float:
    if isinstance(value, str):
        if value in _JITTER_MODES:
            return value  # type: ignore[return-value]  # checked just above
        raise ClientConfigError(
            f"Backoff(jitter={value!r}): unknown jitter mode"
            f"{did_you_mean(value, _JITTER_MODES) or '.'}\n"
            f"Fix: use one of {', '.join(map(repr, _JITTER_MODES))}, or a fraction "
            "between 0 and 1 (e.g. jitter=0.25: up to 25 % shorter)."
        )
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= 1  # also false for NaN
    ):
        raise ClientConfigError(
            f"Backoff(jitter={value!r}): jitter is 'full', 'equal', 'none' or a fraction "
            "between 0 and 1.\nFix: pass e.g. jitter='full' or jitter=0.25."
        )
    return float(value)


# -- the policy -------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Decision:
    """What to do after one failed attempt on a route.

    ``retry``: send again on the same route after ``wait`` seconds. Otherwise the
    caller fails over if the failure allows it (:meth:`Failure.accepted_by`) and a route
    is left, else raises ``give_up`` (chaining the failure's error as ``__cause__``), or
    the failure's own error when ``give_up`` is ``None``. ``retry_after`` is the server's
    wait when it mattered (for :class:`RateLimitWaitTooLong`, never shortened).
    """

    retry: bool
    wait: float
    reason: str
    give_up: type[LLMClientError] | None = None
    retry_after: float | None = None

    def __repr__(self) -> str:
        parts = [f"retry={self.retry}", f"wait={self.wait!r}", f"reason={self.reason!r}"]
        if self.give_up is not None:
            parts.append(f"give_up={self.give_up.__name__}")
        if self.retry_after is not None:
            parts.append(f"retry_after={self.retry_after!r}")
        return f"Decision({', '.join(parts)})"


class RetryPolicy:
    """How often and how long to retry one route.

    ``max_retries`` retries mean at most ``max_retries + 1`` requests per route (the one
    retry layer: the wrapped SDK client runs with ``max_retries=0``). A server's
    Retry-After is waited exactly, never shortened; one above ``max_retry_after`` is not
    waited at all (the caller fails over at once or raises :class:`RateLimitWaitTooLong`
    with the wait). A wait that would not end before the deadline is not taken. A read
    timeout (the request may have been processed, and the next try may time out too) gets
    at most ``timeout_retries`` more tries on the route; a connect timeout sent nothing
    and is retried like any transient failure.
    """

    __slots__ = ("backoff", "max_retries", "max_retry_after", "timeout_retries")

    def __init__(
        self,
        max_retries: int = 2,
        backoff: Backoff | None = None,
        max_retry_after: float = 60.0,
        timeout_retries: int = 0,
        **unknown: object,
    ) -> None:
        where = "RetryPolicy"
        _reject_unknown(
            where, unknown, ("max_retries", "backoff", "max_retry_after", "timeout_retries")
        )
        self.max_retries = _count(where, "max_retries", max_retries, 2)
        self.timeout_retries = _count(where, "timeout_retries", timeout_retries, 1)
        self.max_retry_after = _seconds(where, "max_retry_after", max_retry_after, "60")
        if backoff is None:
            backoff = Backoff()
        elif not isinstance(backoff, Backoff):
            raise ClientConfigError(
                f"RetryPolicy(backoff={backoff!r}): backoff must be a Backoff, got "
                f"{type(backoff).__name__}.\nFix: pass e.g. backoff=Backoff(base=0.5, max_delay=8)."
            )
        self.backoff = backoff

    def decide(
        self,
        failure: Failure,
        *,
        retries_done: int,
        timeout_retries_done: int = 0,
        remaining: float | None = None,
        rng: random.Random,
        budget: RetryBudget | None = None,
    ) -> Decision:
        """Retry on the same route, and after how long, or stop (and why).

        ``retries_done``: retries already sent on this route in this call;
        ``timeout_retries_done``: how many of those followed a read timeout;
        ``remaining``: seconds left before the deadline (``None``: no deadline);
        ``budget``: spent from only when every other check says retry.
        """
        what = failure.reason
        if not failure.retryable:
            give_up = QuotaExceeded if failure.kind is FailureKind.QUOTA else None
            return Decision(False, 0.0, f"{what}: not retryable", give_up)
        if retries_done >= self.max_retries:
            return Decision(
                False, 0.0, f"{what}: retries exhausted ({retries_done} of {self.max_retries})"
            )
        if (
            failure.kind is FailureKind.READ_TIMEOUT
            and timeout_retries_done >= self.timeout_retries
        ):
            return Decision(
                False,
                0.0,
                f"{what}: no more tries after a read timeout "
                f"({timeout_retries_done} of timeout_retries={self.timeout_retries})",
            )
        server = failure.retry_after
        if server is not None and server > self.max_retry_after:
            return Decision(
                False,
                0.0,
                f"{what}: retry-after {server:g} s is over max_retry_after={self.max_retry_after:g}",
                RateLimitWaitTooLong,
                server,
            )
        if server is not None:
            wait, source = server, "retry-after"
        else:
            wait, source = self.backoff.delay(retries_done + 1, rng), "backoff"
        if remaining is not None and wait >= remaining:
            return Decision(
                False,
                0.0,
                f"{what}: a {wait:.3g} s wait ({source}) would not end before the deadline "
                f"({max(remaining, 0.0):.3g} s left)",
                DeadlineExceeded,
                server,
            )
        if budget is not None and not budget.try_spend():
            return Decision(
                False, 0.0, f"{what}: retry budget spent ({budget})", RetryBudgetExhausted
            )
        return Decision(
            True,
            wait,
            f"{what}: retry {retries_done + 1} of {self.max_retries} after {wait:.3g} s ({source})",
            None,
            server,
        )

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(max_retries={self.max_retries}, backoff={self.backoff!r}, "
            f"max_retry_after={self.max_retry_after!r}, timeout_retries={self.timeout_retries})"
        )


# -- the budget ------------------------------------------------------------------------------


class RetryBudget:
    """Retries capped to ``ratio`` of first attempts over the last ``window`` seconds.

    In an outage every call fails and, unchecked, every failure is retried ``max_retries``
    times: the load on a struggling provider multiplies. With a budget, retries in the
    window stay under ``min_retries_per_window + ratio * first_attempts``; once it is
    spent, :meth:`try_spend` says no and the caller fails fast
    (:class:`RetryBudgetExhausted`). The minimum lets low traffic still retry. Time is
    the injected clock's ``monotonic()``; one lock guards the counts (held for
    microseconds, never across I/O), so threads and event loops may share one budget.
    """

    def __init__(
        self,
        ratio: float = 0.2,
        min_retries_per_window: int = 10,
        window: float = 60.0,
        clock: Clock = flow_clock,
        **unknown: object,
    ) -> None:
        where = "RetryBudget"
        _reject_unknown(where, unknown, ("ratio", "min_retries_per_window", "window", "clock"))
        if not is_amount(ratio):
            raise ClientConfigError(
                f"RetryBudget(ratio={ratio!r}): ratio is retries allowed per first attempt, a "
                "finite number of 0 or more.\nFix: pass e.g. ratio=0.2 (one retry per five calls)."
            )
        self.ratio = float(ratio)
        self.min_retries_per_window = _count(
            where, "min_retries_per_window", min_retries_per_window, 10
        )
        self.window = _seconds(where, "window", window, "60")
        if self.window == 0:
            raise ClientConfigError(
                f"RetryBudget(window={window!r}): a window of 0 s holds no calls, so only "
                "min_retries_per_window would count.\nFix: pass e.g. window=60."
            )
        if not callable(getattr(clock, "monotonic", None)):
            raise ClientConfigError(
                f"RetryBudget(clock={clock!r}): the clock has no monotonic().\n"
                "Fix: pass a pytest_llm Clock, e.g. a VirtualClock (the default follows the request flow's clock)."
            )
        self.clock = clock
        self._lock = threading.Lock()
        self._calls: deque[float] = deque()
        self._retries: deque[float] = deque()

    def record_call(self) -> None:
        """Count one first attempt (a call, not a retry)."""
        with self._lock:
            now = self.clock.monotonic()
            self._prune(now)
            self._calls.append(now)

    def try_spend(self) -> bool:
        """Take one retry from the budget; ``False`` (nothing taken) when it is spent."""
        with self._lock:
            now = self.clock.monotonic()
            self._prune(now)
            if len(self._retries) + 1 > self._allowed():  # a whole retry must fit
                return False
            self._retries.append(now)
            return True

    def available(self) -> int:
        """Retries that may still be spent in the current window."""
        with self._lock:
            self._prune(self.clock.monotonic())
            return max(0, math.floor(self._allowed()) - len(self._retries))

    def _allowed(self) -> float:
        return self.min_retries_per_window + self.ratio * len(self._calls)

    def _prune(self, now: float) -> None:
        edge = now - self.window
        for times in (self._calls, self._retries):
            while times and times[0] <= edge:
                times.popleft()

    def __repr__(self) -> str:
        with self._lock:
            self._prune(self.clock.monotonic())
            calls, retries = len(self._calls), len(self._retries)
        return (
            f"RetryBudget(ratio={self.ratio!r}, min_retries_per_window="
            f"{self.min_retries_per_window}, window={self.window!r}, calls={calls}, "
            f"retries={retries})"
        )
