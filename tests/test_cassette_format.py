"""The cassette format (version 2): reviewable files and byte-faithful stream replay.

Recorded through the real openai SDK against a server on 127.0.0.1 that writes
exactly the bytes each test gives it, so the bytes a replay hands the SDK can be
compared with the bytes the server sent.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

import pytest_llm
from pytest_llm._sse import SSEEvent, SSEParser, encode_event, parse_events
from pytest_llm.cassette._format import VERSION, load

# -- a server that sends given bytes ------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: RawServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        n = int(self.headers.get("content-length") or 0)
        self.server.bodies.append(self.rfile.read(n))
        status, headers, chunks = self.server.answer()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(chunk)
            self.wfile.flush()
        self.close_connection = True


class RawServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: list[bytes] = []
        self.answer: Callable[[], tuple[int, list[tuple[str, str]], list[bytes]]] = lambda: (
            500,
            [],
            [],
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def stream(self, chunks: list[bytes], headers: list[tuple[str, str]] = ()) -> None:  # type: ignore[assignment]
        sse = [("content-type", "text/event-stream; charset=utf-8"), *headers]
        self.answer = lambda: (200, sse, chunks)


@pytest.fixture
def raw_server() -> Iterator[RawServer]:
    server = RawServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _chunk(content: str | None = None, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    if content is not None:
        delta["content"] = content
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _compact(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


# A stream with everything a byte-for-byte replay has to keep: a comment before
# the first event, JSON with spaces (as Gemini writes it), CRLF line endings, an
# `event:` name and an `id:`, a field without the space after its colon, non-ASCII
# text escaped and not, LF endings among them, a comment between events, and a last
# event without its closing blank line.
AWKWARD = [
    b": keep-alive\r\n\r\n",
    ("data: " + json.dumps(_chunk("", role="assistant")) + "\r\n\r\n").encode(),
    ("data: " + json.dumps(_chunk("Caf\u00e9")) + "\n\n: ping\n\n").encode(),
    ("event: message\r\nid: 7\r\ndata:" + _compact(_chunk(" na\u00efve")) + "\r\n\r\n").encode(),
    ("data: " + _compact(_chunk(" ok", finish="stop")) + "\n\n").encode(),
    b"data: [DONE]",
]
# (A comment or blank line after an event with an `id:` makes the openai SDK yield an
# empty event, live as well: the SDK keeps the last id and dispatches on it.)

GEMINI_LIKE = [  # spaced JSON and CRLF line ends, as Gemini sends them
    ("data: " + json.dumps(_chunk("", role="assistant")) + "\r\n\r\n").encode(),
    ("data: " + json.dumps(_chunk("Hello")) + "\r\n\r\n").encode(),
    ("data: " + json.dumps(_chunk(" there", finish="stop")) + "\r\n\r\n").encode(),
]

PLAIN = [
    ("data: " + _compact(_chunk("", role="assistant")) + "\n\n").encode(),
    ("data: " + _compact(_chunk("Hello")) + "\n\n").encode(),
    ("data: " + _compact(_chunk(" there", finish="stop")) + "\n\n").encode(),
    b"data: [DONE]\n\n",
]

PROMPT = [{"role": "user", "content": "hi"}]


def _client(server: RawServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def _aclient(server: RawServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def _raw_sync(server: RawServer) -> tuple[bytes, str]:
    """The body bytes as the SDK's HTTP client received them, and the streamed text."""
    client = _client(server)
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=PROMPT, stream=True
    ) as response:
        raw = b"".join(response.iter_bytes())
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model="gpt-4o-mini", messages=PROMPT, stream=True)
        if c.choices
    )
    return raw, text


async def _raw_async(server: RawServer) -> tuple[bytes, str]:
    client = _aclient(server)
    async with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=PROMPT, stream=True
    ) as response:
        raw = b"".join([chunk async for chunk in response.iter_bytes()])
    text = ""
    async for c in await client.chat.completions.create(
        model="gpt-4o-mini", messages=PROMPT, stream=True
    ):
        if c.choices:
            text += c.choices[0].delta.content or ""
    return raw, text


