"""The text and JSON helpers take an openai response as the output (its text), as they
do Anthropic's and Gemini's: a chat completion, its stream chunks, a Responses API
response; a response with only tool calls says so."""

from __future__ import annotations

import asyncio

import openai
import pytest

from pytest_llm._errors import ConfigError
from pytest_llm.assertions import assert_contains, assert_json, assert_matches
from pytest_llm.fake import FakeProvider

MSG: list[dict[str, str]] = [{"role": "user", "content": "Capital?"}]


def test_chat_completion_chunks_and_responses(llm_fake: FakeProvider) -> None:
    llm_fake.add('{"city": "Paris"}', times=3)
    client = openai.OpenAI()
    chat = client.chat.completions.create(model="gpt-4o-mini", messages=MSG)  # type: ignore[arg-type]
    assert assert_json(chat) == {"city": "Paris"}
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True))  # type: ignore[arg-type]
    assert assert_contains(chunks, "Paris") == 10
    response = client.responses.create(model="gpt-4o-mini", input="Capital?")
    assert_matches(response, r'"city":\s*"Paris"')


def test_tool_calls_only_is_not_text(llm_fake: FakeProvider) -> None:
    llm_fake.add(tool_calls=[("get_weather", {"city": "Paris"})])

    async def main() -> object:
        client = openai.AsyncOpenAI()
        return await client.chat.completions.create(model="gpt-4o-mini", messages=MSG)  # type: ignore[arg-type]

    with pytest.raises(ConfigError) as info:
        assert_contains(asyncio.run(main()), "Paris")
    assert str(info.value) == (
        "assert_contains expects the model output as a str, got ChatCompletion: the response "
        "carries no text, only 1 tool call: check it with assert_tool_calls"
    )
