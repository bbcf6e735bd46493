"""The shapes of OpenAI replies that faults rewrite: chat completions and the Responses API,
plain and streamed.

A fault that changes what the model said (malformed JSON, a content filter, a stream
cut short) works on a :class:`~pytest_llm._flow.Reply` from whichever handler
answered (cassette or fake), so it has to find the text in each of the four shapes
and change it consistently: in a Responses stream the text appears in the deltas,
in ``output_text.done``, ``content_part.done``, ``output_item.done`` and in the final
``response.completed``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .._flow import Reply
from .._sse import SSEEvent
from . import _provider_shapes as _native
from ._provider_shapes import Doc, TextFn, _split_like, _with_docs
from ._provider_shapes import _dump_body as _dump_body
from ._provider_shapes import _dump_event as _dump_event
from ._provider_shapes import _replaced as replaced

__all__ = [
    "CHAT",
    "CHAT_STREAM",
    "RESPONSES",
    "RESPONSES_STREAM",
    "Doc",
    "content_end",
    "content_filter",
    "load_events",
    "replaced",
    "rewrite_text",
    "shape_of",
    "stop_early",
    "texts",
]

CHAT = "chat completion"
CHAT_STREAM = "chat completion stream"
RESPONSES = "Responses API response"
RESPONSES_STREAM = "Responses API stream"

_RESPONSE_END = frozenset({"response.completed", "response.incomplete", "response.failed"})
_RESPONSES_TAIL = frozenset(
    {
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        *_RESPONSE_END,
    }
)


def _loads(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def load_events(reply: Reply) -> list[Any]:
    """Each event's data parsed as JSON (``None`` where it is not JSON, like ``[DONE]``)."""
    return [_loads(ev.data) for ev in reply.events or []]


def _body(reply: Reply) -> Any:
    try:
        return json.loads(reply.body)
    except (ValueError, UnicodeDecodeError):
        return None


def shape_of(reply: Reply) -> str | None:
    """Which shape a reply has: one of OpenAI's four, or Anthropic's or Gemini's
    (:mod:`._provider_shapes`, plain or streamed); ``None`` for anything else."""
    if reply.events is not None:
        for doc in load_events(reply):
            if not isinstance(doc, dict):
                continue
            if doc.get("object") == "chat.completion.chunk":
                return CHAT_STREAM
            if str(doc.get("type", "")).startswith("response."):
                return RESPONSES_STREAM
        return _native.shape_of(reply)
    doc = _body(reply)
    if isinstance(doc, dict):
        if doc.get("object") == "chat.completion":
            return CHAT
        if doc.get("object") == "response":
            return RESPONSES
    return _native.shape_of(reply)


_NATIVE = frozenset(
    {_native.MESSAGES, _native.MESSAGES_STREAM, _native.GEMINI, _native.GEMINI_STREAM}
)


# -- reading ------------------------------------------------------------------------


def texts(reply: Reply) -> list[str]:
    """The text content of a reply, one string per message (stream deltas joined)."""
    shape = shape_of(reply)
    if shape in _NATIVE:
        return _native.texts(reply)
    if shape == CHAT:
        return [
            c["message"]["content"]
            for c in _body(reply)["choices"]
            if isinstance(c.get("message"), dict) and isinstance(c["message"].get("content"), str)
        ]
    if shape == RESPONSES:
        return [part["text"] for part in _output_texts(_body(reply).get("output"))]
    if shape == CHAT_STREAM:
        groups = _chat_deltas(load_events(reply))
        return ["".join(c for _, c in groups[k]) for k in sorted(groups)]
    if shape == RESPONSES_STREAM:
        joined: dict[tuple[int, int], str] = {}
        for doc in load_events(reply):
            if isinstance(doc, dict) and doc.get("type") == "response.output_text.delta":
                key = (doc.get("output_index", 0), doc.get("content_index", 0))
                joined[key] = joined.get(key, "") + str(doc.get("delta", ""))
        return list(joined.values())
    return []


def _output_texts(output: Any) -> list[Doc]:
    found: list[Doc] = []
    for item in output if isinstance(output, list) else []:
        if isinstance(item, dict) and item.get("type") == "message":
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    found.append(part)
    return found


def _chat_deltas(docs: list[Any]) -> dict[int, list[tuple[int, str]]]:
    """For each choice index: (event index, content delta) in stream order."""
    out: dict[int, list[tuple[int, str]]] = {}
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            continue
        for choice in doc.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                out.setdefault(int(choice.get("index", 0)), []).append((i, delta["content"]))
    return out


