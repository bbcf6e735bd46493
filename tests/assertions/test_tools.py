from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_llm._errors import ConfigError
from pytest_llm.assertions import (
    ToolCall,
    ToolCallAssertionError,
    assert_tool_calls,
    parse_tool_calls,
)


def chat(*calls: tuple[str, str], content: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls" if calls else "stop",
                "message": {
                    "role": "assistant",
                    "content": content,
                    "tool_calls": [
                        {
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": name, "arguments": arguments},
                        }
                        for i, (name, arguments) in enumerate(calls)
                    ]
                    or None,
                },
            }
        ],
    }


def responses(*calls: tuple[str, str], text: str | None = None) -> dict[str, Any]:
    output: list[dict[str, Any]] = [
        {
            "type": "function_call",
            "id": f"fc_{i}",
            "call_id": f"call_{i}",
            "name": name,
            "arguments": arguments,
            "status": "completed",
        }
        for i, (name, arguments) in enumerate(calls)
    ]
    if text is not None:
        output.append(
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        )
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": "gpt-4o",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


WEATHER = ("get_weather", '{"city": "Paris", "unit": "c"}')
TIME = ("get_time", '{"tz": "Europe/Paris"}')
EXPECTED = [
    ToolCall("get_weather", {"city": "Paris", "unit": "c"}),
    ToolCall("get_time", {"tz": "Europe/Paris"}),
]


class TestParse:
    def test_chat_completion_dict(self) -> None:
        calls = parse_tool_calls(chat(WEATHER, TIME))
        assert calls == EXPECTED
        assert [c.id for c in calls] == ["call_0", "call_1"]

    def test_chat_message_and_list_of_calls(self) -> None:
        message = chat(WEATHER)["choices"][0]["message"]
        assert parse_tool_calls(message) == EXPECTED[:1]
        assert parse_tool_calls(message["tool_calls"]) == EXPECTED[:1]

    def test_responses_api_dict_and_output_list(self) -> None:
        response = responses(WEATHER, TIME, text="Checking.")
        assert parse_tool_calls(response) == EXPECTED
        assert parse_tool_calls(response["output"]) == EXPECTED
        assert parse_tool_calls(response)[0].id == "call_0"

    def test_sdk_objects(self) -> None:
        from openai.types.chat import ChatCompletion
        from openai.types.responses import Response

        assert parse_tool_calls(ChatCompletion.model_validate(chat(WEATHER, TIME))) == EXPECTED
        response = Response.model_validate(responses(WEATHER, TIME))
        assert parse_tool_calls(response) == EXPECTED
        assert parse_tool_calls(response.output) == EXPECTED

    def test_streamed_chunks_are_assembled(self) -> None:
        def chunk(delta: dict[str, Any]) -> dict[str, Any]:
            return {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
            }

        chunks = [
            chunk(
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_0",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ],
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ris", "unit": "c"}'}}]}),
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 1,
                            "id": "call_1",
                            "function": {"name": "get_time", "arguments": '{"tz": "Europe/Paris"}'},
                        }
                    ]
                }
            ),
        ]
        assert parse_tool_calls(chunks) == EXPECTED
        from openai.types.chat import ChatCompletionChunk

        objects = [ChatCompletionChunk.model_validate(c) for c in chunks]
        assert parse_tool_calls(objects) == EXPECTED

    def test_custom_and_builtin_tools(self) -> None:
        response = responses()
        response["output"] = [
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"type": "custom_tool_call", "call_id": "c1", "name": "grep", "input": "foo"},
        ]
        calls = parse_tool_calls(response)
        assert [(c.name, c.type, c.raw_arguments) for c in calls] == [
            ("web_search", "web_search_call", None),
            ("grep", "custom_tool_call", "foo"),
        ]

    def test_arguments_that_are_not_json_are_kept_raw(self) -> None:
        (call,) = parse_tool_calls(chat(("f", '{"a": ')))
        assert call.args is None
        assert call.raw_arguments == '{"a": '
        assert call.error is not None
        assert call.error.startswith("arguments are not valid JSON")

    def test_empty_arguments_are_an_empty_object(self) -> None:
        assert parse_tool_calls(chat(("f", ""))) == [ToolCall("f", {})]

    def test_unknown_shape(self) -> None:
        with pytest.raises(
            ConfigError, match=r"cannot find tool calls in a int: '5'; pass a chat completion"
        ):
            parse_tool_calls(5)

    def test_missing_choice(self) -> None:
        with pytest.raises(ConfigError, match="has 1 choices, so choice=2 does not exist"):
            parse_tool_calls(chat(WEATHER), choice=2)


