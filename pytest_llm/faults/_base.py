"""What every fault kind shares: the base class, the registry of kinds, OpenAI error bodies."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .._clock import Clock
from .._flow import (
    Exchange,
    Forward,
    Next,
    Outcome,
    Part,
    Reply,
    TransportFailure,
    router,
)
from .._text import did_you_mean
from ..fake._shapes import error_body
from ._errors import FaultError, FaultNotApplicable

__all__ = ["KINDS", "Context", "Fault", "Pass", "ScriptedReply", "error_reply", "make_fault"]


KINDS: dict[str, type[Fault]] = {}
"""Every fault kind by its name (``"rate_limited"``...)."""


class Context:
    """What a fault may use while it applies: the clock and request ids of its plan."""

    def __init__(self, request_id: Callable[[], str]) -> None:
        self.request_id = request_id

    @property
    def clock(self) -> Clock:
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
    stream_only: ClassVar[bool] = False
    """Whether it only makes sense on a streamed reply."""

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

    def _choice(self, name: str, allowed: Sequence[str]) -> None:
        value = getattr(self, name)
        if value not in allowed:
            hint = did_you_mean(str(value), allowed, template=" (did you mean {!r}?)")
            raise self._bad(
                f"unknown {name} {value!r}{hint}.", f"pass {name}= one of {', '.join(allowed)}."
            )

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


def model_name(exchange: Exchange) -> str:
    from .._providers import model_of

    return model_of(exchange) or "the model"


def header_number(value: float) -> str:
    """A header number: ``7`` for 7.0, ``1.5`` for 1.5."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def openai_duration(seconds: float) -> str:
    """OpenAI's ``x-ratelimit-reset-*`` and message format: ``7s``, ``250ms``, ``1m30s``."""
    seconds = round(seconds, 3)  # 59.9999 is "1m0s", not "60s"
    if seconds < 1:
        return f"{header_number(round(seconds * 1000, 3))}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{header_number(round(rest, 3))}s"
    return f"{int(minutes)}m{text}" if minutes else text


def openai_rate_message(
    model: str, per: str, limit: int, used: int, requested: int, wait: str
) -> str:
    """OpenAI's 429 ``rate_limit_exceeded`` message; ``per`` names the limit
    (``requests per min (RPM)``), ``wait`` is an :func:`openai_duration`."""
    return (
        f"Rate limit reached for {model} in organization org-pytestllm on {per}: Limit {limit}, "
        f"Used {used}, Requested {requested}. Please try again in {wait}. Visit "
        "https://platform.openai.com/account/rate-limits to learn more."
    )


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
    body = error_body(message, type=type, param=param, code=code)
    return Reply(
        status,
        [
            ("content-type", "application/json"),
            ("x-request-id", ctx.request_id()),
            *(headers or []),
        ],
        json.dumps(body, indent=4).encode() + b"\n",
    )


def scripted_reply(
    reply: Reply, parts: list[Part], failure: TransportFailure | None
) -> ScriptedReply:
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
        hint = did_you_mean(str(kind), KINDS)
        raise FaultError(
            f"unknown fault kind {kind!r}.{hint}\nFix: use one of {', '.join(sorted(KINDS))}."
        )
    names = [f.name for f in _ordered(cls)]
    for name in params:
        if name not in names:
            hint = did_you_mean(name, names)
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
