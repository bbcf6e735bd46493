"""The assertions read Gemini's response types, from the real ``google-genai`` SDK.

The same helpers as for OpenAI: text and JSON helpers take a
``GenerateContentResponse`` (its text parts) or the list of its stream chunks; the
tool-call helpers read its ``functionCall`` parts, with the declarations' schemas
(``parameters_json_schema``, or an OpenAPI ``Schema``) checked.
"""

from __future__ import annotations

import asyncio

import pydantic
import pytest
from google import genai
from google.genai import types

from pytest_llm._errors import ConfigError
from pytest_llm.assertions import (
    ToolCall,
    ToolCallAssertionError,
    assert_contains,
    assert_json,
    assert_model,
    assert_tool_calls,
    parse_tool_calls,
)
from pytest_llm.fake import FakeProvider
from pytest_llm.faults import ContentFilter, FaultPlan

MODEL = "gemini-2.5-flash"
WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={
                    "city": types.Schema(type=types.Type.STRING),
                    "days": types.Schema(type=types.Type.INTEGER),
                },
                required=["city"],
            ),
        ),
        types.FunctionDeclaration(
            name="get_time",
            parameters_json_schema={"type": "object", "properties": {"zone": {"type": "string"}}},
        ),
    ]
)
CONFIG = types.GenerateContentConfig(
    tools=[WEATHER],
    automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
)


class City(pydantic.BaseModel):
    city: str
    country: str


@pytest.fixture
def client() -> genai.Client:
    return genai.Client(api_key="gemini-test-key")


def test_text_and_json_helpers_read_the_response(
    llm_fake: FakeProvider, client: genai.Client
) -> None:
    llm_fake.add('{"city": "Paris", "country": "France"}', times=2)
    response = client.models.generate_content(model=MODEL, contents="Capital?")
    assert assert_contains(response, '"Paris"') == 9
    assert assert_json(response) == {"city": "Paris", "country": "France"}
    assert assert_model(response, City) == City(city="Paris", country="France")
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="Capital?"))
    assert len(chunks) > 1
    assert assert_json(chunks) == {"city": "Paris", "country": "France"}


def test_function_calls_are_tool_calls(llm_fake: FakeProvider, client: genai.Client) -> None:
    llm_fake.add(tool_calls=[("get_weather", {"city": "Paris", "days": 2}), ("get_time", {})])
    response = client.models.generate_content(model=MODEL, contents="Weather?", config=CONFIG)
    calls = assert_tool_calls(
        response, [ToolCall("get_weather", {"city": "Paris"}), "get_time"], tools=[WEATHER]
    )
    assert [c.type for c in calls] == ["function_call", "function_call"]


def test_the_openapi_schema_of_a_declaration_is_checked(
    llm_fake: FakeProvider, client: genai.Client
) -> None:
    llm_fake.add(tool_calls=[("get_weather", {"days": "two"}), ("get_wether", {})])
    response = client.models.generate_content(model=MODEL, contents="Weather?", config=CONFIG)
    with pytest.raises(ToolCallAssertionError) as info:
        assert_tool_calls(response, ["get_weather", "get_weather"], tools=[WEATHER])
    assert str(info.value).splitlines() == [
        "assert_tool_calls: 4 problems (order='exact', args='partial')",
        "  actual:",
        '    [0] get_weather({"days": "two"})',
        "    [1] get_wether({})",
        "  expected:",
        "    [0] get_weather(...)",
        "    [1] get_weather(...)",
        "  problems:",
        "    call [0] get_weather: $: 'city' is a required property (schema: required)",
        "    call [0] get_weather: $.days: 'two' is not of type 'integer' (schema: "
        "properties.days.type)",
        "    call [1] get_wether: not a defined tool (defined: get_weather, get_time); did you "
        "mean 'get_weather'?",
        "    call [1]: expected get_weather, got get_wether",
    ]


def test_stream_chunks_add_up(llm_fake: FakeProvider, client: genai.Client) -> None:
    llm_fake.add("Let me look that up.", tool_calls=[("get_time", {"zone": "CET"})])
    chunks = list(
        client.models.generate_content_stream(model=MODEL, contents="Time?", config=CONFIG)
    )
    assert parse_tool_calls(chunks) == [ToolCall("get_time", {"zone": "CET"})]
    assert_contains(chunks, "look that up")


def test_a_blocked_answer_has_no_text(llm_fake: FakeProvider, client: genai.Client) -> None:
    llm_fake.add("Something.")
    with FaultPlan(ContentFilter()):
        response = client.models.generate_content(model=MODEL, contents="?")
    with pytest.raises(ConfigError) as info:
        assert_contains(response, "Something")
    assert str(info.value) == (
        "assert_contains expects the model output as a str, got GenerateContentResponse: the "
        "response carries no text (a blocked or empty answer)"
    )
    assert parse_tool_calls(response) == []


def test_async_client(llm_fake: FakeProvider, client: genai.Client) -> None:
    llm_fake.add(tool_calls=[("get_weather", {"city": "Paris"})])

    async def main() -> types.GenerateContentResponse:
        return await client.aio.models.generate_content(
            model=MODEL, contents="Weather?", config=CONFIG
        )

    assert_tool_calls(asyncio.run(main()), [{"name": "get_weather", "args": {"city": "Paris"}}])
