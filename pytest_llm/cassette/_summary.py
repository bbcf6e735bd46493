"""The read-only summary at the top of a streamed interaction: what the answer said.

A stream is stored one event per line, which shows how it arrived but not what it
said. The summary assembles the text (and the tool calls, the stop reason, an error
event) from the events, for the chat completions and Responses APIs, Anthropic's
Messages API and Gemini. It is written with the cassette and ignored when read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .._sse import SSEEvent

__all__ = ["summarise"]


class _Answer:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[Any, list[str]] = {}
        """slot -> [name, arguments]"""
        self.stop: str | None = None

    def call(self, slot: Any, name: str = "", arguments: str = "") -> None:
        entry = self.calls.setdefault(slot, ["", ""])
        entry[0] += name
        entry[1] += arguments

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        text = "".join(self.text)
        if text:
            out["text"] = text
        calls = [f"{name}({args})" for name, args in self.calls.values() if name or args]
        if calls:
            out["tool_calls"] = calls
        if self.stop:
            out["stop"] = self.stop
        return out


def summarise(events: list[SSEEvent]) -> dict[str, Any] | None:
    """``{text, tool_calls, stop, error}`` (the keys that apply), ``None`` if nothing."""
    answers: dict[int, _Answer] = {}
    error: str | None = None

    def answer(i: int = 0) -> _Answer:
        return answers.setdefault(i, _Answer())

    for ev in events:
        if ev.data[:1] != "{":
            continue
        try:
            doc = json.loads(ev.data)
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        kind = doc.get("type") if isinstance(doc.get("type"), str) else ev.event
        if isinstance(doc.get("error"), dict):
            error = str(doc["error"].get("message") or doc["error"].get("type") or doc["error"])
        elif kind == "error" and doc.get("message"):
            error = str(doc["message"])  # the Responses API's error event
        if isinstance(doc.get("choices"), list):
            for c, a in _indexed(doc["choices"], answer):
                _chat(c, a)
        elif isinstance(doc.get("candidates"), list):
            for c, a in _indexed(doc["candidates"], answer):
                _gemini(c, a)
        elif isinstance(kind, str):
            _typed(kind, doc, answer())
    out: dict[str, Any] = {}
    rendered = [answers[i].render() for i in sorted(answers)]
    if len(rendered) == 1:
        out.update(rendered[0])
    elif rendered:
        out["choices"] = rendered
    if error:
        out["error"] = error
    return out or None


def _indexed(items: list[Any], answer: Any) -> Iterator[tuple[dict[str, Any], _Answer]]:
    """Each choice (chat) or candidate (Gemini) with the answer its ``index`` adds to."""
    for c in items:
        if isinstance(c, dict):
            yield c, answer(int(c.get("index") or 0))


def _chat(c: dict[str, Any], a: _Answer) -> None:
    delta = _dict(c.get("delta"))
    if isinstance(delta.get("content"), str):
        a.text.append(delta["content"])
    if isinstance(delta.get("refusal"), str):
        a.text.append(delta["refusal"])
    for frag in delta.get("tool_calls") or []:
        if isinstance(frag, dict):
            fn = _dict(frag.get("function"))
            a.call(frag.get("index", 0), fn.get("name") or "", fn.get("arguments") or "")
    if c.get("finish_reason"):
        a.stop = str(c["finish_reason"])


def _gemini(c: dict[str, Any], a: _Answer) -> None:
    for part in _dict(c.get("content")).get("parts") or []:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str) and not part.get("thought"):
            a.text.append(part["text"])
        call = part.get("functionCall")
        if isinstance(call, dict):
            args = json.dumps(call.get("args") or {}, ensure_ascii=False, separators=(",", ":"))
            a.call(len(a.calls), str(call.get("name") or ""), args)
    if c.get("finishReason"):
        a.stop = str(c["finishReason"])


def _typed(kind: str, doc: dict[str, Any], a: _Answer) -> None:
    """Responses API and Anthropic events, told apart by their ``type``."""
    if kind in ("response.output_text.delta", "response.refusal.delta"):
        a.text.append(str(doc.get("delta") or ""))
    elif kind == "response.output_item.done":
        item = _dict(doc.get("item"))
        if item.get("type") == "function_call":
            a.call(item.get("id"), str(item.get("name") or ""), str(item.get("arguments") or ""))
    elif kind in ("response.completed", "response.incomplete", "response.failed"):
        resp = _dict(doc.get("response"))
        if resp.get("status"):
            a.stop = str(resp["status"])
    elif kind == "content_block_start":
        block = _dict(doc.get("content_block"))
        if block.get("type") in ("tool_use", "server_tool_use"):
            a.call(doc.get("index"), str(block.get("name") or ""))
        elif isinstance(block.get("text"), str):
            a.text.append(block["text"])
    elif kind == "content_block_delta":
        delta = _dict(doc.get("delta"))
        if delta.get("type") == "text_delta":
            a.text.append(str(delta.get("text") or ""))
        elif delta.get("type") == "input_json_delta":
            a.call(doc.get("index"), "", str(delta.get("partial_json") or ""))
    elif kind == "message_delta":
        delta = _dict(doc.get("delta"))
        if delta.get("stop_reason"):
            a.stop = str(delta["stop_reason"])


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
