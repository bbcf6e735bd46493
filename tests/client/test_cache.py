"""The exact cache (contracts 48, 49, 56): the key, what is stored, what a hit hands back.

Key and policy are pure logic, tested directly; results come from ``llm_fake`` through
the real openai SDK, so storability and rebuilding are checked on the SDK's own types.
"""

from __future__ import annotations

import copy
import json
import warnings
from typing import Any

import openai
import pydantic
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from pytest_llm import VirtualClock
from pytest_llm.client import ClientConfigError
from pytest_llm.client._cache import (
    Cache,
    CacheBackendWarning,
    CachedEntry,
    Lookup,
    MemoryBackend,
    cache_key,
    cacheable,
    payload_of,
    rebuild,
    safe_url,
    storable,
)
from pytest_llm.fake import FakeProvider

SCOPE = "https://api.openai.com/v1"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
HISTORY = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris?", "name": "alice"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
]
CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": HISTORY,
    "temperature": 0,
    "tools": TOOLS,
    "tool_choice": "auto",
    "response_format": {"type": "text"},
    "top_p": 1,
    "max_tokens": 100,
    "max_completion_tokens": 100,
    "stop": ["\n\n"],
    "seed": 7,
    "n": 1,
    "presence_penalty": 0.1,
    "frequency_penalty": 0.2,
    "reasoning_effort": "low",
    "logit_bias": {"1234": -100},
    "parallel_tool_calls": True,
    "logprobs": False,
}


def key(params: dict[str, Any], api: str = "chat", scope: str = SCOPE) -> str | None:
    return cache_key(api, params, scope=scope)


# -- the key (48) --------------------------------------------------------------------


CHAT_CHANGES: list[tuple[str, Any]] = [
    ("model", "gpt-4o"),
    ("temperature", 0),  # placeholder, replaced below: the only cacheable value is 0
    ("tools", [{**TOOLS[0], "function": {**TOOLS[0]["function"], "description": "Weather"}}]),
    ("tool_choice", "required"),
    ("response_format", {"type": "json_object"}),
    ("top_p", 0.9),
    ("max_tokens", 101),
    ("max_completion_tokens", 99),
    ("stop", ["\n"]),
    ("seed", 8),
    ("presence_penalty", 0.0),
    ("frequency_penalty", 0.3),
    ("reasoning_effort", "high"),
    ("logit_bias", {"1234": 100}),
    ("parallel_tool_calls", False),
    ("logprobs", True),
]


@pytest.mark.parametrize(
    ("field", "value"), [c for c in CHAT_CHANGES if c[0] != "temperature"], ids=lambda v: str(v)
)
def test_changing_any_chat_field_misses(field: str, value: Any) -> None:
    changed = {**CHAT, field: value}
    assert key(changed) != key(CHAT)
    assert key(changed) is not None


def message_change(index: int, **changes: Any) -> list[dict[str, Any]]:
    messages = copy.deepcopy(HISTORY)
    messages[index].update(changes)
    return messages


@pytest.mark.parametrize(
    "messages",
    [
        message_change(0, content="You are verbose."),
        message_change(1, name="bob"),
        message_change(1, role="developer"),
        message_change(
            2,
            tool_calls=[
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Lyon"}'},
                }
            ],
        ),
        message_change(2, tool_calls=[{**HISTORY[2]["tool_calls"][0], "id": "call_2"}]),
        message_change(3, content="19C, sunny"),
        HISTORY[:-1],
        [*HISTORY, {"role": "user", "content": "And tomorrow?"}],
    ],
    ids=[
        "system",
        "name",
        "role",
        "tool-args",
        "tool-call-id",
        "tool-result",
        "one-less",
        "one-more",
    ],
)
def test_changing_any_message_misses(messages: list[dict[str, Any]]) -> None:
    assert key({**CHAT, "messages": messages}) not in (None, key(CHAT))


