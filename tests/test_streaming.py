"""Streams replay chunk for chunk: same events, same boundaries, sync and async.

The matrix covers each HTTP library the installed openai SDK can use (httpx2 under
3.x, httpx under 1.x/2.x and as a custom client under 3.x), both APIs, and both
``for`` and ``async for``. The live side is a real stream over a loopback socket.
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

import openai
import pytest

import pytest_llm
from loopback import LoopbackServer
from pytest_llm._clock import Clock

OPENAI_MAJOR = int(openai.__version__.split(".")[0])


def _libraries() -> list[str]:
    libs = []
    for name in ("httpx2", "httpx"):
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        if name == "httpx2" and OPENAI_MAJOR < 3:
            continue
        libs.append(name)
    return libs


LIBRARIES = _libraries()


def _client(lib: str, base_url: str, *, is_async: bool) -> Any:
    m = importlib.import_module(lib)
    if is_async:
        return openai.AsyncOpenAI(base_url=base_url, http_client=m.AsyncClient())
    return openai.OpenAI(base_url=base_url, http_client=m.Client())


def _consume(lib: str, base_url: str, api: str, *, is_async: bool) -> list[dict[str, Any]]:
    if not is_async:
        client = _client(lib, base_url, is_async=False)
        if api == "chat":
            stream = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "stream me please"}], stream=True
            )
        else:
            stream = client.responses.create(model="m", input="stream me please", stream=True)
        return [chunk.model_dump() for chunk in stream]

    async def main() -> list[dict[str, Any]]:
        client = _client(lib, base_url, is_async=True)
        if api == "chat":
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "stream me please"}], stream=True
            )
        else:
            stream = await client.responses.create(model="m", input="stream me please", stream=True)
        return [chunk.model_dump() async for chunk in stream]

    return asyncio.run(main())


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("lib", LIBRARIES)
def test_live_and_replayed_streams_are_equal_chunk_for_chunk(
    tmp_path: Path, loopback: LoopbackServer, lib: str, is_async: bool, api: str
) -> None:
    path = tmp_path / "stream.yaml"
    with pytest_llm.use_cassette(path, record="once"):
        live = _consume(lib, loopback.base_url, api, is_async=is_async)
    served = len(loopback.requests)
    with pytest_llm.use_cassette(path, check_unused=True) as cassette:
        replayed = _consume(lib, loopback.base_url, api, is_async=is_async)
    assert len(loopback.requests) == served == 1
    assert replayed == live
    assert len(live) >= 5
    recorded = cassette.interactions[0].data
    events = recorded["response"]["events"]
    # one cassette entry per server-sent event; their arrival times in the meta
    assert len(events) == len(live) + (1 if api == "chat" else 0)  # chat ends with [DONE]
    times = recorded["meta"]["event_times"]
    assert len(times) == len(events)
    assert all(isinstance(t, float) for t in times)


class RecordingClock:
    """A clock that only records what it was asked to sleep."""

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


def test_replay_timing_reproduces_recorded_gaps_scaled(tmp_path: Path) -> None:
    from pytest_llm._flow import router

    path = tmp_path / "timed.yaml"
    with LoopbackServer(gap=0.05) as slow, pytest_llm.use_cassette(path, record="once"):
        _consume(LIBRARIES[0], slow.base_url, "chat", is_async=False)
    clock = RecordingClock()
    assert isinstance(clock, Clock)
    old, router.clock = router.clock, clock
    try:
        with pytest_llm.use_cassette(path, replay_timing=0.5):
            _consume(LIBRARIES[0], "http://127.0.0.1:9/v1", "chat", is_async=False)
        recorded = pytest_llm.Cassette(path).open().interactions[0].data["meta"]["event_times"]
        gaps = [round((b - a) * 0.5, 4) for a, b in zip([0.0, *recorded], recorded, strict=False)]
        assert clock.sleeps == [g for g in gaps if g > 0]
        assert sum(clock.sleeps) >= 0.5 * 0.05 * 4  # at least the server's gaps, halved
        clock.sleeps.clear()
        with pytest_llm.use_cassette(path):
            _consume(LIBRARIES[0], "http://127.0.0.1:9/v1", "chat", is_async=False)
        assert clock.sleeps == []  # timing is off by default
    finally:
        router.clock = old


def test_waits_longer_than_the_read_timeout_raise_read_timeout_on_the_clock() -> None:
    """A stall is a wait on the injected clock; past the client's read timeout it is a ReadTimeout."""
    from pytest_llm._flow import Reply, router
    from pytest_llm._sse import SSEEvent

    class Stall:
        order = 100

        def handle(self, exchange: Any, nxt: Any) -> Reply:
            events = [SSEEvent(data=f'{{"n": {i}}}', t=float(i * 10)) for i in range(5)]
            return Reply(200, [("content-type", "text/event-stream")], events=events, timing=1.0)

    clock = RecordingClock()
    old, router.clock = router.clock, clock
    m = importlib.import_module(LIBRARIES[0])
    try:
        with (
            router.activate(Stall()),
            m.Client(timeout=m.Timeout(30.0, read=25.0)) as client,
            client.stream("GET", "http://llm.test/stream") as r,
        ):
            got = list(r.iter_lines())
            assert clock.sleeps == [10.0, 10.0, 10.0, 10.0]
            clock.sleeps.clear()
            with (
                m.Client(timeout=m.Timeout(30.0, read=5.0)) as client,
                pytest.raises(m.ReadTimeout),
                client.stream("GET", "http://llm.test/stream") as r,
            ):
                got = list(r.iter_lines())
            assert clock.sleeps == [5.0]
            assert got[:1] == ['data: {"n": 0}']
    finally:
        router.clock = old


def test_async_replay_with_timing_waits_once(tmp_path: Path) -> None:
    """openai 3.x drains a finished async stream again: the replay must not start over."""
    from pytest_llm._flow import router

    path = tmp_path / "timed.yaml"
    with LoopbackServer(gap=0.02) as slow, pytest_llm.use_cassette(path, record="once"):
        live = _consume(LIBRARIES[0], slow.base_url, "chat", is_async=True)
    clock = RecordingClock()
    old, router.clock = router.clock, clock
    try:
        with pytest_llm.use_cassette(path, replay_timing="real"):
            replayed = _consume(LIBRARIES[0], "http://127.0.0.1:9/v1", "chat", is_async=True)
    finally:
        router.clock = old
    assert replayed == live
    times = pytest_llm.Cassette(path).open().interactions[0].data["meta"]["event_times"]
    assert len(clock.sleeps) == len(
        [1 for a, b in zip([0.0, *times], times, strict=False) if b > a]
    )
