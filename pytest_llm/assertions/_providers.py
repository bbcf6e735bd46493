"""Anthropic's and Gemini's responses, read for the assertions: their text and tool calls.

:func:`parse` is the hook :func:`pytest_llm.assertions._tools._parse` asks first: it
knows an Anthropic ``Message`` (or its ``content`` blocks, or the events of its
stream: ``tool_use`` blocks, ``input_json_delta`` pieces joined), and a Gemini
``GenerateContentResponse`` (or a list of its stream chunks, or one ``Content``:
``functionCall`` parts, text parts joined), as SDK objects (read through
``model_dump``: Gemini's come back in snake_case) or as the JSON dicts of the wire.
It answers ``None`` for anything else, so the OpenAI readers take their turn.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._base import type_name

__all__ = ["SDK_MODULES", "gemini_schema", "is_sdk_response", "parse"]

SDK_MODULES = ("openai.", "anthropic.", "google.genai.")
"""Where the SDK response classes live: an object from there is a response, not data."""

_STREAM_EVENTS = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    }
)
_BLOCKS = frozenset({"text", "tool_use", "server_tool_use", "thinking", "redacted_thinking"})

Parsed = tuple[list[Any], str | None]


def is_sdk_response(value: object) -> bool:
    """Whether ``value`` is an object of a provider SDK (a response, a message, an event)."""
    return type(value).__module__.startswith(SDK_MODULES) and callable(
        getattr(value, "model_dump", None)
    )


def _plain(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    return obj


def _arguments(raw: Any) -> tuple[dict[str, Any] | None, str | None, str | None]:
    if isinstance(raw, Mapping):
        return dict(raw), None, None
    if raw is None:
        return {}, None, None
    if not isinstance(raw, str):
        return None, None, f"arguments are a {type_name(raw)}, not a JSON object"
    if raw == "":
        return {}, raw, None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return None, raw, f"arguments are not valid JSON ({exc})"
    if not isinstance(value, dict):
        return None, raw, f"arguments are JSON {type_name(value)}, not an object"
    return value, raw, None


def _call(name: Any, raw: Any, call_id: Any, kind: str) -> Any:
    from ._tools import ToolCall

    args, text, error = _arguments(raw)
    return ToolCall(
        str(name), args, call_id if isinstance(call_id, str) else None, kind, text, error
    )


# -- Anthropic ------------------------------------------------------------------------


def _blocks(blocks: list[Any]) -> Parsed:
    calls: list[Any] = []
    texts: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind in ("tool_use", "server_tool_use"):
            calls.append(_call(block.get("name"), block.get("input"), block.get("id"), kind))
    return calls, ("".join(texts) if texts else None)


def _events(events: list[Any]) -> Parsed:
    """The message a stream of Messages API events adds up to."""
    blocks: dict[int, dict[str, Any]] = {}
    for event in events:
        kind = event.get("type")
        index = int(event.get("index", 0) or 0)
        if kind == "content_block_start" and isinstance(event.get("content_block"), Mapping):
            block = dict(event["content_block"])
            if block.get("type") in ("tool_use", "server_tool_use"):
                block["input"] = ""  # the input arrives as input_json_delta pieces
            blocks[index] = block
        elif kind == "content_block_delta" and isinstance(event.get("delta"), Mapping):
            delta = event["delta"]
            block = blocks.setdefault(index, {"type": "text", "text": ""})
            if delta.get("type") == "text_delta":
                block["text"] = str(block.get("text") or "") + str(delta.get("text") or "")
            elif delta.get("type") == "input_json_delta":
                block["input"] = str(block.get("input") or "") + str(
                    delta.get("partial_json") or ""
                )
    return _blocks([blocks[i] for i in sorted(blocks)])


# -- Gemini ---------------------------------------------------------------------------


def _get(doc: Mapping[str, Any], camel: str, snake: str) -> Any:
    return doc.get(camel, doc.get(snake))


def _parts(parts: Any) -> Parsed:
    calls: list[Any] = []
    texts: list[str] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, Mapping):
            continue
        call = _get(part, "functionCall", "function_call")
        if isinstance(call, Mapping):
            calls.append(_call(call.get("name"), call.get("args"), call.get("id"), "function_call"))
        elif isinstance(part.get("text"), str) and not part.get("thought"):
            texts.append(part["text"])
    return calls, ("".join(texts) if texts else None)


def _candidate_parts(doc: Mapping[str, Any], choice: int) -> list[Any] | None:
    from pytest_llm._errors import ConfigError

    candidates = doc.get("candidates") or []
    picked = [
        c for c in candidates if isinstance(c, Mapping) and int(c.get("index", 0) or 0) == choice
    ]
    if not picked:
        if choice == 0 and not candidates:
            return None  # a blocked prompt: no candidates at all
        if choice < len(candidates) and isinstance(candidates[choice], Mapping):
            picked = [candidates[choice]]
        else:
            raise ConfigError(
                f"the Gemini response has {len(candidates)} candidates, so choice={choice} "
                "does not exist"
            )
    content = picked[0].get("content")
    parts = content.get("parts") if isinstance(content, Mapping) else None
    return parts if isinstance(parts, list) else []


def _chunks(chunks: list[Mapping[str, Any]], choice: int) -> Parsed:
    parts: list[Any] = []
    for chunk in chunks:
        parts += _candidate_parts(chunk, choice) or []
    return _parts(parts)


# -- the hook -------------------------------------------------------------------------


def parse(data: Any, choice: int) -> Parsed | None:
    """Tool calls and text of an Anthropic or Gemini response (any of the forms above);
    ``None`` when ``data`` is none of them."""
    data = _plain(data)
    if isinstance(data, Mapping):
        if data.get("type") == "message" and isinstance(data.get("content"), list):
            return _blocks([_plain(b) for b in data["content"]])
        if "candidates" in data or "prompt_feedback" in data or "promptFeedback" in data:
            return _parts(_candidate_parts(data, choice) or [])
        if data.get("role") == "model" and isinstance(data.get("parts"), list):
            return _parts(data["parts"])
        if data.get("type") in _STREAM_EVENTS:
            return _events([data])
        return None
    if isinstance(data, list | tuple) and data:
        items = [_plain(i) for i in data]
        if not all(isinstance(i, Mapping) for i in items):
            return None
        if all(i.get("type") in _STREAM_EVENTS for i in items):
            return _events(items)
        if all(i.get("type") in _BLOCKS for i in items):
            return _blocks(items)
        if all("candidates" in i or "usage_metadata" in i or "usageMetadata" in i for i in items):
            return _chunks(items, choice)
    return None


def gemini_schema(schema: Any) -> Any:
    """A Gemini ``Schema`` (OpenAPI subset: ``"type": "OBJECT"``, snake_case keys when
    dumped from the SDK) as the JSON Schema it stands for."""
    if isinstance(schema, list):
        return [gemini_schema(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if value is None:
            continue
        name = "".join(w.capitalize() if i else w for i, w in enumerate(key.split("_")))
        if name == "type" and isinstance(value, str):
            value = value.lower()
        elif name == "properties" and isinstance(value, Mapping):
            value = {k: gemini_schema(v) for k, v in value.items()}
        elif name == "nullable":
            continue
        else:
            value = gemini_schema(value)
        out[name] = value
    return out
