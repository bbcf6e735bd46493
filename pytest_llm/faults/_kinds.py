"""The fault kinds: what providers really do wrong, as the bytes they really send.

A fault either answers alone (a 429 with its headers and OpenAI error body, a
connection that fails) or asks the rest of the chain (cassette, fake) for the real
reply and changes it (a stall after chunk k, a reset after N bytes, malformed JSON
in the message content). Each kind is a frozen dataclass whose ``repr`` shows only
what differs from its defaults, so plans and failure messages read like the code
that wrote them.
"""

from __future__ import annotations

import dataclasses
import difflib
import email.utils
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .._flow import NOT_JSON, Exchange, Forward, Next, Outcome, Part, Reply, TransportFailure
from .._sse import SSEEvent
from . import _shapes
from ._errors import FaultError, FaultNotApplicable
from ._malformed import FIELD_VARIANTS, VARIANTS, MalformedInput, malform

__all__ = [
    "KINDS",
    "ConnectError",
    "ConnectionReset",
    "ContentFilter",
    "Context",
    "ContextLengthExceeded",
    "Fault",
    "HTTPError",
    "InsufficientQuota",
    "MalformedJSON",
    "Overloaded",
    "Pass",
    "RateLimited",
    "ReadTimeout",
    "ScriptedReply",
    "ServerError",
    "Slow",
    "Stall",
    "StreamError",
    "TruncatedStream",
    "make_fault",
]

KINDS: dict[str, type[Fault]] = {}
"""Every fault kind by its name (``"rate_limited"``...)."""


class Context:
    """What a fault may use while it applies: the clock and request ids of its plan."""

    def __init__(self, request_id: Callable[[], str]) -> None:
        self.request_id = request_id

    @property
    def clock(self) -> Any:
        from .._flow import router

        return router.clock


@dataclass(slots=True)
class ScriptedReply(Reply):
    """A reply whose body goes on the wire as these exact parts (with their delays).

    The parts go out once: a client that reads the stream again after the end (the
    openai SDK drains a finished stream) gets nothing more, and waits nothing more.
    """

    scripted: list[Part] = field(default_factory=list)
    sent: bool = False

    def parts(self) -> Iterator[Part]:
        if self.sent:
            return
        self.sent = True
        for part in self.scripted:
            yield Part(part.delay, part.data)


# -- base ------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Fault:
    """One thing a provider does wrong. Subclasses name their ``kind``."""

    kind: ClassVar[str] = ""
    needs_reply: ClassVar[bool] = False
    """Whether it changes the reply of the rest of the chain (cassette, fake)."""
    stream_only: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("kind"):
            KINDS[cls.kind] = cls

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        raise NotImplementedError

    def __repr__(self) -> str:
        shown = []
        for f in _ordered(type(self)):
            value = getattr(self, f.name)
            if f.default is dataclasses.MISSING or value != f.default:
                shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # -- helpers for subclasses --------------------------------------------------------

    def _bad(self, problem: str, fix: str) -> FaultError:
        return FaultError(f"{self!r}: {problem}\nFix: {fix}")

    def _seconds(self, name: str, *, allow_inf: bool = False, optional: bool = False) -> None:
        value = getattr(self, name)
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise self._bad(
                f"{name} is a number of seconds, got {value!r}.", f"pass e.g. {name}=7."
            )
        if value < 0:
            raise self._bad(
                f"{name} is a wait in seconds and cannot be negative (got {value!r}).",
                f"pass {name}=0 or more, e.g. {name}={abs(value)!r}.",
            )
        if math.isinf(value) and not allow_inf:
            raise self._bad(f"{name} must be finite, got {value!r}.", f"pass e.g. {name}=30.")

    def _index(self, name: str, *, optional: bool = False, unit: str = "chunks") -> None:
        value = getattr(self, name)
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._bad(
                f"{name} counts {unit} and must be a whole number 0 or more, got {value!r}.",
                f"pass e.g. {name}=3.",
            )

    def _reply(self, exchange: Exchange, nxt: Next) -> Reply:
        """The rest of the chain's reply, to be changed; errors if there is none to change."""
        outcome = nxt(exchange)
        if isinstance(outcome, Forward):
            raise FaultNotApplicable(
                f"{self!r} needs a recorded or fake reply to change, but "
                f"{exchange.method} {exchange.url} went to the real network (recording or "
                "--llm-allow-network); a live response cannot be changed on its way.\n"
                "Fix: record the cassette first, then replay it with the fault; or answer "
                "with the fake provider (llm_fake)."
            )
        if isinstance(outcome, TransportFailure):
            raise FaultNotApplicable(
                f"{self!r} needs a reply to change, but the next handler failed "
                f"{exchange.method} {exchange.url} with {outcome.kind} ({outcome.message}).\n"
                "Fix: put the fault on a request that gets an answer, or script the failure alone."
            )
        if self.stream_only and outcome.events is None:
            raise FaultNotApplicable(
                f"{self!r} changes a streamed reply, but the reply to {exchange.method} "
                f"{exchange.url} is not a stream (status {outcome.status}).\n"
                "Fix: target the fault at a request made with stream=True (path=/model=), "
                "or use a kind for plain replies such as ConnectionReset(after_bytes=...)."
            )
        return outcome

    def _past_end(
        self, exchange: Exchange, name: str, value: int, n: int, unit: str
    ) -> FaultNotApplicable:
        last = max(n - 1, 0)
        return FaultNotApplicable(
            f"{self!r} cannot apply to {exchange.method} {exchange.url}: {name}={value} is past "
            f"the end; the reply has {n} {unit}{'' if n == 1 else 's'}"
            f" (valid: {name}=0..{last}).\n"
            f"Fix: pass {name}={last} or less, or target a longer reply."
        )