GOLDEN_KEYS: dict[str, tuple[str, dict[str, Any], str]] = {
    "chat": ("chat", CHAT, "chat:6400c1bff093635bf4a0c32d19aff3f7f09dbe9559485cb0ba0d191a8ebab67a"),
    "chat-written-otherwise": (
        "chat",
        {
            **CHAT,
            "temperature": 0.0,
            "top_p": 1.0,
            "extra_body": {"top_k": 5, "seed": None},
            "user": openai.NOT_GIVEN,
            "metadata": None,
            "logit_bias": {"50256": -100},
        },
        "chat:dc2d1a2a99f0179b1b32fa8a4dceb0de324ec96a2c744a228813d2452672f19a",
    ),
    "chat-tuples-unicode": (
        "chat",
        {
            "model": "gpt-4o-mini",
            "messages": ({"role": "user", "content": 'é ünïcode ☃ \n"q"'},),
            "temperature": 0,
            "stop": ("\n\n", "END"),
        },
        "chat:88cc4db692c84b8a8fa3aa3337862b6ab3eb7829be8c0f2930ff856f72d156f5",
    ),
    "responses": (
        "responses",
        {
            "model": "gpt-4.1",
            "input": [{"role": "user", "content": "Weather?"}],
            "temperature": 0,
            "max_output_tokens": 120,
            "text": {"format": {"type": "text"}},
        },
        "responses:11b551127975fc315f53913705a1eb40035fdb01d7af4f796da17a19467c8db4",
    ),
    "embeddings": (
        "embeddings",
        {"model": "text-embedding-3-small", "input": ["un", "deux"], "dimensions": 256},
        "embeddings:fb17ea6a3969f9620122798c29c3f524516d00cc6d7a6856e943023f49f97259",
    ),
}


@pytest.mark.parametrize("name", list(GOLDEN_KEYS))
def test_keys_are_the_ones_earlier_versions_wrote(name: str) -> None:
    """A persistent cache (SQLite, Redis) keeps the entries every earlier version wrote
    under these keys: a change of the key's text or hash must be a new ``_VERSION``."""
    api, params, expected = GOLDEN_KEYS[name]
    assert key(params, api=api) == expected


def test_extra_body_and_scope_are_in_the_key() -> None:
    assert key({**CHAT, "extra_body": {"top_k": 5}}) != key(CHAT)
    assert key({**CHAT, "extra_body": {"top_k": 5}}) != key({**CHAT, "extra_body": {"top_k": 6}})
    assert key(CHAT, scope="http://localhost:8000/v1") != key(CHAT)
    assert key(CHAT, api="responses") != key(CHAT)


