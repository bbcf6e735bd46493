"""The cache, the semantic cache and coalescing through the client and the real openai SDK
(CONTRACTS 48-51, 56): requests are counted where the fake provider sees them.
"""

from __future__ import annotations

import asyncio
import copy
import multiprocessing
import sqlite3
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from client_helpers import BASE_URL, MESSAGES, Mode, key_for, reached, route, seen
from pydantic import BaseModel
from redis_server import RedisServer, redis_available

from pytest_llm import VirtualClock, faults
from pytest_llm.client import (
    AsyncResilientClient,
    Cache,
    CacheBackendWarning,
    Price,
    ResilientClient,
    SemanticCache,
    StreamInterrupted,
    StructuredOutputError,
    call_info,
    openai_embedder,
)

PRICE = Price(input=1.0, output=2.0)
TOOL = [{"name": "weather", "arguments": {"city": "Paris", "unit": "C"}}]


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    if not redis_available():  # pragma: no cover - CI installs it
        pytest.skip("redis-server is not installed")
    with RedisServer() as server:
        yield server


def _client(mode: Mode, **options: Any) -> Any:
    options.setdefault("cache", True)
    return mode.client(route("gpt-4o-mini", price=PRICE), max_retries=0, **options)


# -- 56: a hit is the live reply ---------------------------------------------------------


@pytest.mark.parametrize("api", ["chat", "responses", "embeddings"])
def test_hit_hands_back_what_the_live_call_returned(mode: Mode, llm_fake: Any, api: str) -> None:
    if api == "embeddings":
        client = mode.client(route("text-embedding-3-small", price=PRICE), cache=True)
        method = client.embeddings.create
        kwargs = {"model": "text-embedding-3-small", "input": ["un", "deux"]}
    else:
        llm_fake.add("Paris, probably.", tool_calls=TOOL, times=None)
        client = _client(mode)
        if api == "chat":
            method, kwargs = client.chat.completions.create, {"temperature": 0}
        else:
            method, kwargs = client.responses.create, {"input": "Weather?", "temperature": 0}
    live = mode.call(method, **kwargs)
    hit = mode.call(method, **kwargs)
    assert reached(llm_fake) == 1
    assert type(hit) is type(live)
    assert hit == live
    assert hit.to_json() == live.to_json()  # byte-equal, tool-call arguments included
    assert hit is not live
    assert (call_info(live).cache, call_info(hit).cache) == ("miss", "hit")
    assert call_info(live).cost > 0
    assert call_info(hit).cost == 0.0
    assert call_info(hit).attempts == []
    assert call_info(hit).usage == {**call_info(live).usage, "from_cache": 1}
    if api == "chat":
        assert hit.choices[0].message.tool_calls[0].function.arguments == (
            '{"city": "Paris", "unit": "C"}'
        )


def test_hit_then_turn_two_sends_the_same_history(llm_fake: Any, llm_clock: VirtualClock) -> None:
    """The cached assistant message passed back as history is the live one: turn two
    of a conversation is one key whether turn one was live or a hit."""
    llm_fake.add(tool_calls=TOOL, times=None)
    client = ResilientClient([route("m")], cache=True, clock=llm_clock)
    live = client.chat.completions.create(messages=MESSAGES, temperature=0)
    hit = client.chat.completions.create(messages=MESSAGES, temperature=0)
    for message in (live.choices[0].message, hit.choices[0].message):
        history = [*MESSAGES, message, {"role": "user", "content": "And tomorrow?"}]
        client.chat.completions.create(messages=history, temperature=0)
    assert reached(llm_fake) == 2
    assert llm_fake.requests[1].json["messages"][1]["tool_calls"][0]["function"]["arguments"] == (
        '{"city": "Paris", "unit": "C"}'
    )


def test_a_cache_set_or_dropped_after_construction_counts_from_the_next_call(
    mode: Mode, llm_fake: Any
) -> None:
    """Whether a call reads the exact cache before its flow is built is decided once per
    configuration: setting ``client.cache`` (or ``semantic_cache``) decides again, so the
    next call uses the cache it now has, or none."""
    llm_fake.add("Paris.", times=None)
    client = mode.client(route("m"), max_retries=0, cache=True)
    method = client.chat.completions.create

    def cache_status() -> str:
        return call_info(mode.call(method, messages=MESSAGES, temperature=0)).cache

    assert [cache_status(), cache_status()] == ["miss", "hit"]
    client.cache = None
    assert cache_status() == "off"
    client.cache = Cache("memory")
    assert [cache_status(), cache_status()] == ["miss", "hit"]
    assert reached(llm_fake) == 3


