"""``BrokenToolCall``: tool calls whose arguments are not JSON, or that name a tool the
request never offered, in each provider's shape, through the real SDKs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from pytest_llm.fake import FakeProvider
from pytest_llm.faults import BrokenToolCall, FaultError, FaultNotApplicable, FaultPlan

HELLO = [{"role": "user", "content": "Weather in Paris?"}]
ARGS = {"city": "Paris", "unit": "celsius"}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CHAT_TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}
]


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


@pytest.mark.parametrize("stream", [False, True])
def test_openai_chat_arguments_not_json(
    llm_fake: FakeProvider, llm_faults: FaultPlan, stream: bool
) -> None:
    llm_fake.add(tool_calls=[{"name": "get_weather", "arguments": ARGS}])
    llm_faults.add(BrokenToolCall())
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    if stream:
        with client.chat.completions.stream(
            model="gpt-4o-mini", messages=HELLO, tools=CHAT_TOOLS
        ) as events:
            final = events.get_final_completion()
    else:
        final = client.chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, tools=CHAT_TOOLS
        )
    (call,) = final.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    args = call.function.arguments  # type: ignore[union-attr]
    assert _not_json(args)
    assert json.dumps(ARGS).startswith(args)


def test_openai_async_responses_unknown_tool(llm_fake: FakeProvider, llm_faults: FaultPlan) -> None:
    llm_fake.add(tool_calls=[{"name": "get_weather", "arguments": ARGS}], times=2)
    llm_faults.add(BrokenToolCall(variant="unknown_tool"), times=2)
    tools: list[Any] = [{"type": "function", "name": "get_weather", "parameters": SCHEMA}]

    async def main() -> tuple[str, str]:
        client = openai.AsyncOpenAI(api_key="sk-test", max_retries=0)
        plain = await client.responses.create(model="gpt-4o-mini", input="Weather?", tools=tools)
        async with client.responses.stream(
            model="gpt-4o-mini", input="Weather?", tools=tools
        ) as stream:
            final = await stream.get_final_response()
        a, b = plain.output[0], final.output[0]
        assert a.type == b.type == "function_call"
        return a.name, b.name  # type: ignore[union-attr]

    assert asyncio.run(main()) == ("search_web", "search_web")


def test_openai_responses_stream_arguments_not_json(
    llm_fake: FakeProvider, llm_faults: FaultPlan
) -> None:
    llm_fake.add(tool_calls=[{"name": "get_weather", "arguments": ARGS}])
    llm_faults.add(BrokenToolCall())
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    deltas, done = [], []
    for event in client.responses.create(model="gpt-4o-mini", input="Weather?", stream=True):
        if event.type == "response.function_call_arguments.delta":
            deltas.append(event.delta)
        if event.type == "response.function_call_arguments.done":
            done.append(event.arguments)
    assert done == ["".join(deltas)]
    assert _not_json(done[0])


def test_anthropic_unknown_tool_and_stream_not_json(
    llm_fake: FakeProvider, llm_faults: FaultPlan
) -> None:
    llm_fake.add(tool_calls=[{"name": "get_weather", "arguments": ARGS}], times=2)
    llm_faults.add(BrokenToolCall(variant="unknown_tool"))
    llm_faults.add(BrokenToolCall())
    tools: list[Any] = [{"name": "get_weather", "input_schema": SCHEMA}]
    client = anthropic.Anthropic(api_key="test-key", max_retries=0)
    message = client.messages.create(
        model="claude-haiku-4-5", max_tokens=64, messages=HELLO, tools=tools
    )
    assert [(b.type, getattr(b, "name", None)) for b in message.content] == [
        ("tool_use", "search_web")
    ]
    pieces = []
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=64, messages=HELLO, tools=tools
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                pieces.append(event.delta.partial_json)
    assert _not_json("".join(pieces))
    assert json.dumps(ARGS).startswith("".join(pieces))


def test_anthropic_plain_arguments_cannot_be_not_json() -> None:
    client = anthropic.Anthropic(api_key="test-key", max_retries=0)
    with (
        pytest.raises(FaultNotApplicable) as info,
        FakeProvider() as fake,
        FaultPlan(BrokenToolCall()),
    ):
        fake.add(tool_calls=[{"name": "get_weather", "arguments": ARGS}])
        client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=HELLO)
    assert "Anthropic's tool_use block (its input) always carries the arguments as a JSON " in (
        str(info.value)
    )


def test_gemini_unknown_tool_and_no_not_json() -> None:
    client = genai.Client(api_key="gemini-test-key")
    config = types.GenerateContentConfig(
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(name="get_weather", parameters_json_schema=SCHEMA)
                ]
            )
        ]
    )
    broken = BrokenToolCall(variant="unknown_tool")
    with FakeProvider() as fake, FaultPlan(broken, broken):
        fake.add(tool_calls=[{"name": "get_weather", "arguments": ARGS}], times=2)
        reply = client.models.generate_content(
            model="gemini-2.5-flash", contents="Weather?", config=config
        )
        assert [c.name for c in reply.function_calls or []] == ["search_web"]

        async def streamed() -> list[str | None]:
            chunks = await client.aio.models.generate_content_stream(
                model="gemini-2.5-flash", contents="Weather?", config=config
            )
            return [fc.name async for c in chunks for fc in c.function_calls or []]

        assert asyncio.run(streamed()) == ["search_web"]
    with (
        pytest.raises(FaultNotApplicable, match="Gemini's functionCall part"),
        FakeProvider() as fake,
        FaultPlan(BrokenToolCall()),
    ):
        fake.add(tool_calls=[{"name": "get_weather", "arguments": ARGS}])
        client.models.generate_content(model="gemini-2.5-flash", contents="Weather?")


def test_bad_broken_tool_call() -> None:
    with pytest.raises(FaultError) as info:
        BrokenToolCall(variant="unknown")
    assert str(info.value).splitlines() == [
        "BrokenToolCall(variant='unknown'): unknown variant 'unknown' (did you mean "
        "'unknown_tool'?).",
        "Fix: pass variant= one of not_json, unknown_tool.",
    ]
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    with (
        pytest.raises(FaultNotApplicable, match="the reply has no tool call to break"),
        FakeProvider() as fake,
        FaultPlan(BrokenToolCall()),
    ):
        fake.add("just text")
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    with (
        pytest.raises(FaultNotApplicable, match="the request offers a tool named 'get_weather'"),
        FakeProvider() as fake,
        FaultPlan(BrokenToolCall(variant="unknown_tool", name="get_weather")),
    ):
        fake.add(tool_calls=[{"name": "get_weather", "arguments": ARGS}])
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, tools=CHAT_TOOLS)
