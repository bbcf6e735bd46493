"""Structured output: ask for JSON that fits a schema, repair it locally, re-ask when it
does not fit, and hand back the SDK's own parsed types.

:class:`StructuredPlan` is sans-IO: the call flow asks it for the keyword arguments of
the plain ``create`` call (:meth:`StructuredPlan.prepare`), sends them, and gives it the
reply (:meth:`StructuredPlan.check`), which answers with one of

- :class:`Parsed`: the reply validates (as sent, or after a local repair); ``value`` is
  the SDK's ``ParsedChatCompletion`` / ``ParsedResponse``, exactly what
  ``client.chat.completions.parse(...)`` / ``client.responses.parse(...)`` return, with
  ``message.parsed`` / ``output_parsed`` set;
- :class:`Reask`: it does not; ``messages`` is the next request's conversation (the
  caller's own, the bad answer, and a user message with the validation errors);
- :class:`Failed`: re-asks are spent, or re-asking cannot help (the reply was cut at
  the token limit, filtered, or refused).

How JSON is asked for depends on the route's capabilities (``strategy="auto"``):
``json_schema`` (strict decoding) first, then ``tools`` (a single function whose
parameters are the schema, forced), then ``json_object`` (JSON mode, the schema stated
in a system message); a route with none of them gets the system message alone.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast

import pydantic
from openai import omit
from openai.lib._parsing._completions import parse_chat_completion
from openai.lib._parsing._responses import parse_response
from openai.lib._pydantic import to_strict_json_schema
from openai.types.chat import ChatCompletion, ParsedChatCompletion
from openai.types.responses import ParsedResponse, Response

from .._errors import ConfigError
from ..assertions._base import did_you_mean, show_text, show_value, type_name
from ..assertions._json import extract_json
from ..assertions._model import format_model_errors
from ..assertions._schema import schema_violations, validator_for
from ._errors import ClientConfigError, StructuredOutputError
from ._route import Route

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = [
    "STRATEGIES",
    "Failed",
    "Outcome",
    "Parsed",
    "Reask",
    "StructuredPlan",
]

Api: TypeAlias = Literal["chat", "responses"]
Strategy: TypeAlias = Literal["auto", "json_schema", "json_object", "tools"]

STRATEGIES: tuple[str, ...] = ("auto", "json_schema", "json_object", "tools")
"""What ``strategy=`` accepts."""

_AUTO_ORDER = ("json_schema", "tools", "json_object")
"""``auto`` takes the first the route can do: strict decoding, then a forced tool call
(its arguments follow the schema on most providers), then JSON mode (syntax only)."""

_PROMPT = "prompt"
"""What ``auto`` falls back to on a route with none of the three: the schema in a
system message, nothing else (local repair and re-asks do the rest)."""

_MAX_ERRORS = 10
_NAME = re.compile(r"[^A-Za-z0-9_-]+")


# ---------------------------------------------------------------------------
# outcomes


@dataclass(frozen=True)
class Parsed:
    """The reply validates. ``value`` is the SDK's parsed type for the API.

    ``repairs`` says what local repair did (empty: valid as sent), e.g. ``("fence",)``,
    ``("trailing-comma",)``, ``("prose", "truncation")``.
    """

    value: ParsedChatCompletion[Any] | ParsedResponse[Any]
    repairs: tuple[str, ...] = ()

    @property
    def parsed(self) -> Any:
        """``choices[0].message.parsed`` (chat) or ``output_parsed`` (responses)."""
        if isinstance(self.value, ParsedChatCompletion):
            return self.value.choices[0].message.parsed if self.value.choices else None
        return self.value.output_parsed

    def __repr__(self) -> str:
        fixed = f", repairs={self.repairs!r}" if self.repairs else ""
        return f"Parsed({type(self.value).__name__}, parsed={show_value(self.parsed)}{fixed})"


@dataclass(frozen=True)
class Reask:
    """The reply does not validate: send ``messages`` (chat ``messages`` / responses
    ``input``) through :meth:`StructuredPlan.prepare` as ``reask_messages``.

    ``number`` is this re-ask's number (1 for the first); ``raw`` the rejected text.
    """

    messages: list[Any]
    errors: list[str]
    raw: str = ""
    number: int = 1

    def __repr__(self) -> str:
        shown = "; ".join(self.errors[:3]) + (" ..." if len(self.errors) > 3 else "")
        return (
            f"Reask(number={self.number}, errors={len(self.errors)}: {shown!r}, "
            f"messages=<{len(self.messages)} items>)"
        )


@dataclass(frozen=True)
class Failed:
    """Give up: raise ``error`` (a :class:`StructuredOutputError`)."""

    error: StructuredOutputError
    reason: str = "invalid"
    """``invalid`` (re-asks spent), ``length``, ``content_filter``, ``refusal``, ``empty``."""

    def __repr__(self) -> str:
        first = str(self.error).split("\n", 1)[0]
        return f"Failed(reason={self.reason!r}, error={first!r})"


Outcome: TypeAlias = Parsed | Reask | Failed


# ---------------------------------------------------------------------------
# the target schema


@dataclass(frozen=True)
class _Target:
    name: str
    schema: dict[str, Any]
    strict: bool
    model: type[pydantic.BaseModel] | None
    validator: Validator | None = field(default=None, repr=False)
    shown: str = ""


def _bad(field_name: str, message: str, fix: str) -> ClientConfigError:
    return ClientConfigError(f"StructuredPlan({field_name}=...): {message}\nFix: {fix}")


def _name_from(text: object) -> str:
    name = _NAME.sub("_", str(text)).strip("_")[:64]
    return name or "response"


def _is_strict(schema: Any) -> bool:
    """Whether OpenAI's strict mode accepts the schema as it is: every object closes
    its properties (``additionalProperties: false``) and requires all of them."""
    if isinstance(schema, list):
        return all(_is_strict(s) for s in schema)
    if not isinstance(schema, Mapping):
        return True
    is_object = schema.get("type") == "object" or "properties" in schema
    if is_object:
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return False
        if not isinstance(props, Mapping) or set(schema.get("required", ())) != set(props):
            return False
    for key, sub in schema.items():
        if key in ("properties", "$defs", "definitions", "patternProperties"):
            if isinstance(sub, Mapping) and not all(_is_strict(s) for s in sub.values()):
                return False
        elif key in ("items", "anyOf", "allOf", "oneOf", "prefixItems", "not") and not _is_strict(
            sub
        ):
            return False
    return True


def _target(response_format: object) -> _Target:
    if isinstance(response_format, type) and issubclass(response_format, pydantic.BaseModel):
        try:
            schema = to_strict_json_schema(response_format)
        except Exception as exc:
            raise _bad(
                "response_format",
                f"{response_format.__name__} has no strict JSON schema: {exc}",
                "use field types JSON Schema can express (pydantic's model_json_schema() must work).",
            ) from exc
        return _Target(
            response_format.__name__, schema, True, response_format, shown=response_format.__name__
        )
    if isinstance(response_format, Mapping):
        fmt = dict(response_format)
        kind = fmt.get("type")
        strict: bool | None = None
        name: object = None
        if kind == "json_schema":  # a create() response_format / text.format, unwrapped
            inner = fmt.get("json_schema", fmt)
            if not isinstance(inner, Mapping) or not isinstance(inner.get("schema"), Mapping):
                raise _bad(
                    "response_format",
                    f"{show_value(response_format, 100)} has no 'schema' object.",
                    'pass {"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}, '
                    "a JSON Schema, or a pydantic model.",
                )
            name, strict, fmt = inner.get("name"), inner.get("strict"), dict(inner["schema"])
        elif kind in ("json_object", "text"):
            raise _bad(
                "response_format",
                f"{{'type': {kind!r}}} is not a schema to validate against.",
                "pass a pydantic model or a JSON Schema dict; for plain JSON mode call create "
                f"with response_format={{'type': {kind!r}}} yourself.",
            )
        try:
            validator = validator_for(fmt, "response_format")
        except ConfigError as exc:
            raise _bad(
                "response_format", str(exc), "pass a valid JSON Schema or a pydantic model."
            ) from None
        root = fmt.get("type")
        if root is not None and root != "object":
            raise _bad(
                "response_format",
                f"the schema's root is {root!r}; json_schema and tool parameters need an object.",
                'wrap it: {"type": "object", "properties": {"items": <schema>}, '
                '"required": ["items"], "additionalProperties": false}.',
            )
        title = fmt.get("title")
        final = _name_from(name if name is not None else (title or "response"))
        return _Target(
            final,
            fmt,
            bool(strict) if strict is not None else _is_strict(fmt),
            None,
            validator,
            shown=f"schema {final!r}",
        )
    raise _bad(
        "response_format",
        f"expected a pydantic model class or a JSON Schema dict, got {type_name(response_format)}: "
        f"{show_value(response_format, 60)}.",
        "pass the class itself (response_format=Ticket, not Ticket()) or a schema dict.",
    )


# ---------------------------------------------------------------------------
# reading a reply


@dataclass(frozen=True)
class _Reading:
    value: Any = None
    errors: tuple[str, ...] = ()
    repairs: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_error(text: str) -> str:
    try:
        json.loads(text.strip(), parse_constant=_reject_constant)
    except ValueError as exc:
        return f"$: not JSON ({exc})"
    return "$: not JSON"


class _Plain:
    """Stand-in for a tool-call-only turn (caller's tools): nothing to parse, like the SDK."""


# ---------------------------------------------------------------------------
# the plan


class StructuredPlan:
    """Structured output for one call: what to send, and what a reply means.

    ``api``: ``"chat"`` or ``"responses"``. ``response_format``: a pydantic model class
    (the SDK's ``parse`` usage; ``parsed`` is an instance) or a JSON Schema dict
    (``parsed`` is the validated dict; a ``{"type": "json_schema", ...}`` response
    format is unwrapped). ``max_reasks``: paid re-asks after the first answer.
    ``strategy``: ``auto`` picks from the route's capabilities; a forced one needs the
    capability. ``repair``: fix fences, prose, trailing commas, single quotes, Python
    literals and truncation locally before paying for a re-ask.

    One plan per call: it remembers the caller's conversation (from the first
    :meth:`prepare`) and counts re-asks (:attr:`reasks`).
    """

    def __init__(
        self,
        api: Api,
        response_format: object,
        *,
        max_reasks: int = 2,
        strategy: Strategy = "auto",
        repair: bool = True,
    ) -> None:
        if api not in ("chat", "responses"):
            raise _bad(
                "api",
                f"api={api!r} is not an API with structured output{did_you_mean(str(api), ('chat', 'responses'))}.",
                'pass api="chat" or api="responses".',
            )
        if isinstance(max_reasks, bool) or not isinstance(max_reasks, int) or max_reasks < 0:
            raise _bad(
                "max_reasks",
                f"max_reasks={max_reasks!r}: re-asks are a count, 0 or more.",
                "pass e.g. max_reasks=2 (0: never re-ask, fail on the first invalid reply).",
            )
        if strategy not in STRATEGIES:
            raise _bad(
                "strategy",
                f"strategy={strategy!r} is unknown{did_you_mean(str(strategy), STRATEGIES)}.",
                f"use one of {', '.join(STRATEGIES)}.",
            )
        if not isinstance(repair, bool):
            raise _bad("repair", f"repair={repair!r} is not a bool.", "pass repair=True or False.")
        self.api: Api = api
        self.response_format = response_format
        self.max_reasks = max_reasks
        self.strategy: Strategy = strategy
        self.repair = repair
        self.reasks = 0
        """Re-asks handed out so far (what ``CallInfo.reasks`` reports)."""
        self._target = _target(response_format)
        self._original: list[Any] | None = None
        self._caller_tools: list[Any] | None = None
        self._used: dict[str, str] = {}  # route key -> the strategy its request was sent with
        self._last: str | None = None

    def __repr__(self) -> str:
        return (
            f"StructuredPlan(api={self.api!r}, response_format={self._target.shown}, "
            f"strategy={self.strategy!r}, max_reasks={self.max_reasks}, repair={self.repair}, "
            f"reasks={self.reasks})"
        )

    # -- strategy ---------------------------------------------------------------

    def supports(self, route: Route) -> bool:
        """Whether the route can serve this plan (always, with ``strategy="auto"``)."""
        return self.strategy == "auto" or self.strategy in route.capabilities

    def strategy_for(self, route: Route, *, caller_tools: bool = False) -> str:
        """``json_schema``, ``json_object``, ``tools`` or ``prompt`` (auto, no capability)."""
        if self.strategy == "auto":
            for name in _AUTO_ORDER:
                if name in route.capabilities and not (name == "tools" and caller_tools):
                    return name
            return _PROMPT
        if self.strategy not in route.capabilities:
            raise ClientConfigError(
                f"StructuredPlan(strategy={self.strategy!r}): route {route.key!r} cannot do it "
                f"(capabilities: {', '.join(sorted(route.capabilities)) or 'none'}).\n"
                f'Fix: strategy="auto" (picks from each route\'s capabilities), or add '
                f"{self.strategy!r} to Route(capabilities=...) if the model supports it."
            )
        if self.strategy == "tools" and caller_tools:
            raise ClientConfigError(
                'StructuredPlan(strategy="tools"): the call passes its own tools, and the '
                "structured answer would force a tool call of its own.\n"
                'Fix: strategy="json_schema" or "json_object" for calls with tools, or drop the tools.'
            )
        return self.strategy

    # -- prepare ----------------------------------------------------------------

    def prepare(
        self, kwargs: Mapping[str, Any], route: Route, *, reask_messages: list[Any] | None = None
    ) -> dict[str, Any]:
        """The keyword arguments for the plain ``create`` (chat) / ``responses.create``.

        The caller's ``kwargs`` and messages are never changed: what is changed is a copy.
        ``response_format`` (chat) and ``text_format`` (responses) are dropped from them:
        the plan sends its own.
        """
        if kwargs.get("stream"):
            raise ClientConfigError(
                "StructuredPlan: stream=True with a structured answer; the whole reply must "
                "arrive to be validated.\nFix: drop stream=True (the SDK's parse() does not "
                "stream either)."
            )
        out = {k: v for k, v in kwargs.items() if k not in ("response_format", "text_format")}
        tools = kwargs.get("tools")
        self._caller_tools = list(tools) if tools else None
        strategy = self.strategy_for(route, caller_tools=bool(tools))
        self._used[route.key] = strategy
        self._last = strategy
        key = "messages" if self.api == "chat" else "input"
        if reask_messages is None:
            original = kwargs.get(key, [])
            if self.api == "responses" and isinstance(original, str):
                original = [{"role": "user", "content": original}]
            self._original = copy.deepcopy(list(original))
            if key in kwargs:
                out[key] = copy.deepcopy(kwargs[key])
        else:
            out[key] = copy.deepcopy(list(reask_messages))
        target = self._target
        schema = copy.deepcopy(target.schema)
        if self.api == "chat":
            if strategy == "json_schema":
                out["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": target.name, "schema": schema, "strict": target.strict},
                }
            elif strategy == "tools":
                out["tools"] = [
                    {
                        "type": "function",
                        "function": {
                            "name": target.name,
                            "description": self._tool_description(),
                            "parameters": schema,
                            "strict": target.strict,
                        },
                    }
                ]
                out["tool_choice"] = {"type": "function", "function": {"name": target.name}}
            else:
                if strategy == "json_object":
                    out["response_format"] = {"type": "json_object"}
                out["messages"] = _with_system(out.get("messages", []), self._instruction())
        else:
            text = dict(kwargs.get("text") or {})
            if strategy == "json_schema":
                text["format"] = {
                    "type": "json_schema",
                    "name": target.name,
                    "schema": schema,
                    "strict": target.strict,
                }
                out["text"] = text
            elif strategy == "tools":
                out["tools"] = [
                    {
                        "type": "function",
                        "name": target.name,
                        "description": self._tool_description(),
                        "parameters": schema,
                        "strict": target.strict,
                    }
                ]
                out["tool_choice"] = {"type": "function", "name": target.name}
            else:
                if strategy == "json_object":
                    text["format"] = {"type": "json_object"}
                    out["text"] = text
                before = kwargs.get("instructions")
                out["instructions"] = (
                    f"{before}\n\n{self._instruction()}" if before else self._instruction()
                )
        return out

    def _instruction(self) -> str:
        schema = json.dumps(self._target.schema, ensure_ascii=False, separators=(",", ":"))
        return (
            "Answer with one JSON object and nothing else (no prose, no code fences). "
            f"It must validate against this JSON Schema:\n{schema}"
        )

    def _tool_description(self) -> str:
        return f"Give the answer as {self._target.name}: call this with the answer as arguments."

    # -- check ------------------------------------------------------------------

    def check(self, result: ChatCompletion | Response, route: Route) -> Outcome:
        """What the reply to a :meth:`prepare` d request means: Parsed, Reask or Failed."""
        if self._original is None:
            raise RuntimeError("StructuredPlan.check() before prepare(): prepare the request first")
        # the strategy the request was sent with (a route check() was not told about:
        # the last one prepared)
        strategy = self._used.get(route.key) or self._last or _PROMPT
        if self.api == "chat":
            if not isinstance(result, ChatCompletion):
                raise TypeError(
                    f"StructuredPlan(api='chat').check() takes a ChatCompletion, got {type_name(result)}"
                )
            return self._check_chat(result, strategy, route)
        if not isinstance(result, Response):
            raise TypeError(
                f"StructuredPlan(api='responses').check() takes a Response, got {type_name(result)}"
            )
        return self._check_responses(result, strategy, route)

    def _read(self, text: str | None) -> _Reading:
        if text is None or not text.strip():
            return _Reading(errors=("$: the reply is empty; expected a JSON object",))
        if not self.repair:
            try:
                data = json.loads(text, parse_constant=_reject_constant)
            except ValueError:
                return _Reading(errors=(_json_error(text),))
            return self._validate(data, ())
        try:
            found = extract_json(text, repair=True)
        except AssertionError:  # JSONNotFoundError: nothing to repair
            return _Reading(errors=(_json_error(text),))
        first: _Reading | None = None
        for candidate in found.candidates:
            how: tuple[str, ...] = ()
            if candidate.strategy != "whole":
                how = ("fence",) if candidate.strategy == "fence" else ("prose",)
            reading = self._validate(candidate.value, how + candidate.repairs)
            if reading.ok:
                return reading
            first = first or reading
        assert first is not None
        return first

    def _validate(self, data: Any, repairs: tuple[str, ...]) -> _Reading:
        target = self._target
        if target.model is not None:
            try:
                value = target.model.model_validate_json(json.dumps(data))
            except pydantic.ValidationError as exc:
                return _Reading(errors=tuple(format_model_errors(exc.errors(include_url=False))))
            return _Reading(value=value, repairs=repairs)
        assert target.validator is not None
        errors = schema_violations(target.validator, data)
        if errors:
            return _Reading(errors=tuple(errors))
        return _Reading(value=data, repairs=repairs)

    def _invalid(self, reading: _Reading, raw: str, strategy: str, route: Route) -> Reask | Failed:
        errors = list(reading.errors)
        if self.reasks >= self.max_reasks:
            count = len(errors)
            after = (
                f"after {self.reasks} re-ask{'s' if self.reasks != 1 else ''}"
                if self.max_reasks
                else "and re-asks are off (max_reasks=0)"
            )
            lines = [
                f"structured output: the reply does not validate against {self._target.shown} "
                f"{after} ({count} error{'s' if count != 1 else ''}, strategy {strategy} on "
                f"route {route.key!r}): {errors[0] if errors else 'invalid'}"
            ]
            lines.extend(f"  {e}" for e in errors[1:_MAX_ERRORS])
            lines.append(f"  reply: {show_text(raw)}")
            fix = "make the prompt or the schema simpler"
            if strategy != "json_schema":
                fix += ", use a route with the json_schema capability (strict decoding)"
            fix += f", or raise max_reasks (now {self.max_reasks})."
            lines.append(f"Fix: {fix}")
            return Failed(
                StructuredOutputError("\n".join(lines), errors=errors, raw=raw), "invalid"
            )
        self.reasks += 1
        return Reask(self._reask_messages(raw, errors, strategy), errors, raw, self.reasks)

    def _reask_messages(self, raw: str, errors: list[str], strategy: str) -> list[Any]:
        shown = errors[:_MAX_ERRORS]
        more = f"\n(and {len(errors) - _MAX_ERRORS} more)" if len(errors) > _MAX_ERRORS else ""
        again = (
            f"Call {self._target.name} again with corrected arguments."
            if strategy == "tools"
            else "Reply again with only the corrected JSON object."
        )
        feedback = (
            "Your previous answer does not validate against the required JSON Schema:\n"
            + "\n".join(f"- {e}" for e in shown)
            + more
            + f"\n{again}"
        )
        original = copy.deepcopy(self._original or [])
        return [
            *original,
            {"role": "assistant", "content": raw},
            {"role": "user", "content": feedback},
        ]

    def _stop(self, reason: str, message: str, raw: str) -> Failed:
        return Failed(
            StructuredOutputError(message, errors=[message.split("\n", 1)[0]], raw=raw), reason
        )

    # chat ----------------------------------------------------------------------

    def _check_chat(self, completion: ChatCompletion, strategy: str, route: Route) -> Outcome:
        if not completion.choices:
            return self._stop(
                "empty",
                f"structured output: the completion {completion.id!r} has no choices.\n"
                "Fix: this is the provider's fault; retry the call or use another route.",
                "",
            )
        readings: list[_Reading | _Plain] = []
        for choice in completion.choices:
            message = choice.message
            raw = self._chat_text(message, strategy) or ""
            if choice.finish_reason == "length":
                tokens = completion.usage.completion_tokens if completion.usage else None
                used = f" after {tokens} completion tokens" if tokens is not None else ""
                return self._stop(
                    "length",
                    f"structured output: the reply for {self._target.shown} was cut at the "
                    f"token limit (finish_reason='length'{used}); not re-asked: the same "
                    "request would be cut again.\nFix: raise max_completion_tokens (or "
                    "max_tokens) for this call, or ask for a shorter answer.",
                    raw,
                )
            if choice.finish_reason == "content_filter":
                return self._stop(
                    "content_filter",
                    f"structured output: the provider's content filter stopped the reply for "
                    f"{self._target.shown} (finish_reason='content_filter'); not re-asked.\n"
                    "Fix: change the request, or route it to a provider whose policy allows it "
                    '(Route(fallback_on={"content_policy"})).',
                    raw,
                )
            if message.refusal:
                return self._stop(
                    "refusal",
                    f"structured output: the model refused: {show_text(message.refusal)}; not "
                    "re-asked.\nFix: change the request; a refusal is the model's answer.",
                    message.refusal,
                )
            if strategy != "tools" and message.tool_calls and not message.content:
                readings.append(_Plain())  # a turn calling the caller's own tools
                continue
            reading = self._read(raw or None)
            if not reading.ok:
                return self._invalid(reading, raw, strategy, route)
            readings.append(reading)
        return Parsed(self._parsed_chat(completion, readings, strategy), _repairs(readings))

    def _chat_text(self, message: Any, strategy: str) -> str | None:
        if strategy == "tools":
            for call in message.tool_calls or []:
                if call.type == "function" and call.function.name == self._target.name:
                    return cast(str, call.function.arguments)
        return cast("str | None", message.content)

    def _parsed_chat(
        self, completion: ChatCompletion, readings: Sequence[_Reading | _Plain], strategy: str
    ) -> ParsedChatCompletion[Any]:
        base = completion
        if strategy == "tools":
            # The forced tool call was the plan's device, not the caller's: the answer
            # reads like parse()'s, the arguments as the content.
            data: dict[str, Any] = completion.to_dict()
            for choice, src in zip(data["choices"], completion.choices, strict=True):
                choice["message"]["content"] = self._chat_text(src.message, strategy)
                choice["message"]["tool_calls"] = None
                if choice.get("finish_reason") == "tool_calls":
                    choice["finish_reason"] = "stop"
            base = ChatCompletion.model_validate(data)
        tools: Any = self._caller_tools if self._caller_tools and strategy != "tools" else omit
        try:
            parsed = parse_chat_completion(
                response_format=omit, input_tools=tools, chat_completion=base
            )
        except (ValueError, pydantic.ValidationError):
            # The caller's strict tool got arguments that do not parse: leave them unparsed.
            parsed = parse_chat_completion(
                response_format=omit, input_tools=omit, chat_completion=base
            )
        for choice, reading in zip(parsed.choices, readings, strict=True):
            if isinstance(reading, _Reading):
                choice.message.parsed = reading.value
        return parsed

    # responses -----------------------------------------------------------------

    def _check_responses(self, response: Response, strategy: str, route: Route) -> Outcome:
        raw = self._responses_text(response, strategy) or ""
        if response.status == "incomplete":
            reason = response.incomplete_details.reason if response.incomplete_details else None
            if reason == "content_filter":
                return self._stop(
                    "content_filter",
                    f"structured output: the provider's content filter stopped the reply for "
                    f"{self._target.shown} (status 'incomplete', content_filter); not re-asked.\n"
                    "Fix: change the request, or route it to a provider whose policy allows it "
                    '(Route(fallback_on={"content_policy"})).',
                    raw,
                )
            tokens = response.usage.output_tokens if response.usage else None
            used = f" after {tokens} output tokens" if tokens is not None else ""
            limit = (
                f", max_output_tokens={response.max_output_tokens}"
                if response.max_output_tokens
                else ""
            )
            return self._stop(
                "length",
                f"structured output: the reply for {self._target.shown} was cut at the token "
                f"limit (status 'incomplete', {reason or 'unknown reason'}{used}{limit}); not "
                "re-asked: the same request would be cut again.\nFix: raise max_output_tokens "
                "for this call, or ask for a shorter answer.",
                raw,
            )
        if response.status == "failed" or response.error is not None:
            detail = response.error.message if response.error else "status 'failed'"
            return self._stop(
                "empty",
                f"structured output: the response {response.id!r} failed: {detail}.\n"
                "Fix: this is the provider's side; retry the call or use another route.",
                raw,
            )
        for item in response.output:
            if item.type == "message":
                for part in item.content:
                    if part.type == "refusal":
                        return self._stop(
                            "refusal",
                            f"structured output: the model refused: {show_text(part.refusal)}; "
                            "not re-asked.\nFix: change the request; a refusal is the model's answer.",
                            part.refusal,
                        )
        if (
            strategy != "tools"
            and not raw
            and any(i.type == "function_call" for i in response.output)
        ):
            return Parsed(self._parsed_responses(response, None, strategy))
        reading = self._read(raw or None)
        if not reading.ok:
            return self._invalid(reading, raw, strategy, route)
        return Parsed(self._parsed_responses(response, reading, strategy), reading.repairs)

    def _responses_text(self, response: Response, strategy: str) -> str | None:
        if strategy == "tools":
            for item in response.output:
                if item.type == "function_call" and item.name == self._target.name:
                    return item.arguments
        return response.output_text

    def _parsed_responses(
        self, response: Response, reading: _Reading | None, strategy: str
    ) -> ParsedResponse[Any]:
        base = response
        if strategy == "tools":
            data: dict[str, Any] = response.to_dict()
            output: list[Any] = []
            for item, src in zip(data["output"], response.output, strict=True):
                if src.type == "function_call" and src.name == self._target.name:
                    item = {
                        "id": src.id or f"msg_{src.call_id}",
                        "type": "message",
                        "role": "assistant",
                        "status": "completed",
                        "content": [
                            {"type": "output_text", "text": src.arguments, "annotations": []}
                        ],
                    }
                output.append(item)
            data["output"] = output
            base = Response.model_validate(data)
        tools: Any = self._caller_tools if self._caller_tools and strategy != "tools" else omit
        try:
            parsed = parse_response(text_format=omit, input_tools=tools, response=base)
        except (ValueError, pydantic.ValidationError):
            parsed = parse_response(text_format=omit, input_tools=omit, response=base)
        if reading is not None:
            for item in parsed.output:
                if item.type == "message":
                    for part in item.content:
                        if part.type == "output_text":
                            part.parsed = reading.value
                            return parsed
        return parsed


def _with_system(messages: Any, instruction: str) -> list[Any]:
    """The messages with the instruction in the leading system message (a new one, or a
    copy of the caller's with the instruction appended)."""
    out = list(messages)
    if out and isinstance(out[0], Mapping) and out[0].get("role") in ("system", "developer"):
        first = dict(out[0])
        if isinstance(first.get("content"), str):
            first["content"] = f"{first['content']}\n\n{instruction}"
            return [first, *out[1:]]
    return [{"role": "system", "content": instruction}, *out]


def _repairs(readings: Sequence[_Reading | _Plain]) -> tuple[str, ...]:
    seen: list[str] = []
    for reading in readings:
        if isinstance(reading, _Reading):
            seen.extend(r for r in reading.repairs if r not in seen)
    return tuple(seen)