def test_dict_key_order_never_matters() -> None:
    def reverse(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reverse(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reverse(v) for v in value]
        return value

    shuffled = reverse(CHAT)
    assert json.dumps(shuffled) != json.dumps(CHAT)
    assert key(shuffled) == key(CHAT)


def test_one_request_written_in_different_ways_is_one_key() -> None:
    # 0 and 0.0, extra_body merged as the SDK sends it, the SDK's sentinels and None
    # meaning "not sent", fields that never change the output
    base = key(CHAT)
    assert key({**CHAT, "temperature": 0.0, "top_p": 1.0}) == base
    seedless = {k: v for k, v in CHAT.items() if k != "seed"}
    assert key({**seedless, "extra_body": {"seed": 7}}) == base
    assert key({**CHAT, "user": openai.NOT_GIVEN, "metadata": None}) == base
    if hasattr(openai, "omit"):
        assert key({**CHAT, "service_tier": openai.omit}) == base
    bookkeeping = {
        "user": "u-42",
        "metadata": {"trace": "x"},
        "timeout": 30,
        "extra_headers": {"x-request-id": "abc"},
        "store": True,
    }
    assert key({**CHAT, **bookkeeping}) == base


def test_responses_and_embeddings_fields() -> None:
    responses = {
        "model": "gpt-4.1-mini",
        "input": "Capital of France?",
        "instructions": "Be terse.",
        "temperature": 0,
        "max_output_tokens": 50,
        "text": {"format": {"type": "text"}},
        "reasoning": {"effort": "low"},
        "previous_response_id": "resp_1",
    }
    base = key(responses, api="responses")
    assert base is not None
    for field, value in [
        ("input", "Capital of Spain?"),
        ("instructions", "Be verbose."),
        ("max_output_tokens", 51),
        ("text", {"format": {"type": "json_object"}}),
        ("reasoning", {"effort": "high"}),
        ("previous_response_id", "resp_2"),
    ]:
        assert key({**responses, field: value}, api="responses") not in (None, base), field
    embeddings = {"model": "text-embedding-3-small", "input": ["a", "b"]}
    base = key(embeddings, api="embeddings")
    assert base is not None  # deterministic: no temperature needed
    for field, value in [
        ("input", ["a", "c"]),
        ("dimensions", 256),
        ("encoding_format", "float"),
        ("model", "text-embedding-3-large"),
    ]:
        assert key({**embeddings, field: value}, api="embeddings") not in (None, base), field


@pytest.mark.parametrize(
    ("api", "params"),
    [
        ("chat", {k: v for k, v in CHAT.items() if k != "temperature"}),  # absent is not 0
        ("chat", {**CHAT, "temperature": None}),
        ("chat", {**CHAT, "temperature": 0.7}),
        ("chat", {**CHAT, "temperature": False}),
        ("chat", {**CHAT, "n": 2}),
        ("chat", {**CHAT, "stream": True}),
        ("responses", {"model": "m", "input": "x", "temperature": 0, "stream": True}),
        ("responses", {"model": "m", "input": "x", "temperature": 0, "conversation": "conv_1"}),
        ("responses", {"model": "m", "input": "x", "temperature": 0, "background": True}),
        ("responses", {"model": "m", "input": "x"}),
        ("chat", {**CHAT, "extra_body": {"temperature": 0.5}}),
        ("chat", {**CHAT, "messages": [{"role": "user", "content": object()}]}),
        ("images", {"model": "m", "prompt": "x"}),
    ],
    ids=[
        "no-temperature",
        "temperature-none",
        "temperature-0.7",
        "temperature-false",
        "n-2",
        "stream",
        "responses-stream",
        "conversation",
        "background",
        "responses-default-temperature",
        "extra-body-temperature",
        "unserialisable",
        "other-api",
    ],
)
def test_not_cacheable(api: str, params: dict[str, Any]) -> None:
    assert key(params, api=api) is None
    assert Cache.key(api, params, scope=SCOPE) is None


def test_cacheable_minimum() -> None:
    assert cacheable("chat", {"model": "m", "messages": [], "temperature": 0})
    assert cacheable("chat", {"model": "m", "messages": [], "temperature": 0, "n": 1})
    assert cacheable("embeddings", {"model": "m", "input": "x"})


class Answer(pydantic.BaseModel):
    city: str


class Other(pydantic.BaseModel):
    town: str


def test_pydantic_values_in_the_request() -> None:
    # parse(response_format=Model): the schema is in the key
    with_model = key({**CHAT, "response_format": Answer})
    assert with_model is not None
    assert with_model == key({**CHAT, "response_format": Answer})
    assert with_model != key({**CHAT, "response_format": Other})
    # a message object passed back as history
    message = openai.types.chat.ChatCompletionMessage(role="assistant", content="Hi")
    one = key({**CHAT, "messages": [*HISTORY, message]})
    assert one is not None
    assert one == key({**CHAT, "messages": [*HISTORY, message.model_copy()]})
    other = openai.types.chat.ChatCompletionMessage(role="assistant", content="Hello")
    assert one != key({**CHAT, "messages": [*HISTORY, other]})


# -- what is stored (49), what a hit hands back (56) ----------------------------------


@pytest.fixture
def client() -> openai.OpenAI:
    return openai.OpenAI(base_url="http://llm.test/v1", api_key="sk-test", max_retries=0)


def chat(client: openai.OpenAI, text: str = "Weather in Paris?") -> ChatCompletion:
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}], temperature=0
    )


def test_storable_chat_results(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    llm_fake.add("Sunny, 18C.")
    llm_fake.add(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    llm_fake.add("Sunny, 18", finish_reason="length")
    llm_fake.add("", finish_reason="content_filter")
    stop, tools, length, filtered = (chat(client) for _ in range(4))
    assert (stop.choices[0].finish_reason, tools.choices[0].finish_reason) == ("stop", "tool_calls")
    assert storable(stop)
    assert storable(tools)
    assert not storable(length)
    assert not storable(filtered)
    # the JSON dump is judged the same way
    assert storable(stop.model_dump(mode="json"))
    assert not storable(length.model_dump(mode="json"))
    assert len(llm_fake.requests) == 4


def test_storable_responses_embeddings_and_never_errors(
    llm_fake: FakeProvider, client: openai.OpenAI
) -> None:
    llm_fake.add("Paris.")
    llm_fake.add("Par", finish_reason="length")
    done = client.responses.create(model="gpt-4.1-mini", input="Capital?", temperature=0)
    cut = client.responses.create(model="gpt-4.1-mini", input="Capital?", temperature=0)
    assert done.status == "completed"
    assert cut.status == "incomplete"
    assert storable(done)
    assert not storable(cut)
    vectors = client.embeddings.create(model="text-embedding-3-small", input="x", dimensions=4)
    assert storable(vectors)
    llm_fake.add("streamed")
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], temperature=0, stream=True
    )
    assert not storable(stream)
    chunk = next(iter(stream))
    assert not storable(chunk)
    list(stream)
    assert not storable(openai.APIConnectionError(request=None))  # type: ignore[arg-type]
    assert not storable(None)
    assert not storable({"object": "chat.completion", "choices": []})
    assert not storable({"object": "response", "status": "completed", "output": []})


