"""Faults in Anthropic's and Gemini's own shapes.

The fault kinds are the same for every provider; the request's path says whose API it
is (:func:`provider_of`), and this module says the fault the way that provider does:

* errors: Anthropic's ``{"type": "error", "error": {...}, "request_id": ...}`` with its
  ``request-id``, ``retry-after`` and ``anthropic-ratelimit-*`` headers, 529
  ``overloaded_error``; Gemini's ``{"error": {"code", "message", "status", "details"}}``
  with ``google.rpc`` details (``QuotaFailure``, ``RetryInfo.retryDelay``);
* what the model said: the text of a Messages API message (``text`` blocks, or the
  ``text_delta`` events of its stream) and of a Gemini response (``text`` parts, one
  piece a stream chunk), read and rewritten for the content faults; the way each ends
  early (``stop_reason: max_tokens`` / ``refusal``, ``finishReason: MAX_TOKENS`` /
  ``SAFETY`` with the blocking safety rating) and the error each sends inside a stream.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable
from typing import Any

from .._flow import Exchange, Reply
from .._sse import SSEEvent
from ..fake._native import GEMINI_STATUS, anthropic_error, gemini_error
from ._base import Context, header_number

__all__ = [
    "ANTHROPIC_TYPES",
    "GEMINI",
    "GEMINI_STREAM",
    "MESSAGES",
    "MESSAGES_STREAM",
    "anthropic_type",
    "error_reply",
    "gemini_duration",
    "provider_of",
]

MESSAGES = "Anthropic message"
MESSAGES_STREAM = "Anthropic message stream"
GEMINI = "Gemini response"
GEMINI_STREAM = "Gemini response stream"

Doc = dict[str, Any]
TextFn = Callable[[str], str]

ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
"""HTTP status -> the ``error.type`` Anthropic sends with it (only the types the SDK's
``ErrorObject`` union knows: a 413's ``request_too_large`` is sent as
``invalid_request_error``)."""
_ANTHROPIC_KNOWN = frozenset(ANTHROPIC_TYPES.values())
_TO_ANTHROPIC = {"server_error": "api_error"}
_TO_GEMINI = {
    "api_error": 500,
    "server_error": 500,
    "overloaded_error": 503,
    "rate_limit_error": 429,
    "timeout_error": 504,
    "invalid_request_error": 400,
}


def provider_of(exchange: Exchange) -> str:
    """Whose API a request is for (:func:`pytest_llm._providers.of_request`: its SDK's
    headers, its path, its host): ``anthropic``, ``gemini``, else ``openai``."""
    from .._providers import of_request

    found = of_request(exchange)
    return found.name if found is not None else "openai"


def anthropic_type(type_: str | None, status: int) -> str:
    """An ``error.type`` Anthropic's SDK knows: the given one, OpenAI's word for it, or
    the one Anthropic sends with ``status``."""
    if type_ in _ANTHROPIC_KNOWN:
        return str(type_)
    if type_ in _TO_ANTHROPIC:
        return _TO_ANTHROPIC[str(type_)]
    return ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def gemini_code(type_: str | None) -> int:
    return _TO_GEMINI.get(str(type_), 500)


def gemini_duration(seconds: float) -> str:
    """A protobuf ``Duration`` as JSON: ``7s``, ``0.250s``."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.3f}".rstrip("0") + "s"


