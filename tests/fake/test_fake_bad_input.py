"""Bad scripts fail at the line that wrote them, naming the thing and the fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from pytest_llm import ConfigError, FakeProvider


class Analysis(pydantic.BaseModel):
    score: float


def _add(*args: Any, **kwargs: Any) -> Callable[[], object]:
    return lambda: FakeProvider().add(*args, **kwargs)


CASES: list[tuple[str, Callable[[], object], list[str]]] = [
    (
        "unknown api",
        _add("x", api="chatt"),
        [
            "llm_fake.add(): api='chatt' is not an API the fake serves (did you mean 'chat'?).",
            "Fix: use one of: chat, responses, embeddings, messages, generate_content, "
            "count_tokens (or leave it out: chat, responses, messages, generate_content).",
        ],
    ),
    (
        "embeddings cannot be scripted",
        _add("x", api="embeddings"),
        [
            "llm_fake.add(): api='embeddings' cannot take a scripted reply: embeddings answer "
            "with vectors, made from a hash of the input.",
            "Fix: leave embeddings unscripted, or pass embed=fn (text, dimensions) -> vector to "
            "FakeProvider()/llm_fake.configure() to choose the vectors.",
        ],
    ),
    (
        "unknown option",
        _add("x", contnet="y"),
        [
            "llm_fake.add() got an unknown option 'contnet' (did you mean 'content'?).",
            "Fix: use one of: api, chunks, contains, content, finish_reason, headers, match, "
            "model, times, tool_calls, usage.",
        ],
    ),
    (
        "a set is no reply",
        _add({1, 2}),
        [
            "llm_fake.add(): cannot make a reply from a set ({1, 2}).",
            "Fix: pass a str (the text the model says), a dict or list (JSON content), or a "
            "pydantic model instance (its JSON).",
        ],
    ),
    (
        "a model class instead of an instance",
        _add(Analysis),
        [
            "llm_fake.add(): got the model class Analysis, not an instance of it.",
            "Fix: pass an instance, e.g. Analysis(...), to reply with its JSON.",
        ],
    ),
    (
        "JSON content that is not JSON",
        _add({"items": [1, {"when": object}]}),
        [
            "llm_fake.add(): the JSON content cannot be written as JSON: $.items[1].when is a "
            "type (<class 'object'>).",
            "Fix: use only dicts, lists, strings, numbers, booleans and None, or pass a pydantic "
            "model instance.",
        ],
    ),
    (
        "nothing to say",
        _add(),
        [
            "llm_fake.add(): a reply needs content or tool_calls, got neither.",
            "Fix: pass the text (or a dict / pydantic model for JSON), tool_calls=[...], or "
            "both; add('') replies with empty text.",
        ],
    ),
    (
        "tool call with a misspelt key",
        _add(tool_calls=[{"nme": "f"}]),
        [
            "llm_fake.add(): tool_calls[0] has an unknown key 'nme' (did you mean 'name'?).",
            "Fix: give each tool call as {'name': ..., 'arguments': {...}}.",
        ],
    ),
    (
        "tool call without a name",
        _add(tool_calls=[{"arguments": {"a": 1}}]),
        [
            "llm_fake.add(): tool_calls[0] has no function name (got None).",
            "Fix: give each tool call a non-empty 'name', e.g. {'name': 'get_weather', "
            "'arguments': {'city': 'Paris'}}.",
        ],
    ),
    (
        "one tool call instead of a list",
        _add(tool_calls={"name": "f"}),
        [
            "llm_fake.add(): tool_calls must be a list of tool calls, got a dict.",
            "Fix: tool_calls=[{'name': 'get_weather', 'arguments': {'city': 'Paris'}}].",
        ],
    ),
    (
        "tool call arguments that are a list",
        _add(tool_calls=[("f", [1, 2])]),
        [
            "llm_fake.add(): tool_calls[0] (f) has arguments of type list; the API sends a JSON "
            "object.",
            "Fix: pass the arguments as a dict, or as the exact JSON string to send.",
        ],
    ),
    (
        "a tool call that is not one",
        _add(tool_calls=[42]),
        [
            "llm_fake.add(): tool_calls[0] is an int (42), not a tool call.",
            "Fix: give each tool call as {'name': ..., 'arguments': {...}}, a (name, arguments) "
            "pair, or a pytest_llm.ToolCall.",
        ],
    ),
    (
        "unknown finish reason",
        _add("x", finish_reason="stopp"),
        [
            "llm_fake.add(): finish_reason='stopp' is not one the APIs send (did you mean "
            "'stop'?).",
            "Fix: use one of: stop, length, content_filter, tool_calls (or leave it out: 'stop', "
            "or 'tool_calls' when there are tool calls); Anthropic's and Gemini's words work "
            "too: end_turn, max_tokens, tool_use, refusal, STOP, MAX_TOKENS, SAFETY.",
        ],
    ),
    (
        "tool_calls finish without calls",
        _add("x", finish_reason="tool_calls"),
        [
            "llm_fake.add(): finish_reason='tool_calls' but the reply has no tool calls.",
            "Fix: add tool_calls=[...] (the finish reason then follows by itself).",
        ],
    ),
    (
        "chunks that do not add up",
        _add("Hello", chunks=["He", "y"]),
        [
            "llm_fake.add(): the chunks join to 'Hey', not to the reply's text 'Hello'.",
            "Fix: make the pieces add up to the text exactly, or pass chunks=N for pieces of N "
            "characters.",
        ],
    ),
    (
        "chunk size zero",
        _add("x", chunks=0),
        ["llm_fake.add(): chunks=0 is not a size.", "Fix: use a whole number >= 1."],
    ),
    (
        "unknown usage key",
        _add("x", usage={"prompt": 3}),
        [
            "llm_fake.add(): usage has an unknown key 'prompt' (did you mean 'prompt_tokens'?).",
            "Fix: use prompt_tokens, input_tokens, completion_tokens, output_tokens (the rest is "
            "computed).",
        ],
    ),
    (
        "negative usage",
        _add("x", usage={"output_tokens": -1}),
        [
            "llm_fake.add(): usage['output_tokens']=-1 is not a token count.",
            "Fix: use a whole number >= 0.",
        ],
    ),
    (
        "times zero",
        _add("x", times=0),
        [
            "llm_fake.add(): times=0 is not a count.",
            "Fix: use a whole number >= 1, or times=None to answer every matching request.",
        ],
    ),
    (
        "model not a str",
        _add("x", model=4),
        [
            "llm_fake.add(): model=4 must be a str.",
            "Fix: pass the model as text, or use match=lambda request: ... for more.",
        ],
    ),
    (
        "match not callable",
        _add("x", match="stream"),
        [
            "llm_fake.add(): match='stream' is not callable.",
            "Fix: pass a function of the request, e.g. match=lambda r: r.stream.",
        ],
    ),
    (
        "headers not str",
        _add("x", headers={"retry-after": 3}),
        [
            "llm_fake.add(): headers must map str to str, got {'retry-after': 3}.",
            "Fix: headers={'x-ratelimit-remaining-requests': '99'}.",
        ],
    ),
    (
        "unknown provider option",
        lambda: FakeProvider(strcit=True),
        [
            "FakeProvider() got an unknown option 'strcit' (did you mean 'strict'?).",
            "Fix: use one of: aliases, check_unused, clock, default, dimensions, embed, limits, seed, strict, tools.",
        ],
    ),
    (
        "unknown configure option",
        lambda: FakeProvider().configure(dimension=8),
        [
            "llm_fake.configure() got an unknown option 'dimension' (did you mean 'dimensions'?).",
            "Fix: use one of: aliases, check_unused, clock, default, dimensions, embed, limits, seed, strict, tools.",
        ],
    ),
    (
        "dimensions zero",
        lambda: FakeProvider(dimensions=0),
        [
            "FakeProvider(): dimensions=0 is not a vector size.",
            "Fix: use a whole number >= 1 (e.g. 8 to keep test vectors small), or None for the "
            "model's own size (1536 for text-embedding-3-small).",
        ],
    ),
    (
        "strict not a bool",
        lambda: FakeProvider().configure(strict="yes"),
        ["llm_fake.configure(): strict='yes' must be True or False.", "Fix: strict=True."],
    ),
    (
        "embed not callable",
        lambda: FakeProvider(embed=[0.1]),  # type: ignore[arg-type]
        [
            "FakeProvider(): embed=[0.1] is not callable.",
            "Fix: pass a function (text_or_tokens, dimensions) -> list of floats.",
        ],
    ),
    (
        "default that cannot be a reply",
        lambda: FakeProvider(default=3.5),
        [
            "FakeProvider() default: cannot make a reply from a float (3.5).",
            "Fix: pass a str (the text the model says), a dict or list (JSON content), or a "
            "pydantic model instance (its JSON).",
        ],
    ),
]


@pytest.mark.parametrize(("make", "lines"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_the_thing_and_the_fix(
    make: Callable[[], object], lines: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        make()
    assert str(info.value).splitlines() == lines


def test_a_rejected_script_is_not_kept() -> None:
    fake = FakeProvider()
    with pytest.raises(ConfigError):
        fake.add("x", finish_reason="nope")
    assert fake.scripts == []
    assert fake.unused() == []


def test_tool_call_arguments_as_a_string_are_sent_as_is() -> None:
    # Not an error: a model may send arguments that are not JSON, and tests need that.
    script = FakeProvider().add(tool_calls=[{"name": "f", "arguments": "{'city': 'Paris',}"}])
    assert script.answer.tool_calls == [("f", "{'city': 'Paris',}")]