# -- byte-faithful replay -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("chunks", [AWKWARD, GEMINI_LIKE, PLAIN], ids=["awkward", "crlf", "plain"])
def test_a_replayed_stream_hands_the_sdk_the_recorded_bytes(
    tmp_path: Path, raw_server: RawServer, mode: str, chunks: list[bytes]
) -> None:
    raw_server.stream(chunks)
    path = tmp_path / "c.yaml"

    def run() -> tuple[bytes, str]:
        return _raw_sync(raw_server) if mode == "sync" else asyncio.run(_raw_async(raw_server))

    with pytest_llm.use_cassette(path, record="once"):
        live, live_text = run()
    sent = b"".join(chunks)
    assert live == sent
    served = len(raw_server.bodies)

    with pytest_llm.use_cassette(path, record="none"):
        replayed, replayed_text = run()
    assert len(raw_server.bodies) == served  # the replay never reached the server
    assert replayed == sent
    assert replayed_text == live_text
    assert live_text in ("Caf\u00e9 na\u00efve ok", "Hello there")  # what the SDK read


def test_replay_bytes_survive_a_second_write(tmp_path: Path, raw_server: RawServer) -> None:
    """Loading and writing again (what --llm-record=new does) keeps the bytes."""
    raw_server.stream(AWKWARD)
    path = tmp_path / "c.yaml"
    with pytest_llm.use_cassette(path, record="once"):
        _raw_sync(raw_server)
    first = path.read_text()
    from pytest_llm.cassette._format import dump

    again = dump(load(path))
    assert again == first
    events = load(path).interactions[0].reply().events
    assert events is not None
    assert b"".join(encode_event(e) for e in events) == b"".join(AWKWARD)


def test_the_awkward_stream_is_stored_readably(tmp_path: Path, raw_server: RawServer) -> None:
    raw_server.stream(AWKWARD)
    path = tmp_path / "c.yaml"
    with pytest_llm.use_cassette(path, record="once"):
        _raw_sync(raw_server)
    text = path.read_text()
    events = text.split("    events:\n", 1)[1].split("  meta:\n", 1)[0].splitlines()
    assert len(events) == 5  # one line per event
    assert "line_end" not in text  # most events end their lines with LF
    # JSON that compact re-serialisation gives back is structured; other JSON keeps
    # its text; `raw` holds the exact bytes only where the fields would not give them
    assert events[0].startswith(
        "    - {data: '" + json.dumps(_chunk("", role="assistant")) + "', raw: \": keep-alive"
        '\\r\\n\\r\\ndata: {\\"id\\": \\"chatcmpl-1\\", '
    )
    assert events[1] == "    - {data: '" + json.dumps(_chunk("Caf\u00e9")) + "'}"
    assert events[2].startswith(
        "    - {event: message, id: '7', data: {id: chatcmpl-1, object: chat.completion.chunk, "
        "created: 1700000000, model: gpt-4o-mini, choices: [{index: 0, delta: {content: "
        "' na\u00efve'}, finish_reason: null}]}, raw: \": ping\\n\\nevent: message\\r\\nid: 7"
        "\\r\\ndata:{"
    )
    assert events[3] == (
        "    - {data: {id: chatcmpl-1, object: chat.completion.chunk, created: 1700000000, "
        "model: gpt-4o-mini, choices: [{index: 0, delta: {content: ' ok'}, finish_reason: stop}]}}"
    )
    assert events[4] == "    - {data: '[DONE]', raw: 'data: [DONE]'}"


def test_a_crlf_stream_says_so_once(tmp_path: Path, raw_server: RawServer) -> None:
    raw_server.stream(GEMINI_LIKE)
    path = tmp_path / "c.yaml"
    with pytest_llm.use_cassette(path, record="once"):
        _raw_sync(raw_server)
    text = path.read_text()
    assert text.count("    line_end: crlf\n    events:\n") == 2
    assert "raw:" not in text
    assert "    - {data: '" + json.dumps(_chunk(" there", finish="stop")) + "'}\n" in text


