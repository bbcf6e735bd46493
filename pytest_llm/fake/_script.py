"""Scripted replies: what the model says, which requests it answers, how many times.

Everything a script holds is checked when it is added, so a reply that cannot be
made into the API's shape fails at the ``add()`` line, not inside a transport.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from .._text import did_you_mean
from ._shapes import FINISH_REASONS, Answer

if TYPE_CHECKING:
    from ._log import FakeRequest

__all__ = ["APIS", "Script", "check_options", "make_answer"]

APIS = ("chat", "responses", "embeddings", "messages", "generate_content", "count_tokens")
"""The APIs the fake serves: OpenAI's chat completions, Responses API and embeddings,
Anthropic's Messages API, Gemini's generateContent, and Anthropic's and Gemini's token
counting."""

GENERATIVE = ("chat", "responses", "messages", "generate_content")
"""The APIs a scripted reply answers (the others answer from the request alone)."""

FINISH_ALIASES = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
}
"""Anthropic's ``stop_reason`` and Gemini's ``finishReason`` words for the four finish
reasons: a script may use any provider's word; each reply says it in its own."""
_USAGE_KEYS = {
    "prompt_tokens": "prompt_tokens",
    "input_tokens": "prompt_tokens",
    "completion_tokens": "completion_tokens",
    "output_tokens": "completion_tokens",
}


def _near(word: str, choices: Iterable[str]) -> str:
    return did_you_mean(word, choices, template=" (did you mean {!r}?)")


def check_options(where: str, unknown: Mapping[str, object], known: Sequence[str]) -> None:
    """An unknown keyword fails with the nearest known one and the full list."""
    if not unknown:
        return
    bad = sorted(unknown)[0]
    raise ConfigError(
        f"{where} got an unknown option {bad!r}{_near(bad, known)}.\n"
        f"Fix: use one of: {', '.join(sorted(known))}."
    )


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(value: Any) -> str:
    return type(value).__qualname__


def _a(value: Any) -> str:
    """``"a dict"``, ``"an int"``: the type of ``value`` with its article."""
    name = _type_name(value)
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _unserialisable(value: Any, path: str = "$") -> tuple[str, Any] | None:
    """The JSON path of the first value ``json.dumps`` cannot write."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str | int | float | bool) and k is not None:
                return f"{path} (key {k!r})", k
            found = _unserialisable(v, f"{path}.{k}")
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = _unserialisable(v, f"{path}[{i}]")
            if found:
                return found
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return None
    return path, value


def _json_text(value: Any, where: str) -> str:
    found = _unserialisable(value)
    if found is not None:
        path, bad = found
        raise ConfigError(
            f"{where}: the JSON content cannot be written as JSON: {path} is "
            f"{_a(bad)} ({_short(bad)}).\n"
            "Fix: use only dicts, lists, strings, numbers, booleans and None, or pass a "
            "pydantic model instance."
        )
    return json.dumps(value, ensure_ascii=False)


def content_text(content: Any, where: str) -> str | None:
    """A reply's content as the text the model sends: str as is, JSON values serialised."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, type) and hasattr(content, "model_dump_json"):
        raise ConfigError(
            f"{where}: got the model class {content.__qualname__}, not an instance of it.\n"
            f"Fix: pass an instance, e.g. {content.__qualname__}(...), to reply with its JSON."
        )
    dump = getattr(content, "model_dump_json", None)
    if callable(dump) and not isinstance(content, type):
        return str(dump())
    if isinstance(content, dict | list):
        return _json_text(content, where)
    raise ConfigError(
        f"{where}: cannot make a reply from {_a(content)} ({_short(content)}).\n"
        "Fix: pass a str (the text the model says), a dict or list (JSON content), or a "
        "pydantic model instance (its JSON)."
    )


