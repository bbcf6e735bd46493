"""Record and replay through the real ``anthropic`` SDK (Messages API), sync and async.

Recorded from a local Anthropic-shaped server (``wire_server``), replayed with the
server's request count unchanged: plain messages, tool use, streams event for event
with their ``event:`` names; credentials redacted; the cassette names the SDK; a miss
fails at once through the SDK's own retry loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
import yaml
from wire_server import WireServer

from pytest_llm import CassetteMiss, SecretFound, VirtualClock, use_cassette

MODEL = "claude-haiku-4-5"
KEY = "sk-ant-api03-" + "Q7" * 24
HELLO = [{"role": "user", "content": "Say hello"}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def server() -> Iterator[WireServer]:
    with WireServer() as srv:
        yield srv


def sync_client(server: WireServer, **kw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=KEY, base_url=server.base_url, **kw)


def async_client(server: WireServer, **kw: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=KEY, base_url=server.base_url, **kw)


def wire_events(lines: list[str]) -> list[tuple[str, str]]:
    """(event name, data) of each event as the SDK read it off the wire."""
    out, name = [], ""
    for line in lines:
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            out.append((name, line.split(":", 1)[1].strip()))
            name = ""
    return out


def stream_lines(client: anthropic.Anthropic, **kw: Any) -> list[str]:
    with client.messages.with_streaming_response.create(
        model=MODEL, max_tokens=64, messages=HELLO, stream=True, **kw
    ) as response:
        return list(response.iter_lines())


async def astream_lines(client: anthropic.AsyncAnthropic, **kw: Any) -> list[str]:
    async with client.messages.with_streaming_response.create(
        model=MODEL, max_tokens=64, messages=HELLO, stream=True, **kw
    ) as response:
        return [line async for line in response.iter_lines()]


def test_plain_message_replays_offline(tmp_path: Path, server: WireServer) -> None:
    path = tmp_path / "plain.yaml"
    with use_cassette(path, record="once"):
        live = sync_client(server).messages.create(model=MODEL, max_tokens=64, messages=HELLO)
    served = len(server.requests)
    with use_cassette(path) as cassette:
        again = sync_client(server).messages.create(model=MODEL, max_tokens=64, messages=HELLO)
    assert len(server.requests) == served == 1
    assert again.model_dump() == live.model_dump()
    assert again.content[0].type == "text"
    assert again.content[0].text == "Echo: Say hello"
    assert again.stop_reason == "end_turn"
    meta = cassette.interactions[0].data["meta"]
    assert meta["sdk"] == f"anthropic {anthropic.__version__}"
    assert meta["model"] == MODEL
    assert meta["usage"] == {"input_tokens": 5, "output_tokens": 3}


def test_stream_replays_event_for_event_with_its_event_names(
    tmp_path: Path, server: WireServer
) -> None:
    path = tmp_path / "stream.yaml"
    with use_cassette(path, record="once"):
        live = stream_lines(sync_client(server))
    with use_cassette(path, allow_playback_repeats=True):
        replayed = stream_lines(sync_client(server))
        text = "".join(
            ev.delta.text
            for ev in sync_client(server).messages.create(
                model=MODEL, max_tokens=64, messages=HELLO, stream=True
            )
            if ev.type == "content_block_delta" and ev.delta.type == "text_delta"
        )
    assert len(server.requests) == 1
    assert wire_events(replayed) == wire_events(live)
    assert [name for name, _ in wire_events(replayed)] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",  # "Echo:", " Say", " hello"
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert text == "Echo: Say hello"


def test_stream_helper_and_usage_from_start_and_delta(tmp_path: Path, server: WireServer) -> None:
    path = tmp_path / "helper.yaml"
    with (
        use_cassette(path, record="once"),
        sync_client(server).messages.stream(model=MODEL, max_tokens=64, messages=HELLO) as stream,
    ):
        live = stream.get_final_message()
    with (
        use_cassette(path) as cassette,
        sync_client(server).messages.stream(model=MODEL, max_tokens=64, messages=HELLO) as stream,
    ):
        assert "".join(stream.text_stream) == "Echo: Say hello"
        final = stream.get_final_message()
    assert final.model_dump() == live.model_dump()
    # input tokens come in message_start, output tokens in message_delta: both kept
    assert cassette.interactions[0].data["meta"]["usage"] == {
        "input_tokens": 5,
        "output_tokens": 3,
    }


def test_tool_use_plain_and_streamed(tmp_path: Path, server: WireServer) -> None:
    path = tmp_path / "tools.yaml"
    ask = {"model": MODEL, "max_tokens": 64, "messages": HELLO, "tools": [WEATHER_TOOL]}
    with use_cassette(path, record="once"):
        sync_client(server).messages.create(**ask)  # type: ignore[call-overload]
        with sync_client(server).messages.stream(**ask) as s:  # type: ignore[arg-type]
            s.get_final_message()
    with use_cassette(path):
        plain = sync_client(server).messages.create(**ask)  # type: ignore[call-overload]
        with sync_client(server).messages.stream(**ask) as s:  # type: ignore[arg-type]
            streamed = s.get_final_message()
    assert len(server.requests) == 2
    for message in (plain, streamed):
        assert message.stop_reason == "tool_use"
        (block,) = message.content
        assert block.type == "tool_use"
        assert (block.name, block.input) == ("get_weather", {"city": "Paris", "unit": "celsius"})


def test_async_plain_and_stream(tmp_path: Path, server: WireServer) -> None:
    path = tmp_path / "async.yaml"

    async def run() -> tuple[str, list[str]]:
        client = async_client(server)
        message = await client.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
        lines = await astream_lines(client)
        assert message.content[0].type == "text"
        return message.content[0].text, lines

    with use_cassette(path, record="once"):
        live = asyncio.run(run())
    with use_cassette(path):
        replayed = asyncio.run(run())
    assert len(server.requests) == 2
    assert replayed[0] == live[0] == "Echo: Say hello"
    assert wire_events(replayed[1]) == wire_events(live[1])
    assert wire_events(replayed[1])[0][0] == "message_start"


def test_credentials_are_redacted_and_a_different_key_still_matches(
    tmp_path: Path, server: WireServer
) -> None:
    path = tmp_path / "keys.yaml"
    with use_cassette(path, record="once"):
        sync_client(server, default_headers={"x-api-key": KEY}).messages.create(
            model=MODEL, max_tokens=64, messages=HELLO
        )
    sent = {k.lower(): v for k, v in server.requests[0]["headers"].items()}
    assert sent["authorization"] == f"Bearer {KEY}"
    assert sent["x-api-key"] == KEY
    text = path.read_text()
    assert KEY not in text
    headers = yaml.safe_load(text)["interactions"][0]["request"]["headers"]
    assert headers["authorization"] == headers["x-api-key"] == "REDACTED"
    other = "sk-ant-api03-" + "Z" * 48  # CI's key is not the recording's
    with use_cassette(path):
        anthropic.Anthropic(api_key=other, base_url=server.base_url).messages.create(
            model=MODEL, max_tokens=64, messages=HELLO
        )
    assert len(server.requests) == 1


def test_a_key_in_the_prompt_is_refused_by_the_secret_scan(
    tmp_path: Path, server: WireServer
) -> None:
    path = tmp_path / "leak.yaml"
    with pytest.raises(SecretFound) as info, use_cassette(path, record="once"):
        sync_client(server).messages.create(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": f"key {KEY}"}]
        )
    assert "shaped like an Anthropic key (sk-a…Q7, 61 characters)" in str(info.value)
    assert not path.exists()


@pytest.mark.parametrize("retries", [2, 5])
def test_a_miss_fails_at_once_through_the_sdk_retry_loop(
    tmp_path: Path, server: WireServer, retries: int
) -> None:
    path = tmp_path / "miss.yaml"
    with use_cassette(path, record="once"):
        sync_client(server).messages.create(model=MODEL, max_tokens=64, messages=HELLO)
    other = [{"role": "user", "content": "Say goodbye"}]
    with (
        VirtualClock() as clock,
        pytest.raises(CassetteMiss) as info,
        use_cassette(path) as cassette,
    ):
        sync_client(server, max_retries=retries).messages.create(
            model=MODEL, max_tokens=64, messages=other
        )
    assert "no recorded response matches this request" in str(info.value)
    assert "Say goodbye" in str(info.value)
    assert len(cassette.misses) == 1  # one HTTP attempt: the SDK did not retry it
    assert clock.sleeps == []
    assert len(server.requests) == 1


def test_an_async_miss_fails_at_once(tmp_path: Path, server: WireServer) -> None:
    path = tmp_path / "amiss.yaml"
    with use_cassette(path, record="once"):
        sync_client(server).messages.create(model=MODEL, max_tokens=64, messages=HELLO)

    async def call() -> None:
        await async_client(server, max_retries=4).messages.create(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "Other"}]
        )

    with VirtualClock() as clock, pytest.raises(CassetteMiss), use_cassette(path) as cassette:
        asyncio.run(call())
    assert len(cassette.misses) == 1
    assert clock.sleeps == []