def rfc3339(ctx: Context, seconds: float) -> str:
    """``now + seconds`` on the plan's clock, as Anthropic's ``*-reset`` headers give it."""
    when = ctx.clock.now().astimezone(datetime.UTC) + datetime.timedelta(seconds=seconds)
    return when.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_reply(
    ctx: Context,
    provider: str,
    status: int,
    *,
    message: str,
    type: str | None = None,
    gemini_status: str | None = None,
    details: list[Any] | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Reply:
    """An error response as Anthropic or Gemini sends it."""
    if provider == "anthropic":
        request_id = ctx.request_id()
        body = anthropic_error(anthropic_type(type, status), message, request_id)
        head = [("content-type", "application/json"), ("request-id", request_id)]
        data = json.dumps(body).encode()
    else:
        body = gemini_error(status, message, gemini_status or GEMINI_STATUS.get(status), details)
        head = [("content-type", "application/json; charset=UTF-8")]
        data = json.dumps(body, indent=2).encode() + b"\n"
    return Reply(status, [*head, *(headers or [])], data)


# -- the HTTP error kinds ---------------------------------------------------------------

_ANTHROPIC_LIMITS = {
    "requests": (50, "requests per minute", "requests"),
    "tokens": (30000, "input tokens per minute", "input-tokens"),
}


def rate_limited(
    ctx: Context,
    provider: str,
    model: str,
    wait: float,
    limit: str,
    retry_after: list[tuple[str, str]],
) -> Reply:
    """429: Anthropic's ``rate_limit_error`` with ``retry-after`` and the
    ``anthropic-ratelimit-*`` headers (limit, 0 remaining, the reset time); Gemini's
    ``RESOURCE_EXHAUSTED`` with a ``QuotaFailure`` and ``RetryInfo.retryDelay``."""
    if provider == "anthropic":
        count, per, header = _ANTHROPIC_LIMITS[limit]
        reset = rfc3339(ctx, wait)
        headers = [
            *retry_after,
            (f"anthropic-ratelimit-{header}-limit", str(count)),
            (f"anthropic-ratelimit-{header}-remaining", "0"),
            (f"anthropic-ratelimit-{header}-reset", reset),
        ]
        if limit == "tokens":
            headers += [
                ("anthropic-ratelimit-tokens-limit", str(count)),
                ("anthropic-ratelimit-tokens-remaining", "0"),
                ("anthropic-ratelimit-tokens-reset", reset),
            ]
        return error_reply(
            ctx,
            provider,
            429,
            message=anthropic_rate_message(count, per),
            type="rate_limit_error",
            headers=headers,
        )
    value = "1000" if limit == "requests" else "1000000"
    message, details = gemini_quota(model, limit, value, wait)
    return error_reply(ctx, provider, 429, message=message, details=details)


def anthropic_rate_message(count: int, per: str) -> str:
    """Anthropic's 429 ``rate_limit_error`` message; ``per``: ``requests per minute``..."""
    return (
        f"This request would exceed the rate limit for your organization of {count:,} "
        f"{per}. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can "
        "see the response headers for current usage. Please reduce the prompt length or the "
        "maximum tokens requested, or try again later."
    )


def gemini_quota(model: str, limit: str, value: str, wait: float) -> tuple[str, list[Any]]:
    """Gemini's 429 ``RESOURCE_EXHAUSTED`` message and ``details``: the ``QuotaFailure``
    naming the metric (``limit``: ``requests`` or ``tokens``) and its ``value``, a
    ``Help`` link, and ``RetryInfo.retryDelay`` (``wait`` seconds)."""
    metric = "requests" if limit == "requests" else "input_token_count"
    quota = (
        "GenerateRequestsPerMinutePerProjectPerModel"
        if limit == "requests"
        else "GenerateContentInputTokensPerModelPerMinute"
    )
    message = (
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
        f"\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_"
        f"paid_tier_{metric}, limit: {value}, model: {model}\nPlease retry in "
        f"{header_number(wait)}s."
    )
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": f"generativelanguage.googleapis.com/generate_content_paid_tier_{metric}",
                    "quotaId": quota,
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": value,
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": gemini_duration(wait)},
    ]
    return message, details


def insufficient_quota(ctx: Context, provider: str, model: str) -> Reply:
    """Billing, not speed: Anthropic's 400 "credit balance is too low"; Gemini's 429
    ``RESOURCE_EXHAUSTED`` on a daily quota, with no ``RetryInfo`` (retrying soon is futile)."""
    if provider == "anthropic":
        return error_reply(
            ctx,
            provider,
            400,
            message=(
                "Your credit balance is too low to access the Anthropic API. Please go to Plans "
                "& Billing to upgrade or purchase credits."
            ),
            type="invalid_request_error",
        )
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": "250",
                }
            ],
        }
    ]
    return error_reply(
        ctx,
        provider,
        429,
        message=(
            "You exceeded your current quota, please check your plan and billing details. For "
            "more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits."
        ),
        details=details,
    )


_GEMINI_SERVER = {
    500: (
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
        "INTERNAL",
    ),
    502: ("Bad Gateway", "UNAVAILABLE"),
    503: ("The model is overloaded. Please try again later.", "UNAVAILABLE"),
    504: ("The request timed out. Please try again.", "DEADLINE_EXCEEDED"),
}


