"""The loopback server: the chain on a real socket, for clients in other processes.

Faults here are written by hand as minimal handlers at order 100 (where the faults
package sits), so these tests depend only on the request flow.
"""

from __future__ import annotations

import asyncio
import errno
import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import pytest_llm
from loopback import LoopbackServer
from pytest_llm import FakeProvider, LLMServer
from pytest_llm._flow import Exchange, Next, Outcome, Reply, TransportFailure, router

OPENAI_MAJOR = int(openai.__version__.split(".")[0])
USER = [{"role": "user", "content": "What is the capital of France?"}]


class Fault:
    """A minimal fault handler: the scripted outcomes first, then the rest of the chain."""

    order = 100

    def __init__(self, *outcomes: Outcome | Callable[[Reply], Reply]) -> None:
        self.outcomes = list(outcomes)
        self.fired = 0

    def handle(self, exchange: Exchange, nxt: Next) -> Outcome:
        if not self.outcomes:
            return nxt(exchange)
        self.fired += 1
        outcome = self.outcomes.pop(0)
        if callable(outcome):
            reply = nxt(exchange)
            assert isinstance(reply, Reply)
            return outcome(reply)
        return outcome


def rate_limited(retry_after: str = "0", *, should_retry: str | None = None) -> Reply:
    body = {
        "error": {
            "message": "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    headers = [
        ("content-type", "application/json"),
        ("retry-after", retry_after),
        ("retry-after-ms", str(int(float(retry_after) * 1000) or 10)),
    ]
    if should_retry is not None:
        headers.append(("x-should-retry", should_retry))
    return Reply(429, headers, body=json.dumps(body).encode())


def cut_after(n: int, kind: str = "read_error", delay: float = 0.0) -> Callable[[Reply], Reply]:
    """The first ``n`` events of the reply, then a transport failure."""

    def cut(reply: Reply) -> Reply:
        assert reply.events is not None
        failure = TransportFailure(kind, f"{kind} after {n} events", delay)
        return Reply(reply.status, reply.headers, events=reply.events[:n], failure=failure)

    return cut


@pytest.fixture
def fault() -> Iterator[Callable[..., Fault]]:
    """Activate a :class:`Fault` for the rest of the test."""
    made: list[Any] = []

    def make(*outcomes: Any) -> Fault:
        f = Fault(*outcomes)
        cm = router.activate(f)
        cm.__enter__()
        made.append(cm)
        return f

    yield make
    for cm in reversed(made):
        cm.__exit__(None, None, None)


def client(server: LLMServer, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", **kwargs)


SUBPROCESS = textwrap.dedent(
    """
    import json, sys, openai
    # OPENAI_BASE_URL and OPENAI_API_KEY come from the environment
    client = openai.OpenAI(max_retries=int(sys.argv[1]))
    try:
        completion = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital of France?"}]
        )
        print(json.dumps({"content": completion.choices[0].message.content}))
    except openai.APIStatusError as exc:
        print(json.dumps({"error": type(exc).__name__, "status": exc.status_code, "body": exc.body}))
    except openai.APIConnectionError as exc:
        print(json.dumps({"error": type(exc).__name__}))
    """
)


def run_subprocess(max_retries: int = 2) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", SUBPROCESS, str(max_retries)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


# -- acceptance: another process, the scripted reply and the scripted fault ---------------


def test_subprocess_gets_the_scripted_reply_after_the_scripted_429s(
    llm_fake: FakeProvider, llm_server: LLMServer, fault: Callable[..., Fault]
) -> None:
    llm_fake.add("Paris.")
    f = fault(rate_limited("0"), rate_limited("0"))
    assert os.environ["OPENAI_BASE_URL"] == llm_server.base_url
    assert run_subprocess() == {"content": "Paris."}
    assert f.fired == 2
    assert len(llm_server.exchanges) == 3  # two 429s, then the answer: the SDK's own retries
    assert len(llm_fake.requests) == 1
    assert llm_fake.requests.last.library == "server"


def test_subprocess_sees_the_scripted_fault_as_the_sdk_error(
    llm_fake: FakeProvider, llm_server: LLMServer, fault: Callable[..., Fault]
) -> None:
    fault(rate_limited("0", should_retry="false"))
    assert run_subprocess() == {
        "error": "RateLimitError",
        "status": 429,
        "body": {
            "message": "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        },
    }
    assert len(llm_fake.requests) == 0


def test_subprocess_sees_a_reset_as_a_connection_error(
    llm_fake: FakeProvider, llm_server: LLMServer, fault: Callable[..., Fault]
) -> None:
    f = fault(TransportFailure("read_error", "reset"))
    assert run_subprocess(max_retries=0) == {"error": "APIConnectionError"}
    assert f.fired == 1
    assert len(llm_server.exchanges) == 1


# -- streams through the real SDK ---------------------------------------------------------


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_streams_reach_the_sdk_event_by_event(
    llm_fake: FakeProvider, llm_server: LLMServer, api: str, is_async: bool
) -> None:
    llm_fake.add("Paris is the capital of France.")

    async def consume_async() -> list[Any]:
        c = openai.AsyncOpenAI(base_url=llm_server.base_url, api_key="sk-test")
        if api == "chat":
            s = await c.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
        else:
            s = await c.responses.create(model="m", input="x", stream=True)
        return [e async for e in s]

    if is_async:
        events = asyncio.run(consume_async())
    elif api == "chat":
        events = list(
            client(llm_server).chat.completions.create(model="m", messages=USER, stream=True)
        )  # type: ignore[arg-type]
    else:
        events = list(client(llm_server).responses.create(model="m", input="x", stream=True))
    if api == "chat":
        text = "".join(e.choices[0].delta.content or "" for e in events)
    else:
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert events[-1].type == "response.completed"
    assert text == "Paris is the capital of France."
    assert len(events) >= 8
    assert llm_fake.requests.last.library == "server"


@pytest.mark.realtime
def test_each_event_is_flushed_and_part_delays_are_real_time(
    llm_fake: FakeProvider, llm_server: LLMServer, fault: Callable[..., Fault]
) -> None:
    def paced(reply: Reply) -> Reply:
        assert reply.events is not None
        reply.events[-1].t = reply.events[-2].t + 0.3  # [DONE] comes 0.3 s after the rest
        reply.timing = 1.0
        return reply

    llm_fake.add("one two")
    fault(paced)
    arrivals: list[tuple[float, bytes]] = []
    conn = http.client.HTTPConnection("127.0.0.1", llm_server.port)
    body = json.dumps({"model": "m", "messages": USER, "stream": True})
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
    response = conn.getresponse()
    assert response.getheader("transfer-encoding") == "chunked"
    while chunk := response.read1(65536):
        arrivals.append((time.perf_counter() - t0, chunk))
    data = b"".join(c for _, c in arrivals)
    assert data.endswith(b"data: [DONE]\n\n")
    before_done = [t for t, c in arrivals if b"[DONE]" not in c]
    done_at = next(t for t, c in arrivals if b"[DONE]" in c)
    assert before_done
    assert done_at - max(before_done) >= 0.28  # a real pause before the last event
    assert max(before_done) < 1.0  # ... and the earlier events did not wait for it


def test_reset_mid_stream_is_an_error_in_the_sdk(
    llm_fake: FakeProvider, llm_server: LLMServer, fault: Callable[..., Fault]
) -> None:
    llm_fake.add("Paris is the capital of France.")
    fault(cut_after(3))
    got: list[str | None] = []
    expected = openai.APIConnectionError if OPENAI_MAJOR >= 3 else __import__("httpx").ReadError
    with pytest.raises(expected) as info:
        stream = client(llm_server, max_retries=0).chat.completions.create(
            model="m",
            messages=USER,  # type: ignore[arg-type]
            stream=True,
        )
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
    assert got == ["", "Paris", " is"]
    cause = info.value.__cause__ if OPENAI_MAJOR >= 3 else info.value
    assert "Connection reset by peer" in str(cause) or type(cause).__name__ == "ReadError"


def test_a_reset_is_a_real_tcp_rst(
    llm_fake: FakeProvider, llm_server: LLMServer, fault: Callable[..., Fault]
) -> None:
    llm_fake.add("Paris is the capital of France.")
    fault(cut_after(2))
    with socket.create_connection(("127.0.0.1", llm_server.port)) as sock:
        body = json.dumps({"model": "m", "messages": USER, "stream": True}).encode()
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        received = b""
        with pytest.raises(ConnectionResetError) as info:
            while chunk := sock.recv(65536):
                received += chunk
    assert info.value.errno == errno.ECONNRESET  # an RST, not an orderly close (b"")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert received.count(b"data: ") == 2


def test_stall_mid_stream_meets_the_clients_read_timeout(
    llm_fake: FakeProvider, llm_server: LLMServer, fault: Callable[..., Fault]
) -> None:
    llm_fake.add("Paris is the capital of France.")
    fault(cut_after(3, "read_timeout"))  # then silence until the client gives up
    got: list[str | None] = []
    expected = openai.APITimeoutError if OPENAI_MAJOR >= 3 else __import__("httpx").ReadTimeout
    t0 = time.perf_counter()
    with pytest.raises(expected):
        stream = client(llm_server, max_retries=0, timeout=0.3).chat.completions.create(
            model="m",
            messages=USER,  # type: ignore[arg-type]
            stream=True,
        )
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
    elapsed = time.perf_counter() - t0
    assert got == ["", "Paris", " is"]
    assert elapsed >= 0.3  # the client's real read timeout (no upper bound: shared machines)
    _wait_for(lambda: len(llm_server.threads) == 1)  # the stalled handler noticed and left


def test_a_stall_before_the_response_is_a_timeout(
    llm_server: LLMServer, fault: Callable[..., Fault]
) -> None:
    fault(TransportFailure("read_timeout", "no answer"))
    with pytest.raises(openai.APITimeoutError):
        client(llm_server, max_retries=0, timeout=0.2).responses.create(model="m", input="x")


def test_reply_delay_is_waited_before_the_status_line(
    llm_fake: FakeProvider, llm_server: LLMServer, fault: Callable[..., Fault]
) -> None:
    def slow(reply: Reply) -> Reply:
        reply.delay = 0.25
        return reply

    fault(slow)
    t0 = time.perf_counter()
    assert client(llm_server).responses.create(model="m", input="x").output_text
    assert time.perf_counter() - t0 >= 0.25


@pytest.mark.parametrize(
    ("kind", "sdk_error"),
    [
        ("connect_error", "APIConnectionError"),
        ("read_error", "APIConnectionError"),
        ("remote_protocol", "APIConnectionError"),
    ],
)
def test_failures_before_the_response(
    llm_server: LLMServer, fault: Callable[..., Fault], kind: str, sdk_error: str
) -> None:
    fault(TransportFailure(kind, kind))
    with pytest.raises(openai.APIConnectionError) as info:
        client(llm_server, max_retries=0).responses.create(model="m", input="x")
    assert type(info.value).__name__ == sdk_error


def test_connect_error_closes_without_a_response(
    llm_server: LLMServer, fault: Callable[..., Fault]
) -> None:
    fault(TransportFailure("connect_error", "refused"))
    conn = http.client.HTTPConnection("127.0.0.1", llm_server.port)
    conn.request("POST", "/v1/responses", "{}")
    with pytest.raises(http.client.RemoteDisconnected):
        conn.getresponse()


# -- connections ----------------------------------------------------------------------------


def test_keep_alive_serves_sequential_requests_on_one_connection(
    llm_fake: FakeProvider, llm_server: LLMServer
) -> None:
    llm_fake.add("first")
    llm_fake.add("second")
    c = client(llm_server)
    assert c.chat.completions.create(model="m", messages=USER).choices[0].message.content == "first"  # type: ignore[arg-type]
    assert c.responses.create(model="m", input="x").output_text == "second"
    assert c.embeddings.create(model="m", input="x", dimensions=2).data[0].embedding
    assert llm_server.accepted == 1
    assert len(llm_server.exchanges) == 3


def test_keep_alive_after_a_stream_read_to_its_end(
    llm_fake: FakeProvider, llm_server: LLMServer
) -> None:
    # The SDKs close a stream at [DONE] without reading the chunked terminator, so their
    # next request opens a new connection (as against the real API); a client that reads
    # the body to its end keeps the connection.
    conn = http.client.HTTPConnection("127.0.0.1", llm_server.port)
    body = json.dumps({"model": "m", "messages": USER, "stream": True})
    conn.request("POST", "/v1/chat/completions", body)
    streamed = conn.getresponse().read()
    assert streamed.endswith(b"data: [DONE]\n\n")
    sock = conn.sock
    conn.request("POST", "/v1/responses", json.dumps({"model": "m", "input": "x"}))
    assert json.loads(conn.getresponse().read())["status"] == "completed"
    assert conn.sock is sock
    assert llm_server.accepted == 1


def test_keep_alive_with_a_raw_http_client_and_a_chunked_request_body(
    llm_fake: FakeProvider, llm_server: LLMServer
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", llm_server.port)
    body = json.dumps({"model": "m", "input": "chunked upload"}).encode()
    conn.request("POST", "/v1/responses", iter([body[:10], body[10:]]), encode_chunked=True)
    first = conn.getresponse()
    assert json.loads(first.read())["output"][0]["content"][0]["text"]
    sock = conn.sock
    conn.request(
        "POST", "/v1/embeddings", json.dumps({"model": "m", "input": "x", "dimensions": 2})
    )
    second = conn.getresponse()
    assert len(json.loads(second.read())["data"][0]["embedding"]) == 2
    assert conn.sock is sock
    assert llm_server.accepted == 1
    assert llm_fake.requests[0].last_user_message == "chunked upload"


def test_expect_100_continue_and_connection_close(
    llm_fake: FakeProvider, llm_server: LLMServer
) -> None:
    body = json.dumps({"model": "m", "input": "x" * 5000}).encode()
    with socket.create_connection(("127.0.0.1", llm_server.port)) as sock:
        sock.sendall(
            b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Connection: close\r\ncontent-length: %d\r\n\r\n" % len(body)
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        received = b""
        while chunk := sock.recv(65536):  # the server closes after the response
            received += chunk
    head, _, payload = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nconnection: close" in head.lower()
    assert json.loads(payload)["status"] == "completed"
    assert len(llm_fake.requests.last.json["input"]) == 5000


def test_concurrent_requests_are_served_at_once(
    llm_fake: FakeProvider, llm_server: LLMServer
) -> None:
    n = 8
    barrier = threading.Barrier(n, timeout=10)

    class Together:
        """Each request waits until all n are inside the server: serial serving would fail."""

        order = 100

        def handle(self, exchange: Exchange, nxt: Next) -> Outcome:
            barrier.wait()
            return nxt(exchange)

    for i in range(n):
        llm_fake.add(f"answer {i}", contains=f"question {i}")
    results: dict[int, str] = {}

    def ask(i: int) -> None:
        c = client(llm_server, max_retries=0)
        reply = c.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": f"question {i}"}],
        )
        results[i] = str(reply.choices[0].message.content)

    with router.activate(Together()):
        threads = [threading.Thread(target=ask, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
    assert results == {i: f"answer {i}" for i in range(n)}
    assert llm_server.accepted == n


def test_stop_is_fast_and_leaves_no_threads(llm_fake: FakeProvider) -> None:
    llm_fake.configure(check_unused=False)
    server = LLMServer().start()
    # an idle keep-alive connection, and a request stalled forever
    idle = http.client.HTTPConnection("127.0.0.1", server.port)
    idle.request(
        "POST", "/v1/embeddings", json.dumps({"model": "m", "input": "x", "dimensions": 1})
    )
    idle.getresponse().read()
    with router.activate(Fault(TransportFailure("read_timeout", "forever"))):
        stalled = socket.create_connection(("127.0.0.1", server.port))
        stalled.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\n\r\n{}")
        _wait_for(lambda: len(server.exchanges) == 2)
        assert len(server.threads) == 3  # accept loop, idle connection, stalled request
        server.stop()  # wakes the accept loop and shuts connections: no wait for the stall
    assert server.threads == []
    assert not [t for t in threading.enumerate() if t.name.startswith("pytest-llm-server")]
    assert stalled.recv(100) == b""  # closed, without a response
    stalled.close()
    idle.close()
    assert repr(server) == "<LLMServer stopped>"


# -- the clock ------------------------------------------------------------------------------


class RecordingClock:
    """A virtual clock: records sleeps, never waits."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def now(self) -> Any:
        import datetime as dt

        return dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 4))
        self.t += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def test_under_a_virtual_clock_server_waits_are_recorded_not_waited(
    llm_fake: FakeProvider,
    llm_server: LLMServer,
    fault: Callable[..., Fault],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def slow(reply: Reply) -> Reply:
        assert reply.events is not None
        reply.delay = 30.0
        reply.timing = 100.0  # 20 ms between events becomes 2 s
        return reply

    clock = RecordingClock()
    monkeypatch.setattr(router, "clock", clock)
    llm_fake.add("one two")
    fault(slow)
    stream = client(llm_server).chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "one two"
    # 30 s to the headers, 0.2 s x 100 to the first event, then 20 ms x 100 between events
    assert clock.sleeps == [30.0, 20.0, 2.0, 2.0, 2.0, 2.0]
    assert llm_fake.requests.last.json["messages"] == USER


# -- errors inside the server --------------------------------------------------------------


def test_a_miss_is_a_500_the_sdk_does_not_retry() -> None:
    with LLMServer() as server:
        with pytest.raises(openai.InternalServerError) as info:
            client(server).chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
        assert len(server.exchanges) == 1  # x-should-retry: false, despite 2 default retries
        assert info.value.response.headers["x-should-retry"] == "false"
        body = info.value.body
        assert isinstance(body, dict)
        assert body["type"] == "pytest_llm_error"
        assert body["message"].startswith(
            f"pytest-llm blocked POST {server.base_url}/chat/completions: no cassette, fault or "
            "fake answered it"
        )
        assert server.errors == [body["message"]]


def test_a_handler_that_raises_is_a_500_naming_it() -> None:
    class Broken:
        order = 100

        def handle(self, exchange: Exchange, nxt: Next) -> Outcome:
            raise KeyError("model")

    with (
        LLMServer() as server,
        router.activate(Broken()),
        pytest.raises(openai.InternalServerError),
    ):
        client(server).responses.create(model="m", input="x")
    assert server.errors == [
        "pytest-llm's server could not answer POST /v1/responses: a handler raised KeyError: 'model'"
    ]


def test_forward_without_upstream_is_a_502_explaining_the_fix() -> None:
    with (
        LLMServer() as server,
        router.allow_network(),
        router.activate(Fault()),
        pytest.raises(openai.APIStatusError) as info,
    ):
        client(server).responses.create(model="m", input="x")
    assert info.value.status_code == 502
    assert server.errors[0].splitlines() == [
        "pytest-llm's server was asked to send POST /v1/responses to the real network "
        "(recording or --llm-allow-network), but it has no upstream.",
        "Fix: LLMServer(upstream='https://api.openai.com/v1') (the provider's base URL), or "
        "replay from a cassette / answer with llm_fake.",
    ]


# -- cassettes through the server ------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_record_through_the_server_then_replay_without_upstream(
    tmp_path: Path, loopback: LoopbackServer, stream: bool
) -> None:
    path = tmp_path / "served.yaml"

    def ask(server: LLMServer) -> str:
        c = client(server, max_retries=0)
        if stream:
            s = c.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
            return "".join(ch.choices[0].delta.content or "" for ch in s)
        return str(c.chat.completions.create(model="m", messages=USER).choices[0].message.content)  # type: ignore[arg-type]

    with (
        pytest_llm.use_cassette(path, record="once") as recording,
        LLMServer(upstream=loopback.base_url) as server,
    ):
        live = ask(server)
    assert live == "Echo: What is the capital of France?"
    assert len(loopback.requests) == 1
    assert len(recording.recorded) == 1
    # the upstream's URL, its loopback host and port written as localhost
    assert recording.recorded[0].url == "http://localhost/v1/chat/completions"
    with pytest_llm.use_cassette(path, check_unused=True), LLMServer() as server:
        assert ask(server) == live
    assert len(loopback.requests) == 1  # the replay never reached the upstream


def test_an_upstream_that_breaks_off_is_recorded_and_passed_on(tmp_path: Path) -> None:
    event = (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n'
    )
    listener = socket.create_server(("127.0.0.1", 0))

    def upstream() -> None:
        conn, _ = listener.accept()
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(65536)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(event), event)
        )
        _wait_for(lambda: got == ["Hel"])  # the client has the first event: now break off
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    got: list[str | None] = []
    thread = threading.Thread(target=upstream)
    thread.start()
    port = listener.getsockname()[1]
    with (
        pytest_llm.use_cassette(tmp_path / "broken.yaml", record="once") as recording,
        LLMServer(upstream=f"http://127.0.0.1:{port}/v1") as server,
        pytest.raises((openai.APIConnectionError, __import__("httpx").TransportError)),
    ):
        stream = client(server, max_retries=0).chat.completions.create(
            model="m",
            messages=USER,  # type: ignore[arg-type]
            stream=True,
        )
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
    thread.join(5)
    listener.close()
    assert got == ["Hel"]
    (interaction,) = recording.recorded
    response = interaction.data["response"]
    assert len(response["events"]) == 1
    assert response["failure"]["kind"] == "read_error"
    assert "Connection reset by peer" in response["failure"]["message"]


# -- the fixture and the class --------------------------------------------------------------


def test_clients_built_in_the_test_use_the_server(
    llm_fake: FakeProvider, llm_server: LLMServer
) -> None:
    llm_fake.add("via the socket")
    reply = openai.OpenAI().responses.create(model="m", input="x")  # base URL from the env
    assert reply.output_text == "via the socket"
    assert [e.library for e in llm_server.exchanges] == ["server"]
    assert llm_server.env == {
        "OPENAI_BASE_URL": llm_server.base_url,
        "OPENAI_API_KEY": "pytest-llm-replay-key",
        "ANTHROPIC_BASE_URL": llm_server.url,
        "ANTHROPIC_API_KEY": "pytest-llm-replay-key",
        "GOOGLE_GEMINI_BASE_URL": llm_server.url,
        "GEMINI_API_KEY": "pytest-llm-replay-key",
    }
    assert repr(llm_server) == f"<LLMServer {llm_server.base_url} 1 requests>"


@pytest.mark.parametrize(
    ("kwargs", "lines"),
    [
        (
            {"port": -1},
            [
                "LLMServer(): port=-1 is not a TCP port.",
                "Fix: leave it out (a free port is chosen) or pass 1024..65535.",
            ],
        ),
        (
            {"upstream": "api.openai.com/v1"},
            [
                "LLMServer(): upstream='api.openai.com/v1' is not an http(s) URL.",
                "Fix: pass the provider's base URL, e.g. upstream='https://api.openai.com/v1'.",
            ],
        ),
        (
            {"upstrem": "x"},
            [
                "LLMServer() got an unknown option 'upstrem' (did you mean 'upstream'?).",
                "Fix: use one of: port, upstream.",
            ],
        ),
    ],
)
def test_server_bad_input(kwargs: dict[str, Any], lines: list[str]) -> None:
    with pytest.raises(pytest_llm.ConfigError) as info:
        LLMServer(**kwargs)
    assert str(info.value).splitlines() == lines


def test_port_in_use_and_not_running() -> None:
    with LLMServer() as server:
        with pytest.raises(pytest_llm.ConfigError) as info:
            LLMServer(port=server.port).start()
        assert str(info.value).startswith(f"LLMServer cannot listen on 127.0.0.1:{server.port}: ")
    with pytest.raises(pytest_llm.ConfigError) as info:
        _ = server.base_url
    assert str(info.value).splitlines()[0] == "LLMServer is not running, so it has no port yet."


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
