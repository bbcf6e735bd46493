"""The assertions read Anthropic's response types, from the real ``anthropic`` SDK.

The same helpers as for OpenAI: the text helpers and the JSON helpers take a
``Message`` (its text blocks), the tool-call helpers read its ``tool_use`` blocks
(and the events of a stream, ``input_json_delta`` pieces joined), with the tools'
``input_schema`` checked.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pydantic
import pytest

from pytest_llm._errors import ConfigError
from pytest_llm.assertions import (
    ToolCall,
    ToolCallAssertionError,
    assert_contains,
    assert_json,
    assert_json_schema,
    assert_matches,
    assert_model,
    assert_not_contains,
    assert_tool_calls,
    parse_tool_calls,
)
from pytest_llm.fake import FakeProvider

MODEL = "claude-haiku-4-5"
HELLO: Any = [{"role": "user", "content": "Weather in Paris?"}]
WEATHER: Any = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}


class City(pydantic.BaseModel):
    city: str
    country: str


@pytest.fixture
def client() -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test", max_retries=0)


def create(client: anthropic.Anthropic, **kw: Any) -> anthropic.types.Message:
    return client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, **kw)


def test_text_helpers_read_the_message(llm_fake: FakeProvider, client: anthropic.Anthropic) -> None:
    llm_fake.add("It is sunny in Paris today.")
    message = create(client)
    assert assert_contains(message, "sunny") == 6
    assert_not_contains(message, "rain")
    assert_matches(message, r"\bParis\b")
    with pytest.raises(AssertionError) as info:
        assert_contains(message, "Lyon")
    assert str(info.value).splitlines()[:2] == [
        "assert_contains: 'Lyon' not found in the output",
        "  output (27 chars): 'It is sunny in Paris today.'",
    ]


def test_json_helpers_read_the_message(llm_fake: FakeProvider, client: anthropic.Anthropic) -> None:
    llm_fake.add({"city": "Paris", "country": "France"}, times=3)
    assert assert_json(create(client), {"city": "Paris", "country": "France"}) == {
        "city": "Paris",
        "country": "France",
    }
    assert assert_model(create(client), City) == City(city="Paris", country="France")
    schema = {"type": "object", "required": ["city", "country"]}
    assert assert_json_schema(create(client), schema) == {"city": "Paris", "country": "France"}


def test_tool_use_blocks_are_tool_calls(
    llm_fake: FakeProvider, client: anthropic.Anthropic
) -> None:
    llm_fake.add(
        "Let me check.",
        tool_calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Lyon"})],
    )
    message = create(client, tools=[WEATHER])
    calls = assert_tool_calls(
        message,
        [ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_weather", {"city": "Lyon"})],
        tools=[WEATHER],
    )
    assert [(c.id, c.type) for c in calls] == [
        ("toolu_fake0001_0", "tool_use"),
        ("toolu_fake0001_1", "tool_use"),
    ]
    assert_contains(message, "Let me check.")  # the text beside the calls


def test_a_failed_tool_assert_lists_the_calls_and_the_schema_problems(
    llm_fake: FakeProvider, client: anthropic.Anthropic
) -> None:
    llm_fake.add(tool_calls=[("get_weather", {"city": "Paris", "days": "three"}), ("get_time", {})])
    message = create(client, tools=[WEATHER])
    with pytest.raises(ToolCallAssertionError) as info:
        assert_tool_calls(message, ["get_weather"], tools=[WEATHER])
    assert str(info.value).splitlines() == [
        "assert_tool_calls: 3 problems (order='exact', args='partial')",
        "  actual:",
        '    [0] get_weather({"city": "Paris", "days": "three"})',
        "    [1] get_time({})",
        "  expected:",
        "    [0] get_weather(...)",
        "  problems:",
        "    call [0] get_weather: $.days: 'three' is not of type 'integer' (schema: "
        "properties.days.type)",
        "    call [1] get_time: not a defined tool (defined: get_weather)",
        "    call [1] get_time: unexpected call",
    ]


def test_a_stream_of_events_adds_up(llm_fake: FakeProvider, client: anthropic.Anthropic) -> None:
    llm_fake.add(
        "Checking the weather.", tool_calls=[("get_weather", {"city": "Paris", "days": 3})]
    )
    events = list(create(client, tools=[WEATHER], stream=True))
    assert parse_tool_calls(events) == [ToolCall("get_weather", {"city": "Paris", "days": 3})]
    assert_contains(events, "the weather")


def test_a_tool_only_message_is_not_text(
    llm_fake: FakeProvider, client: anthropic.Anthropic
) -> None:
    llm_fake.add(tool_calls=[("get_weather", {"city": "Paris"})])
    message = create(client, tools=[WEATHER])
    with pytest.raises(ConfigError) as info:
        assert_contains(message, "Paris")
    assert str(info.value) == (
        "assert_contains expects the model output as a str, got Message: the response carries no "
        "text, only 1 tool call: check it with assert_tool_calls"
    )


def test_async_client(llm_fake: FakeProvider) -> None:
    llm_fake.add(tool_calls=[("get_weather", {"city": "Paris"})])
    aclient = anthropic.AsyncAnthropic(api_key="sk-ant-test", max_retries=0)

    async def main() -> Any:
        return await aclient.messages.create(
            model=MODEL, max_tokens=100, messages=HELLO, tools=[WEATHER]
        )

    assert_tool_calls(asyncio.run(main()), [{"name": "get_weather", "args": {"city": "Paris"}}])
