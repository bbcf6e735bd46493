"""Tool calls made up from the offered tools' schemas, and model aliases, through the
real openai, anthropic and google-genai SDKs.

With nothing scripted, a request that forces a tool gets a call of it whose arguments
validate against the tool's JSON schema (checked here with ``jsonschema``), the same
on every run for one seed; ``tools="auto"`` also calls a tool when the user spoke last.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import anthropic
import jsonschema
import openai
import pytest
from fake_helpers import call
from google import genai
from google.genai import types

from pytest_llm import ConfigError
from pytest_llm.fake import FakeMiss, FakeProvider, FakeScriptError
from pytest_llm.fake._tools import example

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2, "maxLength": 40},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "when": {"type": "string", "format": "date"},
        "hourly": {"type": "boolean"},
        "threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "tags": {
            "type": "array",
            "items": {"type": "string", "enum": ["rain", "wind", "sun"]},
            "minItems": 1,
            "maxItems": 3,
        },
        "where": {
            "type": "object",
            "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
            "required": ["lat", "lon"],
            "additionalProperties": False,
        },
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "kind": {"$ref": "#/$defs/kind"},
    },
    "required": ["city", "unit", "days", "where", "kind"],
    "additionalProperties": False,
    "$defs": {"kind": {"type": "string", "const": "forecast"}},
}
HELLO = [{"role": "user", "content": "Weather in Paris?"}]
OPENAI_TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}},
]


def test_the_generator_is_valid_and_deterministic() -> None:
    values = [example(SCHEMA, random.Random(seed)) for seed in range(200)]
    for value in values:
        jsonschema.validate(value, SCHEMA)
    assert example(SCHEMA, random.Random(7)) == example(SCHEMA, random.Random(7))
    assert len({json.dumps(v, sort_keys=True) for v in values}) > 100
    assert {"note", "hourly", "tags"} <= set().union(*values)  # optional ones appear
    assert any(set(v) == {"city", "unit", "days", "where", "kind"} for v in values)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 5, "minimum": 3}}},
        {"type": ["string", "null"], "format": "email"},
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "uuid"},
        {"type": "array", "items": {"type": "integer"}, "uniqueItems": True, "maxItems": 2},
        {"allOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]}]},
        {"oneOf": [{"type": "integer", "exclusiveMaximum": 0}, {"type": "boolean"}]},
        {"type": "OBJECT", "properties": {"x": {"type": "STRING"}}, "required": ["x"]},
    ],
)
def test_the_generator_covers_the_keywords(schema: dict[str, Any]) -> None:
    checked = json.loads(json.dumps(schema).replace("OBJECT", "object").replace("STRING", "string"))
    for seed in range(50):
        jsonschema.validate(example(schema, random.Random(seed)), checked)


def test_openai_forced_tool_gets_a_valid_call(llm_fake: FakeProvider) -> None:
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    named = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=HELLO,
        tools=OPENAI_TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    (call,) = named.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), SCHEMA)
    assert named.choices[0].finish_reason == "tool_calls"
    required = client.chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, tools=OPENAI_TOOLS, tool_choice="required"
    )
    assert [c.function.name for c in required.choices[0].message.tool_calls or []] == ["get_time"]
    plain = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, tools=OPENAI_TOOLS)
    assert plain.choices[0].message.tool_calls is None  # auto: the default text


def test_same_seed_same_arguments() -> None:
    def arguments(seed: int) -> str:
        with FakeProvider(seed=seed):
            reply = openai.OpenAI(api_key="sk-test", max_retries=0).chat.completions.create(
                model="gpt-4o-mini",
                messages=HELLO,
                tools=OPENAI_TOOLS,
                tool_choice={"type": "function", "function": {"name": "get_weather"}},
            )
            return (reply.choices[0].message.tool_calls or [])[0].function.arguments

    assert arguments(1) == arguments(1)
    assert arguments(1) != arguments(2)


def test_openai_async_responses_stream_forced_tool() -> None:
    tools: list[Any] = [{"type": "function", "name": "get_weather", "parameters": SCHEMA}]

    async def main() -> tuple[str, str]:
        client = openai.AsyncOpenAI(api_key="sk-test", max_retries=0)
        async with client.responses.stream(
            model="gpt-4o-mini", input="Weather?", tools=tools, tool_choice="required"
        ) as stream:
            final = await stream.get_final_response()
        item = final.output[0]
        assert item.type == "function_call"
        return item.name, item.arguments

    with FakeProvider():
        name, args = asyncio.run(main())
    assert name == "get_weather"
    jsonschema.validate(json.loads(args), SCHEMA)


def test_auto_mode_calls_then_answers(llm_fake: FakeProvider) -> None:
    llm_fake.configure(tools="auto")
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    messages: list[Any] = list(HELLO)
    first = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=OPENAI_TOOLS
    )
    (call,) = first.choices[0].message.tool_calls or []
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "12:00"},
    ]
    second = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=OPENAI_TOOLS
    )
    assert second.choices[0].message.tool_calls is None
    assert second.choices[0].message.content
    none = client.chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, tools=OPENAI_TOOLS, tool_choice="none"
    )
    assert none.choices[0].message.tool_calls is None


def test_scripts_and_strict_mode_win(llm_fake: FakeProvider) -> None:
    llm_fake.add("scripted")
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, tools=OPENAI_TOOLS, tool_choice="required"
    )
    assert reply.choices[0].message.content == "scripted"


def test_strict_mode_makes_up_nothing() -> None:
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    with pytest.raises(FakeMiss), FakeProvider(strict=True) as strict:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, tools=OPENAI_TOOLS, tool_choice="required"
        )
    assert len(strict.requests) == 1


def test_anthropic_forced_tool_plain_and_streamed(llm_fake: FakeProvider) -> None:
    tools: list[Any] = [{"name": "get_weather", "description": "w", "input_schema": SCHEMA}]
    client = anthropic.Anthropic(api_key="test-key", max_retries=0)
    message = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=256,
        messages=HELLO,
        tools=tools,
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    (block,) = message.content
    assert block.type == "tool_use"
    jsonschema.validate(block.input, SCHEMA)
    assert message.stop_reason == "tool_use"

    async def streamed() -> Any:
        aclient = anthropic.AsyncAnthropic(api_key="test-key", max_retries=0)
        async with aclient.messages.stream(
            model="claude-haiku-4-5",
            max_tokens=256,
            messages=HELLO,
            tools=tools,
            tool_choice={"type": "any"},
        ) as stream:
            return await stream.get_final_message()

    final = asyncio.run(streamed())
    assert final.content[0].type == "tool_use"
    jsonschema.validate(final.content[0].input, SCHEMA)


def test_gemini_mode_any_gets_a_function_call(llm_fake: FakeProvider) -> None:
    client = genai.Client(api_key="gemini-test-key")
    config = types.GenerateContentConfig(
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(name="get_weather", parameters_json_schema=SCHEMA)
                ]
            )
        ],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.ANY
            )
        ),
    )
    reply = client.models.generate_content(
        model="gemini-2.5-flash", contents="Weather?", config=config
    )
    (call,) = reply.function_calls or []
    assert call.name == "get_weather"
    jsonschema.validate(call.args, SCHEMA)

    async def streamed() -> list[Any]:
        chunks = await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Weather?", config=config
        )
        return [c async for c in chunks]

    calls = [fc for c in asyncio.run(streamed()) for fc in c.function_calls or []]
    assert [c.name for c in calls] == ["get_weather"]


def test_forcing_a_tool_not_offered_says_so() -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": HELLO,
        "tools": OPENAI_TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_wether"}},
    }
    with pytest.raises(FakeScriptError) as info:
        call(FakeProvider(), "chat", body)
    assert str(info.value).splitlines()[0] == (
        "llm_fake: request #1 forces the tool 'get_wether', which it does not offer "
        "(tools: get_time, get_weather)."
    )
    with pytest.raises(ConfigError, match=r"tools='always' is not a mode"):
        FakeProvider(tools="always")


def test_aliases_are_opt_in(llm_fake: FakeProvider) -> None:
    llm_fake.add("from the alias", model="gpt-4o-mini", times=None)
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    dated = {"model": "gpt-4o-mini-2024-07-18", "messages": HELLO}
    assert client.chat.completions.create(**dated).choices[0].message.content != "from the alias"
    groups = llm_fake.aliases({"gpt-4o-mini": "gpt-4o-mini-2024-07-18"})
    assert groups == {"gpt-4o-mini": ["gpt-4o-mini-2024-07-18", "gpt-4o-mini"]}
    assert client.chat.completions.create(**dated).choices[0].message.content == "from the alias"
    other = client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert other.choices[0].message.content != "from the alias"
    with pytest.raises(ConfigError, match="is not a model name"):
        llm_fake.aliases({"gpt-4o": 4})


def test_aliases_in_the_miss_message() -> None:
    client = anthropic.Anthropic(api_key="test-key", max_retries=0)
    fake = FakeProvider(strict=True, aliases={"claude-haiku-4-5": "claude-haiku-4-5-20251001"})
    with pytest.raises(FakeMiss) as info, fake:
        fake.add("hi", model="claude-haiku-4-5", times=None)
        reply = client.messages.create(
            model="claude-haiku-4-5-20251001", max_tokens=8, messages=HELLO
        )
        assert reply.content[0].type == "text"
        client.messages.create(model="claude-opus-4-1", max_tokens=8, messages=HELLO)
    assert "model is 'claude-opus-4-1', not 'claude-haiku-4-5'" in str(info.value)