def lines(excinfo: pytest.ExceptionInfo[BaseException]) -> list[str]:
    return str(excinfo.value).splitlines()


class TestAssert:
    def test_partial_args_by_default(self) -> None:
        calls = assert_tool_calls(
            chat(WEATHER, TIME), [ToolCall("get_weather", {"city": "Paris"}), "get_time"]
        )
        assert calls == EXPECTED

    def test_exact_args(self) -> None:
        with pytest.raises(ToolCallAssertionError) as excinfo:
            assert_tool_calls(
                chat(WEATHER), [ToolCall("get_weather", {"city": "Paris"})], args="exact"
            )
        assert lines(excinfo)[-1] == '    call [0] get_weather: $.unit: unexpected key (got "c")'

    def test_wrong_argument_value(self) -> None:
        with pytest.raises(ToolCallAssertionError) as excinfo:
            assert_tool_calls(
                chat(WEATHER, TIME), [ToolCall("get_weather", {"city": "Lyon"}), "get_time"]
            )
        assert lines(excinfo) == [
            "assert_tool_calls: 1 problem (order='exact', args='partial')",
            "  actual:",
            '    [0] get_weather({"city": "Paris", "unit": "c"})',
            '    [1] get_time({"tz": "Europe/Paris"})',
            "  expected:",
            '    [0] get_weather({"city": "Lyon"})',
            "    [1] get_time(...)",
            "  problems:",
            '    call [0] get_weather: $.city: got "Paris", expected "Lyon"',
        ]
        assert isinstance(excinfo.value, AssertionError)

    def test_order_exact_hints_at_order_any(self) -> None:
        with pytest.raises(ToolCallAssertionError) as excinfo:
            assert_tool_calls(chat(WEATHER, TIME), ["get_time", "get_weather"])
        assert lines(excinfo)[-3:] == [
            "    call [0]: expected get_time, got get_weather",
            "    call [1]: expected get_weather, got get_time",
            "    hint: the same calls were made in another order; pass order='any'",
        ]
        assert assert_tool_calls(chat(WEATHER, TIME), ["get_time", "get_weather"], order="any")

    def test_order_any_reports_nearest_and_unexpected(self) -> None:
        with pytest.raises(ToolCallAssertionError) as excinfo:
            assert_tool_calls(
                chat(WEATHER, TIME, ("search", "{}")),
                [ToolCall("get_time", {}), ToolCall("get_weather", {"city": "Lyon"})],
                order="any",
            )
        assert lines(excinfo)[0] == "assert_tool_calls: 2 problems (order='any', args='partial')"
        assert lines(excinfo)[-3:] == [
            '    expected [1] get_weather({"city": "Lyon"}): no call matches',
            '      nearest call [0] get_weather: $.city: got "Paris", expected "Lyon"',
            "    call [2] search: unexpected call",
        ]

    def test_order_any_needs_a_matching_not_a_greedy_pick(self) -> None:
        # A greedy pass would give call [0] to the first expectation and fail the second.
        response = chat(("f", '{"a": 1, "b": 2}'), ("f", '{"a": 1}'))
        calls = assert_tool_calls(
            response, [ToolCall("f", {"a": 1}), ToolCall("f", {"b": 2})], order="any"
        )
        assert len(calls) == 2

    def test_missing_and_extra_calls(self) -> None:
        with pytest.raises(ToolCallAssertionError) as excinfo:
            assert_tool_calls(chat(WEATHER), ["get_weather", "get_time"])
        assert lines(excinfo)[-1] == "    expected [1] get_time(...): no such call"
        with pytest.raises(ToolCallAssertionError) as excinfo:
            assert_tool_calls(chat(WEATHER, TIME), ["get_weather"])
        assert lines(excinfo)[-1] == "    call [1] get_time: unexpected call"

    def test_no_calls_shows_the_text_answer(self) -> None:
        with pytest.raises(ToolCallAssertionError) as excinfo:
            assert_tool_calls(responses(text="I cannot check the weather."), ["get_weather"])
        assert lines(excinfo) == [
            "assert_tool_calls: 1 problem (order='exact', args='partial')",
            "  actual: no tool calls; the model answered with text: 'I cannot check the weather.'",
            "  expected:",
            "    [0] get_weather(...)",
            "  problems:",
            "    expected [0] get_weather(...): no such call",
        ]

    def test_expecting_no_calls(self) -> None:
        assert assert_tool_calls(chat(content="hi"), []) == []
        with pytest.raises(ToolCallAssertionError, match="  expected: no tool calls"):
            assert_tool_calls(chat(WEATHER), [])

    def test_invalid_argument_json_is_a_problem(self) -> None:
        with pytest.raises(ToolCallAssertionError) as excinfo:
            assert_tool_calls(chat(("f", "{oops")), ["f"])
        assert lines(excinfo)[2] == "    [0] f('{oops')"
        assert lines(excinfo)[-1].startswith(
            "    call [0] f: arguments are not valid JSON (Expecting"
        )

    def test_expected_as_dicts(self) -> None:
        assert assert_tool_calls(
            chat(WEATHER), [{"name": "get_weather", "arguments": {"unit": "c"}}]
        )


