"""Anthropic's and Gemini's responses as the JSON of the wire (camelCase, event dicts),
read by the same helpers as their SDK objects."""

from __future__ import annotations

import json
from typing import Any

from pytest_llm._flow import Exchange, Outcome, Reply
from pytest_llm.assertions import ToolCall, assert_contains, parse_tool_calls
from pytest_llm.fake import FakeProvider

CALLS = [("get_weather", {"city": "Paris"}), ("get_time", {"zone": "CET"})]


def _blocked(exchange: Exchange) -> Outcome:
    raise AssertionError(f"the fake passed {exchange!r} on")


def reply(url: str, body: dict[str, Any]) -> Reply:
    fake = FakeProvider()
    fake.add("Checking now.", tool_calls=CALLS)
    exchange = Exchange("POST", url, [], json.dumps(body).encode(), "test")
    outcome = fake.handle(exchange, _blocked)
    assert isinstance(outcome, Reply)
    return outcome


def docs(r: Reply) -> list[Any]:
    return [json.loads(ev.data) for ev in r.events or [] if ev.event != "ping"]


EXPECTED = [ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_time", {"zone": "CET"})]
ANTHROPIC = "https://api.anthropic.com/v1/messages"
GEMINI = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:"
MESSAGES = {
    "model": "claude-haiku-4-5",
    "max_tokens": 9,
    "messages": [{"role": "user", "content": "?"}],
}
CONTENTS = {"contents": [{"role": "user", "parts": [{"text": "?"}]}]}


def test_anthropic_message_json_and_its_events() -> None:
    message = json.loads(reply(ANTHROPIC, MESSAGES).body)
    assert parse_tool_calls(message) == EXPECTED
    assert parse_tool_calls(message["content"]) == EXPECTED  # the blocks alone
    events = docs(reply(ANTHROPIC, {**MESSAGES, "stream": True}))
    assert parse_tool_calls(events) == EXPECTED
    assert assert_contains(events, "now") == 9


def test_gemini_response_json_and_its_chunks() -> None:
    response = json.loads(reply(GEMINI + "generateContent", CONTENTS).body)
    assert parse_tool_calls(response) == EXPECTED
    assert parse_tool_calls(response["candidates"][0]["content"]) == EXPECTED
    chunks = docs(reply(GEMINI + "streamGenerateContent", CONTENTS))
    assert len(chunks) == 2
    assert parse_tool_calls(chunks) == EXPECTED
    assert assert_contains(chunks, "Checking now.") == 0
