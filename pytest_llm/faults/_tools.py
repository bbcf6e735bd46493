"""Broken tool calls: arguments that are not JSON, a tool the request never offered.

The fault rewrites every tool call of the reply (recorded or fake), plain or streamed,
in the provider's own shape: OpenAI chat ``tool_calls`` and their argument deltas,
Responses ``function_call`` items and their events, Anthropic ``tool_use`` blocks and
their ``input_json_delta`` pieces, Gemini ``functionCall`` parts. Anthropic's plain
``tool_use.input`` and Gemini's ``functionCall.args`` are JSON objects on the wire, so
arguments that are not JSON cannot be said there (only in Anthropic's stream, whose
``partial_json`` pieces are text): the fault says so instead of sending a body the
API never sends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from .._flow import Exchange, Next, Outcome, Reply
from . import _shapes
from ._base import Context, Fault
from ._errors import FaultNotApplicable

__all__ = ["TOOL_VARIANTS", "BrokenToolCall"]

TOOL_VARIANTS = ("not_json", "unknown_tool")


def cut(args: str) -> str:
    """Arguments cut in half, as a model that stopped mid-call sends them: not JSON."""
    text = args[: max(1, len(args) // 2)]
    try:
        json.loads(text)
    except ValueError:
        return text
    return text + "{"


@dataclass(frozen=True, repr=False)
class BrokenToolCall(Fault):
    """Every tool call of the reply, broken: ``not_json`` cuts its arguments in half;
    ``unknown_tool`` renames it to ``name`` (a tool the request did not offer)."""

    kind: ClassVar[str] = "broken_tool_call"
    variant: str = "not_json"
    name: str = "search_web"
    """The tool ``unknown_tool`` calls instead."""

    def __post_init__(self) -> None:
        self._choice("variant", TOOL_VARIANTS)
        if not isinstance(self.name, str) or not self.name:
            raise self._bad(f"name is a tool name, got {self.name!r}.", "pass name='search_web'.")

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply = self._reply(exchange, nxt)
        offered = _offered(exchange)
        if self.variant == "unknown_tool" and self.name in offered:
            raise FaultNotApplicable(
                f"{self!r} cannot apply to {exchange.method} {exchange.url}: the request offers "
                f"a tool named {self.name!r}, so calling it is not unknown.\n"
                "Fix: pass another name=, one the request does not offer."
            )
        rewrite = _Rewrite(self.variant, self.name)
        if reply.events is None:
            doc = _shapes._body(reply)
            rewrite.walk(doc)
            changed = reply if not rewrite.calls else _with_body(reply, doc)
        else:
            changed = rewrite.stream(reply)
        if not rewrite.calls:
            raise FaultNotApplicable(
                f"{self!r} cannot apply to {exchange.method} {exchange.url}: the reply has no "
                "tool call to break.\n"
                "Fix: target a request answered with a tool call (script tool_calls=[...] on "
                "the fake, force one with tool_choice, or record one)."
            )
        if rewrite.objects:
            raise FaultNotApplicable(
                f"{self!r} cannot apply to {exchange.method} {exchange.url}: {rewrite.objects} "
                "always carries the arguments as a JSON object, so arguments that are not JSON "
                "cannot be sent.\n"
                "Fix: use variant='unknown_tool' here; arguments that are not JSON can be sent "
                "by OpenAI's APIs and inside Anthropic's stream (stream=True)."
            )
        return changed


def _offered(exchange: Exchange) -> set[str]:
    body = exchange.json
    tools = body.get("tools") if isinstance(body, dict) else None
    names: set[str] = set()
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            names.add(fn["name"])
        for decl in tool.get("functionDeclarations") or []:
            if isinstance(decl, dict) and isinstance(decl.get("name"), str):
                names.add(decl["name"])
    return names


def _with_body(reply: Reply, doc: Any) -> Reply:
    return _shapes.replaced(reply, body=_shapes._dump_body(reply.body, doc))


class _Rewrite:
    """Finds tool calls in any provider's documents and breaks them."""

    def __init__(self, variant: str, name: str) -> None:
        self.variant = variant
        self.name = name
        self.calls = 0
        self.objects = ""
        """Where arguments are an object (so ``not_json`` cannot be said), if met."""

    def _rename(self, holder: dict[str, Any]) -> None:
        if self.variant == "unknown_tool" and isinstance(holder.get("name"), str):
            holder["name"] = self.name

    def walk(self, doc: Any, *, whole: bool = True) -> None:
        """Break every tool call in ``doc``; ``whole``: argument strings are complete
        (not a stream's deltas, which :meth:`stream` cuts as one text)."""
        if isinstance(doc, list):
            for item in doc:
                self.walk(item, whole=whole)
            return
        if not isinstance(doc, dict):
            return
        kind = doc.get("type")
        fn = doc.get("function")
        if isinstance(fn, dict) and ("name" in fn or "arguments" in fn):  # chat tool call
            if "name" in fn:
                self.calls += 1
                self._rename(fn)
            if whole and self.variant == "not_json" and isinstance(fn.get("arguments"), str):
                fn["arguments"] = cut(fn["arguments"])
        elif kind in ("function_call", "response.function_call_arguments.done"):
            if kind == "function_call":
                self.calls += 1
            self._rename(doc)
            args = doc.get("arguments")
            if whole and self.variant == "not_json" and isinstance(args, str) and args:
                doc["arguments"] = cut(args)
        elif kind == "tool_use":
            self.calls += 1
            self._rename(doc)
            if self.variant == "not_json" and whole:
                self.objects = "Anthropic's tool_use block (its input)"
        elif isinstance(doc.get("functionCall"), dict):
            self.calls += 1
            self._rename(doc["functionCall"])
            if self.variant == "not_json":
                self.objects = "Gemini's functionCall part (its args)"
        for key, value in doc.items():
            if key not in ("function", "functionCall") and isinstance(value, dict | list):
                self.walk(value, whole=whole)

    def stream(self, reply: Reply) -> Reply:
        docs = _shapes.load_events(reply)
        pieces: dict[Any, list[tuple[dict[str, Any], str]]] = {}
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            partial = doc.get("type") in _DELTAS or doc.get("object") == "chat.completion.chunk"
            self.walk(doc, whole=not partial)
            for choice in doc.get("choices") or []:  # chat: argument deltas per call
                delta = choice.get("delta") if isinstance(choice, dict) else None
                for call in (delta or {}).get("tool_calls") or []:
                    fn = call.get("function") if isinstance(call, dict) else None
                    if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                        key = ("chat", choice.get("index", 0), call.get("index", 0))
                        pieces.setdefault(key, []).append((fn, "arguments"))
            kind = doc.get("type")
            if kind == "response.function_call_arguments.delta":
                pieces.setdefault(("responses", doc.get("item_id")), []).append((doc, "delta"))
            delta = doc.get("delta")
            if (
                kind == "content_block_delta"
                and isinstance(delta, dict)
                and delta.get("type") == "input_json_delta"
            ):
                pieces.setdefault(("anthropic", doc.get("index")), []).append(
                    (delta, "partial_json")
                )
        if self.variant == "not_json":
            if any(k[0] == "anthropic" for k in pieces):
                self.objects = ""  # the stream's partial_json pieces are text: it can be said
            for group in pieces.values():
                joined = "".join(holder[name] for holder, name in group)
                if not joined:
                    continue
                rest = cut(joined)  # the pieces keep their sizes; the last ones run short
                for holder, name in group:
                    take = rest[: len(holder[name])]
                    holder[name] = take
                    rest = rest[len(take) :]
        events = []
        for ev, doc in zip(reply.events or [], docs, strict=True):
            if isinstance(doc, dict):
                ev = _event(ev, doc)
            events.append(ev)
        return _shapes.replaced(reply, events=events)


_DELTAS = frozenset({"response.function_call_arguments.delta", "content_block_delta"})


def _event(ev: Any, doc: dict[str, Any]) -> Any:
    import dataclasses

    return dataclasses.replace(ev, data=json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