# -- 48: every field that changes the output is in the key -------------------------------

BASE: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0}
CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("model", {"model": "gpt-4o"}),
    ("messages", {"messages": [{"role": "user", "content": "Capital of Spain?"}]}),
    ("messages[].name", {"messages": [{**MESSAGES[0], "name": "bob"}]}),
    (
        "messages[].tool_calls",
        {
            "messages": [
                *MESSAGES,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"a": 1}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "1"},
            ]
        },
    ),
    (
        "tools",
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
    ),
    ("tool_choice", {"tool_choice": "none"}),
    ("response_format", {"response_format": {"type": "json_object"}}),
    ("temperature", {"temperature": 0.0001}),
    ("top_p", {"top_p": 0.5}),
    ("max_tokens", {"max_tokens": 50}),
    ("max_completion_tokens", {"max_completion_tokens": 50}),
    ("stop", {"stop": ["\n"]}),
    ("seed", {"seed": 7}),
    ("presence_penalty", {"presence_penalty": 0.5}),
    ("frequency_penalty", {"frequency_penalty": 0.5}),
    ("reasoning_effort", {"reasoning_effort": "low"}),
    ("logit_bias", {"logit_bias": {"50256": -100}}),
    ("extra_body", {"extra_body": {"top_k": 5}}),
]


@pytest.mark.parametrize(("field", "change"), CHANGES, ids=[c[0] for c in CHANGES])
def test_changing_one_key_field_misses(
    field: str, change: dict[str, Any], llm_fake: Any, llm_clock: VirtualClock
) -> None:
    client = ResilientClient(base_url=BASE_URL, api_key=key_for("m"), cache=True, clock=llm_clock)
    create = client.chat.completions.create
    create(**BASE)
    assert call_info(create(**BASE)).cache == "hit"
    changed = create(**{**BASE, **change})
    assert reached(llm_fake) == 2, f"{field}: served from the cache although changed"
    assert call_info(changed).cache in ("miss", "off")


def test_base_url_is_in_the_key_and_dict_order_is_not(
    llm_fake: Any, llm_clock: VirtualClock
) -> None:
    cache = Cache(clock=llm_clock)
    one = ResilientClient([route("m")], cache=cache, clock=llm_clock)
    other = ResilientClient([route("m", base_url="http://other.test/v1")], cache=cache)
    fmt1 = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    fmt2 = {"json_schema": {"schema": {"type": "object"}, "name": "a"}, "type": "json_schema"}
    one.chat.completions.create(messages=MESSAGES, temperature=0, response_format=fmt1)
    hit = one.chat.completions.create(messages=MESSAGES, temperature=0, response_format=fmt2)
    assert call_info(hit).cache == "hit"
    assert reached(llm_fake) == 1
    miss = other.chat.completions.create(messages=MESSAGES, temperature=0, response_format=fmt1)
    assert call_info(miss).cache == "miss"
    assert reached(llm_fake) == 2
    # extra_body={"seed": 1} and seed=1 are the same request on the wire: one key
    one.chat.completions.create(messages=MESSAGES, temperature=0, seed=1)
    same = one.chat.completions.create(messages=MESSAGES, temperature=0, extra_body={"seed": 1})
    assert call_info(same).cache == "hit"
    assert reached(llm_fake) == 3


# -- 49: what is never stored ------------------------------------------------------------


def test_not_cacheable_requests_are_off_and_always_sent(mode: Mode, llm_fake: Any) -> None:
    client = _client(mode)
    for kwargs in ({}, {"temperature": 0.7}, {"temperature": 0, "n": 2}):
        first = mode.call(client.chat.completions.create, **kwargs)
        mode.call(client.chat.completions.create, **kwargs)
        assert call_info(first).cache == "off", kwargs
    assert reached(llm_fake) == 6


@pytest.mark.parametrize("finish_reason", ["length", "content_filter"])
def test_cut_replies_are_not_stored(mode: Mode, llm_fake: Any, finish_reason: str) -> None:
    llm_fake.add("cut sh", finish_reason=finish_reason)
    client = _client(mode)
    first = mode.call(client.chat.completions.create, temperature=0)
    again = mode.call(client.chat.completions.create, temperature=0)
    assert first.choices[0].finish_reason == finish_reason
    assert again.choices[0].finish_reason == "stop"
    assert call_info(again).cache == "miss"
    assert reached(llm_fake) == 2


