"""Tool calls made up from the tools a request offers, when nothing is scripted.

A real model that is told to call a tool (OpenAI ``tool_choice: "required"`` or a named
function, Anthropic ``tool_choice: {"type": "any"}`` or ``{"type": "tool"}``, Gemini
``functionCallingConfig.mode: "ANY"``) never answers with text, so neither does the
fake: with nothing scripted it calls the tool, with arguments made from the tool's JSON
schema. With ``tools="auto"`` it also calls the first offered tool whenever the last
turn is the user's (after a tool result it answers with text, so agent loops end).

The arguments come from :func:`example`, a small deterministic generator of the JSON
Schema keywords tool definitions use (``type``, ``properties``, ``required``,
``enum``, ``const``, ``items``, ``min*``/``max*``, ``format``, ``anyOf``/``oneOf``,
local ``$ref``), seeded by the fake's ``seed``, the tool's name and the request's
number: the same test gets the same arguments on every run.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import random
import string
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._log import FakeRequest

__all__ = ["MODES", "example", "forced", "generated_call", "offered"]

MODES = ("forced", "auto", "off")
"""When the fake makes up a tool call: ``forced`` (the request forces a tool: the
default), ``auto`` (also whenever tools are offered and the user spoke last), ``off``."""

_WORDS = ("Paris", "Tokyo", "blue", "apple", "river", "seven", "north", "green", "Lima")


def offered(request: FakeRequest) -> list[tuple[str, dict[str, Any]]]:
    """``(name, JSON schema of the arguments)`` of every function tool the request offers."""
    body = request.json
    tools: list[Any] = body["tools"] if isinstance(body.get("tools"), list) else []
    out: list[tuple[str, dict[str, Any]]] = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        if request.provider == "gemini":
            for decl in tool.get("functionDeclarations") or tool.get("function_declarations") or []:
                if isinstance(decl, dict) and isinstance(decl.get("name"), str):
                    schema = (
                        decl.get("parametersJsonSchema")
                        or decl.get("parameters_json_schema")  # as google-genai sends it
                        or decl.get("parameters")
                        or {}
                    )
                    out.append((decl["name"], schema if isinstance(schema, dict) else {}))
            continue
        if request.provider == "anthropic":
            if isinstance(tool.get("name"), str) and "input_schema" in tool:
                schema = tool.get("input_schema")
                out.append((tool["name"], schema if isinstance(schema, dict) else {}))
            continue
        fn: dict[str, Any] = tool["function"] if isinstance(tool.get("function"), dict) else tool
        if tool.get("type", "function") == "function" and isinstance(fn.get("name"), str):
            schema = fn.get("parameters")
            out.append((fn["name"], schema if isinstance(schema, dict) else {}))
    return out


def forced(request: FakeRequest) -> tuple[bool, str | None, bool]:
    """``(must call a tool, which one or None for any, tools are allowed at all)``."""
    body = request.json
    if request.provider == "gemini":
        config = body.get("toolConfig") or body.get("tool_config") or {}
        calling = config.get("functionCallingConfig") if isinstance(config, dict) else None
        mode = str(calling.get("mode", "AUTO")).upper() if isinstance(calling, dict) else "AUTO"
        names = calling.get("allowedFunctionNames") if isinstance(calling, dict) else None
        name = names[0] if isinstance(names, list) and names else None
        return mode == "ANY", name, mode != "NONE"
    choice = body.get("tool_choice")
    if request.provider == "anthropic":
        kind = choice.get("type") if isinstance(choice, dict) else None
        name = choice.get("name") if kind == "tool" and isinstance(choice, dict) else None
        return kind in ("any", "tool"), name, kind != "none"
    if choice == "required":
        return True, None, True
    if isinstance(choice, dict) and choice.get("type") == "function":
        fn: dict[str, Any] = (
            choice["function"] if isinstance(choice.get("function"), dict) else choice
        )
        return True, fn.get("name") if isinstance(fn.get("name"), str) else None, True
    return False, None, choice != "none"


def _user_spoke_last(request: FakeRequest) -> bool:
    body = request.json
    if request.provider == "gemini":
        turns = body.get("contents")
        last = turns[-1] if isinstance(turns, list) and turns else None
        if not isinstance(last, dict):
            return True
        parts: list[Any] = last["parts"] if isinstance(last.get("parts"), list) else []
        return last.get("role", "user") == "user" and not any(
            isinstance(p, dict) and "functionResponse" in p for p in parts
        )
    if request.provider == "anthropic" or "messages" in body:
        turns = body.get("messages")
        last = turns[-1] if isinstance(turns, list) and turns else None
        if not isinstance(last, dict):
            return True
        content = last.get("content")
        results = isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content
        )
        return last.get("role") == "user" and not results
    items = body.get("input")
    if not isinstance(items, list) or not items:
        return True
    last = items[-1]
    return isinstance(last, dict) and last.get("type") != "function_call_output"


def generated_call(request: FakeRequest, mode: str, seed: int) -> tuple[str, str] | None:
    """The tool call the fake makes up for ``request`` (``(name, arguments JSON)``), or
    ``None`` to answer with the default text."""
    if mode == "off":
        return None
    tools = offered(request)
    if not tools:
        return None
    must, name, allowed = forced(request)
    if not allowed or not (must or (mode == "auto" and _user_spoke_last(request))):
        return None
    chosen = next((t for t in tools if t[0] == name), None) if name else tools[0]
    if chosen is None:
        names = ", ".join(t[0] for t in tools)
        from .._errors import FakeScriptError

        raise FakeScriptError(
            f"llm_fake: request #{request.number} forces the tool {name!r}, which it does "
            f"not offer (tools: {names}).\n"
            "Fix: offer the tool in tools=, or force one that is offered; the real API "
            "refuses this request with a 400."
        )
    rng = random.Random(f"{seed}:{chosen[0]}:{request.number}")
    args = example(chosen[1], rng)
    return chosen[0], json.dumps(args if isinstance(args, dict) else {}, ensure_ascii=False)


# -- the generator ----------------------------------------------------------------------------


def example(schema: Any, rng: random.Random, root: Any = None, depth: int = 0) -> Any:
    """A value valid against ``schema`` (the keywords tool schemas use), from ``rng``."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 8:
        return {} if depth == 0 else None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return example(target, rng, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            plain = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return example(rng.choice(plain or options), rng, root, depth + 1)
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged = _merge(merged, part)
        return example(merged, rng, root, depth + 1)
    kind = _type_of(schema)
    if kind == "object":
        return _object(schema, rng, root, depth)
    if kind == "array":
        items = schema.get("items", {})
        low = _int(schema.get("minItems"), 1)
        high = max(low, _int(schema.get("maxItems"), max(low, 3)))
        n = rng.randint(low, min(high, low + 2))
        out = [example(items, rng, root, depth + 1) for _ in range(n)]
        if schema.get("uniqueItems"):
            unique: list[Any] = []
            for v in out:
                if v not in unique:
                    unique.append(v)
            out = unique if len(unique) >= low else out
        return out
    if kind == "integer":
        low_i, high_i = _bounds(schema, integer=True)
        value = rng.randint(int(low_i), int(high_i))
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            value = (value // step) * step
            if value < low_i:
                value += step
        return value
    if kind == "number":
        low_f, high_f = _bounds(schema, integer=False)
        return round(rng.uniform(low_f, high_f), 2) if high_f > low_f else low_f
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _string(schema, rng)


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = {**a, **b}
    if isinstance(a.get("properties"), dict) and isinstance(b.get("properties"), dict):
        out["properties"] = {**a["properties"], **b["properties"]}
    out["required"] = [*(a.get("required") or []), *(b.get("required") or [])]
    return out


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [str(k).lower() for k in kind if str(k).lower() != "null"]
        kind = kinds[0] if kinds else "null"
    if isinstance(kind, str):
        return kind.lower()  # Gemini's OpenAPI schemas say OBJECT, STRING...
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _object(schema: dict[str, Any], rng: random.Random, root: Any, depth: int) -> dict[str, Any]:
    props: dict[str, Any] = (
        schema["properties"] if isinstance(schema.get("properties"), dict) else {}
    )
    required = [r for r in schema.get("required") or [] if isinstance(r, str)]
    out: dict[str, Any] = {}
    for name, sub in props.items():
        if name in required or rng.random() < 0.5:
            out[name] = example(sub, rng, root, depth + 1)
    for name in required:
        if name not in out:
            out[name] = _string({}, rng)  # required but not described: any value will do
    low = _int(schema.get("minProperties"), 0)
    extra = schema.get("additionalProperties")
    k = 0
    while len(out) < low and extra is not False:
        out[f"extra_{k}"] = example(extra if isinstance(extra, dict) else {}, rng, root, depth + 1)
        k += 1
    return out


def _int(value: Any, default: int) -> int:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
    )


def _bounds(schema: dict[str, Any], *, integer: bool) -> tuple[float, float]:
    low = schema.get("minimum")
    high = schema.get("maximum")
    xlow = schema.get("exclusiveMinimum")
    xhigh = schema.get("exclusiveMaximum")
    gap = 1 if integer else 0.01
    lo = float(low) if isinstance(low, int | float) else None
    hi = float(high) if isinstance(high, int | float) else None
    if isinstance(xlow, int | float) and not isinstance(xlow, bool):
        lo = max(lo if lo is not None else xlow + gap, xlow + gap)
    if isinstance(xhigh, int | float) and not isinstance(xhigh, bool):
        hi = min(hi if hi is not None else xhigh - gap, xhigh - gap)
    if lo is None and hi is None:
        lo, hi = 0.0, 100.0
    elif lo is None:
        lo = (hi or 0.0) - 100.0
    elif hi is None:
        hi = lo + 100.0
    assert lo is not None
    assert hi is not None
    if integer:
        lo, hi = float(math.ceil(lo)), float(math.floor(hi))
    return lo, max(lo, hi)


def _string(schema: dict[str, Any], rng: random.Random) -> str:
    fmt = schema.get("format")
    day = _dt.date(2026, 1, 1) + _dt.timedelta(days=rng.randint(0, 364))
    if fmt == "date":
        value = day.isoformat()
    elif fmt == "date-time":
        value = f"{day.isoformat()}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"
    elif fmt == "time":
        value = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00"
    elif fmt == "email":
        value = f"{rng.choice(_WORDS).lower()}@example.com"
    elif fmt in ("uri", "url"):
        value = f"https://example.com/{rng.choice(_WORDS).lower()}"
    elif fmt == "uuid":
        value = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    elif fmt in ("ipv4",):
        value = ".".join(str(rng.randint(1, 254)) for _ in range(4))
    else:
        value = rng.choice(_WORDS)
    low = _int(schema.get("minLength"), 0)
    high = _int(schema.get("maxLength"), max(low, len(value)))
    if len(value) < low:
        value += "".join(rng.choice(string.ascii_lowercase) for _ in range(low - len(value)))
    return value[: max(high, low)]