def _ordered(cls: type[Fault]) -> list[dataclasses.Field[Any]]:
    """Fields in the order of the constructor: positional ones first, keyword-only last."""
    return sorted(dataclasses.fields(cls), key=lambda f: bool(f.kw_only))


def _model(exchange: Exchange) -> str:
    doc = exchange.json
    if doc is not NOT_JSON and isinstance(doc, dict) and isinstance(doc.get("model"), str):
        return str(doc["model"])
    return "the model"


def _num(value: float) -> str:
    """A header number: ``7`` for 7.0, ``1.5`` for 1.5."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _duration(seconds: float) -> str:
    """OpenAI's ``x-ratelimit-reset-*`` and message format: ``7s``, ``250ms``, ``1m30s``."""
    if seconds < 1:
        return f"{_num(round(seconds * 1000, 3))}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{_num(round(rest, 3))}s"
    return f"{int(minutes)}m{text}" if minutes else text


def error_reply(
    ctx: Context,
    status: int,
    *,
    message: str,
    type: str | None,
    code: str | int | None,
    param: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Reply:
    """An error response as the OpenAI API sends it: JSON ``{"error": {...}}`` and a request id."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return Reply(
        status,
        [
            ("content-type", "application/json"),
            ("x-request-id", ctx.request_id()),
            *(headers or []),
        ],
        json.dumps(body, indent=4).encode() + b"\n",
    )


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
        wait = _duration(self._wait())
        headers = []
        if self.retry_after is not None:
            if self.http_date:
                when = math.ceil(ctx.clock.now().timestamp() + self.retry_after)
                headers.append(("retry-after", email.utils.formatdate(when, usegmt=True)))
            else:
                headers.append(("retry-after", _num(self.retry_after)))
        if self.retry_after_ms is not None:
            headers.append(("retry-after-ms", _num(self.retry_after_ms)))
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
            message=(
                f"Rate limit reached for {_model(exchange)} in organization org-pytestllm on "
                f"{per}: Limit {limit}, Used {used}, Requested {asked}. Please try again in "
                f"{wait}. Visit https://platform.openai.com/account/rate-limits to learn more."
            ),
            type=self.limit,
            code="rate_limit_exceeded",
            headers=headers + self._headers(),
        )


@dataclass(frozen=True, repr=False)
class InsufficientQuota(_Status):
    """429 ``insufficient_quota``: billing, not speed; retrying does not help."""

    kind: ClassVar[str] = "insufficient_quota"

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
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
        message, type_, code = _SERVER_BODIES.get(self.status, _SERVER_BODIES[500])
        return error_reply(
            ctx, self.status, message=message, type=type_, code=code, headers=self._headers()
        )


@dataclass(frozen=True, repr=False)
class Overloaded(_Status):
    """529: the provider is overloaded (the SDK retries it as a server error)."""

    kind: ClassVar[str] = "overloaded"

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
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


# -- answering alone: the transport fails ---------------------------------------------


@dataclass(frozen=True, repr=False)
class ReadTimeout(Fault):
    """No answer at all: the client waits its whole read timeout, then times out."""

    kind: ClassVar[str] = "read_timeout"

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        # An endless wait: the adapter cuts it at the client's read timeout, on the clock.
        return TransportFailure("read_timeout", "timed out", delay=math.inf)


@dataclass(frozen=True, repr=False)
class ConnectError(Fault):
    """The connection is refused before anything is sent."""

    kind: ClassVar[str] = "connect_error"

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        return TransportFailure("connect_error", "[Errno 111] Connection refused")


@dataclass(frozen=True, repr=False)
class ConnectionReset(Fault):
    """The peer resets the connection: before the response, or after N chunks or N bytes of it."""

    kind: ClassVar[str] = "connection_reset"
    after_chunks: int | None = None
    after_bytes: int | None = None

    def __post_init__(self) -> None:
        self._index("after_chunks", optional=True)
        self._index("after_bytes", optional=True, unit="bytes")
        if self.after_chunks is not None and self.after_bytes is not None:
            raise self._bad(
                "give after_chunks or after_bytes, not both.",
                f"pass ConnectionReset(after_chunks={self.after_chunks}) or "
                f"ConnectionReset(after_bytes={self.after_bytes}).",
            )

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        failure = TransportFailure("read_error", "[Errno 104] Connection reset by peer")
        if self.after_chunks is None and self.after_bytes is None:
            return failure
        reply = self._reply(exchange, nxt)
        parts = list(reply.parts())
        if self.after_chunks is not None:
            if self.after_chunks >= len(parts):
                raise self._past_end(
                    exchange, "after_chunks", self.after_chunks, len(parts), "chunk"
                )
            kept = parts[: self.after_chunks]
        else:
            assert self.after_bytes is not None
            total = sum(len(p.data) for p in parts)
            if self.after_bytes >= total:
                raise self._past_end(exchange, "after_bytes", self.after_bytes, total, "byte")
            kept, left = [], self.after_bytes
            for p in parts:
                if left <= 0:
                    break
                kept.append(Part(p.delay, p.data[:left]))
                left -= len(p.data)
        return _scripted(reply, kept, failure)


def _scripted(reply: Reply, parts: list[Part], failure: TransportFailure | None) -> ScriptedReply:
    return ScriptedReply(
        reply.status,
        list(reply.headers),
        body=reply.body,
        events=reply.events,
        failure=failure,
        timing=reply.timing,
        delay=reply.delay,
        scripted=parts,
    )


# -- changing the real reply: timing --------------------------------------------------


@dataclass(frozen=True, repr=False)
class Slow(Fault):
    """The reply starts (status line and headers) only after ``seconds``."""

    kind: ClassVar[str] = "slow"
    needs_reply: ClassVar[bool] = True
    seconds: float = 30

    def __post_init__(self) -> None:
        self._seconds("seconds", allow_inf=True)

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply = self._reply(exchange, nxt)
        return dataclasses.replace(reply, delay=reply.delay + self.seconds)


@dataclass(frozen=True, repr=False)
class Stall(Fault):
    """The stream stops after chunk ``after_chunk`` for ``seconds``, then goes on."""

    kind: ClassVar[str] = "stall"
    needs_reply: ClassVar[bool] = True
    after_chunk: int
    seconds: float = 30

    def __post_init__(self) -> None:
        self._index("after_chunk")
        self._seconds("seconds", allow_inf=True)

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply = self._reply(exchange, nxt)
        parts = list(reply.parts())
        if self.after_chunk >= len(parts):
            raise self._past_end(exchange, "after_chunk", self.after_chunk, len(parts), "chunk")
        k = self.after_chunk
        parts[k] = Part(parts[k].delay + self.seconds, parts[k].data)
        return _scripted(reply, parts, reply.failure)


# -- changing the real reply: the stream ends badly ------------------------------------


@dataclass(frozen=True, repr=False)
class TruncatedStream(Fault):
    """The stream ends cleanly but early: no ``[DONE]``, no finish_reason, no ``response.completed``."""

    kind: ClassVar[str] = "truncated_stream"
    needs_reply: ClassVar[bool] = True
    stream_only: ClassVar[bool] = True
    after_chunk: int | None = None
    """Keep this many chunks (default: every chunk of content, none of the ending)."""

    def __post_init__(self) -> None:
        self._index("after_chunk", optional=True)

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply = self._reply(exchange, nxt)
        cut = _cut(self, exchange, reply, self.after_chunk)
        return _shapes.replaced(reply, events=(reply.events or [])[:cut], failure=None)


def _cut(fault: Fault, exchange: Exchange, reply: Reply, after_chunk: int | None) -> int:
    end = _shapes.content_end(reply)
    events = reply.events or []
    if end is None:
        end = len(events)
    if after_chunk is None:
        return end
    if after_chunk > end:
        raise FaultNotApplicable(
            f"{fault!r} cannot apply to {exchange.method} {exchange.url}: after_chunk="
            f"{after_chunk} is past the end of the content; the stream has {end} chunks before "
            f"its ending (valid: after_chunk=0..{end}).\n"
            f"Fix: pass after_chunk={end} or less, or leave it out to cut just the ending."
        )
    return after_chunk


@dataclass(frozen=True, repr=False)
class StreamError(Fault):
    """An error event inside a 200 stream, after chunk ``after_chunk``; the stream ends there."""

    kind: ClassVar[str] = "stream_error"
    needs_reply: ClassVar[bool] = True
    stream_only: ClassVar[bool] = True
    after_chunk: int | None = None
    """Chunks sent before the error (default: all the content, before the ending)."""
    message: str = "The server had an error while processing your request. Sorry about that!"
    type: str = "server_error"
    code: str | None = None

    def __post_init__(self) -> None:
        self._index("after_chunk", optional=True)

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply = self._reply(exchange, nxt)
        cut = _cut(self, exchange, reply, self.after_chunk)
        events = (reply.events or [])[:cut]
        t = events[-1].t if events else 0.0
        if _shapes.shape_of(reply) == _shapes.RESPONSES_STREAM:
            seqs = [
                d.get("sequence_number")
                for d in _shapes.load_events(_shapes.replaced(reply, events=events))
                if isinstance(d, dict)
            ]
            seq = max([s for s in seqs if isinstance(s, int)], default=-1) + 1
            doc: dict[str, Any] = {
                "type": "error",
                "code": self.code or self.type,
                "message": self.message,
                "param": None,
                "sequence_number": seq,
            }
            event = SSEEvent(data=json.dumps(doc, separators=(",", ":")), event="error", t=t)
        else:
            doc = {
                "error": {
                    "message": self.message,
                    "type": self.type,
                    "param": None,
                    "code": self.code,
                }
            }
            event = SSEEvent(data=json.dumps(doc, separators=(",", ":")), t=t)
        return _shapes.replaced(reply, events=[*events, event], failure=None)


# -- changing the real reply: what the model said ---------------------------------------


def _no_shape(fault: Fault, exchange: Exchange, reply: Reply) -> FaultNotApplicable:
    return FaultNotApplicable(
        f"{fault!r} cannot apply to {exchange.method} {exchange.url}: the reply (status "
        f"{reply.status}) is not a chat completion or Responses API response, plain or "
        "streamed, so there is no message content to change.\n"
        "Fix: target the fault at a chat completions or responses request (path=...)."
    )


@dataclass(frozen=True, repr=False)
class ContentFilter(Fault):
    """The provider's content filter cuts the answer: ``finish_reason: content_filter``."""

    kind: ClassVar[str] = "content_filter"
    needs_reply: ClassVar[bool] = True
    keep_chars: int = 0
    """How much of the text got out before the filter stopped it."""

    def __post_init__(self) -> None:
        self._index("keep_chars", unit="characters")

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply = self._reply(exchange, nxt)
        filtered = _shapes.content_filter(reply, self.keep_chars)
        if filtered is None:
            raise _no_shape(self, exchange, reply)
        return filtered


@dataclass(frozen=True, repr=False)
class MalformedJSON(Fault):
    """The message content is JSON gone wrong in one of the ways models get it wrong.

    ``variant``: fenced, prose, trailing_comma, single_quotes, truncated (at ``at`` of
    its length), wrong_types, missing_field, extra_field (``field``: which one; dotted
    for nested fields; default the first field, or ``note`` for extra_field).
    """

    kind: ClassVar[str] = "malformed_json"
    needs_reply: ClassVar[bool] = True
    variant: str
    field: str | None = None
    at: float = 0.5

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            near = difflib.get_close_matches(str(self.variant), VARIANTS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise self._bad(
                f"unknown variant {self.variant!r}{hint}.",
                f"pass variant= one of {', '.join(VARIANTS)}.",
            )
        if self.field is not None and self.variant not in FIELD_VARIANTS:
            raise self._bad(
                f"field= only applies to {', '.join(sorted(FIELD_VARIANTS))}.",
                "drop field=, or use one of those variants.",
            )
        if isinstance(self.at, bool) or not isinstance(self.at, int | float) or not 0 < self.at < 1:
            raise self._bad(
                f"at is where to cut, a fraction of the text strictly between 0 and 1, got {self.at!r}.",
                "pass e.g. at=0.5 (cut in the middle).",
            )

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply = self._reply(exchange, nxt)
        if _shapes.shape_of(reply) is None:
            raise _no_shape(self, exchange, reply)

        def change(text: str) -> str:
            try:
                return malform(text, self.variant, field=self.field, at=self.at)
            except MalformedInput as exc:
                raise FaultNotApplicable(
                    f"{self!r} cannot apply to {exchange.method} {exchange.url}: {exc}.\n"
                    "Fix: target a request whose answer is JSON (response_format / text.format), "
                    "or pick another variant."
                ) from None

        changed, n = _shapes.rewrite_text(reply, change)
        if n == 0:
            raise FaultNotApplicable(
                f"{self!r} cannot apply to {exchange.method} {exchange.url}: the reply has no "
                "text content (only tool calls or a refusal?).\n"
                "Fix: target a request answered with text."
            )
        return changed


# -- sequences ------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Pass(Fault):
    """No fault: the request goes on to the cassette or fake. A step in a sequence."""

    kind: ClassVar[str] = "pass"

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        return nxt(exchange)


def make_fault(kind: str, /, **params: Any) -> Fault:
    """A fault by its kind's name, with parameters: ``make_fault("rate_limited", retry_after=7)``."""
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        near = difflib.get_close_matches(str(kind), KINDS, n=1)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise FaultError(
            f"unknown fault kind {kind!r}.{hint}\nFix: use one of {', '.join(sorted(KINDS))}."
        )
    names = [f.name for f in _ordered(cls)]
    for name in params:
        if name not in names:
            near = difflib.get_close_matches(name, names, n=1)
            hint = f" Did you mean {near[0]!r}?" if near else ""
            takes = ", ".join(names) if names else "no parameters"
            raise FaultError(
                f"fault kind {kind!r} has no parameter {name!r}.{hint}\n"
                f"Fix: {cls.__name__} takes {takes}."
            )
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.name not in params
    ]
    if missing:
        example = ", ".join(f"{name}=..." for name in missing)
        raise FaultError(
            f"fault kind {kind!r} needs {', '.join(missing)}.\nFix: pass e.g. "
            f"add({kind!r}, {example})."
        )
    return cls(**params)
