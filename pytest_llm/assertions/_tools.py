"""Tool calls: parse them from any provider's response shape, and assert on them.

Accepts chat completions (a response, a message, or a list of streamed chunks),
the Responses API (a response or its ``output`` list), Anthropic's Messages API and
Gemini's generateContent (:mod:`._providers`: ``tool_use`` blocks, ``functionCall``
parts, plain or streamed), as SDK objects (any version: they are read through
``model_dump``) or as plain dicts of the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_llm._errors import ConfigError

from ._base import ToolCallAssertionError, did_you_mean, show_json, show_text, type_name
from ._diff import json_diff

__all__ = ["ToolCall", "assert_tool_calls", "parse_tool_calls", "response_text"]

Order = Literal["exact", "any"]
ArgsMode = Literal["partial", "exact"]
_SUPPORTED = (
    "a chat completion, a chat message, a list of chat completion chunks, "
    "a Responses API response or its output list, an Anthropic Message (or its content "
    "blocks, or its stream events), a Gemini GenerateContentResponse (or a list of its "
    "stream chunks) (SDK objects or dicts)"
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


def _plain(obj: Any) -> Any:
    """SDK objects (pydantic models) become the JSON they stand for."""
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return obj


def _parse_arguments(name: str, raw: Any) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """``(args, raw_text, error)``: a model may send arguments that are not JSON."""
    if isinstance(raw, Mapping):
        return dict(raw), None, None
    if raw is None or raw == "":
        return {}, raw, None
    if not isinstance(raw, str):
        return None, None, f"arguments are a {type_name(raw)}, not a JSON string"
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
    args, raw, error = _parse_arguments(name, function.get("arguments"))
    return ToolCall(name, args, item.get("id"), kind, raw, error)


def _responses_item(item: Any) -> ToolCall | None:
    item = _plain(item)
    kind = item.get("type")
    if kind in ("function_call", "mcp_call"):
        name = str(item.get("name"))
        args, raw, error = _parse_arguments(name, item.get("arguments"))
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
        args, raw, error = _parse_arguments(slot["name"], slot["arguments"])
        calls.append(ToolCall(slot["name"], args, slot["id"], "function", raw, error))
    return calls, ("".join(text) or None)


def _parse(response: object, choice: int) -> tuple[list[ToolCall], str | None]:
    """The calls and the text the model wrote besides them (for messages)."""
    __tracebackhide__ = True
    from ._providers import parse as parse_native

    native = parse_native(response, choice)
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
            return _parse(data["output"], choice)
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
    return _parse(response, choice)[0]


def response_text(response: object, *, choice: int = 0) -> str | None:
    """The text a response carries (``None`` when the model only called tools)."""
    if isinstance(response, str):
        return response
    return _parse(response, choice)[1]


# --- assertions -----------------------------------------------------------


def _expected(item: object) -> ToolCall:
    __tracebackhide__ = True
    if isinstance(item, ToolCall):
        return item
    if isinstance(item, str):
        return ToolCall(item)
    if isinstance(item, Mapping) and isinstance(item.get("name"), str):
        unknown = set(item) - {"name", "args", "arguments"}
        if not unknown:
            args = item.get("args", item.get("arguments"))
            if args is None or isinstance(args, Mapping):
                return ToolCall(item["name"], None if args is None else dict(args))
    raise ConfigError(
        f"expected tool calls must be ToolCall(name, args), a name, or "
        f"{{'name': ..., 'args': {{...}}}}; got {type_name(item)}: {show_text(repr(item), 60)}"
    )


def _tool_schemas(tools: Iterable[Any]) -> dict[str, Any]:
    """Tool name -> parameters schema (None for tools without one), from request tools."""
    __tracebackhide__ = True
    from ._providers import gemini_schema
    from ._schema import validator_for

    found: dict[str, Any] = {}
    expanded: list[Any] = []
    for raw in tools:
        tool = _plain(raw)
        declared = (
            tool.get("functionDeclarations") or tool.get("function_declarations")
            if isinstance(tool, Mapping)
            else None
        )
        # a Gemini Tool holds its functions as declarations; each is one tool here
        expanded += [_plain(d) for d in declared] if isinstance(declared, list) else [tool]
    for tool in expanded:
        if not isinstance(tool, Mapping):
            raise ConfigError(f"a tool definition must be a dict, got {type_name(tool)}: {tool!r}")
        nested = tool.get("function")
        function: Mapping[str, Any] = nested if isinstance(nested, Mapping) else tool
        name = function.get("name") or tool.get("type")
        if not isinstance(name, str):
            raise ConfigError(f"a tool definition has no name: {show_text(repr(tool), 80)}")
        schema = (
            function.get("parameters_json_schema")
            or function.get("parametersJsonSchema")
            or function.get("input_schema")  # Anthropic
        )
        if schema is None:
            schema = function.get("parameters")
            if isinstance(schema, Mapping) and isinstance(schema.get("type"), str):
                schema = gemini_schema(schema) if schema["type"].isupper() else schema
        found[name] = (
            None
            if schema is None
            else validator_for(schema, f"the parameters schema of tool {name!r}")
        )
    return found


def _args_problems(actual: ToolCall, expected: ToolCall, mode: ArgsMode) -> list[str]:
    if actual.name != expected.name:
        return [f"expected {expected.name}, got {actual.name}"]
    if expected.args is None:
        return []
    if actual.args is None:
        return [actual.error or "arguments could not be read"]
    return json_diff(actual.args, expected.args, partial=mode == "partial")


def _assign(calls: list[ToolCall], expected: list[ToolCall], mode: ArgsMode) -> dict[int, int]:
    """Maximum matching expected index -> call index (augmenting paths; lists are short)."""
    fits = [
        [j for j, call in enumerate(calls) if not _args_problems(call, want, mode)]
        for want in expected
    ]
    owner: dict[int, int] = {}

    def place(i: int, seen: set[int]) -> bool:
        for j in fits[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or place(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(expected)):
        place(i, set())
    return {i: j for j, i in owner.items()}


def _check_choice(value: object, name: str, choices: tuple[str, ...]) -> None:
    __tracebackhide__ = True
    if value not in choices:
        options = " or ".join(repr(c) for c in choices)
        raise ConfigError(
            f"assert_tool_calls: unknown {name}={value!r}{did_you_mean(str(value), choices)} "
            f"(use {options})"
        )


def assert_tool_calls(
    response: object,
    expected: Sequence[ToolCall | str | Mapping[str, Any]],
    *,
    order: Order = "exact",
    args: ArgsMode = "partial",
    tools: Iterable[Any] | None = None,
    choice: int = 0,
) -> list[ToolCall]:
    """Assert the response made exactly the expected tool calls; return the parsed calls.

    ``order="any"`` ignores order (still one call per expectation, none extra);
    ``args="partial"`` only checks the keys the expectation names. With ``tools``
    (the request's tool definitions) every call must name a defined tool and its
    arguments must validate against that tool's JSON Schema.
    """
    __tracebackhide__ = True
    _check_choice(order, "order", ("exact", "any"))
    _check_choice(args, "args", ("partial", "exact"))
    if isinstance(expected, str | ToolCall | Mapping):
        raise ConfigError(
            "assert_tool_calls expects a list of expected calls; wrap the one call in a list"
        )
    wanted = [_expected(e) for e in expected]
    schemas = _tool_schemas(tools) if tools is not None else None
    calls, text = _parse(response, choice)
    problems: list[str] = []

    for i, call in enumerate(calls):
        if call.error is not None and call.args is None:
            problems.append(f"call [{i}] {call.name}: {call.error}")

    if schemas is not None:
        from ._schema import schema_violations

        for i, call in enumerate(calls):
            if call.name not in schemas:
                defined = ", ".join(schemas) or "none"
                problems.append(
                    f"call [{i}] {call.name}: not a defined tool (defined: {defined})"
                    f"{did_you_mean(call.name, schemas)}"
                )
                continue
            validator = schemas[call.name]
            if validator is not None and call.args is not None:
                problems.extend(
                    f"call [{i}] {call.name}: {v}" for v in schema_violations(validator, call.args)
                )

    if order == "exact":
        before = len(problems)
        for i, (call, want) in enumerate(zip(calls, wanted, strict=False)):
            for problem in _args_problems(call, want, args):
                if call.name != want.name:
                    problems.append(f"call [{i}]: {problem}")
                else:
                    problems.append(f"call [{i}] {call.name}: {problem}")
        for i in range(len(wanted), len(calls)):
            problems.append(f"call [{i}] {calls[i].name}: unexpected call")
        for i in range(len(calls), len(wanted)):
            problems.append(f"expected [{i}] {wanted[i].render()}: no such call")
        if (
            len(problems) > before
            and len(calls) == len(wanted)
            and len(_assign(calls, wanted, args)) == len(wanted)
        ):
            problems.append("hint: the same calls were made in another order; pass order='any'")
    else:
        assigned = _assign(calls, wanted, args)
        used = set(assigned.values())
        shown: set[int] = set()
        for i, want in enumerate(wanted):
            if i in assigned:
                continue
            problems.append(f"expected [{i}] {want.render()}: no call matches")
            near = [
                j
                for j, c in enumerate(calls)
                if c.name == want.name and j not in used and j not in shown
            ]
            if near:
                j = near[0]
                shown.add(j)
                for problem in _args_problems(calls[j], want, args)[:3]:
                    problems.append(f"  nearest call [{j}] {calls[j].name}: {problem}")
        for j, call in enumerate(calls):
            if j not in used and j not in shown:
                problems.append(f"call [{j}] {call.name}: unexpected call")

    if problems:
        count = sum(not p.startswith(("  ", "hint:")) for p in problems)
        lines = [
            f"assert_tool_calls: {count} problem{'s' if count != 1 else ''} "
            f"(order={order!r}, args={args!r})"
        ]
        if calls:
            lines.append("  actual:")
            lines.extend(f"    [{i}] {c.render()}" for i, c in enumerate(calls))
        elif text:
            lines.append(
                f"  actual: no tool calls; the model answered with text: {show_text(text, 80)}"
            )
        else:
            lines.append("  actual: no tool calls")
        if wanted:
            lines.append("  expected:")
            lines.extend(f"    [{i}] {w.render()}" for i, w in enumerate(wanted))
        else:
            lines.append("  expected: no tool calls")
        lines.append("  problems:")
        lines.extend("    " + p for p in problems)
        raise ToolCallAssertionError("\n".join(lines), problems=problems)
    return calls