TOOLS_CHAT = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    },
    {"type": "function", "function": {"name": "get_time"}},
]
TOOLS_RESPONSES = [
    {
        "type": "function",
        "name": t["function"]["name"],
        "parameters": t["function"].get("parameters"),
    }
    for t in TOOLS_CHAT
]


class TestToolSchemas:
    @pytest.mark.parametrize("tools", [TOOLS_CHAT, TOOLS_RESPONSES], ids=["chat", "responses"])
    def test_valid_arguments_pass(self, tools: list[dict[str, Any]]) -> None:
        assert assert_tool_calls(chat(WEATHER, TIME), ["get_weather", "get_time"], tools=tools)

    def test_schema_violations_and_unknown_tools(self) -> None:
        response = chat(("get_weather", json.dumps({"unit": "kelvin"})), ("get_tme", "{}"))
        with pytest.raises(ToolCallAssertionError) as excinfo:
            assert_tool_calls(response, ["get_weather", "get_tme"], tools=TOOLS_CHAT)
        assert lines(excinfo)[-4:] == [
            "  problems:",
            "    call [0] get_weather: $: 'city' is a required property (schema: required)",
            "    call [0] get_weather: $.unit: 'kelvin' is not one of ['c', 'f'] (schema: properties.unit.enum)",
            "    call [1] get_tme: not a defined tool (defined: get_weather, get_time); did you mean 'get_time'?",
        ]

    def test_a_broken_tool_schema_is_a_config_error(self) -> None:
        tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}]
        with pytest.raises(
            ConfigError, match="the parameters schema of tool 'f' is not a valid JSON Schema"
        ):
            assert_tool_calls(chat(("f", "{}")), ["f"], tools=tools)


class TestBadInput:
    def test_unknown_modes(self) -> None:
        with pytest.raises(ConfigError) as excinfo:
            assert_tool_calls(chat(WEATHER), ["get_weather"], order="exakt")  # type: ignore[arg-type]
        assert str(excinfo.value) == (
            "assert_tool_calls: unknown order='exakt'; did you mean 'exact'? (use 'exact' or 'any')"
        )
        with pytest.raises(ConfigError, match="unknown args='full'"):
            assert_tool_calls(chat(WEATHER), ["get_weather"], args="full")  # type: ignore[arg-type]

    def test_expected_must_be_a_list(self) -> None:
        with pytest.raises(ConfigError, match="wrap the one call in a list"):
            assert_tool_calls(chat(WEATHER), ToolCall("get_weather"))  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="expected tool calls must be ToolCall"):
            assert_tool_calls(chat(WEATHER), [42])  # type: ignore[list-item]


def test_tool_call_repr_and_render() -> None:
    call = ToolCall("get_weather", {"city": "Paris"})
    assert repr(call) == "ToolCall('get_weather', {'city': 'Paris'})"
    assert call.render() == 'get_weather({"city": "Paris"})'
    assert ToolCall("f").render() == "f(...)"
    assert ToolCall("f", {"a": 1}, id="x") == ToolCall("f", {"a": 1}, id="y")
