"""The JSON the OpenAI API sends back, built from what a script says the model said.

Pure functions: a request body and an :class:`Answer` in, plain dicts out. The shapes
follow the real API (chat completions, chat completion chunks, Responses objects and
their stream events, embeddings), field for field, so the openai SDK's own models
validate them and its stream helpers accumulate them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EMBED_MODES",
    "Answer",
    "Ids",
    "chat_chunks",
    "chat_completion",
    "embedding_vector",
    "embeddings",
    "error_body",
    "estimate_tokens",
    "last_user_message",
    "prompt_tokens",
    "response_events",
    "response_object",
    "split_text",
    "word_vector",
]

FINISH_REASONS = ("stop", "length", "content_filter", "tool_calls")
"""Chat completion finish reasons a script may ask for."""

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
"""Responses API: a chat finish reason that ends a response as ``incomplete``."""

_EMBEDDING_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
DEFAULT_DIMENSIONS = 1536


@dataclass(slots=True)
class Answer:
    """What the model says, independent of the API that will carry it."""

    text: str | None = None
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    """``(name, arguments as a JSON string)``; the string is sent as is."""
    finish_reason: str | None = None
    chunks: int | Sequence[str] | None = None
    """How the text streams: ``None`` word by word, an int of characters, or pieces."""
    usage: dict[str, int] = field(default_factory=dict)
    """Overrides of the estimated token counts: ``prompt_tokens``, ``completion_tokens``."""

    @property
    def finish(self) -> str:
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"


@dataclass(slots=True)
class Ids:
    """Identifiers and timestamps of one reply: readable, deterministic, unique per fake."""

    n: int
    created: int

    @property
    def chat(self) -> str:
        return f"chatcmpl-fake{self.n:04d}"

    @property
    def response(self) -> str:
        return f"resp_fake{self.n:04d}"

    @property
    def message(self) -> str:
        return f"msg_fake{self.n:04d}"

    def call(self, k: int) -> str:
        return f"call_fake{self.n:04d}_{k}"

    def item(self, k: int) -> str:
        return f"fc_fake{self.n:04d}_{k}"

    def tool_use(self, k: int) -> str:
        return f"toolu_fake{self.n:04d}_{k}"

    @property
    def gemini_response(self) -> str:
        return f"fake{self.n:04d}"


# -- text and tokens ---------------------------------------------------------------------


def error_body(
    message: str,
    *,
    type: str | None = "invalid_request_error",
    param: str | None = None,
    code: str | int | None = None,
) -> dict[str, Any]:
    """An error as the OpenAI API sends it: ``{"error": {message, type, param, code}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def estimate_tokens(text: str) -> int:
    """About four characters a token, as OpenAI's own rule of thumb says for English."""
    return math.ceil(len(text) / 4) if text else 0


def _content_text(content: Any) -> str:
    """The text of a message's content: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            str(part.get("text") or part.get("refusal") or "")
            for part in content
            if isinstance(part, dict)
        ]
        return "\n".join(t for t in texts if t)
    return ""


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Chat messages, or Responses input items; a Responses string input is one user item."""
    if "messages" in body:
        raw = body.get("messages")
    else:
        raw = body.get("input")
        if isinstance(raw, str):
            return [{"role": "user", "content": raw}]
    return [m for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []


def last_user_message(body: dict[str, Any]) -> str:
    """The text of the last user message (chat) or user input item (Responses)."""
    for item in reversed(_items(body)):
        if item.get("role") == "user":
            return _content_text(item.get("content"))
    return ""


def last_text(
    turns: Sequence[Any], text_of: Callable[[dict[str, Any]], str], *, role: str | None = None
) -> str:
    """The text of the last user turn that has text (Anthropic, Gemini: tool results are
    not what was asked); ``role`` is a turn's role when it names none."""
    for item in reversed(turns):
        if isinstance(item, dict) and item.get("role", role) == "user":
            text = text_of(item)
            if text:
                return text
    return ""


def prompt_tokens(body: dict[str, Any]) -> int:
    """A plausible prompt size: message texts, a few tokens per message, tools, instructions."""
    total = 3
    for item in _items(body):
        total += 3 + estimate_tokens(_content_text(item.get("content")))
        if item.get("type") == "function_call_output":
            total += estimate_tokens(str(item.get("output", "")))
        total += estimate_tokens(str(item.get("arguments", "")))
    if isinstance(body.get("instructions"), str):
        total += 3 + estimate_tokens(body["instructions"])
    if body.get("tools"):
        total += estimate_tokens(json.dumps(body["tools"], separators=(",", ":")))
    return total


def completion_tokens(answer: Answer) -> int:
    out = estimate_tokens(answer.text or "")
    for name, args in answer.tool_calls:
        out += 3 + estimate_tokens(name) + estimate_tokens(args)
    return max(out, 1)


def _usage_counts(body: dict[str, Any], answer: Answer) -> tuple[int, int]:
    p = answer.usage.get("prompt_tokens", prompt_tokens(body))
    c = answer.usage.get("completion_tokens", completion_tokens(answer))
    return p, c


_WORD = re.compile(r"\s*\S+")


def split_text(text: str, chunks: int | Sequence[str] | None = None) -> list[str]:
    """The deltas a stream sends: word by word with leading spaces, like real tokens."""
    if not text:
        return []
    if isinstance(chunks, int):
        return [text[i : i + chunks] for i in range(0, len(text), chunks)]
    if chunks is not None:
        return [c for c in chunks if c]
    pieces = _WORD.findall(text)
    tail = text[sum(map(len, pieces)) :]
    if tail:
        if pieces:
            pieces[-1] += tail
        else:
            pieces = [tail]
    return pieces


# -- chat completions --------------------------------------------------------------------


def _choice_count(body: dict[str, Any]) -> int:
    n = body.get("n")
    return n if isinstance(n, int) and 1 <= n <= 128 else 1


def chat_completion(body: dict[str, Any], answer: Answer, ids: Ids) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": answer.text,
        "refusal": None,
        "annotations": [],
    }
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": ids.call(k), "type": "function", "function": {"name": name, "arguments": args}}
            for k, (name, args) in enumerate(answer.tool_calls)
        ]
    p, c = _usage_counts(body, answer)
    n = _choice_count(body)
    return {
        "id": ids.chat,
        "object": "chat.completion",
        "created": ids.created,
        "model": _model(body),
        "choices": [
            {"index": i, "message": message, "logprobs": None, "finish_reason": answer.finish}
            for i in range(n)
        ],
        "usage": _chat_usage(p, c * n),
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }


