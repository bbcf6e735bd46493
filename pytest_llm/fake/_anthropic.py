"""The JSON Anthropic's Messages API sends back, built from what a script says the model said.

Pure functions, like :mod:`._shapes` for OpenAI: a request body and an :class:`Answer`
in, plain dicts out, field for field as ``POST /v1/messages`` answers, so the
``anthropic`` SDK's own models (``Message``, ``RawMessageStreamEvent``) validate them
and its ``messages.stream()`` helper accumulates them.
"""

from __future__ import annotations

import json
from typing import Any

from ._shapes import Answer, Ids, completion_tokens, estimate_tokens, last_text, split_text

__all__ = [
    "STOP_REASONS",
    "count_tokens",
    "invalid",
    "last_user_message",
    "message",
    "message_events",
    "object_arguments",
]

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
"""A script's finish reason (OpenAI's words) as Anthropic's ``stop_reason``."""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            str(block.get("text") or "")
            for block in content
            if isinstance(block, dict) and block.get("type", "text") == "text"
        ]
        return "\n".join(t for t in texts if t)
    return ""


def last_user_message(body: dict[str, Any]) -> str:
    """The text of the last user turn that has text (tool results are not what was asked)."""
    messages = body.get("messages")
    turns = messages if isinstance(messages, list) else []
    return last_text(turns, lambda turn: _text(turn.get("content")))


def input_tokens(body: dict[str, Any]) -> int:
    """A plausible prompt size: system, every turn's text and tool input/results, tools."""
    total = 3
    if body.get("system"):
        total += 3 + estimate_tokens(_text(body["system"]))
    messages = body.get("messages")
    for item in messages if isinstance(messages, list) else []:
        if not isinstance(item, dict):
            continue
        total += 3 + estimate_tokens(_text(item.get("content")))
        content = item.get("content")
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") in ("tool_use", "tool_result"):
                total += estimate_tokens(json.dumps(block.get("input", block.get("content"))))
    if body.get("tools"):
        total += estimate_tokens(json.dumps(body["tools"], separators=(",", ":")))
    return total


def count_tokens(body: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/messages/count_tokens``: the prompt size a ``messages.create`` would bill."""
    return {"input_tokens": input_tokens(body)}


def invalid(api: str, body: Any) -> tuple[str, str] | None:
    """The 400 the real API gives for a body it cannot use: ``(error type, message)``."""
    if not isinstance(body, dict):
        return ("invalid_request_error", "There was an error parsing the body of your request.")
    if not isinstance(body.get("model"), str) or not body["model"]:
        return ("invalid_request_error", "model: Field required")
    if not isinstance(body.get("messages"), list):
        return ("invalid_request_error", "messages: Field required")
    if api == "messages":
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            return ("invalid_request_error", "max_tokens: Field required")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            return (
                "invalid_request_error",
                "max_tokens: Input should be greater than or equal to 1",
            )
    return None


def object_arguments(name: str, args: str) -> dict[str, Any] | None:
    """A tool call's arguments as the object Anthropic sends (``None``: not a JSON object)."""
    try:
        value = json.loads(args)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _usage(body: dict[str, Any], answer: Answer, output: int) -> dict[str, Any]:
    return {
        "input_tokens": answer.usage.get("prompt_tokens", input_tokens(body)),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output,
        "service_tier": "standard",
    }


def _output_tokens(answer: Answer) -> int:
    return answer.usage.get("completion_tokens", completion_tokens(answer))


def _blocks(answer: Answer, ids: Ids, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if answer.text is not None and (answer.text or not answer.tool_calls):
        blocks.append({"type": "text", "text": answer.text})
    for k, ((name, _), args) in enumerate(zip(answer.tool_calls, inputs, strict=True)):
        blocks.append({"type": "tool_use", "id": ids.tool_use(k), "name": name, "input": args})
    return blocks


def _base(body: dict[str, Any], ids: Ids) -> dict[str, Any]:
    return {
        "id": ids.message,
        "type": "message",
        "role": "assistant",
        "model": str(body.get("model") or "claude-fake"),
    }


def message(
    body: dict[str, Any], answer: Answer, ids: Ids, inputs: list[dict[str, Any]]
) -> dict[str, Any]:
    """A ``message`` object; ``inputs`` are the tool calls' arguments as objects."""
    return {
        **_base(body, ids),
        "content": _blocks(answer, ids, inputs),
        "stop_reason": STOP_REASONS[answer.finish],
        "stop_sequence": None,
        "usage": _usage(body, answer, _output_tokens(answer)),
    }


def message_events(
    body: dict[str, Any], answer: Answer, ids: Ids, inputs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The stream, in the API's order: ``message_start``, a ``ping``, then for each block
    ``content_block_start``, its deltas (``text_delta`` / ``input_json_delta``) and
    ``content_block_stop``; ``message_delta`` (stop reason, output tokens), ``message_stop``.

    Each event's JSON has its ``type``; the SSE ``event:`` name is that type.
    """
    start = {
        **_base(body, ids),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _usage(body, answer, 1),
    }
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(_blocks(answer, ids, inputs)):
        if block["type"] == "text":
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                }
            )
            deltas = [
                {"type": "text_delta", "text": piece}
                for piece in split_text(block["text"], answer.chunks)
            ]
        else:
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {**block, "input": {}},
                }
            )
            raw = json.dumps(block["input"], ensure_ascii=False)
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
            deltas += [
                {"type": "input_json_delta", "partial_json": piece} for piece in split_text(raw)
            ]
        if index == 0:
            events.append({"type": "ping"})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": STOP_REASONS[answer.finish], "stop_sequence": None},
            "usage": {
                "input_tokens": start["usage"]["input_tokens"],
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": _output_tokens(answer),
            },
        }
    )
    events.append({"type": "message_stop"})
    return events
