"""The fake provider answers Anthropic's Messages API, through the real ``anthropic`` SDK.

The same scripts as for OpenAI (``llm_fake.add``), served in the Messages API's own
shapes: every body and stream event validates with the SDK's own models (no field they
do not know), the stream has the full event sequence with ``event:`` names, the SDK's
stream helper accumulates text and tool input, and ``llm_server`` serves the same over
a socket.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import pydantic
import pytest
from anthropic.types import Message, MessageTokensCount, RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse

from pytest_llm._flow import Exchange, Outcome, Reply
from pytest_llm.fake import FakeProvider, FakeScriptError
from pytest_llm.transport import LLMServer

MODEL = "claude-haiku-4-5"
HELLO = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RawMessageStreamEvent)


def unknown_fields(value: Any, path: str = "$") -> list[str]:
    """Fields the SDK's models do not know: a misspelt or invented field shows up here."""
    out: list[str] = []
    if isinstance(value, pydantic.BaseModel):
        out += [f"{path}.{k}" for k in value.model_extra or {}]
        for name in type(value).model_fields:
            out += unknown_fields(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += unknown_fields(v, f"{path}[{i}]")
    return out


def _blocked(exchange: Exchange) -> Outcome:
    raise AssertionError(f"the fake passed {exchange!r} on")


def call(fake: FakeProvider, body: dict[str, Any], path: str = "/v1/messages") -> Reply:
    exchange = Exchange(
        "POST",
        f"https://api.anthropic.com{path}",
        [("content-type", "application/json")],
        json.dumps(body).encode(),
        "test",
    )
    outcome = fake.handle(exchange, _blocked)
    assert isinstance(outcome, Reply)
    return outcome


def events_of(reply: Reply) -> list[Any]:
    """Every event validated by the SDK's own union; its ``event:`` name is its type."""
    assert reply.events is not None
    out = []
    for ev in reply.events:
        if ev.event == "ping":
            assert json.loads(ev.data) == {"type": "ping"}
            continue
        parsed = EVENT.validate_json(ev.data)
        assert ev.event == parsed.type
        assert unknown_fields(parsed) == []
        out.append(parsed)
    return out


@pytest.fixture
def client() -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test", max_retries=0)


@pytest.fixture
def aclient() -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="sk-ant-test", max_retries=0)


def test_text_reply_is_a_message(llm_fake: FakeProvider, client: anthropic.Anthropic) -> None:
    llm_fake.add("Paris is the capital of France.")
    message = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [
        ("text", "Paris is the capital of France.")
    ]
    assert message.stop_reason == "end_turn"
    assert message.model == MODEL
    assert message.usage.output_tokens == 8  # 31 characters, about four a token
    request = llm_fake.requests.last
    assert (request.provider, request.api, request.model, request.stream) == (
        "anthropic",
        "messages",
        MODEL,
        False,
    )
    assert request.last_user_message == "What is the capital of France?"


def test_every_body_validates_with_the_sdk_models() -> None:
    fake = FakeProvider()
    fake.add("Hello there.", tool_calls=[("get_weather", {"city": "Paris"})])
    body = {"model": MODEL, "max_tokens": 50, "messages": HELLO, "tools": [WEATHER]}
    reply = call(fake, body)
    assert reply.header("request-id") == "req_fake0001"
    message = Message.model_validate_json(reply.body)
    assert unknown_fields(message) == []
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.stop_reason == "tool_use"
    counted = MessageTokensCount.model_validate_json(
        call(fake, {"model": MODEL, "messages": HELLO}, "/v1/messages/count_tokens").body
    )
    assert 0 < counted.input_tokens < message.usage.input_tokens  # the tools count too