def _chat_usage(p: int, c: int) -> dict[str, Any]:
    return {
        "prompt_tokens": p,
        "completion_tokens": c,
        "total_tokens": p + c,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_chunks(body: dict[str, Any], answer: Answer, ids: Ids) -> list[dict[str, Any]]:
    """``chat.completion.chunk`` objects: role, deltas, tool calls, finish, optional usage.

    The ``data: [DONE]`` that ends the stream is not a chunk; the caller adds it.
    """
    options = body.get("stream_options")
    with_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    base: dict[str, Any] = {
        "id": ids.chat,
        "object": "chat.completion.chunk",
        "created": ids.created,
        "model": _model(body),
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }
    out: list[dict[str, Any]] = []

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> None:
        doc = {
            **base,
            "choices": [
                {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
            ],
        }
        if with_usage:
            doc["usage"] = None
        out.append(doc)

    for i in range(_choice_count(body)):
        first = "" if answer.text is not None else None
        chunk(i, {"role": "assistant", "content": first, "refusal": None})
        for piece in split_text(answer.text or "", answer.chunks):
            chunk(i, {"content": piece})
        for k, (name, args) in enumerate(answer.tool_calls):
            head = {"index": k, "id": ids.call(k), "type": "function"}
            chunk(i, {"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
            for piece in split_text(args):
                chunk(i, {"tool_calls": [{"index": k, "function": {"arguments": piece}}]})
        chunk(i, {}, answer.finish)
    if with_usage:
        p, c = _usage_counts(body, answer)
        out.append({**base, "choices": [], "usage": _chat_usage(p, c * _choice_count(body))})
    return out


# -- Responses API -----------------------------------------------------------------------


def _message_item(ids: Ids, text: str, status: str) -> dict[str, Any]:
    return {
        "id": ids.message,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [_text_part(text)] if status != "in_progress" else [],
    }


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _call_item(ids: Ids, k: int, name: str, args: str, status: str) -> dict[str, Any]:
    return {
        "id": ids.item(k),
        "type": "function_call",
        "status": status,
        "call_id": ids.call(k),
        "name": name,
        "arguments": args,
    }


def _response_status(answer: Answer) -> tuple[str, dict[str, str] | None]:
    reason = _INCOMPLETE.get(answer.finish_reason or "")
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def response_object(
    body: dict[str, Any], answer: Answer, ids: Ids, *, status: str | None = None
) -> dict[str, Any]:
    """A ``response`` object; ``status="in_progress"`` gives the empty one streams start with."""
    final, incomplete = _response_status(answer)
    status = status or final
    done = status != "in_progress"
    item_status = "completed" if status == "completed" else status
    output: list[dict[str, Any]] = []
    if done:
        if answer.text is not None:
            output.append(_message_item(ids, answer.text, item_status))
        for k, (name, args) in enumerate(answer.tool_calls):
            output.append(_call_item(ids, k, name, args, item_status))
    usage = None
    if done:
        p, c = _usage_counts(body, answer)
        usage = {
            "input_tokens": p,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": c,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": p + c,
        }
    text = body.get("text") if isinstance(body.get("text"), dict) else None
    return {
        "id": ids.response,
        "object": "response",
        "created_at": ids.created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": incomplete if done else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": _model(body),
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "temperature": body.get("temperature", 1.0),
        "text": text or {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": usage,
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def response_events(body: dict[str, Any], answer: Answer, ids: Ids) -> list[dict[str, Any]]:
    """The Responses stream: created, in_progress, per item added/deltas/done, completed.

    Each event is its JSON (with ``type`` and ``sequence_number``); the SSE ``event:``
    name is its ``type``.
    """
    events: list[dict[str, Any]] = []

    def add(kind: str, **payload: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **payload})

    final, _ = _response_status(answer)
    item_status = "completed" if final == "completed" else final
    add("response.created", response=response_object(body, answer, ids, status="in_progress"))
    add("response.in_progress", response=response_object(body, answer, ids, status="in_progress"))
    index = 0
    if answer.text is not None:
        text, mid = answer.text, ids.message
        add(
            "response.output_item.added",
            output_index=index,
            item=_message_item(ids, "", "in_progress"),
        )
        where = {"item_id": mid, "output_index": index, "content_index": 0}
        add("response.content_part.added", **where, part=_text_part(""))
        for piece in split_text(text, answer.chunks):
            add("response.output_text.delta", **where, delta=piece, logprobs=[])
        add("response.output_text.done", **where, text=text, logprobs=[])
        add("response.content_part.done", **where, part=_text_part(text))
        add(
            "response.output_item.done",
            output_index=index,
            item=_message_item(ids, text, item_status),
        )
        index += 1
    for k, (name, args) in enumerate(answer.tool_calls):
        item_id = ids.item(k)
        added = _call_item(ids, k, name, "", "in_progress")
        add("response.output_item.added", output_index=index, item=added)
        for piece in split_text(args):
            add(
                "response.function_call_arguments.delta",
                item_id=item_id,
                output_index=index,
                delta=piece,
            )
        add(
            "response.function_call_arguments.done",
            item_id=item_id,
            output_index=index,
            name=name,
            arguments=args,
        )
        done = _call_item(ids, k, name, args, item_status)
        add("response.output_item.done", output_index=index, item=done)
        index += 1
    closing = "response.completed" if final == "completed" else "response.incomplete"
    add(closing, response=response_object(body, answer, ids))
    return events


# -- embeddings --------------------------------------------------------------------------


def embedding_vector(value: str | list[int], dimensions: int) -> list[float]:
    """A unit vector from a hash of the input: the same input, the same vector, anywhere.

    A shorter vector is the normalised prefix of a longer one, as the real
    ``text-embedding-3`` models do with ``dimensions``.
    """
    seed = value if isinstance(value, str) else json.dumps(value)
    raw: list[float] = []
    block = 0
    while len(raw) < dimensions:
        digest = hashlib.sha256(f"{block}:{seed}".encode()).digest()
        raw.extend(x / 2**31 - 1.0 for x in struct.unpack("<8I", digest))
        block += 1
    raw = raw[:dimensions]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [round(x / norm, 8) for x in raw]


_WORD_CHARS = re.compile(r"\w+")


def _features(value: str | list[int]) -> dict[str, float]:
    """Words (weight 1) and each word's character trigrams (weight 1/count, so a long word
    does not outweigh a short one): plurals and typos stay close, unrelated words do not."""
    if not isinstance(value, str):
        return {f"#{token}": 1.0 for token in value}
    weights: dict[str, float] = {}
    for word in _WORD_CHARS.findall(value.lower()):
        weights[word] = weights.get(word, 0.0) + 1.0
        padded = f"<{word}>"
        grams = [padded[i : i + 3] for i in range(len(padded) - 2)]
        for gram in grams:
            weights["~" + gram] = weights.get("~" + gram, 0.0) + 1.0 / len(grams)
    return weights


def word_vector(value: str | list[int], dimensions: int) -> list[float]:
    """A unit vector whose direction says which words the input holds: texts that share
    words are close (cosine similarity), texts that share none are near orthogonal.

    Each word and character trigram is hashed (signed) into one of ``dimensions``
    buckets, then the vector is L2-normalised: deterministic on every machine, no model.
    An input with no word at all gets the hash vector of :func:`embedding_vector`.
    """
    raw = [0.0] * dimensions
    for feature, weight in sorted(_features(value).items()):
        digest = int.from_bytes(hashlib.sha256(feature.encode()).digest()[:8], "little")
        raw[digest % dimensions] += weight if digest >> 63 else -weight
    norm = math.sqrt(sum(x * x for x in raw))
    if norm == 0.0:
        return embedding_vector(value, dimensions)
    return [round(x / norm, 8) for x in raw]


EMBED_MODES: dict[str, Callable[[str | list[int], int], Sequence[float]] | None] = {
    "hash": None,
    "words": word_vector,
}
"""Named ``embed=`` modes: ``hash`` (the default: unrelated unit vectors) and ``words``
(hashed bag of words and trigrams: similar texts are close)."""


def _embedding_inputs(raw: Any) -> list[str | list[int]] | None:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw:
        if all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
            return [raw]
        if all(isinstance(x, str) for x in raw):
            return list(raw)
        if all(isinstance(x, list) and all(isinstance(t, int) for t in x) for x in raw):
            return list(raw)
    return None


def embedding_dimensions(body: dict[str, Any], default: int | None) -> int:
    asked = body.get("dimensions")
    if isinstance(asked, int) and not isinstance(asked, bool) and asked > 0:
        return asked
    if default is not None:
        return default
    return _EMBEDDING_DIMENSIONS.get(str(body.get("model")), DEFAULT_DIMENSIONS)


def embeddings(
    body: dict[str, Any],
    dimensions: int | None,
    embed: Callable[[str | list[int], int], Sequence[float]] | None = None,
) -> dict[str, Any] | None:
    """An embeddings list, or ``None`` when the input is not one the API accepts."""
    inputs = _embedding_inputs(body.get("input"))
    if inputs is None:
        return None
    dims = embedding_dimensions(body, dimensions)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    tokens = 0
    for i, value in enumerate(inputs):
        vector = list(embed(value, dims)) if embed else embedding_vector(value, dims)
        tokens += len(value) if isinstance(value, list) else max(estimate_tokens(value), 1)
        encoded: Any = vector
        if as_base64:
            packed = struct.pack(f"<{len(vector)}f", *vector)
            encoded = base64.b64encode(packed).decode("ascii")
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    return {
        "object": "list",
        "data": data,
        "model": _model(body),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    return model if isinstance(model, str) and model else "gpt-fake"
