"""The fake provider answers Gemini's generateContent, through the real ``google-genai`` SDK.

The same scripts as for OpenAI (``llm_fake.add``), served as ``GenerateContentResponse``
objects (which forbid unknown fields, so ``model_validate`` proves every field is one
the SDK knows): plain, streamed over ``alt=sse`` one piece of text a chunk, function
calls, JSON, token counting; in-process and through ``llm_server``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pydantic
import pytest
from google import genai
from google.genai import types

from pytest_llm._flow import Exchange, Outcome, Reply
from pytest_llm.fake import FakeProvider
from pytest_llm.transport import LLMServer

MODEL = "gemini-2.5-flash"
QUESTION = "What is the capital of France?"
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="The weather in a city",
    parameters_json_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)


def _blocked(exchange: Exchange) -> Outcome:
    raise AssertionError(f"the fake passed {exchange!r} on")


def call(fake: FakeProvider, body: Any, method: str = "generateContent") -> Reply:
    exchange = Exchange(
        "POST",
        f"https://generativelanguage.googleapis.com/v1beta/models/{MODEL}:{method}",
        [("content-type", "application/json")],
        json.dumps(body).encode(),
        "test",
    )
    outcome = fake.handle(exchange, _blocked)
    assert isinstance(outcome, Reply)
    return outcome


def contents(text: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


@pytest.fixture
def client() -> genai.Client:
    return genai.Client(api_key="gemini-test-key")


def test_text_reply(llm_fake: FakeProvider, client: genai.Client) -> None:
    llm_fake.add("Paris is the capital of France.")
    response = client.models.generate_content(model=MODEL, contents=QUESTION)
    assert response.text == "Paris is the capital of France."
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata is not None
    assert response.usage_metadata.candidates_token_count == 8
    assert response.model_version == MODEL
    request = llm_fake.requests.last
    assert (request.provider, request.api, request.model, request.stream) == (
        "gemini",
        "generate_content",
        MODEL,
        False,
    )
    assert request.last_user_message == QUESTION


def test_every_body_validates_with_the_sdk_model() -> None:
    fake = FakeProvider()
    fake.add("Sunny.", tool_calls=[("get_weather", {"city": "Paris"})], times=2)
    plain = call(fake, {**contents(QUESTION), "generationConfig": {"candidateCount": 2}})
    response = types.GenerateContentResponse.model_validate(json.loads(plain.body))
    assert response.candidates is not None
    assert [c.index for c in response.candidates] == [0, 1]
    parts = response.candidates[0].content.parts  # type: ignore[union-attr]
    assert parts is not None
    assert [(p.text, p.function_call and p.function_call.args) for p in parts] == [
        ("Sunny.", None),
        (None, {"city": "Paris"}),
    ]
    stream = call(fake, contents(QUESTION), "streamGenerateContent")
    assert stream.events is not None
    chunks = [types.GenerateContentResponse.model_validate_json(ev.data) for ev in stream.events]
    assert len(chunks) == 1  # one word: the text, the call and the finish arrive together
    [last] = chunks
    assert last.candidates is not None
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.function_calls is not None
    assert [(f.name, f.args) for f in last.function_calls] == [("get_weather", {"city": "Paris"})]
    prompt = json.loads(plain.body)["usageMetadata"]["promptTokenCount"]
    counted = json.loads(call(fake, contents(QUESTION), "countTokens").body)
    assert counted == {
        "totalTokens": prompt,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }


def test_stream_one_piece_a_chunk(llm_fake: FakeProvider, client: genai.Client) -> None:
    llm_fake.add("The capital of France is Paris.")
    chunks = list(client.models.generate_content_stream(model=MODEL, contents=QUESTION))
    assert [c.text for c in chunks] == ["The", " capital", " of", " France", " is", " Paris."]
    finishes = [c.candidates[0].finish_reason if c.candidates else None for c in chunks]
    assert finishes == [None] * 5 + [types.FinishReason.STOP]
    assert llm_fake.requests.last.stream
    assert llm_fake.requests.last.exchange.query == [("alt", "sse")]


def test_function_call(llm_fake: FakeProvider, client: genai.Client) -> None:
    llm_fake.add(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    response = client.models.generate_content(
        model=MODEL,
        contents="Weather in Paris?",
        config=types.GenerateContentConfig(
            tools=[types.Tool(function_declarations=[WEATHER])],
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        ),
    )
    assert response.function_calls is not None
    assert [(f.name, f.args) for f in response.function_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert response.text is None
    assert "functionDeclarations" in json.dumps(llm_fake.requests.last.json["tools"])


def test_json_content_and_a_provider_finish_word(
    llm_fake: FakeProvider, client: genai.Client
) -> None:
    llm_fake.add({"city": "Paris"}, finish_reason="MAX_TOKENS")
    response = client.models.generate_content(
        model=MODEL,
        contents=QUESTION,
        config=types.GenerateContentConfig(response_mime_type="application/json"),
    )
    assert json.loads(response.text or "") == {"city": "Paris"}
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS


def test_count_tokens(llm_fake: FakeProvider, client: genai.Client) -> None:
    short = client.models.count_tokens(model=MODEL, contents="Hi")
    long = client.models.count_tokens(model=MODEL, contents="Hi " * 400)
    assert short.total_tokens is not None
    assert long.total_tokens is not None
    assert short.total_tokens < long.total_tokens
    assert [r.api for r in llm_fake.requests] == ["count_tokens", "count_tokens"]
    assert {r.provider for r in llm_fake.requests} == {"gemini"}


def test_model_targets_the_model_in_the_path(llm_fake: FakeProvider, client: genai.Client) -> None:
    llm_fake.configure(strict=True)
    llm_fake.add("Flash.", model=MODEL)
    llm_fake.add("Pro.", model="gemini-2.5-pro")
    pro = client.models.generate_content(model="gemini-2.5-pro", contents=QUESTION)
    flash = client.models.generate_content(model=MODEL, contents=QUESTION)
    assert (pro.text, flash.text) == ("Pro.", "Flash.")


def test_a_body_the_api_refuses_gets_its_400(client: genai.Client) -> None:
    reply = call(FakeProvider(), {"contents": []})
    assert reply.status == 400
    assert json.loads(reply.body) == {
        "error": {
            "code": 400,
            "message": "* GenerateContentRequest.contents: contents is not specified\n",
            "status": "INVALID_ARGUMENT",
        }
    }


def test_async_plain_and_stream(llm_fake: FakeProvider, client: genai.Client) -> None:
    llm_fake.add("Bonjour tout le monde.", times=2)

    async def main() -> tuple[str | None, list[str | None]]:
        plain = await client.aio.models.generate_content(model=MODEL, contents=QUESTION)
        stream = await client.aio.models.generate_content_stream(model=MODEL, contents=QUESTION)
        return plain.text, [c.text async for c in stream]

    text, pieces = asyncio.run(main())
    assert text == "Bonjour tout le monde."
    assert pieces == ["Bonjour", " tout", " le", " monde."]


def test_served_by_llm_server_over_loopback(llm_fake: FakeProvider, llm_server: LLMServer) -> None:
    llm_fake.add("Over the socket.", times=2)
    client = genai.Client()  # GOOGLE_GEMINI_BASE_URL and a dummy key: set by llm_server
    assert client.models.generate_content(model=MODEL, contents=QUESTION).text == (
        "Over the socket."
    )
    chunks = client.models.generate_content_stream(model=MODEL, contents=QUESTION)
    assert "".join(c.text or "" for c in chunks) == "Over the socket."
    assert [r.library for r in llm_fake.requests] == ["server", "server"]


def test_a_miss_through_the_server_is_an_error_the_sdk_does_not_retry() -> None:
    retries = types.HttpRetryOptions(attempts=3)
    with LLMServer() as server:
        client = genai.Client(
            api_key="gemini-test-key",
            http_options=types.HttpOptions(base_url=server.url, retry_options=retries),
        )
        with pytest.raises(genai.errors.ClientError) as info:
            client.models.generate_content(model=MODEL, contents=QUESTION)
        assert len(server.exchanges) == 1  # a 4xx tenacity does not retry
        assert (info.value.code, info.value.status) == (400, "FAILED_PRECONDITION")
        assert info.value.message is not None
        assert info.value.message.startswith(f"pytest-llm blocked POST {server.url}/v1")
        assert server.errors == [info.value.message]


def test_a_strict_miss_names_the_gemini_request_and_each_script() -> None:
    from pytest_llm.fake import FakeMiss

    fake = FakeProvider(strict=True)
    fake.add("Claude only.", api="messages")
    fake.add("Pro only.", model="gemini-2.5-pro")
    with pytest.raises(FakeMiss) as info:
        call(fake, contents(QUESTION), "streamGenerateContent")
    assert str(info.value).splitlines() == [
        f"llm_fake has no reply for POST /v1beta/models/{MODEL}:streamGenerateContent "
        f"(generate_content, model '{MODEL}', last user message '{QUESTION}'): no scripted "
        "reply matches and strict mode is on.",
        "Scripted replies:",
        "  #1 text 'Claude only.' [api='messages'], used 0 of 1: answers messages, this is "
        "generate_content",
        f"  #2 text 'Pro only.' [model='gemini-2.5-pro'], used 0 of 1: model is '{MODEL}', not "
        "'gemini-2.5-pro'",
        "Fix: script it with llm_fake.add('...') (optionally api=, model=, contains=, match=, "
        "times=), or turn strict mode off to get the default reply.",
    ]
    fake.misses.clear()


def test_structured_output_parses(llm_fake: FakeProvider, client: genai.Client) -> None:
    class City(pydantic.BaseModel):
        city: str
        country: str

    llm_fake.add(City(city="Paris", country="France"))
    config = types.GenerateContentConfig(
        response_mime_type="application/json", response_schema=City
    )
    response = client.models.generate_content(model=MODEL, contents=QUESTION, config=config)
    assert response.parsed == City(city="Paris", country="France")


def test_headers_and_usage_are_scripted_as_for_openai(
    llm_fake: FakeProvider, client: genai.Client
) -> None:
    llm_fake.add(
        "Paris.", headers={"x-test": "yes"}, usage={"prompt_tokens": 40, "completion_tokens": 2}
    )
    response = client.models.generate_content(model=MODEL, contents=QUESTION)
    assert response.sdk_http_response is not None
    assert (response.sdk_http_response.headers or {})["x-test"] == "yes"
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (
        40,
        2,
        42,
    )