def test_a_hit_is_the_live_result_field_for_field(
    llm_fake: FakeProvider, client: openai.OpenAI
) -> None:
    llm_fake.add(
        'Il fait beau à Paris ☀️ — 18 °C.\n\n```json\n{"ok": true}\n```',
        tool_calls=[("get_weather", '{"city": "Paris",  "unit":"C"}')],  # odd spacing kept
    )
    live = chat(client)
    cache = Cache()
    k = cache.key(
        "chat",
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "x"}],
            "temperature": 0,
        },
        scope=SCOPE,
    )
    assert k is not None
    stored = cache.put(k, payload_of(live), meta={"route": "gpt-4o-mini@llm.test"})
    assert stored == "stored"
    entry = cache.get(k)
    assert entry is not None
    assert entry.meta == {"route": "gpt-4o-mini@llm.test"}
    hit = rebuild(entry, ChatCompletion)
    assert type(hit) is ChatCompletion
    assert hit == live
    assert hit.choices[0].message.content == live.choices[0].message.content
    assert hit.choices[0].message.content.encode() == live.choices[0].message.content.encode()  # type: ignore[union-attr]
    live_calls = live.choices[0].message.tool_calls
    hit_calls = hit.choices[0].message.tool_calls
    assert live_calls
    assert hit_calls
    assert hit_calls[0].function.arguments == '{"city": "Paris",  "unit":"C"}'  # type: ignore[union-attr]
    assert hit.to_json() == live.to_json()
    assert hit.model_fields_set == live.model_fields_set
    assert hit.usage == live.usage
    assert len(llm_fake.requests) == 1