def test_a_hand_edited_event_replays_its_new_data(tmp_path: Path, raw_server: RawServer) -> None:
    """``raw`` is used only while it says what the fields say."""
    raw_server.stream(AWKWARD)
    path = tmp_path / "c.yaml"
    with pytest_llm.use_cassette(path, record="once"):
        _raw_sync(raw_server)
    path.write_text(path.read_text().replace("content: ' na\u00efve'}", "content: ' tea'}"))
    with pytest_llm.use_cassette(path, record="none"):
        raw, text = _raw_sync(raw_server)
    assert text == "Caf\u00e9 tea ok"
    assert b"\n\nevent: message\nid: 7\ndata: " + _compact(_chunk(" tea")).encode() + b"\n\n" in raw
    assert raw.startswith(AWKWARD[0] + AWKWARD[1])  # the other events keep their bytes


def test_event_names_ids_and_non_json_data_round_trip(tmp_path: Path) -> None:
    """What Anthropic and other providers send: named events, ids, retry, plain text."""
    wire = (
        b"event: message_start\ndata: "
        + _compact({"type": "message_start", "message": {"id": "msg_1"}}).encode()
        + b"\n\n"
        b'event: ping\ndata: {"type": "ping"}\n\n'
        b"id: 42\nretry: 3000\ndata: line one\ndata: line two\n\n"
        b"event: content_block_delta\ndata: "
        + _compact(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hi"},
            }
        ).encode()
        + b"\n\n"
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    parser = SSEParser()
    events = [ev for i in range(len(wire)) for ev in parser.feed(wire[i : i + 1], t=i / 1000)]
    events += parser.flush()
    assert [e.event for e in events] == [
        "message_start",
        "ping",
        None,
        "content_block_delta",
        "message_stop",
    ]
    assert events[2].data == "line one\nline two"
    assert events[2].id == "42"
    reply = pytest_llm_reply(events)
    path = tmp_path / "a.yaml"
    _write(path, reply)
    text = path.read_text()
    assert '    - {event: ping, data: \'{"type": "ping"}\'}\n' in text
    assert "    - {id: '42', retry: 3000, data: \"line one\\nline two\"}\n" in text
    assert "- summary:\n    text: Hi\n" in text
    back = load(path).interactions[0].reply().events
    assert back is not None
    assert b"".join(encode_event(e) for e in back) == wire
    assert [e.t for e in back] == [e.t for e in events]


def pytest_llm_reply(events: list[SSEEvent]) -> Any:
    from pytest_llm._exchange import Reply

    return Reply(200, [("content-type", "text/event-stream")], events=events)


def _write(path: Path, reply: Any, url: str = "https://api.anthropic.com/v1/messages") -> None:
    from pytest_llm._exchange import Exchange
    from pytest_llm.cassette._format import CassetteFile, Interaction, dump, write_atomic

    ex = Exchange("POST", url, [("content-type", "application/json")], b'{"b":1,"a":2}')
    it = Interaction.from_traffic(ex, reply, url=url, headers={}, meta={"duration": 0.5})
    write_atomic(path, dump(CassetteFile(path, {}, [it])))


def test_the_parser_keeps_every_byte_whatever_the_chunking() -> None:
    wire = b"".join(AWKWARD) + b"\r\n\n\n: bye\r\n"  # extra blank lines, a last comment
    for size in (1, 2, 3, 7, len(wire)):
        parser = SSEParser()
        events = [ev for i in range(0, len(wire), size) for ev in parser.feed(wire[i : i + size])]
        events += parser.flush()
        assert b"".join(encode_event(e) for e in events) == wire, size
        assert [e.data for e in events][-1] == "[DONE]"


def test_a_changed_event_is_encoded_from_its_fields() -> None:
    """Faults change events with ``dataclasses.replace``: the old bytes must not stay."""
    import dataclasses

    (ev,) = parse_events(b"data:  spaced\r\n\r\n")
    assert ev.data == " spaced"
    assert encode_event(ev) == b"data:  spaced\r\n\r\n"
    changed = dataclasses.replace(ev, data="new")
    assert encode_event(changed) == b"data: new\n\n"


