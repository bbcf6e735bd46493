"""``embed="words"``: fake embeddings whose distances mean something.

Texts that share words (or most of a word's letters) are close, texts that share none
are near orthogonal; the same text is the same vector on every run and machine. Through
the real openai SDK, both encodings.
"""

from __future__ import annotations

import math
from typing import Any

import openai
import pytest

from pytest_llm import ConfigError
from pytest_llm.fake import FakeProvider
from pytest_llm.fake._shapes import embedding_vector, word_vector


@pytest.fixture
def client() -> openai.OpenAI:
    return openai.OpenAI(base_url="http://llm.test/v1", api_key="sk-test", max_retries=0)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


def vectors(client: openai.OpenAI, texts: list[str], **kw: Any) -> list[list[float]]:
    result = client.embeddings.create(model="text-embedding-3-small", input=texts, **kw)
    return [list(d.embedding) for d in result.data]


@pytest.mark.parametrize("encoding", [{}, {"encoding_format": "float"}], ids=["base64", "float"])
def test_shared_words_are_close(
    llm_fake: FakeProvider, client: openai.OpenAI, encoding: dict[str, str]
) -> None:
    # the SDK asks for base64 by default and decodes it: the same vectors either way
    llm_fake.configure(embed="words")
    reset, how, refund = vectors(
        client, ["reset my password", "how do I reset my password", "refund policy"], **encoding
    )
    assert len(reset) == 1536
    assert math.isclose(sum(x * x for x in reset), 1.0, rel_tol=1e-5)
    assert cosine(reset, how) > 0.6
    assert abs(cosine(reset, refund)) < 0.1
    assert cosine(reset, how) > cosine(reset, refund) + 0.5
    assert llm_fake.requests.last.api == "embeddings"


def test_case_punctuation_and_plurals_stay_close(
    llm_fake: FakeProvider, client: openai.OpenAI
) -> None:
    llm_fake.configure(embed="words", dimensions=256)
    base, shouted, plural, other = vectors(
        client,
        ["reset my password", "RESET my password!!", "reset my passwords", "weather in Paris"],
    )
    assert cosine(base, shouted) == pytest.approx(1.0, abs=1e-6)
    assert 0.7 < cosine(base, plural) < 0.99
    assert abs(cosine(base, other)) < 0.2


def test_deterministic_and_by_value(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    llm_fake.configure(embed="words", dimensions=16)
    first = vectors(client, ["refund policy"], encoding_format="float")[0]
    assert first == word_vector("refund policy", 16)
    # pinned: the same numbers on every machine (sha256 buckets, no randomness)
    assert first[:4] == word_vector("refund policy", 16)[:4]
    assert vectors(client, ["refund policy"], encoding_format="float")[0] == first
    assert len(llm_fake.requests) == 2


def test_token_arrays_and_wordless_input(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    llm_fake.configure(embed="words", dimensions=32)
    a, b, c = vectors(client, [[1, 2, 3], [1, 2, 4], [7, 8, 9]], encoding_format="float")  # type: ignore[list-item]
    assert cosine(a, b) > cosine(a, c)
    # nothing to hash into buckets: the default hash vector, still a unit vector
    assert word_vector("?!", 8) == embedding_vector("?!", 8)


def test_default_stays_hash_vectors(llm_fake: FakeProvider, client: openai.OpenAI) -> None:
    reset, how = vectors(
        client, ["reset my password", "how do I reset my password"], encoding_format="float"
    )
    assert reset == embedding_vector("reset my password", 1536)
    assert abs(cosine(reset, how)) < 0.1
    llm_fake.configure(embed="words")
    llm_fake.configure(embed="hash")
    assert vectors(client, ["reset my password"], encoding_format="float")[0] == reset


def test_fixture_config_takes_the_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import math, openai, pytest

        @pytest.fixture
        def llm_fake_config():
            return {"embed": "words", "dimensions": 64}

        def test_it(llm_fake):
            client = openai.OpenAI(base_url="http://llm.test/v1", api_key="k", max_retries=0)
            r = client.embeddings.create(model="m", input=["reset my password", "reset password"])
            a, b = (d.embedding for d in r.data)
            assert len(a) == 64
            assert sum(x * y for x, y in zip(a, b)) > 0.6
        """
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_unknown_mode_names_the_modes() -> None:
    with pytest.raises(ConfigError) as info:
        FakeProvider(embed="word")
    assert str(info.value) == (
        "FakeProvider(): embed='word' is not an embeddings mode (did you mean 'words'?).\n"
        "Fix: use one of: hash, words, or a function (text_or_tokens, dimensions) -> list "
        "of floats."
    )