def content_end(reply: Reply) -> int | None:
    """Index of the first event after the content: a finish_reason, ``[DONE]``, ``*.done``.

    Cutting a stream there gives what a dropped connection behind a proxy gives: text
    that stops, with no sign that it ended.
    """
    docs = load_events(reply)
    shape = shape_of(reply)
    if shape in _NATIVE:
        return _native.content_end(reply)
    for i, (ev, doc) in enumerate(zip(reply.events or [], docs, strict=True)):
        if ev.data.strip() == "[DONE]":
            return i
        if not isinstance(doc, dict):
            continue
        if shape == CHAT_STREAM and any(
            isinstance(c, dict) and c.get("finish_reason") for c in doc.get("choices") or []
        ):
            return i
        if doc.get("type") in _RESPONSES_TAIL or ev.event in _RESPONSES_TAIL:
            return i
        if ev.event == "error" or (shape == CHAT_STREAM and "error" in doc):
            return i
    return None


# -- rewriting ----------------------------------------------------------------------


def rewrite_text(reply: Reply, fn: TextFn) -> tuple[Reply, int]:
    """Apply ``fn`` to each message's text; returns the new reply and how many texts changed.

    A stream keeps its number of events: the new text is cut into deltas of the old
    sizes (the last delta takes what is left), so chunk-indexed faults still line up.
    """
    shape = shape_of(reply)
    if shape in _NATIVE:
        return _native.rewrite_text(reply, fn)
    if shape == CHAT:
        doc = _body(reply)
        n = 0
        for choice in doc.get("choices") or []:
            msg = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(msg, dict) and isinstance(msg.get("content"), str):
                msg["content"] = fn(msg["content"])
                n += 1
        return replaced(reply, body=_dump_body(reply.body, doc)), n
    if shape == RESPONSES:
        doc = _body(reply)
        parts = _output_texts(doc.get("output"))
        for part in parts:
            part["text"] = fn(part["text"])
        return replaced(reply, body=_dump_body(reply.body, doc)), len(parts)
    if shape == CHAT_STREAM:
        return _rewrite_chat_stream(reply, fn)
    if shape == RESPONSES_STREAM:
        return _rewrite_responses_stream(reply, fn)
    return reply, 0


def _rewrite_chat_stream(reply: Reply, fn: TextFn) -> tuple[Reply, int]:
    docs = load_events(reply)
    changed: set[int] = set()
    groups = _chat_deltas(docs)
    for index, deltas in groups.items():
        new = fn("".join(c for _, c in deltas))
        for (i, _), piece in zip(
            deltas, _split_like(new, [len(c) for _, c in deltas]), strict=True
        ):
            for choice in docs[i]["choices"]:
                if int(choice.get("index", 0)) == index:
                    choice["delta"]["content"] = piece
            changed.add(i)
    return _with_docs(reply, docs, changed), len(groups)


def _rewrite_responses_stream(reply: Reply, fn: TextFn) -> tuple[Reply, int]:
    docs = load_events(reply)
    deltas: dict[tuple[int, int], list[int]] = {}
    old: dict[tuple[int, int], str] = {}
    for i, doc in enumerate(docs):
        if isinstance(doc, dict) and doc.get("type") == "response.output_text.delta":
            key = (doc.get("output_index", 0), doc.get("content_index", 0))
            deltas.setdefault(key, []).append(i)
            old[key] = old.get(key, "") + str(doc.get("delta", ""))
        elif isinstance(doc, dict) and doc.get("type") == "response.output_text.done":
            key = (doc.get("output_index", 0), doc.get("content_index", 0))
            old.setdefault(key, str(doc.get("text", "")))
    new = {key: fn(text) for key, text in old.items()}
    changed: set[int] = set()
    for key, idxs in deltas.items():
        sizes = [len(str(docs[i].get("delta", ""))) for i in idxs]
        for i, piece in zip(idxs, _split_like(new[key], sizes), strict=True):
            docs[i]["delta"] = piece
            changed.add(i)
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            continue
        kind = doc.get("type")
        oi = doc.get("output_index", 0)
        if kind == "response.output_text.done":
            doc["text"] = new[(oi, doc.get("content_index", 0))]
        elif kind == "response.content_part.done" and isinstance(doc.get("part"), dict):
            key = (oi, doc.get("content_index", 0))
            if doc["part"].get("type") == "output_text" and key in new:
                doc["part"]["text"] = new[key]
        elif kind == "response.output_item.done" and isinstance(doc.get("item"), dict):
            _set_item_texts(doc["item"], oi, new)
        elif kind in _RESPONSE_END and isinstance(doc.get("response"), dict):
            for j, item in enumerate(doc["response"].get("output") or []):
                if isinstance(item, dict):
                    _set_item_texts(item, j, new)
        else:
            continue
        changed.add(i)
    return _with_docs(reply, docs, changed), len(new)