@pytest.mark.parametrize(
    "fault",
    [faults.ServerError(503), faults.RateLimited(retry_after=1), faults.ReadTimeout()],
    ids=["503", "429", "timeout"],
)
def test_errors_are_never_stored(mode: Mode, llm_faults: Any, llm_fake: Any, fault: Any) -> None:
    llm_faults.add(fault)
    client = _client(mode, timeout=5)
    with pytest.raises((openai.APIError, openai.APITimeoutError)):
        mode.call(client.chat.completions.create, temperature=0)
    reply = mode.call(client.chat.completions.create, temperature=0)
    assert call_info(reply).cache == "miss"
    assert reply.choices[0].message.content == "This is a fake reply from pytest-llm."
    assert seen(llm_faults) == 2
    assert call_info(mode.call(client.chat.completions.create, temperature=0)).cache == "hit"


def test_an_interrupted_stream_is_not_stored(mode: Mode, llm_fake: Any, llm_faults: Any) -> None:
    llm_fake.add("one two three four five six", times=None)
    llm_faults.add(faults.ConnectionReset(after_chunks=3))
    client = _client(mode)
    with pytest.raises(StreamInterrupted):
        mode.stream(client.chat.completions.create, temperature=0)
    stream, _ = mode.stream(client.chat.completions.create, temperature=0)
    assert call_info(stream).cache == "off"  # streams never read nor write the cache
    reply = mode.call(client.chat.completions.create, temperature=0)
    assert call_info(reply).cache == "miss"
    assert reached(llm_fake) == 3


class Capital(BaseModel):
    city: str
    country: str


def test_a_failed_structured_validation_is_not_stored(mode: Mode, llm_fake: Any) -> None:
    llm_fake.add({"city": "Paris"})  # country missing
    llm_fake.add({"city": "Paris", "country": "France"})
    client = _client(mode, max_reasks=0)
    with pytest.raises(StructuredOutputError):
        mode.call(client.chat.completions.parse, temperature=0, response_format=Capital)
    ok = mode.call(client.chat.completions.parse, temperature=0, response_format=Capital)
    assert (ok.choices[0].message.parsed.city, reached(llm_fake)) == ("Paris", 2)
    again = mode.call(client.chat.completions.parse, temperature=0, response_format=Capital)
    assert again.choices[0].message.parsed == ok.choices[0].message.parsed
    assert call_info(again).cache == "hit"
    assert reached(llm_fake) == 2


# -- TTL and backends --------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", "redis"])
def cache_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cache.db'}"
    server: RedisServer = request.getfixturevalue("redis_server")
    cache = Cache(server.url)
    cache.clear()
    cache.close()
    return server.url


def test_ttl_holds_on_virtual_time_on_every_backend(
    mode: Mode, llm_fake: Any, llm_clock: VirtualClock, cache_url: str
) -> None:
    client = _client(mode, cache=Cache(cache_url, ttl=10, clock=llm_clock))
    mode.call(client.chat.completions.create, temperature=0)
    llm_clock.advance(9.9)
    assert call_info(mode.call(client.chat.completions.create, temperature=0)).cache == "hit"
    llm_clock.advance(0.1)
    assert call_info(mode.call(client.chat.completions.create, temperature=0)).cache == "miss"
    assert reached(llm_fake) == 2


def test_cache_url_on_the_client_follows_the_clients_clock(
    llm_fake: Any, llm_clock: VirtualClock, tmp_path: Path
) -> None:
    client = ResilientClient([route("m")], cache=f"sqlite:///{tmp_path / 'c.db'}")
    assert client.cache is not None
    client.chat.completions.create(messages=MESSAGES, temperature=0)
    hit = client.chat.completions.create(messages=MESSAGES, temperature=0)
    assert call_info(hit).cache == "hit"
    assert call_info(hit).route == "m@llm.test"  # who served the stored reply
    assert client.cache.clock is client.clock  # TTLs follow llm_clock with no clock= to pass


def _rewrite_in_another_process(path: str, key: str | None) -> None:
    """A real second process: overwrite ``key``'s reply, or ``clear()`` the cache."""
    ctx = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    proc = ctx.Process(target=_rewrite, args=(path, key))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0


def _rewrite(path: str, key: str | None) -> None:
    with Cache(f"sqlite:///{path}") as cache:
        if key is None:
            cache.clear()
            return
        entry = cache.get(key)
        assert entry is not None
        payload = copy.deepcopy(entry.payload)
        payload["choices"][0]["message"]["content"] = "Rewritten by another process."
        assert cache.put(key, payload, meta=entry.meta) == "stored"


