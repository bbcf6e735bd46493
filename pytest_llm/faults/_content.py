"""Faults in what the model said: a content filter, malformed JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .._flow import Exchange, Next, Outcome, Reply
from . import _shapes
from ._base import Context, Fault
from ._errors import FaultNotApplicable
from ._malformed import FIELD_VARIANTS, VARIANTS, MalformedInput, malform

__all__ = ["ContentFilter", "MalformedJSON", "MaxTokens"]


# -- changing the real reply: what the model said ---------------------------------------


def _no_shape(fault: Fault, exchange: Exchange, reply: Reply) -> FaultNotApplicable:
    return FaultNotApplicable(
        f"{fault!r} cannot apply to {exchange.method} {exchange.url}: the reply (status "
        f"{reply.status}) is not a chat completion, Responses API response, Anthropic "
        "message or Gemini response, plain or streamed, so there is no message content to "
        "change.\n"
        "Fix: target the fault at a chat completions, responses, messages or generateContent "
        "request (path=...)."
    )


@dataclass(frozen=True, repr=False)
class ContentFilter(Fault):
    """The provider's content filter cuts the answer: ``finish_reason: content_filter``
    (Responses: ``incomplete``; Anthropic: ``stop_reason: refusal``; Gemini:
    ``finishReason: SAFETY`` with the safety rating that blocked it)."""

    kind: ClassVar[str] = "content_filter"
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
class MaxTokens(Fault):
    """The answer hits the token limit: text cut short, and the reply says why in the
    provider's words (``finish_reason: length``, Responses ``incomplete`` with
    ``max_output_tokens``, Anthropic ``stop_reason: max_tokens``, Gemini
    ``finishReason: MAX_TOKENS``)."""

    kind: ClassVar[str] = "max_tokens"
    keep_chars: int | None = None
    """How much of the text fits in the limit (default: half of it)."""

    def __post_init__(self) -> None:
        self._index("keep_chars", optional=True, unit="characters")

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply = self._reply(exchange, nxt)
        cut = _shapes.stop_early(reply, self.keep_chars, "length")
        if cut is None:
            raise _no_shape(self, exchange, reply)
        return cut


@dataclass(frozen=True, repr=False)
class MalformedJSON(Fault):
    """The message content is JSON gone wrong in one of the ways models get it wrong.

    ``variant``: fenced, prose, trailing_comma, single_quotes, truncated (at ``at`` of
    its length), wrong_types, missing_field, extra_field (``field``: which one; dotted
    for nested fields; default the first field, or ``note`` for extra_field).
    """

    kind: ClassVar[str] = "malformed_json"
    variant: str
    field: str | None = None
    at: float = 0.5

    def __post_init__(self) -> None:
        self._choice("variant", VARIANTS)
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