# -- reviewable files ---------------------------------------------------------------

VOLATILE = [
    ("date", "Mon, 30 Nov 2026 11:00:0{n} GMT"),
    ("x-request-id", "req_{n}abc"),
    ("openai-processing-ms", "1{n}"),
    ("cf-ray", "8e{n}f-AMS"),
    ("set-cookie", "__cf_bm=x{n}; path=/"),
    ("x-ratelimit-remaining-requests", "99{n}"),
    ("x-ratelimit-limit-requests", "1000"),
    ("openai-version", "2020-10-01"),
]


def _record(tmp_path: Path, server: RawServer, name: str, n: int, **kwargs: Any) -> str:
    """Record one plain and one streamed call, the server's volatile values set by ``n``."""
    headers = [(k, v.format(n=n)) for k, v in VOLATILE]
    state = {"calls": 0}

    def answer() -> tuple[int, list[tuple[str, str]], list[bytes]]:
        state["calls"] += 1
        if state["calls"] == 1:
            body = json.dumps(
                {
                    "id": "chatcmpl-2",
                    "object": "chat.completion",
                    "created": 1700000000,
                    "model": "gpt-4o-mini",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "Hi"},
                            "finish_reason": "stop",
                        }
                    ],
                }
            ).encode()
            return 200, [("content-type", "application/json"), *headers], [body]
        return 200, [("content-type", "text/event-stream"), *headers], PLAIN

    server.answer = answer
    path = tmp_path / name
    client = _client(server)
    with pytest_llm.use_cassette(path, record="all", **kwargs):
        # the SDK's key order differs from run to run: the file must not
        args: dict[str, Any] = {"model": "gpt-4o-mini", "messages": PROMPT}
        extra = {"temperature": 0, "max_tokens": 5, "metadata": {"b": "1", "a": "2"}}
        items = list(extra.items())
        ordered = dict(items if n % 2 else items[::-1])
        client.chat.completions.create(**args, **ordered)
        for _ in client.chat.completions.create(**args, **ordered, stream=True):
            pass
    return path.read_text()


def _without_meta(text: str) -> str:
    doc = yaml.safe_load(text)
    doc.pop("meta")
    for it in doc["interactions"]:
        it.pop("meta")
    return yaml.safe_dump(doc, sort_keys=False)


def test_rerecording_the_same_traffic_changes_only_meta(
    tmp_path: Path, raw_server: RawServer
) -> None:
    first = _record(tmp_path, raw_server, "a.yaml", 1)
    second = _record(tmp_path, raw_server, "b.yaml", 2)
    assert first != second  # the times and dates in meta did change
    assert _without_meta(first) == _without_meta(second)
    # and the lines that differ are meta lines only
    changed = [
        line
        for a, b in zip(first.splitlines(), second.splitlines(), strict=True)
        if a != b
        for line in (a, b)
    ]
    assert changed
    assert all(re.match(r"\s+(recorded_at|duration|event_times): ", line) for line in changed), (
        changed
    )
    assert "127.0.0.1" not in first
    assert f":{raw_server.server_address[1]}" not in first
    assert "url: http://localhost/v1/chat/completions" in first
    for name in ("date", "x-request-id", "openai-processing-ms", "cf-ray", "set-cookie"):
        assert f"{name}:" not in first, name
    assert "x-ratelimit-remaining-requests" not in first
    assert "x-ratelimit-limit-requests: '1000'" in first
    assert "openai-version: '2020-10-01'" in first
    doc = yaml.safe_load(first)
    for it in doc["interactions"]:
        body = it["request"]["json"]
        assert list(body) == sorted(body)
        assert list(body["metadata"]) == ["a", "b"]