def server_error(ctx: Context, provider: str, status: int, headers: list[tuple[str, str]]) -> Reply:
    """A 5xx: Anthropic's ``api_error`` (``timeout_error`` for 504); Gemini's ``INTERNAL``,
    ``UNAVAILABLE`` (502, 503) or ``DEADLINE_EXCEEDED`` (504)."""
    if provider == "anthropic":
        message = "Internal server error" if status != 504 else "Request timed out"
        return error_reply(ctx, provider, status, message=message, headers=headers)
    message, name = _GEMINI_SERVER.get(status, _GEMINI_SERVER[500])
    return error_reply(ctx, provider, status, message=message, gemini_status=name)


def overloaded(ctx: Context, provider: str, headers: list[tuple[str, str]]) -> Reply:
    """Anthropic's 529 ``overloaded_error``; Gemini says it with 503 ``UNAVAILABLE``."""
    if provider == "anthropic":
        return error_reply(
            ctx, provider, 529, message="Overloaded", type="overloaded_error", headers=headers
        )
    return server_error(ctx, provider, 503, headers)


def context_length(
    ctx: Context, provider: str, limit: int, tokens: int, headers: list[tuple[str, str]]
) -> Reply:
    """400: Anthropic's "prompt is too long"; Gemini's "input token count exceeds"."""
    if provider == "anthropic":
        return error_reply(
            ctx,
            provider,
            400,
            message=f"prompt is too long: {tokens} tokens > {limit} maximum",
            type="invalid_request_error",
            headers=headers,
        )
    return error_reply(
        ctx,
        provider,
        400,
        message=(
            f"The input token count ({tokens}) exceeds the maximum number of tokens allowed "
            f"({limit})."
        ),
    )


# -- what the model said: shapes ---------------------------------------------------------


