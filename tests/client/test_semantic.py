"""The semantic cache (contract 49): opt-in, scoped by model and parameters, reports its
similarity. Embeddings come from ``llm_fake`` in its ``words`` mode through the real
openai SDK, so similar questions really are close; results are real SDK objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import math
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from pytest_llm import VirtualClock
from pytest_llm.client import ClientConfigError
from pytest_llm.client._cache import CacheBackendWarning, connect_sqlite, rebuild
from pytest_llm.client._semantic import (
    MemoryVectors,
    SemanticCache,
    SemanticQuery,
    SQLiteVectors,
    openai_embedder,
    prompt_split,
)
from pytest_llm.fake import FakeProvider
from pytest_llm.fake._shapes import word_vector

SCOPE = "http://llm.test/v1"
DIMS = 256
HAS_NUMPY = importlib.util.find_spec("numpy") is not None


@pytest.fixture
def client() -> openai.OpenAI:
    return openai.OpenAI(base_url="http://llm.test/v1", api_key="sk-test", max_retries=0)


@pytest.fixture
def words(llm_fake: FakeProvider) -> FakeProvider:
    return llm_fake.configure(embed="words")


@pytest.fixture(params=["python", "numpy", "sqlite"])
def vectors(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "python":
        return MemoryVectors(use_numpy=False)
    if request.param == "numpy":
        if not HAS_NUMPY:
            pytest.skip("numpy is not installed (the pure-Python path is tested)")
        return MemoryVectors(use_numpy=True)
    return SQLiteVectors(tmp_path / "semantic.db")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def semantic(vectors: Any, client: openai.OpenAI, words: FakeProvider, clock: VirtualClock) -> Any:
    cache = SemanticCache(
        openai_embedder(client, dimensions=DIMS), threshold=0.6, backend=vectors, clock=clock
    )
    yield cache
    cache.close()


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are the help desk."},
            {"role": "user", "content": text},
        ],
        "temperature": 0,
        **extra,
    }


def cosine(a: str, b: str) -> float:
    va, vb = word_vector(a, DIMS), word_vector(b, DIMS)
    return sum(x * y for x, y in zip(va, vb, strict=True)) / math.sqrt(
        sum(x * x for x in va) * sum(y * y for y in vb)
    )


def live_answer(client: openai.OpenAI, fake: FakeProvider, params: dict[str, Any]) -> Any:
    fake.add("Click 'Forgot password' on the sign-in page.")
    return client.chat.completions.create(**params)


def test_similar_question_hits_with_its_similarity(
    semantic: SemanticCache, client: openai.OpenAI, words: FakeProvider
) -> None:
    stored = semantic.query("chat", ask("how do I reset my password"), scope=SCOPE)
    assert stored is not None
    assert semantic.lookup(stored).status == "miss"
    live = live_answer(client, words, ask("how do I reset my password"))
    assert semantic.put(stored, live, meta={"route": "r"}) == "stored"
    assert len(words.requests) == 2  # one embedding (reused by put), one chat call

    similar = semantic.query("chat", ask("Reset my password"), scope=SCOPE)
    assert similar is not None
    found = semantic.lookup(similar)
    assert found.status == "semantic"
    assert found.similarity == pytest.approx(
        cosine("how do I reset my password", "Reset my password"), abs=1e-5
    )
    assert 0.6 < found.similarity < 1.0
    assert found.entry is not None
    assert found.entry.text == "how do I reset my password"
    assert found.entry.meta == {"route": "r"}
    hit = rebuild(found.entry, ChatCompletion)
    assert hit == live
    assert hit.to_json() == live.to_json()

    unrelated = semantic.query("chat", ask("what is your refund policy"), scope=SCOPE)
    assert unrelated is not None
    missed = semantic.lookup(unrelated)
    assert missed.status == "miss"
    assert missed.entry is None
    assert missed.similarity is not None
    assert missed.similarity < 0.3  # the nearest, reported to tune the threshold
    assert [r.api for r in words.requests] == ["embeddings", "chat", "embeddings", "embeddings"]


def test_the_same_question_is_similarity_one(
    semantic: SemanticCache, client: openai.OpenAI, words: FakeProvider
) -> None:
    q = semantic.query("chat", ask("reset my password"), scope=SCOPE)
    assert q is not None
    semantic.put(q, live_answer(client, words, ask("reset my password")))
    again = semantic.query("chat", ask("reset my password"), scope=SCOPE)
    assert again is not None
    assert semantic.lookup(again).similarity == pytest.approx(1.0, abs=1e-5)


def test_threshold_decides(vectors: Any, client: openai.OpenAI, words: FakeProvider) -> None:
    sim = cosine("how do I reset my password", "reset my password")
    strict = SemanticCache(
        openai_embedder(client, dimensions=DIMS), threshold=sim + 0.01, backend=vectors
    )
    q = strict.query("chat", ask("how do I reset my password"), scope=SCOPE)
    assert q is not None
    strict.put(q, live_answer(client, words, ask("x")))
    near = strict.query("chat", ask("reset my password"), scope=SCOPE)
    assert near is not None
    found = strict.lookup(near)
    assert found.status == "miss"
    assert found.similarity == pytest.approx(sim, abs=1e-5)
    strict.threshold = sim - 0.01
    assert strict.lookup(near).status == "semantic"
    strict.close()


@pytest.mark.parametrize(
    "other",
    [
        ask("how do I reset my password", model="gpt-4o"),
        ask("how do I reset my password", max_tokens=10),
        ask("how do I reset my password", tools=[{"type": "function", "function": {"name": "f"}}]),
        ask("how do I reset my password", response_format={"type": "json_object"}),
        ask("how do I reset my password", seed=1),
        {
            **ask("how do I reset my password"),
            "messages": [
                {"role": "system", "content": "You are a pirate."},
                {"role": "user", "content": "how do I reset my password"},
            ],
        },
        {
            **ask("how do I reset my password"),
            "messages": [
                {"role": "system", "content": "You are the help desk."},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "how do I reset my password"},
            ],
        },
    ],
    ids=["model", "max_tokens", "tools", "response_format", "seed", "system", "history"],
)
def test_scoped_by_model_parameters_and_the_rest_of_the_conversation(
    semantic: SemanticCache, client: openai.OpenAI, words: FakeProvider, other: dict[str, Any]
) -> None:
    q = semantic.query("chat", ask("how do I reset my password"), scope=SCOPE)
    assert q is not None
    semantic.put(q, live_answer(client, words, ask("x")))
    same_text = semantic.query("chat", other, scope=SCOPE)
    assert same_text is not None
    assert same_text.text == q.text
    assert same_text.scope != q.scope
    assert semantic.lookup(same_text) == semantic.lookup(same_text)
    assert semantic.lookup(same_text).status == "miss"
    assert semantic.lookup(same_text).similarity is None  # nothing at all in that scope
    elsewhere = semantic.query("chat", ask("how do I reset my password"), scope="http://b/v1")
    assert elsewhere is not None
    assert semantic.lookup(elsewhere).status == "miss"


@pytest.mark.parametrize(
    ("api", "params"),
    [
        ("chat", {**ask("x"), "temperature": 0.7}),
        ("chat", {k: v for k, v in ask("x").items() if k != "temperature"}),
        ("chat", {**ask("x"), "stream": True}),
        ("chat", {**ask("x"), "n": 3}),
        ("chat", {**ask("x"), "messages": [{"role": "system", "content": "no user message"}]}),
        (
            "chat",
            {
                **ask("x"),
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is this?"},
                            {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                        ],
                    }
                ],
            },
        ),
        ("embeddings", {"model": "text-embedding-3-small", "input": "x"}),
        ("responses", {"model": "m", "input": "x"}),
    ],
    ids=["temperature", "no-temperature", "stream", "n", "no-user", "image", "embeddings", "resp"],
)
def test_not_semantically_cacheable(api: str, params: dict[str, Any]) -> None:
    cache = SemanticCache(lambda text: [1.0])
    assert cache.query(api, params, scope=SCOPE) is None


def test_what_is_embedded_and_what_must_match() -> None:
    text, rest = prompt_split(  # type: ignore[misc]
        "chat",
        {
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "ok"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
            ]
        },
    )
    assert text == "a\nb"
    assert rest["messages"][0] == {"role": "user", "content": "first"}
    assert prompt_split("responses", {"input": "plain"})[0] == "plain"  # type: ignore[index]
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "q1"}]},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
    ]
    assert prompt_split("responses", {"input": items})[0] == "q2"  # type: ignore[index]


def test_responses_api(semantic: SemanticCache, client: openai.OpenAI, words: FakeProvider) -> None:
    params = {"model": "gpt-4.1-mini", "input": "how do I reset my password", "temperature": 0}
    words.add("Use the link.")
    live = client.responses.create(**params)
    q = semantic.query("responses", params, scope=SCOPE)
    assert q is not None
    semantic.put(q, live)
    near = semantic.query("responses", {**params, "input": "reset my password"}, scope=SCOPE)
    assert near is not None
    found = semantic.lookup(near)
    assert found.status == "semantic"
    assert found.entry is not None
    assert rebuild(found.entry, Response) == live
    other = semantic.query(
        "responses",
        {**params, "instructions": "Be brief.", "input": "reset my password"},
        scope=SCOPE,
    )
    assert other is not None
    assert semantic.lookup(other).status == "miss"


def test_ttl_on_virtual_time(
    semantic: SemanticCache, client: openai.OpenAI, words: FakeProvider, clock: VirtualClock
) -> None:
    semantic.ttl = 30
    q = semantic.query("chat", ask("how do I reset my password"), scope=SCOPE)
    assert q is not None
    semantic.put(q, live_answer(client, words, ask("x")))
    near = semantic.query("chat", ask("reset my password"), scope=SCOPE)
    assert near is not None
    clock.advance(29.9)
    assert semantic.lookup(near).status == "semantic"
    clock.advance(0.1)
    assert semantic.lookup(near).status == "miss"
    assert clock.sleeps == []


def test_async_embedder_and_async_calls(
    vectors: Any, words: FakeProvider, client: openai.OpenAI
) -> None:
    aclient = openai.AsyncOpenAI(base_url="http://llm.test/v1", api_key="sk-test", max_retries=0)
    cache = SemanticCache(openai_embedder(aclient, dimensions=DIMS), backend=vectors, threshold=0.6)
    assert cache.is_async
    live = live_answer(client, words, ask("x"))

    async def main() -> Any:
        q = cache.query("chat", ask("how do I reset my password"), scope=SCOPE)
        assert q is not None
        assert (await cache.alookup(q)).status == "miss"
        assert await cache.aput(q, live) == "stored"
        near = cache.query("chat", ask("reset my password"), scope=SCOPE)
        assert near is not None
        return await cache.alookup(near)

    found = asyncio.run(main())
    assert found.status == "semantic"
    assert found.similarity == pytest.approx(
        cosine("how do I reset my password", "reset my password"), abs=1e-5
    )
    # an async embedding function cannot serve a sync call: a configuration error
    q = cache.query("chat", ask("other"), scope=SCOPE)
    assert q is not None
    with pytest.raises(ClientConfigError, match="is async, and a sync call cannot await it"):
        cache.lookup(q)
    cache.close()


def test_sync_embedder_from_async_code(vectors: Any) -> None:
    seen: list[str] = []

    def embed(text: str) -> Sequence[float]:
        seen.append(text)
        return word_vector(text, 32)

    cache = SemanticCache(embed, backend=vectors, threshold=0.5)
    assert not cache.is_async

    async def main() -> Any:
        q = cache.query("chat", ask("reset my password"), scope=SCOPE)
        assert q is not None
        await cache.aput(q, {"object": "chat.completion", "choices": []})
        near = cache.query("chat", ask("reset the password"), scope=SCOPE)
        assert near is not None
        return await cache.alookup(near)

    assert asyncio.run(main()).status == "semantic"
    assert seen == ["reset my password", "reset the password"]
    cache.close()


@contextlib.contextmanager
def backend_warnings() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    assert caught, "no warning"
    assert all(issubclass(w.category, CacheBackendWarning) for w in caught), caught


def test_a_failing_embedding_function_is_a_miss_and_a_warning(vectors: Any) -> None:
    def embed(text: str) -> Sequence[float]:
        raise openai.APIConnectionError(request=None)  # type: ignore[arg-type]

    cache = SemanticCache(embed, backend=vectors)
    q = cache.query("chat", ask("x"), scope=SCOPE)
    assert q is not None
    with backend_warnings() as caught:
        found = cache.lookup(q)
        stored = cache.put(q, {"object": "chat.completion"})
        afound = asyncio.run(cache.alookup(q))
    assert (found.status, stored, afound.status) == ("error", "error", "error")
    assert "embedding function" in str(caught[0].message)
    assert "APIConnectionError" in str(caught[0].message)
    for bad in ([], [0.0, 0.0], [math.nan]):
        cache = SemanticCache(lambda text, bad=bad: bad, backend=vectors)
        with backend_warnings():
            assert cache.lookup(SemanticQuery("chat", "s", "t")).status == "error"


def test_a_failing_sqlite_file_is_a_miss_and_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "semantic.db"
    cache = SemanticCache(lambda text: word_vector(text, 16), backend=f"sqlite:///{path}")
    q = cache.query("chat", ask("reset my password"), scope=SCOPE)
    assert q is not None
    cache.put(q, {"object": "chat.completion", "choices": []})
    cache.close()
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    path.write_bytes(b"garbage" * 1000)
    with backend_warnings() as caught:
        found = cache.lookup(q)
        stored = cache.put(q, {"object": "chat.completion"})
    assert (found.status, stored) == ("error", "error")
    assert str(caught[0].message).startswith(
        f"pytest_llm.client: the sqlite cache backend SQLiteVectors('{path}') failed to search "
        "(DatabaseError: file is not a database); treated as a miss."
    )


def test_sqlite_uses_a_vec0_table_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "semantic.db"

    def embed(text: str) -> Sequence[float]:
        return word_vector(text, 16)

    first = SemanticCache(embed, backend=f"sqlite:///{path}", threshold=0.5)
    q = first.query("chat", ask("reset my password"), scope=SCOPE)
    assert q is not None
    first.put(q, {"object": "chat.completion", "id": "kept"})
    first.close()
    db = connect_sqlite(str(path), timeout=1.0, extensions=True)
    (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'semantic_vec_16'").fetchone()
    db.close()
    assert "USING vec0(" in sql
    assert "distance_metric=cosine" in sql
    second = SemanticCache(embed, backend=f"sqlite:///{path}", threshold=0.5)
    near = second.query("chat", ask("reset the password"), scope=SCOPE)
    assert near is not None
    found = second.lookup(near)
    assert found.entry is not None
    assert found.entry.payload == {"object": "chat.completion", "id": "kept"}
    assert len(second.backend) == 1  # type: ignore[arg-type]
    second.clear()
    assert len(second.backend) == 0  # type: ignore[arg-type]
    second.close()


def test_nearest_of_many_and_eviction() -> None:
    backend = MemoryVectors(max_entries=3, use_numpy=False)
    cache = SemanticCache(lambda text: word_vector(text, 64), backend=backend, threshold=0.3)
    texts = ["reset my password", "refund policy", "opening hours", "shipping costs"]
    for i, text in enumerate(texts):
        q = cache.query("chat", ask(text), scope=SCOPE)
        assert q is not None
        cache.put(q, {"object": "chat.completion", "id": str(i)})
    assert len(backend) == 3
    gone = cache.query("chat", ask("reset my password"), scope=SCOPE)  # oldest: evicted
    assert gone is not None
    assert cache.lookup(gone).status == "miss"
    near = cache.query("chat", ask("what is the refund policy"), scope=SCOPE)
    assert near is not None
    found = cache.lookup(near)
    assert found.entry is not None
    assert found.entry.payload["id"] == "1"


def test_configuration_errors() -> None:
    def embed(text: str) -> list[float]:
        return [1.0]

    with pytest.raises(ClientConfigError, match=r"threshold=0\)"):
        SemanticCache(embed, threshold=0)
    with pytest.raises(ClientConfigError, match=r"threshold=1.5\)"):
        SemanticCache(embed, threshold=1.5)
    with pytest.raises(ClientConfigError, match=r"embed='openai' \): not callable|not callable"):
        SemanticCache("openai")  # type: ignore[arg-type]
    with pytest.raises(ClientConfigError) as info:
        SemanticCache(embed, backend="redis://:pw@127.0.0.1:6379/0")
    assert str(info.value) == (
        "SemanticCache(backend='redis://:***@127.0.0.1:6379/0'): unknown semantic cache backend "
        "scheme 'redis'; known schemes: memory, sqlite.\n"
        "Fix: use 'memory' or 'sqlite:///path/to/semantic.db' (needs sqlite-vec)."
    )
    with pytest.raises(
        ClientConfigError, match=r"unknown option 'treshold' \(did you mean 'threshold'"
    ):
        SemanticCache(embed, treshold=0.9)
    with pytest.raises(ClientConfigError, match=r"candidates=0"):
        SemanticCache(embed, candidates=0)


def test_reprs(tmp_path: Path) -> None:
    def embed(text: str) -> list[float]:
        return [1.0]

    cache = SemanticCache(embed, backend=MemoryVectors(use_numpy=False), ttl=60)
    assert repr(cache) == (
        "SemanticCache(MemoryVectors(max_entries=10000, entries=0, maths='python'), "
        "threshold=0.9, ttl=60.0, embed=test_reprs.<locals>.embed)"
    )
    assert repr(SQLiteVectors(tmp_path / "s.db")) == f"SQLiteVectors('{tmp_path / 's.db'}')"
    q = SemanticQuery("chat", "chat:abc", "hello", [1.0])
    assert repr(q) == "SemanticQuery(api='chat', scope='chat:abc', text='hello')"