def test_stream_sends_the_full_event_sequence() -> None:
    fake = FakeProvider()
    fake.add("Paris, France.", tool_calls=[("get_weather", {"city": "Paris"})], chunks=7)
    body = {"model": MODEL, "max_tokens": 50, "messages": HELLO, "stream": True}
    reply = call(fake, body)
    assert reply.header("content-type") == "text/event-stream; charset=utf-8"
    assert [ev.event for ev in reply.events or []] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    events = events_of(reply)
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    assert [d.text for d in deltas if d.type == "text_delta"] == ["Paris, ", "France."]
    joined = "".join(d.partial_json for d in deltas if d.type == "input_json_delta")
    assert json.loads(joined) == {"city": "Paris"}
    assert events[0].message.stop_reason is None
    assert events[-2].delta.stop_reason == "tool_use"


def test_stream_helper_accumulates_text(
    llm_fake: FakeProvider, client: anthropic.Anthropic
) -> None:
    llm_fake.add("The capital of France is Paris.")
    with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == ["The", " capital", " of", " France", " is", " Paris."]
    assert final.content[0].type == "text"
    assert final.content[0].text == "The capital of France is Paris."
    assert final.stop_reason == "end_turn"
    assert llm_fake.requests.last.stream


def test_tool_use_plain_and_streamed(llm_fake: FakeProvider, client: anthropic.Anthropic) -> None:
    llm_fake.add(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}], times=2)
    message = client.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=HELLO,
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use"
    assert (block.name, block.input, block.id) == (
        "get_weather",
        {"city": "Paris"},
        "toolu_fake0001_0",
    )
    with client.messages.stream(
        model=MODEL,
        max_tokens=100,
        messages=HELLO,
        tools=[WEATHER],  # type: ignore[list-item]
    ) as stream:
        final = stream.get_final_message()
    [block] = final.content
    assert block.type == "tool_use"
    assert block.input == {"city": "Paris"}


def test_json_content_and_a_provider_finish_word(
    llm_fake: FakeProvider, client: anthropic.Anthropic
) -> None:
    llm_fake.add({"city": "Paris", "country": "France"}, finish_reason="max_tokens")
    message = client.messages.create(model=MODEL, max_tokens=5, messages=HELLO)
    assert message.content[0].type == "text"
    assert json.loads(message.content[0].text) == {"city": "Paris", "country": "France"}
    assert message.stop_reason == "max_tokens"


def test_count_tokens(llm_fake: FakeProvider, client: anthropic.Anthropic) -> None:
    short = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    long = client.messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "Hi " * 400}]
    )
    assert short.input_tokens < long.input_tokens
    assert [r.api for r in llm_fake.requests] == ["count_tokens", "count_tokens"]


def test_one_script_answers_every_provider_in_its_shape(
    llm_fake: FakeProvider, client: anthropic.Anthropic
) -> None:
    import openai

    llm_fake.add("Paris.", times=None)
    oai = openai.OpenAI(api_key="sk-test", max_retries=0)
    chat = oai.chat.completions.create(model="gpt-4o-mini", messages=HELLO)  # type: ignore[arg-type]
    message = client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert chat.choices[0].message.content == "Paris."
    assert message.content[0].type == "text"
    assert message.content[0].text == "Paris."
    assert [r.provider for r in llm_fake.requests] == ["openai", "anthropic"]


def test_api_restricts_a_script_to_the_messages_api(
    llm_fake: FakeProvider, client: anthropic.Anthropic
) -> None:
    llm_fake.configure(strict=True)
    llm_fake.add("Claude here.", api="messages")
    message = client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert message.content[0].type == "text"
    assert message.content[0].text == "Claude here."
    assert llm_fake.requests.last.script is llm_fake.scripts[0]


def test_a_body_the_api_refuses_gets_its_400() -> None:
    fake = FakeProvider()
    reply = call(fake, {"model": MODEL, "messages": HELLO})
    assert reply.status == 400
    error = ErrorResponse.model_validate_json(reply.body)
    assert (error.error.type, error.error.message, error.request_id) == (
        "invalid_request_error",
        "max_tokens: Field required",
        "req_fake0001",
    )