def _set_item_texts(item: Doc, output_index: int, new: dict[tuple[int, int], str]) -> None:
    for ci, part in enumerate(item.get("content") or []):
        key = (output_index, ci)
        if isinstance(part, dict) and part.get("type") == "output_text" and key in new:
            part["text"] = new[key]


# -- content filter -------------------------------------------------------------------


def content_filter(reply: Reply, keep_chars: int) -> Reply | None:
    """The reply as a content filter leaves it: text cut to ``keep_chars``, marked filtered.

    Chat completions end with ``finish_reason: content_filter``; the Responses API
    ends ``incomplete`` with ``incomplete_details.reason: content_filter``; Anthropic
    with ``stop_reason: refusal``; Gemini with ``finishReason: SAFETY`` and the safety
    rating that blocked it. ``None`` if the reply has none of these shapes.
    """
    return stop_early(reply, keep_chars, "content_filter")


_INCOMPLETE_REASONS = {"content_filter": "content_filter", "length": "max_output_tokens"}


def stop_early(reply: Reply, keep_chars: int | None, reason: str) -> Reply | None:
    """The reply cut to ``keep_chars`` (``None``: half the text) and ended for ``reason``:
    ``content_filter`` or ``length`` (the token limit), each in the shape's own words
    (``finish_reason``, ``incomplete_details.reason``, ``stop_reason``, ``finishReason``)."""
    shape = shape_of(reply)
    if shape is None:
        return None
    if shape in _NATIVE:
        return _native.stop_early(reply, keep_chars, reason)
    cut, _ = rewrite_text(reply, lambda t: t[: len(t) // 2 if keep_chars is None else keep_chars])
    if shape == CHAT:
        doc = _body(cut)
        for choice in doc.get("choices") or []:
            choice["finish_reason"] = reason
        return replaced(cut, body=_dump_body(reply.body, doc))
    if shape == RESPONSES:
        doc = _body(cut)
        _incomplete(doc, reason)
        return replaced(cut, body=_dump_body(reply.body, doc))
    if shape == CHAT_STREAM:
        return _filter_chat_stream(cut, reason)
    return _filter_responses_stream(cut, reason)


def _incomplete(response: Doc, reason: str = "content_filter") -> None:
    response["status"] = "incomplete"
    response["incomplete_details"] = {"reason": _INCOMPLETE_REASONS[reason]}
    for item in response.get("output") or []:
        if isinstance(item, dict) and item.get("type") == "message":
            item["status"] = "incomplete"


def _filter_chat_stream(reply: Reply, reason: str) -> Reply:
    docs = load_events(reply)
    events: list[SSEEvent] = []
    finished = False
    for ev, doc in zip(reply.events or [], docs, strict=True):
        if isinstance(doc, dict) and doc.get("choices"):
            choices = doc["choices"]
            empty = all(
                isinstance(c.get("delta"), dict)
                and c["delta"].get("content") == ""
                and not c.get("finish_reason")
                and set(c["delta"]) <= {"content"}
                for c in choices
            )
            if empty:
                continue  # text past the filter point is never sent
            if any(c.get("finish_reason") for c in choices):
                for c in choices:
                    c["finish_reason"] = reason
                ev = dataclasses.replace(ev, data=_dump_event(doc))
                finished = True
        elif ev.data.strip() == "[DONE]" and not finished:
            events.append(_filter_chunk(docs, ev, reason))
            finished = True
        events.append(ev)
    return replaced(reply, events=events)


def _filter_chunk(docs: list[Any], like: SSEEvent, reason: str) -> SSEEvent:
    base = next(d for d in docs if isinstance(d, dict) and d.get("object"))
    doc = {k: base[k] for k in ("id", "object", "created", "model") if k in base}
    doc["choices"] = [{"index": 0, "delta": {}, "finish_reason": reason}]
    return SSEEvent(data=_dump_event(doc), t=like.t)


def _filter_responses_stream(reply: Reply, reason: str) -> Reply:
    docs = load_events(reply)
    events: list[SSEEvent] = []
    for ev, doc in zip(reply.events or [], docs, strict=True):
        if isinstance(doc, dict):
            kind = doc.get("type")
            if kind == "response.output_text.delta" and doc.get("delta") == "":
                continue
            if kind in _RESPONSE_END and isinstance(doc.get("response"), dict):
                doc["type"] = "response.incomplete"
                _incomplete(doc["response"], reason)
                ev = dataclasses.replace(
                    ev,
                    event="response.incomplete" if ev.event else None,
                    data=_dump_event(doc),
                )
            elif kind == "response.output_item.done" and isinstance(doc.get("item"), dict):
                doc["item"]["status"] = "incomplete"
                ev = dataclasses.replace(ev, data=_dump_event(doc))
        events.append(ev)
    return replaced(reply, events=events)