def _loads(data: str | bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None


def _docs(reply: Reply) -> list[Any]:
    return [_loads(ev.data) for ev in reply.events or []]


def shape_of(reply: Reply) -> str | None:
    """Which Anthropic or Gemini shape a reply has, or ``None``."""
    if reply.events is not None:
        for ev, doc in zip(reply.events, _docs(reply), strict=True):
            if not isinstance(doc, dict):
                continue
            if ev.event == "message_start" or doc.get("type") == "message_start":
                return MESSAGES_STREAM
            if "candidates" in doc or "promptFeedback" in doc:
                return GEMINI_STREAM
        return None
    doc = _loads(reply.body)
    if isinstance(doc, dict):
        if doc.get("type") == "message" and isinstance(doc.get("content"), list):
            return MESSAGES
        if isinstance(doc.get("candidates"), list):
            return GEMINI
    return None


def _dump_body(original: bytes, doc: Any) -> bytes:
    indent = 2 if b"\n" in original.strip() else None
    return json.dumps(doc, indent=indent, ensure_ascii=False).encode()


def _dump_event(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _replaced(reply: Reply, **changes: Any) -> Reply:
    """A plain :class:`Reply` with the same fields as ``reply`` except ``changes``."""
    fields = {f.name: getattr(reply, f.name) for f in dataclasses.fields(Reply)}
    fields.update(changes)
    return Reply(**fields)


def _with_docs(reply: Reply, docs: list[Any], changed: set[int]) -> Reply:
    """``reply`` with the events at ``changed`` written back from ``docs``."""
    events = []
    for i, ev in enumerate(reply.events or []):
        if i in changed:
            ev = dataclasses.replace(ev, data=_dump_event(docs[i]))
        events.append(ev)
    return _replaced(reply, events=events)


def _split_like(text: str, sizes: list[int]) -> list[str]:
    """``text`` cut into pieces of the given sizes; the last piece takes the rest."""
    pieces = []
    pos = 0
    for size in sizes[:-1]:
        pieces.append(text[pos : pos + size])
        pos += size
    pieces.append(text[pos:])
    return pieces


def _text_parts(candidate: Any) -> list[Doc]:
    content = candidate.get("content") if isinstance(candidate, dict) else None
    parts = content.get("parts") if isinstance(content, dict) else None
    items = parts if isinstance(parts, list) else []
    return [
        p
        for p in items
        if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    ]


def _text_delta(doc: Doc) -> Doc | None:
    """The ``delta`` of an Anthropic ``content_block_delta`` event that carries text."""
    delta = doc.get("delta")
    text = isinstance(delta, dict) and delta.get("type") == "text_delta"
    return delta if text and doc.get("type") == "content_block_delta" else None


def _stream_pieces(shape: str, docs: list[Any]) -> dict[int, list[tuple[int, Doc, str]]]:
    """For each text block (Anthropic) or candidate (Gemini): (event, holder, key) in order;
    ``holder[key]`` is the piece of text."""
    groups: dict[int, list[tuple[int, Doc, str]]] = {}
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            continue
        if shape == MESSAGES_STREAM:
            delta = _text_delta(doc)
            if delta is not None:
                groups.setdefault(int(doc.get("index", 0)), []).append((i, delta, "text"))
        else:
            for c in doc.get("candidates") or []:
                for part in _text_parts(c):
                    groups.setdefault(int(c.get("index", 0)), []).append((i, part, "text"))
    return groups


def texts(reply: Reply) -> list[str]:
    """The text of each message, block by block (Anthropic) or candidate by candidate."""
    shape = shape_of(reply)
    if shape == MESSAGES:
        doc = _loads(reply.body)
        return [
            b["text"] for b in doc["content"] if isinstance(b, dict) and b.get("type") == "text"
        ]
    if shape == GEMINI:
        doc = _loads(reply.body)
        return ["".join(p["text"] for p in _text_parts(c)) for c in doc["candidates"]]
    if shape in (MESSAGES_STREAM, GEMINI_STREAM):
        groups = _stream_pieces(shape, _docs(reply))
        return ["".join(h[k] for _, h, k in groups[g]) for g in sorted(groups)]
    return []


def rewrite_text(reply: Reply, fn: TextFn) -> tuple[Reply, int]:
    """``fn`` applied to each message's text; a stream keeps its events (pieces of the old
    sizes, the last takes the rest)."""
    shape = shape_of(reply)
    if shape == MESSAGES:
        doc = _loads(reply.body)
        blocks = [b for b in doc["content"] if isinstance(b, dict) and b.get("type") == "text"]
        for block in blocks:
            block["text"] = fn(block["text"])
        return _replaced(reply, body=_dump_body(reply.body, doc)), len(blocks)
    if shape == GEMINI:
        doc = _loads(reply.body)
        n = 0
        for candidate in doc["candidates"]:
            parts = _text_parts(candidate)
            if not parts:
                continue
            new = fn("".join(p["text"] for p in parts))
            for part, piece in zip(
                parts, _split_like(new, [len(p["text"]) for p in parts]), strict=True
            ):
                part["text"] = piece
            n += 1
        return _replaced(reply, body=_dump_body(reply.body, doc)), n
    if shape in (MESSAGES_STREAM, GEMINI_STREAM):
        docs = _docs(reply)
        groups = _stream_pieces(shape, docs)
        changed: set[int] = set()
        for pieces in groups.values():
            new = fn("".join(h[k] for _, h, k in pieces))
            sizes = [len(h[k]) for _, h, k in pieces]
            for (i, holder, key), piece in zip(pieces, _split_like(new, sizes), strict=True):
                holder[key] = piece
                changed.add(i)
        return _with_docs(reply, docs, changed), len(groups)
    return reply, 0


def content_end(reply: Reply) -> int | None:
    """Index of the first event past the content.

    Anthropic: the ``content_block_stop`` of the last block (then ``message_delta``,
    ``message_stop``). Gemini: the chunk after the one with ``finishReason`` (that chunk
    carries the last text; :func:`strip_ending` takes the reason off it).
    """
    shape = shape_of(reply)
    docs = _docs(reply)
    events = reply.events or []
    if shape == MESSAGES_STREAM:
        for i, (ev, doc) in enumerate(zip(events, docs, strict=True)):
            kind = ev.event or (doc.get("type") if isinstance(doc, dict) else None)
            if kind in ("message_delta", "message_stop", "error"):
                while i > 0 and (events[i - 1].event == "content_block_stop"):
                    i -= 1
                return i
        return None
    if shape == GEMINI_STREAM:
        for i, doc in enumerate(docs):
            if not isinstance(doc, dict):
                continue
            if "error" in doc:
                return i
            if any(
                isinstance(c, dict) and c.get("finishReason") for c in doc.get("candidates") or []
            ):
                return i + 1
        return None
    return None


def strip_ending(reply: Reply) -> Reply:
    """A Gemini stream whose last chunk says it finished, without saying so."""
    if shape_of(reply) != GEMINI_STREAM or not reply.events:
        return reply
    docs = _docs(reply)
    last = len(docs) - 1
    doc = docs[last]
    if not isinstance(doc, dict):
        return reply
    found = False
    for c in doc.get("candidates") or []:
        if isinstance(c, dict) and c.pop("finishReason", None) is not None:
            found = True
    if not found:
        return reply
    usage = doc.get("usageMetadata")
    if isinstance(usage, dict) and "candidatesTokenCount" in usage:
        usage["totalTokenCount"] = usage.get("promptTokenCount", 0)
        del usage["candidatesTokenCount"]
    return _with_docs(reply, docs, {last})


_SAFETY: list[dict[str, Any]] = [
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
]


def _end_candidate(candidate: Doc, reason: str) -> None:
    if reason == "content_filter":
        candidate["finishReason"] = "SAFETY"
        candidate["safetyRatings"] = [dict(r) for r in _SAFETY]
    else:
        candidate["finishReason"] = "MAX_TOKENS"
    content = candidate.get("content")
    if isinstance(content, dict) and isinstance(content.get("parts"), list):
        content["parts"] = [
            p for p in content["parts"] if not (isinstance(p, dict) and p.get("text") == "")
        ]
        if not content["parts"]:
            del candidate["content"]


def _only_empty_text(candidate: Any) -> bool:
    content = candidate.get("content") if isinstance(candidate, dict) else None
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list) or not parts:
        return False
    return all(isinstance(p, dict) and set(p) == {"text"} and p["text"] == "" for p in parts)


def stop_early(reply: Reply, keep_chars: int | None, reason: str) -> Reply | None:
    """The reply as a content filter (``reason="content_filter"``) or the token limit
    (``"length"``) leaves it: text cut to ``keep_chars`` (``None``: half of it), and the
    provider's way to say so. ``None`` if the reply has no Anthropic or Gemini shape."""
    shape = shape_of(reply)
    if shape is None:
        return None

    def cut(text: str) -> str:
        return text[: len(text) // 2 if keep_chars is None else keep_chars]

    short, _ = rewrite_text(reply, cut)
    stop = "refusal" if reason == "content_filter" else "max_tokens"
    if shape == MESSAGES:
        doc = _loads(short.body)
        doc["stop_reason"] = stop
        doc["content"] = [
            b
            for b in doc["content"]
            if not (isinstance(b, dict) and b.get("type") == "text" and b["text"] == "")
        ]
        return _replaced(short, body=_dump_body(reply.body, doc))
    if shape == GEMINI:
        doc = _loads(short.body)
        for candidate in doc["candidates"]:
            _end_candidate(candidate, reason)
        return _replaced(short, body=_dump_body(reply.body, doc))
    docs = _docs(short)
    events: list[SSEEvent] = []
    for ev, doc in zip(short.events or [], docs, strict=True):
        if isinstance(doc, dict):
            if shape == MESSAGES_STREAM:
                text = _text_delta(doc)
                if text is not None and text.get("text") == "":
                    continue  # text past the cut is never sent
                delta = doc.get("delta")
                if doc.get("type") == "message_delta" and isinstance(delta, dict):
                    delta["stop_reason"] = stop
                    ev = dataclasses.replace(ev, data=_dump_event(doc))
            else:
                candidates = doc.get("candidates") or []
                if any(isinstance(c, dict) and c.get("finishReason") for c in candidates):
                    for c in candidates:
                        _end_candidate(c, reason)
                    ev = dataclasses.replace(ev, data=_dump_event(doc))
                elif candidates and all(_only_empty_text(c) for c in candidates):
                    continue  # a chunk whose text is past the cut is never sent
        events.append(ev)
    return _replaced(short, events=events)


def stream_error(
    reply: Reply, events: list[SSEEvent], message: str, type_: str, default: bool
) -> SSEEvent:
    """The error event a provider sends inside a 200 stream: Anthropic's ``event: error``,
    Gemini's ``{"error": {...}}`` chunk. ``default``: the fault kept its OpenAI wording."""
    t = events[-1].t if events else 0.0
    if shape_of(reply) == MESSAGES_STREAM:
        kind = anthropic_type(type_, 500)
        text = "Internal server error" if default else message
        if default and kind == "overloaded_error":
            text = "Overloaded"
        doc = {"type": "error", "error": {"type": kind, "message": text}}
        return SSEEvent(data=_dump_event(doc), event="error", t=t)
    code = gemini_code(type_)
    text = message
    if default:
        text = (_GEMINI_SERVER.get(code) or _GEMINI_SERVER[500])[0]
    return SSEEvent(data=_dump_event(gemini_error(code, text)), t=t)