def test_arguments_that_are_not_an_object_cannot_be_sent() -> None:
    fake = FakeProvider()
    fake.add(tool_calls=[("get_weather", '{"city": "Par')])
    with pytest.raises(FakeScriptError) as info:
        call(fake, {"model": MODEL, "max_tokens": 10, "messages": HELLO})
    assert str(info.value).splitlines() == [
        "llm_fake: #1 tool_calls get_weather(...), used 1 of 1 calls get_weather with arguments "
        "that are not a JSON object ('{\"city\": \"Par'); a tool_use block's input is always an "
        "object, so anthropic cannot send them (request #1, tool call [0]).",
        "Fix: pass the arguments as a dict; to test arguments that are not JSON, script them "
        "for the OpenAI APIs, whose arguments are a string.",
    ]
    fake.misses.clear()


def test_async_create_and_stream(llm_fake: FakeProvider, aclient: anthropic.AsyncAnthropic) -> None:
    llm_fake.add("Bonjour.", times=2)

    async def main() -> tuple[str, str]:
        message = await aclient.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
        async with aclient.messages.stream(model=MODEL, max_tokens=10, messages=HELLO) as stream:
            final = await stream.get_final_message()
        first, second = message.content[0], final.content[0]
        assert first.type == second.type == "text"
        return first.text, second.text  # type: ignore[union-attr]

    assert asyncio.run(main()) == ("Bonjour.", "Bonjour.")


def test_served_by_llm_server_over_loopback(llm_fake: FakeProvider, llm_server: LLMServer) -> None:
    llm_fake.add("Over the socket.", times=2)
    client = anthropic.Anthropic()  # ANTHROPIC_BASE_URL and a dummy key: set by llm_server
    message = client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert message.content[0].type == "text"
    assert message.content[0].text == "Over the socket."
    with client.messages.stream(model=MODEL, max_tokens=10, messages=HELLO) as stream:
        assert "".join(stream.text_stream) == "Over the socket."
    assert [r.library for r in llm_fake.requests] == ["server", "server"]


def test_a_miss_through_the_server_is_an_anthropic_error_the_sdk_does_not_retry() -> None:
    with LLMServer() as server:
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=server.url)  # 2 retries
        with pytest.raises(anthropic.InternalServerError) as info:
            client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
        assert len(server.exchanges) == 1  # x-should-retry: false
        error = ErrorResponse.model_validate(info.value.body)
        assert error.error.type == "api_error"
        assert error.error.message.startswith(
            f"pytest-llm blocked POST {server.url}/v1/messages: no cassette, fault or fake "
            "answered it"
        )
        assert server.errors == [error.error.message]


def test_structured_output_parses(llm_fake: FakeProvider, client: anthropic.Anthropic) -> None:
    class City(pydantic.BaseModel):
        city: str
        country: str

    llm_fake.add(City(city="Paris", country="France"))
    parsed = client.messages.parse(model=MODEL, max_tokens=100, messages=HELLO, output_format=City)
    assert parsed.parsed_output == City(city="Paris", country="France")
    assert "output_config" in llm_fake.requests.last.json


def test_headers_and_usage_are_scripted_as_for_openai(
    llm_fake: FakeProvider, client: anthropic.Anthropic
) -> None:
    llm_fake.add(
        "Paris.",
        headers={"anthropic-ratelimit-requests-remaining": "9"},
        usage={"input_tokens": 120, "output_tokens": 3},
    )
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "9"
    usage = raw.parse().usage
    assert (usage.input_tokens, usage.output_tokens) == (120, 3)


def test_only_the_messages_api_is_anthropics() -> None:
    passed: list[str] = []

    def nxt(exchange: Exchange) -> Outcome:
        passed.append(exchange.path)
        return Reply(404, [])

    fake = FakeProvider()
    for path in ("/v1/threads/thread_1/messages", "/v1/messages/msg_1/replies"):
        exchange = Exchange("POST", f"https://api.openai.com{path}", [], b"{}", "test")
        assert fake.handle(exchange, nxt).status == 404  # type: ignore[union-attr]
    assert passed == ["/v1/threads/thread_1/messages", "/v1/messages/msg_1/replies"]
    assert len(fake.requests) == 0  # OpenAI's Assistants messages are not Anthropic's