@pytest.mark.parametrize("change", ["overwrite", "clear"])
def test_sqlite_hits_see_another_process_change_at_once(
    mode: Mode, llm_fake: Any, tmp_path: Path, change: str
) -> None:
    path = tmp_path / "c.db"
    client = _client(mode, cache=Cache(f"sqlite:///{path}", clock=mode.clock))
    first = mode.call(client.chat.completions.create, temperature=0)
    for _ in range(2):  # the second hit answers from the row the first one read
        hit = mode.call(client.chat.completions.create, temperature=0)
        assert call_info(hit).cache == "hit"
        assert hit == first
    with sqlite3.connect(path) as db:
        [(key,)] = db.execute("SELECT key FROM cache_entries").fetchall()
    _rewrite_in_another_process(str(path), key if change == "overwrite" else None)
    after = mode.call(client.chat.completions.create, temperature=0)
    if change == "overwrite":
        assert after.choices[0].message.content == "Rewritten by another process."
        assert call_info(after).cache == "hit"
        assert reached(llm_fake) == 1
    else:
        assert after.choices[0].message.content == first.choices[0].message.content
        assert call_info(after).cache == "miss"
        assert reached(llm_fake) == 2


def test_a_backend_failure_is_a_miss_plus_a_warning(
    mode: Mode, llm_fake: Any, llm_clock: VirtualClock
) -> None:
    with RedisServer() as server:
        client = _client(mode, cache=Cache(server.url, clock=llm_clock))
        mode.call(client.chat.completions.create, temperature=0)
        assert call_info(mode.call(client.chat.completions.create, temperature=0)).cache == "hit"
        server.stop()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reply = mode.call(client.chat.completions.create, temperature=0)
    assert reply.choices[0].message.content == "This is a fake reply from pytest-llm."
    info = call_info(reply)
    assert info.cache == "miss"
    assert reached(llm_fake) == 2
    assert {w.category for w in caught} == {CacheBackendWarning}
    assert len(caught) == 2  # the read and the write
    assert "failed to get" in str(caught[0].message)
    assert "failed to put" in str(caught[1].message)
    assert info.extra["cache_errors"][0].startswith("the redis cache backend")
    assert any("failed to get" in note for note in info.extra["degraded"])


# -- semantic cache ----------------------------------------------------------------------


def _semantic(clock: VirtualClock, *, is_async: bool, threshold: float = 0.8) -> SemanticCache:
    sdk: Any = (openai.AsyncOpenAI if is_async else openai.OpenAI)(
        base_url=BASE_URL, api_key=key_for("embed"), max_retries=0
    )
    return SemanticCache(openai_embedder(sdk), threshold=threshold, clock=clock)


def test_semantic_hit_reports_its_similarity(
    mode: Mode, llm_fake: Any, llm_clock: VirtualClock
) -> None:
    llm_fake.configure(embed="words")
    llm_fake.add("Paris.", api="chat")
    semantic = _semantic(llm_clock, is_async=mode.is_async)
    client = _client(mode, semantic_cache=semantic)
    ask = client.chat.completions.create
    first = mode.call(
        ask, temperature=0, messages=[{"role": "user", "content": "capital of France"}]
    )
    near = mode.call(
        ask, temperature=0, messages=[{"role": "user", "content": "the capital of France"}]
    )
    far = mode.call(ask, temperature=0, messages=[{"role": "user", "content": "knit a red scarf"}])
    other = mode.call(
        ask, temperature=0, top_p=0.5, messages=[{"role": "user", "content": "capital of France"}]
    )
    chats = [r for r in llm_fake.requests if r.api == "chat"]
    assert len(chats) == 3  # the near question was a hit; the far one and top_p= missed
    assert near.choices[0].message.content == first.choices[0].message.content == "Paris."
    info = call_info(near)
    assert info.cache == "semantic"
    assert info.cost == 0.0
    assert info.similarity is not None
    assert 0.8 <= info.similarity < 1.0
    assert call_info(far).cache == "miss"
    assert call_info(other).cache == "miss"  # scoped by parameters


def test_exact_cache_is_checked_before_the_semantic_one(
    llm_fake: Any, llm_clock: VirtualClock
) -> None:
    llm_fake.configure(embed="words")
    client = ResilientClient(
        [route("m")], cache=True, semantic_cache=_semantic(llm_clock, is_async=False)
    )
    client.chat.completions.create(messages=MESSAGES, temperature=0)
    embeds = sum(1 for r in llm_fake.requests if r.api == "embeddings")
    hit = client.chat.completions.create(messages=MESSAGES, temperature=0)
    assert call_info(hit).cache == "hit"
    assert sum(1 for r in llm_fake.requests if r.api == "embeddings") == embeds


# -- 50, 51: coalescing -------------------------------------------------------------------


