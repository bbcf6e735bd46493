"""A miss fails its own test, at once, under every runner: the SDK is answered, not raised at.

A miss raised through the SDK as a ``BaseException`` broke anyio's runner (a teardown
``ClosedResourceError`` per miss, then ``INTERNALERROR``); now the SDK gets one
non-retryable error response and the test fails with the miss's own message.
"""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

import pytest_llm
from loopback import LoopbackServer
from pytest_llm.fake import FakeMiss, FakeProvider

MISSES = """
import os
import openai
import pytest

{runner}

def client():
    return openai.AsyncOpenAI(base_url=os.environ["LOOPBACK_URL"])

@pytest.mark.llm_cassette
{mark}
async def test_cassette_miss():
    await client().chat.completions.create(model="m", messages=[{{"role": "user", "content": "one"}}])

{mark}
async def test_fake_miss(llm_fake):
    llm_fake.configure(strict=True)
    await client().chat.completions.create(model="m", messages=[{{"role": "user", "content": "two"}}])

{mark}
async def test_blocked(llm_fake):
    await client().models.list()  # not an API the fake serves: the network is off

{mark}
async def test_after():
    assert True
"""

ANYIO = """
@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param
"""

EXPECTED = [
    "*_ test_cassette_miss{id} _*",
    "pytest-llm: cassette not found: */cassettes/test_app/test_cassette_miss{id}.yaml (record mode: none)",
    "  request: POST /v1/chat/completions",
    '  body:    {{*"content":"one"*}}',  # key order: the SDK's
    "fix: record it with: pytest --llm-record=once 'test_app.py::test_cassette_miss{id}'",
    "*Sending HTTP Request: POST*",
    "*HTTP Response: POST *418*",
    "*Not retrying as header `x-should-retry` is set to `false`*",
    "*_ test_fake_miss{id} _*",
    "llm_fake has no reply for POST /v1/chat/completions (chat, model 'm', last user message 'two'): "
    "no scripted reply matches and strict mode is on.",
    "Nothing is scripted.",
    "*_ test_blocked{id} _*",
    "pytest-llm blocked GET http://127.0.0.1:*/v1/models: no cassette, fault or fake answered it "
    "and the real network is off.",
]


def _check(result: pytest.RunResult, ids: list[str]) -> None:
    out = result.stdout.str()
    for id_ in ids:
        pattern = id_.replace("[", "[[]")  # fnmatch: a literal bracket
        result.stdout.fnmatch_lines([line.format(id=pattern) for line in EXPECTED])
    result.assert_outcomes(failed=3 * len(ids), passed=len(ids))
    # one HTTP attempt per miss: no retry, no sleep; nothing broke the runner
    assert out.count("Sending HTTP Request") == 3 * len(ids)
    assert "Retrying request" not in out
    for broken in ("ClosedResourceError", "INTERNALERROR", "BaseExceptionGroup", "CancelledError"):
        assert broken not in out


@pytest.fixture
def debug_log(llm_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("OPENAI_LOG", "debug")  # the SDK logs every attempt and retry
    return llm_project


def test_misses_fail_only_their_anyio_tests_on_asyncio_and_trio(debug_log: pytest.Pytester) -> None:
    pytest.importorskip("trio")
    debug_log.makepyfile(test_app=MISSES.format(runner=ANYIO, mark="@pytest.mark.anyio"))
    result = debug_log.runpytest("-p", "anyio", "--log-level=DEBUG")
    _check(result, ["[asyncio]", "[trio]"])


def test_misses_fail_only_their_pytest_asyncio_tests(debug_log: pytest.Pytester) -> None:
    pytest.importorskip("pytest_asyncio")
    debug_log.makepyfile(test_app=MISSES.format(runner="", mark="@pytest.mark.asyncio"))
    debug_log.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = debug_log.runpytest("-p", "asyncio", "--log-level=DEBUG")
    _check(result, [""])


def test_misses_fail_plain_sync_tests_at_once(debug_log: pytest.Pytester) -> None:
    sync = (
        MISSES.replace("async def", "def")
        .replace("await ", "")
        .replace("AsyncOpenAI", "OpenAI")
        .format(runner="", mark="")
    )
    debug_log.makepyfile(test_app=sync)
    result = debug_log.runpytest("--log-level=DEBUG")
    _check(result, [""])


def test_a_later_failure_shows_after_the_miss(llm_project: pytest.Pytester) -> None:
    llm_project.makepyfile(
        test_app="""
        import os, openai, pytest

        @pytest.mark.llm_cassette
        def test_falls_back():
            c = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
            try:
                answer = c.chat.completions.create(model="m", messages=[]).choices[0].message.content
            except openai.APIStatusError:
                answer = "fallback"
            assert answer == "Echo"
        """
    )
    result = llm_project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_falls_back _*",
            "pytest-llm: cassette not found: */test_falls_back.yaml (record mode: none)",
            "  request: POST /v1/chat/completions",
            "fix: record it with: pytest --llm-record=once 'test_app.py::test_falls_back'",
            "",
            "after the miss, the test failed with:",
            "*assert 'fallback' == 'Echo'*",
        ]
    )


# -- every SDK makes exactly one attempt, and a context manager raises the miss itself --


def test_openai_makes_one_attempt_and_the_block_raises_the_miss(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    client = openai.OpenAI(base_url=loopback.base_url, api_key="sk-test")  # 2 retries
    with (
        pytest.raises(pytest_llm.CassetteNotFound) as info,
        pytest_llm.use_cassette(tmp_path / "c.yaml") as cassette,
    ):
        client.chat.completions.create(model="m", messages=[])
    assert len(cassette.misses) == 1  # one request reached the transport
    assert str(info.value).startswith("pytest-llm: cassette not found: ")
    cause = info.value.__cause__
    assert isinstance(cause, openai.APIStatusError)
    assert cause.status_code == 418
    assert cause.body["code"] == "pytest_llm_miss"  # type: ignore[index]
    assert str(info.value) == cause.body["message"]  # type: ignore[index]
    assert loopback.requests == []


async def _async_openai(base_url: str) -> None:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-test")
    await client.chat.completions.create(model="m", messages=[])


def test_async_openai_makes_one_attempt(loopback: LoopbackServer) -> None:
    import anyio

    with pytest.raises(FakeMiss), FakeProvider(strict=True) as fake:
        anyio.run(_async_openai, loopback.base_url)
    assert len(fake.requests) == 1


def test_anthropic_makes_one_attempt(tmp_path: Path, loopback: LoopbackServer) -> None:
    anthropic = pytest.importorskip("anthropic")
    client = anthropic.Anthropic(base_url=loopback.base_url, api_key="sk-ant-test")  # 2 retries
    with (
        pytest.raises(pytest_llm.CassetteNotFound),
        pytest_llm.use_cassette(tmp_path / "a.yaml") as cassette,
    ):
        client.messages.create(model="claude", max_tokens=5, messages=[])
    assert len(cassette.misses) == 1


def test_google_genai_makes_one_attempt(tmp_path: Path) -> None:
    genai = pytest.importorskip("google.genai")
    client = genai.Client(api_key="test-key")
    with (
        pytest.raises(pytest_llm.CassetteNotFound),
        pytest_llm.use_cassette(tmp_path / "g.yaml") as cassette,
    ):
        client.models.generate_content(model="gemini-2.0-flash", contents="hi")
    assert len(cassette.misses) == 1
