"""Committed cassettes recorded through the real ``anthropic`` and ``google-genai`` SDKs.

The cassettes in cassettes/tests/providers/test_recorded_providers/ were recorded
through each SDK from the local Anthropic/Gemini-shaped server in ``wire_server.py``;
CI replays them offline (no server: the base URL below points nowhere). To re-record::

    python tests/providers/wire_server.py &   # prints WIRE_URL=http://127.0.0.1:PORT
    WIRE_URL=http://127.0.0.1:PORT pytest tests/providers/test_recorded_providers.py \\
        --llm-record=all
"""

from __future__ import annotations

import asyncio
import os

import anthropic
import pytest
from google import genai
from google.genai import types

import pytest_llm

BASE_URL = os.environ.get("WIRE_URL", "http://127.0.0.1:9")  # port 9: discard, nobody there
CLAUDE = "claude-haiku-4-5"
GEMINI = "gemini-2.0-flash"
QUESTION = "What is the capital of France?"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"],
    },
}

pytestmark = pytest.mark.llm_cassette(check_unused=True)


def claude() -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=os.environ.get("ANTHROPIC_API_KEY", "k"), base_url=BASE_URL)


def gemini() -> genai.Client:
    return genai.Client(
        api_key=os.environ.get("GEMINI_API_KEY", "k"),
        http_options=types.HttpOptions(base_url=BASE_URL),
    )


def test_anthropic_messages(llm_cassette: pytest_llm.Cassette) -> None:
    client = claude()
    message = client.messages.create(
        model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": QUESTION}]
    )
    assert message.content[0].type == "text"
    pytest_llm.assert_contains(message.content[0].text, "capital of France")
    with client.messages.stream(
        model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": QUESTION}]
    ) as stream:
        assert "".join(stream.text_stream) == message.content[0].text
    used = client.messages.create(
        model=CLAUDE,
        max_tokens=64,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    assert used.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "input", None)) for b in used.content] == [
        ("tool_use", {"city": "Paris", "unit": "celsius"})
    ]
    assert llm_cassette.interactions[0].data["meta"]["sdk"].startswith("anthropic 2.")


def test_anthropic_async_stream(llm_cassette: pytest_llm.Cassette) -> None:
    async def run() -> list[str]:
        client = anthropic.AsyncAnthropic(api_key="k", base_url=BASE_URL)
        stream = await client.messages.create(
            model=CLAUDE,
            max_tokens=64,
            messages=[{"role": "user", "content": QUESTION}],
            stream=True,
        )
        return [event.type async for event in stream]

    assert asyncio.run(run()) == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 7,  # ping is read but not handed on by the SDK
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


def test_gemini_generate_content(llm_cassette: pytest_llm.Cassette) -> None:
    client = gemini()
    reply = client.models.generate_content(model=GEMINI, contents=QUESTION)
    pytest_llm.assert_contains(reply.text or "", "capital of France")
    chunks = [
        c.text for c in client.models.generate_content_stream(model=GEMINI, contents=QUESTION)
    ]
    assert "".join(c or "" for c in chunks) == reply.text
    assert len(chunks) == 7
    assert llm_cassette.interactions[0].data["meta"]["sdk"].startswith("google-genai 3.")


def test_gemini_async(llm_cassette: pytest_llm.Cassette) -> None:
    async def run() -> tuple[str | None, int]:
        aio = gemini().aio
        reply = await aio.models.generate_content(model=GEMINI, contents=QUESTION)
        stream = await aio.models.generate_content_stream(model=GEMINI, contents=QUESTION)
        return reply.text, len([c async for c in stream])

    assert asyncio.run(run()) == ("Echo: What is the capital of France?", 7)