def test_the_file_reads_top_down(tmp_path: Path, raw_server: RawServer) -> None:
    text = _record(tmp_path, raw_server, "a.yaml", 1)
    doc = yaml.safe_load(text)
    assert doc["version"] == VERSION == 2
    plain, streamed = doc["interactions"]
    assert "summary" not in plain
    assert list(streamed) == ["summary", "request", "response", "meta"]
    assert streamed["summary"] == {"text": "Hello there", "stop": "stop"}
    assert list(streamed["meta"]) == [
        "model",
        "duration",
        "recorded_at",
        "sdk",
        "http",
        "request_digest",
        "event_times",
    ]
    assert len(streamed["meta"]["event_times"]) == 4
    lines = text.splitlines()
    start = lines.index("    events:")
    assert lines[start + 1 : start + 5] == [
        "    - {data: {id: chatcmpl-1, object: chat.completion.chunk, created: 1700000000, "
        "model: gpt-4o-mini, choices: [{index: 0, delta: {role: assistant, content: ''}, "
        "finish_reason: null}]}}",
        "    - {data: {id: chatcmpl-1, object: chat.completion.chunk, created: 1700000000, "
        "model: gpt-4o-mini, choices: [{index: 0, delta: {content: Hello}, finish_reason: null}]}}",
        "    - {data: {id: chatcmpl-1, object: chat.completion.chunk, created: 1700000000, "
        "model: gpt-4o-mini, choices: [{index: 0, delta: {content: ' there'}, "
        "finish_reason: stop}]}}",
        "    - {data: '[DONE]'}",
    ]
    assert re.search(r"\n    event_times: \[[0-9.]+, [0-9.]+, [0-9.]+, [0-9.]+\]\n", text)


def test_the_summary_is_read_only(tmp_path: Path, raw_server: RawServer) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(
        _record(tmp_path, raw_server, "a.yaml", 1).replace("text: Hello there", "text: edited")
    )
    from pytest_llm.cassette._format import dump

    assert "    text: Hello there\n" in dump(load(path))
    # the streamed one of the two recordings is the one read here
    with pytest_llm.use_cassette(path, record="none", check_unused=False):
        got = "".join(
            c.choices[0].delta.content or ""
            for c in _client(raw_server).chat.completions.create(
                model="gpt-4o-mini",
                messages=PROMPT,
                stream=True,
                temperature=0,
                max_tokens=5,
                metadata={"a": "2", "b": "1"},
            )
            if c.choices
        )
    assert got == "Hello there"


def test_volatile_headers_and_the_local_host_are_kept_when_asked(
    tmp_path: Path, raw_server: RawServer
) -> None:
    text = _record(
        tmp_path, raw_server, "a.yaml", 1, keep_headers=["date", "x-request-id"], keep_host=True
    )
    assert "      - Mon, 30 Nov 2026 11:00:01 GMT\n" in text  # with the server's own date
    assert "      x-request-id: req_1abc\n" in text
    assert "cf-ray" not in text
    assert f"url: {raw_server.base_url}/chat/completions" in text
    everything = _record(tmp_path, raw_server, "b.yaml", 1, keep_headers=["*"])
    assert "      cf-ray: 8e1f-AMS\n" in everything
    assert "      set-cookie: REDACTED\n" in everything  # kept, still redacted