def test_responses_and_embeddings_rebuild(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    llm_fake.add("Paris.", tool_calls=[("lookup", '{"q":"x"}')])
    response = client.responses.create(model="gpt-4.1-mini", input="Capital?", temperature=0)
    vectors = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    cache = Cache()
    assert cache.put("r", response) == "stored"  # an SDK result is stored as payload_of(it)
    assert cache.put("e", vectors) == "stored"
    r, e = cache.get("r"), cache.get("e")
    assert r is not None
    assert e is not None
    assert r.payload == payload_of(response)
    assert cache.rebuild(r, Response) == response
    assert cache.rebuild(r, Response).to_json() == response.to_json()
    assert cache.rebuild(r, Response).output_text == "Paris."
    assert cache.rebuild(e, CreateEmbeddingResponse) == vectors
    assert cache.rebuild(e, CreateEmbeddingResponse).data[1].embedding == vectors.data[1].embedding


def test_mutating_a_hit_does_not_change_the_cache() -> None:
    cache = Cache()
    cache.put("k", {"choices": [{"message": {"content": "a"}}]})
    first = cache.get("k")
    assert first is not None
    first.payload["choices"][0]["message"]["content"] = "tampered"
    again = cache.get("k")
    assert again is not None
    assert again.payload["choices"][0]["message"]["content"] == "a"


def test_lookup_statuses_and_ttl_on_virtual_time() -> None:
    clock = VirtualClock()
    cache = Cache(ttl=60, clock=clock)
    assert cache.lookup("k") == Lookup("miss")
    cache.put("k", {"v": 1})
    clock.advance(59.5)
    found = cache.lookup("k")
    assert found.status == "hit"
    assert found.entry is not None
    assert found.entry.stored_at == clock.now().timestamp() - 59.5
    assert found.entry.expires_at == found.entry.stored_at + 60
    clock.advance(0.5)
    assert cache.lookup("k") == Lookup("expired")
    cache.put("k", {"v": 2}, ttl=5)  # a per-entry TTL
    clock.advance(4)
    assert cache.get("k") is not None
    clock.advance(1)
    assert cache.get("k") is None
    assert clock.sleeps == []


def test_memory_backend_is_lru_bounded() -> None:
    cache = Cache(max_entries=2)
    cache.put("a", {"v": "a"})
    cache.put("b", {"v": "b"})
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("c", {"v": "c"})
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None
    assert isinstance(cache.backend, MemoryBackend)
    assert len(cache.backend) == 2


def test_a_corrupt_entry_is_a_miss_and_a_warning() -> None:
    backend = MemoryBackend()
    cache = Cache(backend)
    backend.set("k", b"\x00not json", ttl=None, expires_at=None)
    with pytest.warns(CacheBackendWarning, match="memory cache backend") as record:
        found = cache.lookup("k")
    assert found.status == "error"
    assert found.error is not None
    assert "JSONDecodeError" in found.error
    assert "treated as a miss" in str(record[0].message)
    assert backend.get("k") is None  # dropped, so the next call can store a good one
    # an entry stored under another key (a hash collision, a namespace mix-up) is a miss
    backend.set("x", CachedEntry(key="y", payload={}).encode(), ttl=None, expires_at=None)
    assert cache.lookup("x").status == "miss"


def test_an_unserialisable_payload_is_not_stored_and_warns() -> None:
    cache = Cache()
    with pytest.warns(CacheBackendWarning, match="encode the entry"):
        assert cache.put("k", {"v": object()}) == "error"
    assert cache.get("k") is None


# -- configuration and repr -----------------------------------------------------------


def test_unknown_scheme_names_the_url_and_the_schemes() -> None:
    with pytest.raises(ClientConfigError) as info:
        Cache("memcached://10.0.0.1:11211")
    assert str(info.value) == (
        "Cache(backend='memcached://10.0.0.1:11211'): unknown cache backend scheme "
        "'memcached'; known schemes: memory, sqlite, redis, rediss.\n"
        "Fix: use 'memory', 'sqlite:///path/to/cache.db' or 'redis://host:6379/0'."
    )
    with pytest.raises(ClientConfigError, match=r"'memroy' \(did you mean 'memory'\?\)"):
        Cache("memroy")
    with pytest.raises(ClientConfigError, match=r"unknown cache backend scheme 'redsi'") as info:
        Cache("redsi://:hunter2@cache.internal:6379/0")
    assert "hunter2" not in str(info.value)
    assert "redis://" not in str(info.value).split("Fix")[0].replace("redsi", "")


def test_bad_options() -> None:
    with pytest.raises(ClientConfigError, match=r"ttl=-1 is not a number of seconds"):
        Cache(ttl=-1)
    with pytest.raises(ClientConfigError, match=r"ttl=inf"):
        Cache(ttl=float("inf"))
    with pytest.raises(ClientConfigError) as info:
        Cache(tll=5)
    assert str(info.value).startswith(
        "Cache() got an unknown option 'tll' (did you mean 'ttl'?).\nFix: use one of: "
    )
    with pytest.raises(ClientConfigError, match=r"max_entries=0"):
        Cache(max_entries=0)
    with pytest.raises(ClientConfigError, match=r"not a cache backend \(no get, set"):
        Cache(object())  # type: ignore[arg-type]
    with pytest.raises(ClientConfigError, match=r"sqlite:///cache.db"):
        Cache("sqlite://")
    with pytest.raises(ClientConfigError, match=r"does not exist"):
        Cache("sqlite:////no/such/dir/x.db")


def test_reprs_hide_passwords_and_payloads() -> None:
    assert repr(Cache(ttl=60)) == "Cache(MemoryBackend(max_entries=1024, entries=0), ttl=60.0)"
    redis_cache = Cache("redis://:hunter2@127.0.0.1:1/0")
    assert repr(redis_cache) == (
        "Cache(RedisBackend('redis://:***@127.0.0.1:1/0', prefix='pytest-llm:cache:'), ttl=None)"
    )
    assert safe_url("redis://user:pw@[::1]:6380/2") == "redis://user:***@[::1]:6380/2"
    assert safe_url("redis://localhost/0") == "redis://localhost/0"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = redis_cache.lookup("k")  # port 1: nothing listens
    assert found.status == "error"
    assert caught
    assert all("hunter2" not in str(w.message) for w in caught)
    assert "hunter2" not in (found.error or "")
    entry = CachedEntry(key="chat:abc", payload={"secret": "x"}, stored_at=1.0)
    assert repr(entry) == "CachedEntry(key='chat:abc', stored_at=1.0, expires_at=None)"
    assert repr(Lookup("miss")) == "Lookup(status='miss', entry=None, error=None, similarity=None)"


def test_payload_keeps_aliased_fields(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    # A Responses function_call has a field named async_ with the alias "async": the plain
    # model_dump() writes it as async_, which the SDK reads back as an unknown extra field.
    llm_fake.add(tool_calls=[("lookup", '{"q":"x"}')])
    response = client.responses.create(model="gpt-4.1-mini", input="Look up x", temperature=0)
    payload = payload_of(response)
    assert "async_" not in json.dumps(payload)
    assert payload == json.loads(response.to_json())  # what the wire had
    assert rebuild(CachedEntry(key="k", payload=payload), Response) == response
