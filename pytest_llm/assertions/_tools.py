"""Tool calls: parse them from any provider's response shape, and assert on them.

The calls are read by :mod:`._reading` (chat completions, the Responses API,
Anthropic's Messages API, Gemini's generateContent; SDK objects or dicts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pytest_llm._errors import ConfigError

from ._base import ToolCallAssertionError, did_you_mean, show_text, type_name
from ._diff import json_diff
from ._reading import ToolCall, _plain, gemini_schema, read
from ._schema import schema_violations, validator_for

__all__ = ["assert_tool_calls"]

Order = Literal["exact", "any"]
ArgsMode = Literal["partial", "exact"]


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
    calls, text = read(response, choice)
    problems: list[str] = []

    for i, call in enumerate(calls):
        if call.error is not None and call.args is None:
            problems.append(f"call [{i}] {call.name}: {call.error}")

    if schemas is not None:
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