def test_rate_limit_headers_of_an_error_are_kept(tmp_path: Path, raw_server: RawServer) -> None:
    raw_server.answer = lambda: (
        429,
        [
            ("content-type", "application/json"),
            ("retry-after", "1"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1s"),
            ("date", "Mon, 30 Nov 2026 11:00:00 GMT"),
        ],
        [b'{"error": {"message": "slow down", "type": "rate_limit"}}'],
    )
    path = tmp_path / "a.yaml"
    with pytest_llm.use_cassette(path, record="once"), pytest.raises(openai.RateLimitError):
        _client(raw_server).chat.completions.create(model="gpt-4o-mini", messages=PROMPT)
    text = path.read_text()
    assert "      x-ratelimit-remaining-requests: '0'\n" in text
    assert "      x-ratelimit-reset-requests: 1s\n" in text
    assert "date:" not in text


# -- format 1 -----------------------------------------------------------------------

V1 = """\
format: pytest-llm-cassette
version: 1
meta:
  interactions: 1
interactions:
- request:
    method: POST
    url: http://127.0.0.1:18080/v1/chat/completions
    headers: {}
    json:
      model: gpt-4o-mini
      stream: true
      messages:
      - role: user
        content: hi
  response:
    status: 200
    headers:
      content-type: text/event-stream
      date: Sun, 22 Nov 2026 11:59:41 GMT
    events:
    - t: 0.25
      data:
        id: chatcmpl-1
        object: chat.completion.chunk
        created: 1700000000
        model: gpt-4o-mini
        choices:
        - index: 0
          delta:
            content: Hi
          finish_reason: null
    - t: 0.5
      data: '[DONE]'
  meta:
    duration: 0.6
end: 1
"""


def test_a_version_1_cassette_replays_and_converts_without_change(
    tmp_path: Path, raw_server: RawServer
) -> None:
    path = tmp_path / "v1.yaml"
    path.write_text(V1)
    events = load(path).interactions[0].reply().events
    assert events is not None
    assert [e.t for e in events] == [0.25, 0.5]
    with pytest_llm.use_cassette(path, record="none"):
        got = [
            c.choices[0].delta.content
            for c in _client(raw_server).chat.completions.create(
                model="gpt-4o-mini", messages=PROMPT, stream=True
            )
        ]
    assert got == ["Hi"]
    from pytest_llm.cassette._format import dump

    v2 = dump(load(path))
    assert "version: 2\n" in v2
    assert "url: http://127.0.0.1:18080/v1/chat/completions" in v2  # only re-serialised
    assert "date: Sun, 22 Nov 2026 11:59:41 GMT" in v2
    assert "    event_times: [0.25, 0.5]\n" in v2
    assert "- summary:\n    text: Hi\n" in v2
    path.write_text(v2)
    again = load(path).interactions[0].reply().events
    assert again is not None
    assert [(e.data, e.t) for e in again] == [(e.data, e.t) for e in events]


def test_the_marker_and_ini_keep_volatile_details(
    llm_project: pytest.Pytester, loopback: Any
) -> None:
    llm_project.makeini("[pytest]\nllm_keep_host = true\n")
    llm_project.makepyfile(
        test_app="""
        import os, openai, pytest

        @pytest.mark.llm_cassette(keep_headers=["x-request-id"])
        def test_kept():
            openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], max_retries=0).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )

        @pytest.mark.llm_cassette
        def test_default():
            openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], max_retries=0).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
        """
    )
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=2)
    kept = (llm_project.path / "cassettes/test_app/test_kept.yaml").read_text()
    default = (llm_project.path / "cassettes/test_app/test_default.yaml").read_text()
    assert "      x-request-id: req_loopback\n" in kept
    assert "x-request-id" not in default
    assert f"    url: {loopback.base_url}/chat/completions\n" in default  # the ini's keep_host


def _events(*docs: Any, named: bool = False) -> list[SSEEvent]:
    return [SSEEvent(_compact(d), event=d.get("type") if named else None) for d in docs]