def _tool_call(call: Any, k: int, where: str) -> tuple[str, str]:
    if isinstance(call, Mapping):
        unknown = set(call) - {"name", "arguments", "args", "id", "type"}
        if unknown:
            bad = sorted(unknown)[0]
            raise ConfigError(
                f"{where}: tool_calls[{k}] has an unknown key {bad!r}"
                f"{_near(bad, ['name', 'arguments', 'args'])}.\n"
                "Fix: give each tool call as {'name': ..., 'arguments': {...}}."
            )
        name, args = call.get("name"), call.get("arguments", call.get("args"))
    elif isinstance(call, tuple) and len(call) == 2:
        name, args = call
    elif hasattr(call, "name"):
        name, args = call.name, getattr(call, "args", getattr(call, "arguments", None))
    else:
        raise ConfigError(
            f"{where}: tool_calls[{k}] is {_a(call)} ({_short(call)}), not a tool call.\n"
            "Fix: give each tool call as {'name': ..., 'arguments': {...}}, a (name, arguments) "
            "pair, or a pytest_llm.ToolCall."
        )
    if not isinstance(name, str) or not name:
        raise ConfigError(
            f"{where}: tool_calls[{k}] has no function name (got {_short(name)}).\n"
            "Fix: give each tool call a non-empty 'name', e.g. {'name': 'get_weather', "
            "'arguments': {'city': 'Paris'}}."
        )
    if args is None:
        return name, "{}"
    if isinstance(args, str):
        return name, args  # sent as is: a model may send arguments that are not JSON
    if not isinstance(args, Mapping):
        raise ConfigError(
            f"{where}: tool_calls[{k}] ({name}) has arguments of type {_type_name(args)}; "
            "the API sends a JSON object.\n"
            "Fix: pass the arguments as a dict, or as the exact JSON string to send."
        )
    return name, _json_text(dict(args), f"{where}: tool_calls[{k}] ({name}) arguments")


def make_answer(
    content: Any,
    *,
    tool_calls: Sequence[Any] | None,
    finish_reason: str | None,
    chunks: int | Sequence[str] | None,
    usage: Mapping[str, int] | None,
    where: str,
) -> Answer:
    text = content_text(content, where)
    calls: list[tuple[str, str]] = []
    if tool_calls is not None:
        if isinstance(tool_calls, str | bytes | Mapping) or not isinstance(tool_calls, Sequence):
            raise ConfigError(
                f"{where}: tool_calls must be a list of tool calls, got {_a(tool_calls)}.\n"
                "Fix: tool_calls=[{'name': 'get_weather', 'arguments': {'city': 'Paris'}}]."
            )
        calls = [_tool_call(c, k, where) for k, c in enumerate(tool_calls)]
    if text is None and not calls:
        raise ConfigError(
            f"{where}: a reply needs content or tool_calls, got neither.\n"
            "Fix: pass the text (or a dict / pydantic model for JSON), tool_calls=[...], or "
            "both; add('') replies with empty text."
        )
    if finish_reason is not None:
        finish_reason = FINISH_ALIASES.get(finish_reason, finish_reason)
        if finish_reason not in FINISH_REASONS:
            raise ConfigError(
                f"{where}: finish_reason={finish_reason!r} is not one the APIs send"
                f"{_near(str(finish_reason), [*FINISH_REASONS, *FINISH_ALIASES])}.\n"
                f"Fix: use one of: {', '.join(FINISH_REASONS)} (or leave it out: 'stop', or "
                "'tool_calls' when there are tool calls); Anthropic's and Gemini's words "
                f"work too: {', '.join(FINISH_ALIASES)}."
            )
        if finish_reason == "tool_calls" and not calls:
            raise ConfigError(
                f"{where}: finish_reason='tool_calls' but the reply has no tool calls.\n"
                "Fix: add tool_calls=[...] (the finish reason then follows by itself)."
            )
    if chunks is not None:
        _check_chunks(chunks, text, where)
    counts: dict[str, int] = {}
    if usage is not None:
        for key, value in dict(usage).items():
            if key not in _USAGE_KEYS:
                raise ConfigError(
                    f"{where}: usage has an unknown key {key!r}{_near(key, _USAGE_KEYS)}.\n"
                    f"Fix: use {', '.join(_USAGE_KEYS)} (the rest is computed)."
                )
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(
                    f"{where}: usage[{key!r}]={value!r} is not a token count.\n"
                    "Fix: use a whole number >= 0."
                )
            counts[_USAGE_KEYS[key]] = value
    return Answer(
        text=text, tool_calls=calls, finish_reason=finish_reason, chunks=chunks, usage=counts
    )


