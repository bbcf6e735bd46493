"""The fake through the real openai SDK: plain calls, streams, stream helpers, parse().

Each test runs in both venvs (openai 3.x on httpx2, 2.x on httpx), so the same
replies are read by both SDK generations, sync and async.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any, Literal

import openai
import pydantic
import pytest

from pytest_llm.fake import FakeProvider


class Analysis(pydantic.BaseModel):
    sentiment: Literal["positive", "negative"]
    score: float


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
RESPONSES_TOOLS = [{"type": "function", **TOOLS[0]["function"]}]  # type: ignore[dict-item]
USER = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def client() -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", max_retries=0)


@pytest.fixture
def aclient() -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="sk-test", max_retries=0)


def test_chat_text(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    llm_fake.add("Paris.")
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=USER)  # type: ignore[arg-type]
    assert completion.choices[0].message.content == "Paris."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 2  # "Paris.": 6 chars, 4 a token


def test_chat_stream_with_usage(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    llm_fake.add("Paris is the capital.")
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=USER,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Paris is the capital."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6


def test_chat_stream_helper_accumulates(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    llm_fake.add(
        "Let me look.", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]
    )
    with client.chat.completions.stream(
        model="gpt-4o-mini",
        messages=USER,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
    ) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_completion()
    assert {"content.delta", "tool_calls.function.arguments.delta", "chunk"} <= kinds
    message = final.choices[0].message
    assert message.content == "Let me look."
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    assert final.choices[0].finish_reason == "tool_calls"


def test_chat_parse_with_pydantic(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    llm_fake.add(Analysis(sentiment="negative", score=0.25))
    completion = client.chat.completions.parse(
        model="gpt-4o-mini",
        messages=USER,  # type: ignore[arg-type]
        response_format=Analysis,
    )
    assert completion.choices[0].message.parsed == Analysis(sentiment="negative", score=0.25)
    sent = llm_fake.requests.last.json["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Analysis"


def test_responses_text_and_stream(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    llm_fake.add("Paris is the capital.", times=2)
    response = client.responses.create(model="gpt-4o-mini", input="Capital of France?")
    assert response.output_text == "Paris is the capital."
    assert response.usage is not None
    assert response.usage.output_tokens == 6
    events = list(client.responses.create(model="gpt-4o-mini", input="again", stream=True))
    assert events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == (
        "Paris is the capital."
    )


def test_responses_stream_helper_and_tools(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    llm_fake.add(tool_calls=[("get_weather", {"city": "Oslo"})])
    with client.responses.stream(
        model="gpt-4o-mini",
        input="Weather in Oslo?",
        tools=RESPONSES_TOOLS,  # type: ignore[arg-type]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    (item,) = final.output
    assert item.type == "function_call"
    assert (item.name, json.loads(item.arguments)) == ("get_weather", {"city": "Oslo"})


def test_responses_parse_with_pydantic(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    llm_fake.add({"sentiment": "positive", "score": 0.75})
    response = client.responses.parse(model="gpt-4o-mini", input="Great!", text_format=Analysis)
    assert response.output_parsed == Analysis(sentiment="positive", score=0.75)


def test_responses_incomplete_is_what_the_sdk_reports(
    llm_fake: FakeProvider, client: openai.OpenAI
) -> None:
    llm_fake.add("The answer is cut sh", finish_reason="length")
    response = client.responses.create(model="gpt-4o-mini", input="long answer please")
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


def test_embeddings_default_base64_path(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    # The SDK asks for base64 unless told otherwise, and decodes it itself.
    result = client.embeddings.create(model="text-embedding-3-small", input=["cat", "dog", "cat"])
    vectors = [d.embedding for d in result.data]
    assert [len(v) for v in vectors] == [1536, 1536, 1536]
    assert vectors[0] == vectors[2]
    assert vectors[0] != vectors[1]
    assert math.isclose(sum(x * x for x in vectors[0]), 1.0, rel_tol=1e-5)
    assert llm_fake.requests.last.json["encoding_format"] == "base64"


def test_embeddings_dimensions_and_floats(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    small = client.embeddings.create(
        model="text-embedding-3-large", input="cat", dimensions=8, encoding_format="float"
    )
    assert len(small.data[0].embedding) == 8
    llm_fake.configure(dimensions=4)
    smaller = client.embeddings.create(model="text-embedding-3-large", input="cat")
    assert len(smaller.data[0].embedding) == 4
    # A shorter vector is the normalised prefix of a longer one (as text-embedding-3 does).
    prefix = small.data[0].embedding[:4]
    norm = math.sqrt(sum(x * x for x in prefix))
    assert smaller.data[0].embedding == pytest.approx([x / norm for x in prefix], abs=1e-6)


def test_embeddings_of_token_arrays(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    result = client.embeddings.create(
        model="text-embedding-3-small", input=[[1, 2, 3], [4, 5]], dimensions=3
    )
    assert len(result.data) == 2
    assert result.usage.prompt_tokens == 5


def test_embed_function_chooses_the_vectors(client: openai.OpenAI) -> None:
    def embed(value: str | list[int], dimensions: int) -> list[float]:
        return [1.0 if "cat" in str(value) else 0.0] * dimensions

    with FakeProvider(embed=embed, dimensions=2):
        result = client.embeddings.create(
            model="m", input=["a cat", "a dog"], encoding_format="float"
        )
    assert [d.embedding for d in result.data] == [[1.0, 1.0], [0.0, 0.0]]


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_async_streams(llm_fake: FakeProvider, aclient: openai.AsyncOpenAI, api: str) -> None:
    llm_fake.add("one two three")

    async def main() -> str:
        if api == "chat":
            stream = await aclient.chat.completions.create(
                model="m",
                messages=USER,  # type: ignore[arg-type]
                stream=True,
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream])
        events = await aclient.responses.create(model="m", input="x", stream=True)
        return "".join([e.delta async for e in events if e.type == "response.output_text.delta"])

    assert asyncio.run(main()) == "one two three"


def test_async_plain_calls(llm_fake: FakeProvider, aclient: openai.AsyncOpenAI) -> None:
    llm_fake.add("chat answer", api="chat")
    llm_fake.add("responses answer", api="responses")

    async def main() -> tuple[Any, ...]:
        return await asyncio.gather(
            aclient.chat.completions.create(model="m", messages=USER),  # type: ignore[arg-type]
            aclient.responses.create(model="m", input="x"),
            aclient.embeddings.create(model="m", input="x", dimensions=2),
        )

    chat, response, emb = asyncio.run(main())
    assert chat.choices[0].message.content == "chat answer"
    assert response.output_text == "responses answer"
    assert len(emb.data[0].embedding) == 2
    assert sorted(r.api for r in llm_fake.requests) == ["chat", "embeddings", "responses"]


def test_bad_request_is_the_api_400(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="", messages=USER)  # type: ignore[arg-type]
    assert info.value.status_code == 400
    assert info.value.body == {
        "message": "you must provide a model parameter",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert info.value.request_id == "req_fake0001"