def test_the_summary_reads_every_providers_stream() -> None:
    from pytest_llm.cassette._summary import summarise

    chat_tools = _events(
        _chunk(None, tool_calls=[{"index": 0, "id": "c1", "function": {"name": "get_weather"}}]),
        _chunk(None, tool_calls=[{"index": 0, "function": {"arguments": '{"city":'}}]),
        _chunk(None, tool_calls=[{"index": 0, "function": {"arguments": '"Paris"}'}}]),
        _chunk(None, finish="tool_calls"),
    )
    assert summarise(chat_tools) == {
        "tool_calls": ['get_weather({"city":"Paris"})'],
        "stop": "tool_calls",
    }
    responses = _events(
        {"type": "response.output_text.delta", "delta": "Hel"},
        {"type": "response.output_text.delta", "delta": "lo"},
        {
            "type": "response.output_item.done",
            "item": {"type": "function_call", "id": "fc1", "name": "f", "arguments": "{}"},
        },
        {"type": "response.completed", "response": {"status": "completed"}},
        named=True,
    )
    assert summarise(responses) == {"text": "Hello", "tool_calls": ["f({})"], "stop": "completed"}
    anthropic = _events(
        {"type": "message_start", "message": {"id": "msg_1"}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "t1", "name": "lookup", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"q": 1}'},
        },
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}},
        {"type": "message_stop"},
        named=True,
    )
    assert summarise(anthropic) == {
        "text": "Hi",
        "tool_calls": ['lookup({"q": 1})'],
        "stop": "tool_use",
    }
    gemini = _events(
        {"candidates": [{"content": {"parts": [{"text": "Sun"}], "role": "model"}}]},
        {
            "candidates": [
                {
                    "content": {"parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}]},
                    "finishReason": "STOP",
                }
            ]
        },
    )
    assert summarise(gemini) == {"text": "Sun", "tool_calls": ['f({"a":1})'], "stop": "STOP"}
    error = _events({"type": "error", "error": {"type": "overloaded_error", "message": "Over"}})
    assert summarise(error) == {"error": "Over"}
    two = _events(
        {
            "choices": [
                {"index": 0, "delta": {"content": "a"}},
                {"index": 1, "delta": {"content": "b"}},
            ]
        }
    )
    assert summarise(two) == {"choices": [{"text": "a"}, {"text": "b"}]}
    assert summarise([SSEEvent("[DONE]")]) is None


def test_a_sorted_body_is_found_without_re_serialising_the_request(
    tmp_path: Path, raw_server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK sends `messages` before `model` and `role` before `content`; the file
    sorts them. meta.request_digest (the bytes as sent) keeps replay's exact-bytes
    lookup, unless the stored request was edited since."""
    text = _record(tmp_path, raw_server, "a.yaml", 1)
    assert text.count("    request_digest: ") == 2
    path = tmp_path / "a.yaml"
    # one of the two recordings is enough to see the lookup by digest
    with pytest_llm.use_cassette(path, check_unused=False) as cassette:

        def slow(ex: Any) -> str:
            raise AssertionError(f"re-serialised {ex}")

        monkeypatch.setattr(cassette, "_key_of", slow)
        reply = _client(raw_server).chat.completions.create(
            model="gpt-4o-mini",
            messages=PROMPT,
            temperature=0,
            max_tokens=5,
            metadata={"b": "1", "a": "2"},
        )
    assert reply.choices[0].message.content == "Hi"
    monkeypatch.undo()
    # a hand edit of the stored prompt: the request as sent before must not match
    from pytest_llm._exchange import Exchange

    sent = Exchange("POST", raw_server.base_url + "/chat/completions", [], raw_server.bodies[0])
    with pytest_llm.use_cassette(path, check_unused=False) as cassette:  # a look-up replays nothing
        assert cassette._lookup(sent) is not None
    path.write_text(text.replace("      - content: hi\n", "      - content: bye\n", 1))
    with pytest_llm.use_cassette(path, check_unused=False) as cassette:
        assert cassette._lookup(sent) is None


ANTHROPIC = [
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
    b'"model":"claude-haiku-4-5","content":[],"stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":5,"output_tokens":1}}}\n\n',
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n',
    b'event: ping\ndata: {"type": "ping"}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"Bonjour"}}\n\n',
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
    b'"stop_sequence":null},"usage":{"output_tokens":2}}\n\n',
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_anthropic_stream_replays_its_bytes_and_event_names(
    tmp_path: Path, raw_server: RawServer, mode: str
) -> None:
    anthropic = pytest.importorskip("anthropic")
    raw_server.stream(ANTHROPIC)
    path = tmp_path / "c.yaml"
    kwargs: dict[str, Any] = {
        "model": "claude-haiku-4-5",
        "max_tokens": 10,
        "messages": PROMPT,
    }
    base_url = raw_server.base_url.removesuffix("/v1")

    def run() -> tuple[bytes, list[str]]:
        if mode == "sync":
            client = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", max_retries=0)
            with client.messages.with_streaming_response.create(**kwargs, stream=True) as r:
                raw = b"".join(r.iter_bytes())
            with client.messages.stream(**kwargs) as stream:
                kinds = [ev.type for ev in stream]
            return raw, kinds

        async def arun() -> tuple[bytes, list[str]]:
            client = anthropic.AsyncAnthropic(
                base_url=base_url, api_key="sk-ant-test", max_retries=0
            )
            async with client.messages.with_streaming_response.create(**kwargs, stream=True) as r:
                raw = b"".join([c async for c in r.iter_bytes()])
            async with client.messages.stream(**kwargs) as stream:
                kinds = [ev.type async for ev in stream]
            return raw, kinds

        return asyncio.run(arun())

    with pytest_llm.use_cassette(path, record="once"):
        live, live_kinds = run()
    assert live == b"".join(ANTHROPIC)
    served = len(raw_server.bodies)
    with pytest_llm.use_cassette(path, record="none"):
        replayed, kinds = run()
    assert len(raw_server.bodies) == served
    assert replayed == live
    assert kinds == live_kinds
    assert "content_block_delta" in kinds
    text = path.read_text()
    assert "- summary:\n    text: Bonjour\n    stop: end_turn\n" in text
    assert '    - {event: ping, data: \'{"type": "ping"}\'}\n' in text
    assert "raw:" not in text  # named events with compact JSON need no raw text


def test_convert_writes_a_version_1_cassette_in_the_current_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_llm.cli import main

    path = tmp_path / "v1.yaml"
    path.write_text(V1)
    assert main(["cassettes", "convert", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"converted {path} to the current layout (1 interaction)",
        "converted 1 cassette (1 interaction)",
        f"next: pytest-llm cassettes check {path}",
    ]
    assert not (tmp_path / "v1.yaml.vcrpy").exists()  # nothing was lost: no copy
    text = path.read_text()
    assert "version: 2\n" in text
    # the body's keys are sorted now; the digest of the bytes it had keeps the fast path
    assert re.search(r"\n    request_digest: [0-9a-f]{24}/[0-9a-f]{24}\n", text)
    (it,) = load(path).interactions
    assert it.wire_digest is not None
    assert main(["cassettes", "convert", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"skipped {path}: already a pytest-llm cassette",
        "converted 0 cassettes (0 interactions), skipped 1",
    ]


def test_the_loopback_server_replays_the_recorded_bytes(
    tmp_path: Path, raw_server: RawServer
) -> None:
    """A client in another process or language reads a replay through llm_server's
    loopback server: its socket carries the recorded bytes too."""
    from pytest_llm import LLMServer

    raw_server.stream(AWKWARD)
    path = tmp_path / "c.yaml"
    with pytest_llm.use_cassette(path, record="once"):
        _raw_sync(raw_server)
    served = len(raw_server.bodies)
    # the streamed one of the two recordings is the one read through the socket
    with pytest_llm.use_cassette(path, check_unused=False), LLMServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=PROMPT, stream=True
        ) as response:
            raw = b"".join(response.iter_bytes())
    assert len(raw_server.bodies) == served
    assert raw == b"".join(AWKWARD)


def test_bytes_that_are_not_utf8_are_kept_in_base64(tmp_path: Path) -> None:
    wire = b"data: caf\xe9\n\ndata: [DONE]\n\n"  # latin-1, not UTF-8
    events = parse_events(wire)
    assert events[0].data == "caf\ufffd"
    path = tmp_path / "a.yaml"
    _write(path, pytest_llm_reply(events))
    text = path.read_text()
    assert "raw_base64: ZGF0YTogY2Fm6QoK" in text
    back = load(path).interactions[0].reply().events
    assert back is not None
    assert b"".join(encode_event(e) for e in back) == wire


REPO = Path(__file__).resolve().parent.parent
COMMITTED = sorted(
    p
    for folder in ("cassettes", "examples/triage/cassettes")
    for p in (REPO / folder).rglob("*.yaml")
    if p.read_text(encoding="utf-8").find("format: pytest-llm-cassette") != -1
)


def test_the_committed_cassettes_are_found() -> None:
    assert len(COMMITTED) >= 20


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(REPO)))
def test_committed_cassettes_are_in_the_current_layout(path: Path) -> None:
    """Written by pytest-llm as it writes today: a re-recording diff shows traffic only."""
    from pytest_llm.cassette._format import relayout

    assert relayout(load(path, redact=False)) == path.read_text(encoding="utf-8")