async def _gather_calls(client: AsyncResilientClient, n: int, **kwargs: Any) -> list[Any]:
    kwargs.setdefault("messages", MESSAGES)
    return await asyncio.gather(
        *(client.chat.completions.create(**kwargs) for _ in range(n)), return_exceptions=True
    )


def test_identical_concurrent_async_calls_make_one_upstream_call(
    llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    llm_fake.add(tool_calls=TOOL, times=None)
    llm_faults.add(faults.Slow(seconds=1))
    client = AsyncResilientClient([route("m", price=PRICE)], coalesce=True, clock=llm_clock)
    outs = asyncio.run(_gather_calls(client, 20, temperature=0))
    assert seen(llm_faults) == 1
    assert all(o == outs[0] for o in outs)
    assert len({id(o) for o in outs}) == 20  # each caller its own object
    infos = [call_info(o) for o in outs]
    assert [i.cache for i in infos].count("coalesced") == 19
    assert [i.cache for i in infos].count("miss") == 1
    assert sum(i.cost for i in infos) == max(i.cost for i in infos) > 0
    assert all(i.route == infos[0].route for i in infos)
    # different keys never merge
    llm_faults.add(faults.Slow(seconds=1), times=2)

    async def two() -> list[Any]:
        create = client.chat.completions.create
        return await asyncio.gather(
            create(messages=MESSAGES, temperature=0, seed=1),
            create(messages=MESSAGES, temperature=0, seed=2),
        )

    outs = asyncio.run(two())
    assert seen(llm_faults) == 3
    assert [call_info(o).cache for o in outs] == ["miss", "miss"]


def test_identical_concurrent_thread_calls_make_one_upstream_call(
    llm_fake: Any, llm_clock: VirtualClock
) -> None:
    client = ResilientClient([route("m")], coalesce=True, clock=llm_clock)
    flight = client.coalescer
    assert flight is not None

    def hold(request: Any) -> bool:
        """The leader's request waits at the provider until the 7 others follow it."""
        for _ in range(10_000):  # real time, at most 10 s: threads starting
            if sum(c.followers for c in flight._calls.values()) == 7:
                break
            threading.Event().wait(0.001)
        return True

    llm_fake.add(tool_calls=TOOL, match=hold)
    outs: list[Any] = []

    def one() -> None:
        outs.append(client.chat.completions.create(messages=MESSAGES, temperature=0))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reached(llm_fake) == 1
    assert len(outs) == 8
    assert all(o == outs[0] for o in outs)
    assert len({id(o) for o in outs}) == 8
    assert sorted(call_info(o).cache for o in outs) == ["coalesced"] * 7 + ["miss"]
    assert flight.in_flight() == 0


def test_a_cancelled_leader_hands_over_and_frees_the_key(
    llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    llm_faults.add(faults.Slow(seconds=10))
    llm_faults.add(faults.Slow(seconds=1))
    client = AsyncResilientClient([route("m")], coalesce=True, clock=llm_clock)
    assert client.coalescer is not None

    async def go() -> list[Any]:
        create = client.chat.completions.create
        leader = asyncio.ensure_future(create(messages=MESSAGES, temperature=0))
        while seen(llm_faults) < 1:
            await asyncio.sleep(0)
        followers = [
            asyncio.ensure_future(create(messages=MESSAGES, temperature=0)) for _ in range(3)
        ]
        await asyncio.sleep(0)
        leader.cancel()
        outs = await asyncio.gather(*followers)
        with pytest.raises(asyncio.CancelledError):
            await leader
        return outs

    outs = asyncio.run(go())
    assert all(o is not None and o.choices[0].message.content for o in outs)
    assert seen(llm_faults) == 2  # the leader's request, then one follower took over
    assert sorted(call_info(o).cache for o in outs) == ["coalesced", "coalesced", "miss"]
    assert client.coalescer.in_flight() == 0


def test_a_leaders_error_reaches_every_waiter_and_is_not_cached(
    llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    llm_faults.add(faults.Slow(seconds=30))  # the leader times out after 1 s
    client = AsyncResilientClient(
        [route("m")], coalesce=True, cache=True, max_retries=0, timeout=1, clock=llm_clock
    )
    assert client.coalescer is not None
    outs = asyncio.run(_gather_calls(client, 5, temperature=0))
    assert all(isinstance(o, openai.APITimeoutError) for o in outs), outs
    assert seen(llm_faults) == 1
    assert client.coalescer.in_flight() == 0
    later = asyncio.run(_gather_calls(client, 1, temperature=0))[0]
    assert later.choices[0].message.content == "This is a fake reply from pytest-llm."
    assert call_info(later).cache == "miss"
    assert seen(llm_faults) == 2
