"""Faults over replies recorded through the real ``anthropic`` and ``google-genai`` SDKs.

The committed cassettes of ``test_recorded_providers.py`` replayed under a fault plan:
the fault finds the text and the stream's ending in each provider's recorded shape
(not only in the fake's), so "an error event after the 3rd chunk of the real
recording" works for every provider.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest
from google import genai
from google.genai import errors, types

from pytest_llm import use_cassette
from pytest_llm.faults import (
    ContentFilter,
    FaultPlan,
    MaxTokens,
    Pass,
    StreamError,
    TruncatedStream,
)

HERE = Path(__file__).parents[2] / "cassettes/tests/providers/test_recorded_providers"
BASE_URL = "http://127.0.0.1:9"
HELLO: Any = [{"role": "user", "content": "What is the capital of France?"}]


def claude() -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="k", base_url=BASE_URL, max_retries=0)


def gemini() -> genai.Client:
    return genai.Client(api_key="k", http_options=types.HttpOptions(base_url=BASE_URL))


def claude_recording() -> Any:
    """test_recorded_providers' Anthropic cassette, borrowed: these tests replay its
    plain and its streamed message, not the third request it recorded, so what they
    leave unused is no finding."""
    return use_cassette(HERE / "test_anthropic_messages.yaml", check_unused=False)


def recorded_claude() -> tuple[str, list[str]]:
    """The recorded answer, plain and as its stream's text deltas."""
    with claude_recording():
        client = claude()
        message = client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=HELLO)
        with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=64, messages=HELLO
        ) as stream:
            pieces = list(stream.text_stream)
    block = message.content[0]
    assert block.type == "text"
    return block.text, pieces


def test_an_anthropic_recording_with_an_error_event_mid_stream() -> None:
    _, pieces = recorded_claude()
    plan = FaultPlan(
        Pass(), StreamError(after_chunk=5, type="overloaded_error", message="Overloaded")
    )
    seen: list[str] = []
    with claude_recording(), plan:
        client = claude()
        client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=HELLO)
        with (
            pytest.raises(anthropic.APIStatusError) as info,
            client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=HELLO) as s,
        ):
            seen.extend(s.text_stream)
    assert seen == pieces[:2]  # message_start, content_block_start, ping, then two deltas
    assert info.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


@pytest.mark.parametrize(
    ("fault", "stop", "keep"),
    [(MaxTokens(keep_chars=9), "max_tokens", 9), (ContentFilter(keep_chars=4), "refusal", 4)],
    ids=["max_tokens", "refusal"],
)
def test_an_anthropic_recording_ended_early(fault: Any, stop: str, keep: int) -> None:
    text, _ = recorded_claude()
    with claude_recording(), FaultPlan(fault, fault):
        client = claude()
        plain = client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=HELLO)
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=HELLO) as s:
            streamed = s.get_final_message()
    for message in (plain, streamed):
        assert message.stop_reason == stop
        assert [b.text for b in message.content if b.type == "text"] == [text[:keep]]


def test_a_gemini_recording_cut_and_broken() -> None:
    question = "What is the capital of France?"
    with use_cassette(HERE / "test_gemini_generate_content.yaml"):
        client = gemini()
        text = client.models.generate_content(model="gemini-2.0-flash", contents=question).text
        whole = [
            c.text
            for c in client.models.generate_content_stream(
                model="gemini-2.0-flash", contents=question
            )
        ]
    assert "".join(p or "" for p in whole) == text
    plan = FaultPlan(Pass(), TruncatedStream())
    with use_cassette(HERE / "test_gemini_generate_content.yaml"), plan:
        client = gemini()
        client.models.generate_content(model="gemini-2.0-flash", contents=question)
        chunks = list(
            client.models.generate_content_stream(model="gemini-2.0-flash", contents=question)
        )
    assert [c.text for c in chunks] == whole  # every piece of text, and no finishReason
    assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks)
    seen: list[str | None] = []
    plan = FaultPlan(Pass(), StreamError(after_chunk=3))
    with use_cassette(HERE / "test_gemini_generate_content.yaml"), plan:
        client = gemini()
        client.models.generate_content(model="gemini-2.0-flash", contents=question)
        with pytest.raises(errors.ServerError) as info:
            for chunk in client.models.generate_content_stream(
                model="gemini-2.0-flash", contents=question
            ):
                seen.append(chunk.text)
    assert seen == whole[:3]
    assert (info.value.code, info.value.status) == (500, "INTERNAL")