def _check_chunks(chunks: Any, text: str | None, where: str) -> None:
    if isinstance(chunks, bool) or not isinstance(chunks, int | list | tuple):
        raise ConfigError(
            f"{where}: chunks={_short(chunks)} is neither a size nor a list of pieces.\n"
            "Fix: chunks=5 (five characters a delta) or chunks=['Hel', 'lo'] (the exact deltas)."
        )
    if isinstance(chunks, int):
        if chunks < 1:
            raise ConfigError(
                f"{where}: chunks={chunks} is not a size.\nFix: use a whole number >= 1."
            )
        return
    if not all(isinstance(c, str) for c in chunks):
        raise ConfigError(f"{where}: chunks must all be strings.\nFix: chunks=['Hel', 'lo'].")
    joined = "".join(chunks)
    if joined != (text or ""):
        raise ConfigError(
            f"{where}: the chunks join to {_short(joined, 60)}, not to the reply's text "
            f"{_short(text or '', 60)}.\n"
            "Fix: make the pieces add up to the text exactly, or pass chunks=N for pieces of "
            "N characters."
        )


class Script:
    """One scripted reply and the requests it answers; ``calls`` counts its uses."""

    def __init__(
        self,
        number: int,
        answer: Answer,
        *,
        api: str | None = None,
        model: str | None = None,
        contains: str | None = None,
        match: Callable[[FakeRequest], object] | None = None,
        times: int | None = 1,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.number = number
        self.answer = answer
        self.api = api
        self.model = model
        self.contains = contains
        self.match = match
        self.times = times
        self.headers = headers or []
        self.calls = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.calls >= self.times

    @property
    def unused(self) -> bool:
        """Left over at the end: fewer uses than ``times``, or never used if unlimited."""
        if self.times is None:
            return self.calls == 0
        return self.calls < self.times

    def mismatch(
        self, request: FakeRequest, aliases: Mapping[str, str] | None = None
    ) -> str | None:
        """Why this script does not answer ``request`` (``None``: it does). ``aliases``:
        model name -> its group; names of one group answer for each other."""
        if self.exhausted:
            return f"used up ({self.calls} of {self.times})"
        if self.api is not None and request.api != self.api:
            return f"answers {self.api}, this is {request.api}"
        if self.api is None and request.api not in GENERATIVE:
            return f"answers {', '.join(GENERATIVE)}, this is {request.api}"
        if self.model is not None and request.model != self.model:
            groups = aliases or {}
            asked = request.model or ""
            if groups.get(asked, asked) != groups.get(self.model, self.model):
                return f"model is {request.model!r}, not {self.model!r}"
        if self.contains is not None and self.contains not in request.last_user_message:
            return f"the last user message has no {self.contains!r}"
        if self.match is not None and not self.match(request):
            name = getattr(self.match, "__name__", "the predicate")
            return f"match={name} returned false"
        return None

    def describe(self) -> str:
        a = self.answer
        what: list[str] = []
        if a.text is not None:
            what.append(f"text {_short(a.text)}")
        if a.tool_calls:
            what.append("tool_calls " + ", ".join(f"{n}(...)" for n, _ in a.tool_calls))
        conds = [
            f"{k}={v!r}"
            for k, v in (("api", self.api), ("model", self.model), ("contains", self.contains))
            if v is not None
        ]
        if self.match is not None:
            conds.append(f"match={getattr(self.match, '__name__', 'predicate')}")
        when = f" [{', '.join(conds)}]" if conds else ""
        times = (
            f"{self.calls} (times=None)" if self.times is None else f"{self.calls} of {self.times}"
        )
        return f"#{self.number} {' + '.join(what)}{when}, used {times}"

    def __repr__(self) -> str:
        return f"<Script {self.describe()}>"
