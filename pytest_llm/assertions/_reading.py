"""Reading a provider's response for the assertions: its text and its tool calls.

One module below the assertions (``_text``, ``_json``, ``_schema``, ``_tools``,
``_cases`` all read responses through it, and it imports none of them). It knows
chat completions (a response, a message, or a list of streamed chunks), the
Responses API (a response or its ``output`` list), an Anthropic ``Message`` (or its
``content`` blocks, or the events of its stream: ``tool_use`` blocks,
``input_json_delta`` pieces joined) and a Gemini ``GenerateContentResponse`` (or a
list of its stream chunks, or one ``Content``: ``functionCall`` parts, text parts
joined), as SDK objects of any version (read through ``model_dump``: Gemini's come
back in snake_case) or as plain dicts of the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_llm._errors import ConfigError

from ._base import show_json, show_text, type_name

__all__ = [
    "SDK_MODULES",
    "ToolCall",
    "gemini_schema",
    "is_sdk_response",
    "parse_arguments",
    "parse_tool_calls",
    "read",
    "response_text",
]

_SUPPORTED = (
    "a chat completion, a chat message, a list of chat completion chunks, "
    "a Responses API response or its output list, an Anthropic Message (or its content "
    "blocks, or its stream events), a Gemini GenerateContentResponse (or a list of its "
    "stream chunks) (SDK objects or dicts)"
)

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


def is_sdk_response(value: object) -> bool:
    """Whether ``value`` is an object of a provider SDK (a response, a message, an event)."""
    return type(value).__module__.startswith(SDK_MODULES) and callable(
        getattr(value, "model_dump", None)
    )


@dataclass(frozen=True)
class ToolCall:
    """A tool call: ``name`` and ``args`` (``None`` in an expectation means any args)."""

    name: str
    args: dict[str, Any] | None = None
    id: str | None = field(default=None, compare=False)
    type: str = field(default="function", compare=False)
    raw_arguments: str | None = field(default=None, compare=False, repr=False)
    error: str | None = field(default=None, compare=False, repr=False)

    def __repr__(self) -> str:
        args = "" if self.args is None else f", {self.args!r}"
        return f"ToolCall({self.name!r}{args})"

    def render(self, limit: int = 100) -> str:
        """``name({"json": "args"})``; ``name(...)`` when any args will do."""
        if self.args is None:
            if self.raw_arguments is not None:
                return f"{self.name}({show_text(self.raw_arguments, limit)})"
            return f"{self.name}(...)"
        return f"{self.name}({show_json(self.args, limit)})"


def _plain(obj: Any, *, exclude_none: bool = False) -> Any:
    """SDK objects (pydantic models) become the JSON they stand for."""
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=exclude_none)
    return obj


def parse_arguments(raw: Any) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """``(args, raw_text, error)``: a tool call's arguments, an object or its JSON text
    (a model may send arguments that are not JSON)."""
    if isinstance(raw, Mapping):
        return dict(raw), None, None
    if raw is None or raw == "":
        return {}, raw, None
    if not isinstance(raw, str):
        return None, None, f"arguments are a {type_name(raw)}, not a JSON object or its text"
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return None, raw, f"arguments are not valid JSON ({exc})"
    if not isinstance(value, dict):
        return None, raw, f"arguments are JSON {type_name(value)}, not an object"
    return value, raw, None


def _chat_call(item: Any) -> ToolCall:
    item = _plain(item)
    kind = item.get("type") or "function"
    if kind == "custom" or "custom" in item:
        custom = item.get("custom") or {}
        return ToolCall(
            str(custom.get("name")), None, item.get("id"), "custom", custom.get("input")
        )
    function = item.get("function") or {}
    name = str(function.get("name"))
    args, raw, error = parse_arguments(function.get("arguments"))
    return ToolCall(name, args, item.get("id"), kind, raw, error)


def _responses_item(item: Any) -> ToolCall | None:
    item = _plain(item)
    kind = item.get("type")
    if kind in ("function_call", "mcp_call"):
        name = str(item.get("name"))
        args, raw, error = parse_arguments(item.get("arguments"))
        return ToolCall(name, args, item.get("call_id") or item.get("id"), kind, raw, error)
    if kind == "custom_tool_call":
        return ToolCall(str(item.get("name")), None, item.get("call_id"), kind, item.get("input"))
    if isinstance(kind, str) and kind.endswith("_call"):
        # Built-in tools (web_search_call, file_search_call, ...): named by their type.
        return ToolCall(kind.removesuffix("_call"), None, item.get("id"), kind)
    return None


def _message_text(message: Mapping[str, Any]) -> str | None:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, Mapping)]
        texts = [p for p in parts if isinstance(p, str)]
        return "".join(texts) if texts else None
    return None


def _choice(data: Mapping[str, Any], choice: int) -> Mapping[str, Any]:
    __tracebackhide__ = True
    choices = data.get("choices") or []
    if not isinstance(choices, list) or choice >= len(choices):
        raise ConfigError(
            f"the chat completion has {len(choices) if isinstance(choices, list) else 0} "
            f"choices, so choice={choice} does not exist"
        )
    picked: Mapping[str, Any] = choices[choice]
    return picked


def _from_chunks(chunks: Sequence[Any], choice: int) -> tuple[list[ToolCall], str | None]:
    """Assemble streamed tool calls: fragments share an ``index``; arguments are concatenated."""
    parts: dict[int, dict[str, Any]] = {}
    text: list[str] = []
    for chunk in chunks:
        for c in chunk.get("choices") or []:
            if c.get("index", 0) != choice:
                continue
            delta = c.get("delta") or {}
            if isinstance(delta.get("content"), str):
                text.append(delta["content"])
            for fragment in delta.get("tool_calls") or []:
                slot = parts.setdefault(
                    fragment.get("index", 0), {"id": None, "name": "", "arguments": ""}
                )
                slot["id"] = fragment.get("id") or slot["id"]
                function = fragment.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""
    calls = []
    for _, slot in sorted(parts.items()):
        args, raw, error = parse_arguments(slot["arguments"])
        calls.append(ToolCall(slot["name"], args, slot["id"], "function", raw, error))
    return calls, ("".join(text) or None)


Parsed = tuple[list[ToolCall], str | None]


def _call(name: Any, raw: Any, call_id: Any, kind: str) -> ToolCall:
    args, text, error = parse_arguments(raw)
    return ToolCall(
        str(name), args, call_id if isinstance(call_id, str) else None, kind, text, error
    )


# -- Anthropic ------------------------------------------------------------------------


def _blocks(blocks: list[Any]) -> Parsed:
    calls: list[ToolCall] = []
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
    calls: list[ToolCall] = []
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


def _native(data: Any, choice: int) -> Parsed | None:
    """Tool calls and text of an Anthropic or Gemini response (any of the forms above);
    ``None`` when ``data`` is none of them."""
    data = _plain(data, exclude_none=True)
    if isinstance(data, Mapping):
        if data.get("type") == "message" and isinstance(data.get("content"), list):
            return _blocks([_plain(b, exclude_none=True) for b in data["content"]])
        if "candidates" in data or "prompt_feedback" in data or "promptFeedback" in data:
            return _parts(_candidate_parts(data, choice) or [])
        if data.get("role") == "model" and isinstance(data.get("parts"), list):
            return _parts(data["parts"])
        if data.get("type") in _STREAM_EVENTS:
            return _events([data])
        return None
    if isinstance(data, list | tuple) and data:
        items = [_plain(i, exclude_none=True) for i in data]
        if not all(isinstance(i, Mapping) for i in items):
            return None
        if all(i.get("type") in _STREAM_EVENTS for i in items):
            return _events(items)
        if all(i.get("type") in _BLOCKS for i in items):
            return _blocks(items)
        if all("candidates" in i or "usage_metadata" in i or "usageMetadata" in i for i in items):
            return _chunks(items, choice)
    return None


# -- any provider ---------------------------------------------------------------------


def read(response: object, choice: int) -> Parsed:
    """The calls and the text the model wrote besides them (for messages)."""
    __tracebackhide__ = True
    native = _native(response, choice)
    if native is not None:
        return native
    data = _plain(response)
    if isinstance(data, Mapping):
        if "choices" in data:
            picked = _plain(_choice(data, choice))
            if "delta" in picked:
                return _from_chunks([data], choice)
            message = _plain(picked.get("message") or {})
            return [_chat_call(c) for c in message.get("tool_calls") or []], _message_text(message)
        if "output" in data and isinstance(data.get("output"), list):
            return read(data["output"], choice)
        if "tool_calls" in data or data.get("role") == "assistant":
            return [_chat_call(c) for c in data.get("tool_calls") or []], _message_text(data)
    if isinstance(data, list | tuple):
        items = [_plain(i) for i in data]
        if not items:
            return [], None
        if all(isinstance(i, Mapping) for i in items):
            if all("choices" in i for i in items):
                return _from_chunks(items, choice)
            if all("type" in i and "function" not in i and "custom" not in i for i in items):
                calls: list[ToolCall] = []
                texts: list[str] = []
                for item in items:
                    call = _responses_item(item)
                    if call is not None:
                        calls.append(call)
                    elif item.get("type") == "message":
                        texts.append(_message_text(item) or "")
                return calls, ("".join(texts) or None)
            if all("function" in i or "custom" in i for i in items):
                return [_chat_call(i) for i in items], None
    raise ConfigError(
        f"cannot find tool calls in a {type_name(response)}: {show_text(repr(data), 80)}; "
        f"pass {_SUPPORTED}"
    )


def parse_tool_calls(response: object, *, choice: int = 0) -> list[ToolCall]:
    """Every tool call in a chat completion or Responses API response, in order."""
    __tracebackhide__ = True
    return read(response, choice)[0]


def response_text(response: object, *, choice: int = 0) -> str | None:
    """The text a response carries (``None`` when the model only called tools)."""
    if isinstance(response, str):
        return response
    return read(response, choice)[1]


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
