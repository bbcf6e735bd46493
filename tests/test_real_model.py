"""Replays of a real model: SmolLM2-135M-Instruct under llama-cpp-python.

The cassettes in cassettes/tests/test_real_model/ were recorded from the real server
(``../shared/tools/real-llm-server``) with openai 3.x; CI replays them with no server,
under openai 3.x and 2.x alike. To re-record, start the server and run::

    REAL_LLM_URL=http://127.0.0.1:18080/v1 pytest tests/test_real_model.py --llm-record=all
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import openai
import pytest
from pydantic import BaseModel

import pytest_llm

BASE_URL = os.environ.get("REAL_LLM_URL", "http://127.0.0.1:18080/v1")
MODEL = "smollm2"
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]

pytestmark = pytest.mark.llm_cassette(check_unused=True)


def recorded_deltas(cassette: pytest_llm.Cassette, n: int = 0) -> list[str | None]:
    """The content deltas as the cassette stores them, one per server-sent event."""
    events = cassette.interactions[n].data["response"]["events"]
    out: list[str | None] = []
    for ev in events:
        if ev["data"] == "[DONE]":
            continue
        out.append(ev["data"]["choices"][0]["delta"].get("content"))
    return out


def test_chat_completion(llm_cassette: pytest_llm.Cassette) -> None:
    client = openai.OpenAI(base_url=BASE_URL)
    reply = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=40, temperature=0
    )
    text = reply.choices[0].message.content or ""
    pytest_llm.assert_contains(text, "paris", ignore_case=True)
    assert reply.usage is not None
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    meta = llm_cassette.interactions[0].data["meta"]
    assert meta["model"] == MODEL
    assert meta["usage"]["total_tokens"] == reply.usage.total_tokens


def test_stream_replays_the_recorded_events_chunk_for_chunk(
    llm_cassette: pytest_llm.Cassette,
) -> None:
    client = openai.OpenAI(base_url=BASE_URL)
    stream = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=40, temperature=0, stream=True
    )
    deltas = [chunk.choices[0].delta.content if chunk.choices else None for chunk in stream]
    assert deltas == recorded_deltas(llm_cassette)
    assert len([d for d in deltas if d]) > 3
    pytest_llm.assert_contains("".join(d or "" for d in deltas), "paris", ignore_case=True)


def test_async_stream_replays_the_recorded_events_chunk_for_chunk(
    llm_cassette: pytest_llm.Cassette,
) -> None:
    async def main() -> list[str | None]:
        client = openai.AsyncOpenAI(base_url=BASE_URL)
        stream = await client.chat.completions.create(
            model=MODEL, messages=QUESTION, max_tokens=40, temperature=0, stream=True
        )
        return [chunk.choices[0].delta.content if chunk.choices else None async for chunk in stream]

    assert asyncio.run(main()) == recorded_deltas(llm_cassette)


class Capital(BaseModel):
    country: str
    capital: str


def test_structured_output_from_a_schema(llm_cassette: pytest_llm.Cassette) -> None:
    client = openai.OpenAI(base_url=BASE_URL)
    schema: dict[str, Any] = Capital.model_json_schema()
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "Give the country France and its capital city as JSON."}
        ],
        response_format={"type": "json_object", "schema": schema},  # type: ignore[typeddict-item]
        max_tokens=60,
        temperature=0,
    )
    capital = pytest_llm.assert_model(reply.choices[0].message.content or "", Capital)
    assert capital.country.casefold() == "france"  # the real model answered "FRANCE"
    stored = llm_cassette.interactions[0].data["request"]["json"]["response_format"]["schema"]
    assert stored == json.loads(json.dumps(schema))
