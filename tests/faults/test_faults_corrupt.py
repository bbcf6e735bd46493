"""``CorruptEvent``: a corrupt line in each provider's stream, through the real SDKs.

``not_json``: a ``data:`` line cut in half; every SDK fails to decode it, and the test
sees the SDK's own error. ``not_event``: a bare JSON line with no ``data:``; the openai
and anthropic SDKs ignore it as the SSE rules say, google-genai reads it as a chunk.
"""

from __future__ import annotations

import asyncio
import json

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors

from pytest_llm.fake import FakeProvider
from pytest_llm.faults import CorruptEvent, FaultError, FaultNotApplicable, FaultPlan

HELLO = [{"role": "user", "content": "Count to three"}]
TEXT = "one two three"


def test_not_json_breaks_the_openai_stream(llm_fake: FakeProvider, llm_faults: FaultPlan) -> None:
    llm_fake.add(TEXT)
    llm_faults.add(CorruptEvent(after_chunk=2))
    stream = openai.OpenAI(api_key="sk-test", max_retries=0).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, stream=True
    )
    seen = []
    with pytest.raises(json.JSONDecodeError):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content)
    assert seen == ["", "one"]  # the two chunks before the corrupt line


def test_not_json_breaks_the_async_responses_stream(
    llm_fake: FakeProvider, llm_faults: FaultPlan
) -> None:
    llm_fake.add(TEXT)
    llm_faults.add(CorruptEvent(after_chunk=3))

    async def main() -> list[str]:
        client = openai.AsyncOpenAI(api_key="sk-test", max_retries=0)
        stream = await client.responses.create(model="gpt-4o-mini", input="Count", stream=True)
        kinds = []
        with pytest.raises(json.JSONDecodeError):
            async for event in stream:
                kinds.append(event.type)
        return kinds

    assert asyncio.run(main()) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
    ]


def test_the_corrupt_line_is_on_the_wire(llm_fake: FakeProvider, llm_faults: FaultPlan) -> None:
    llm_fake.add(TEXT)
    llm_faults.add(CorruptEvent(after_chunk=1, text='{"choices": [{"delta": {"cont'))
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=HELLO, stream=True
    ) as raw:
        lines = list(raw.iter_lines())
    assert lines[2:4] == ['data: {"choices": [{"delta": {"cont', ""]


def test_not_event_is_ignored_by_openai_and_anthropic(
    llm_fake: FakeProvider, llm_faults: FaultPlan
) -> None:
    llm_fake.add(TEXT, times=2)
    llm_faults.add(CorruptEvent(after_chunk=2, variant="not_event"), times=2)
    stream = openai.OpenAI(api_key="sk-test", max_retries=0).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream) == TEXT
    with anthropic.Anthropic(api_key="test-key", max_retries=0).messages.stream(
        model="claude-haiku-4-5", max_tokens=64, messages=HELLO
    ) as events:
        assert events.get_final_text() == TEXT


def test_not_json_breaks_the_anthropic_stream_async(
    llm_fake: FakeProvider, llm_faults: FaultPlan
) -> None:
    llm_fake.add(TEXT)
    llm_faults.add(CorruptEvent(after_chunk=4))

    async def main() -> str:
        client = anthropic.AsyncAnthropic(api_key="test-key", max_retries=0)
        got = []
        with pytest.raises(json.JSONDecodeError):
            async with client.messages.stream(
                model="claude-haiku-4-5", max_tokens=64, messages=HELLO
            ) as stream:
                async for text in stream.text_stream:
                    got.append(text)
        return "".join(got)

    assert asyncio.run(main()) == "one"


def test_gemini_stream(llm_fake: FakeProvider, llm_faults: FaultPlan) -> None:
    llm_fake.add(TEXT, times=2)
    llm_faults.add(CorruptEvent(after_chunk=1))
    client = genai.Client(api_key="gemini-test-key")
    with pytest.raises(errors.UnknownApiResponseError, match="Failed to parse response as JSON"):
        list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="Count"))
    # google-genai does not follow the SSE rules: a bare JSON line is one more chunk
    llm_faults.add(CorruptEvent(after_chunk=1, variant="not_event"))

    async def main() -> str:
        chunks = await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Count"
        )
        return "".join([c.text or "" async for c in chunks])

    assert asyncio.run(main()) == "one two two three"


def test_bad_corrupt_event() -> None:
    with pytest.raises(FaultError) as info:
        CorruptEvent(variant="not_jsn")
    assert str(info.value).splitlines() == [
        "CorruptEvent(variant='not_jsn'): unknown variant 'not_jsn' (did you mean 'not_json'?).",
        "Fix: pass variant= one of not_json, not_event.",
    ]
    with pytest.raises(FaultError, match="is valid JSON"):
        CorruptEvent(text='{"ok": 1}')
    with (
        pytest.raises(FaultNotApplicable) as past,
        FakeProvider() as fake,
        FaultPlan(CorruptEvent(after_chunk=99)),
    ):
        fake.add(TEXT)
        openai.OpenAI(api_key="sk-test", max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, stream=True
        )
    assert str(past.value).splitlines()[0] == (
        "CorruptEvent(after_chunk=99) cannot apply to POST "
        "https://api.openai.com/v1/chat/completions: after_chunk=99 is past the end; the reply "
        "has 6 chunks (valid: after_chunk=0..5)."
    )
