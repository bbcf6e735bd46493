"""Record and replay through the real ``google-genai`` SDK, sync and async.

``generate_content`` and ``generate_content_stream`` recorded from a local
Gemini-shaped server (``wire_server``) and replayed with its request count
unchanged; the key (``x-goog-api-key``, or ``?key=`` in the REST form) redacted and
scanned; the cassette names the SDK; a miss fails at once through the SDK's tenacity
retry loop; async calls, which google-genai sends through aiohttp when it is
installed, are intercepted too.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from google import genai
from google.genai import errors, types
from wire_server import WireServer

from pytest_llm import CassetteMiss, SecretFound, VirtualClock, use_cassette

MODEL = "gemini-2.0-flash"
KEY = "AIza" + "Sy" * 17 + "Q"  # 39 characters, shaped like a Google API key


@pytest.fixture
def server() -> Iterator[WireServer]:
    with WireServer() as srv:
        yield srv


def client(server: WireServer, *, key: str = KEY, **options: Any) -> genai.Client:
    made = genai.Client(
        api_key=key, http_options=types.HttpOptions(base_url=server.base_url, **options)
    )
    server.keep.append(made)  # a dropped Client closes its HTTP clients: keep it alive
    return made


def test_generate_content_replays_offline(tmp_path: Path, server: WireServer) -> None:
    path = tmp_path / "plain.yaml"
    with use_cassette(path, record="once"):
        live = client(server).models.generate_content(model=MODEL, contents="Say hello")
    with use_cassette(path) as cassette:
        again = client(server).models.generate_content(model=MODEL, contents="Say hello")
    assert len(server.requests) == 1
    assert again.text == live.text == "Echo: Say hello"
    assert again.candidates
    assert again.candidates[0].finish_reason == types.FinishReason.STOP
    assert again.usage_metadata
    assert again.usage_metadata.total_token_count == 5
    meta = cassette.interactions[0].data["meta"]
    assert meta["sdk"] == f"google-genai {genai.__version__}"
    assert meta["model"] == MODEL  # the response's modelVersion
    assert meta["usage"]["totalTokenCount"] == 5


def test_stream_replays_chunk_for_chunk(tmp_path: Path, server: WireServer) -> None:
    path = tmp_path / "stream.yaml"
    with use_cassette(path, record="once"):
        live = list(client(server).models.generate_content_stream(model=MODEL, contents="Hi you"))
    with use_cassette(path) as cassette:
        again = list(client(server).models.generate_content_stream(model=MODEL, contents="Hi you"))
    assert len(server.requests) == 1
    assert server.requests[0]["path"].endswith(":streamGenerateContent?alt=sse")
    body = {"sdk_http_response"}  # its headers: the live connection's (date, connection)
    assert [c.model_dump(exclude=body) for c in again] == [c.model_dump(exclude=body) for c in live]
    assert [c.text for c in again] == ["Echo:", " Hi", " you"]
    assert again[-1].candidates
    assert again[-1].candidates[0].finish_reason == "STOP"
    assert len(cassette.interactions[0].data["response"]["events"]) == 3
    assert cassette.interactions[0].data["meta"]["usage"]["totalTokenCount"] == 5


def test_async_calls_are_intercepted_with_aiohttp_installed(
    tmp_path: Path, server: WireServer
) -> None:
    assert importlib.util.find_spec("aiohttp") is not None  # google-genai would use it
    path = tmp_path / "async.yaml"

    async def run() -> tuple[str | None, list[str | None]]:
        aio = client(server).aio
        reply = await aio.models.generate_content(model=MODEL, contents="Async hi")
        stream = await aio.models.generate_content_stream(model=MODEL, contents="Async stream")
        return reply.text, [c.text async for c in stream]

    with use_cassette(path, record="once") as recording:
        live = asyncio.run(run())
    assert len(recording.recorded) == 2  # both went through the recorder, not around it
    with use_cassette(path):
        again = asyncio.run(run())
    assert len(server.requests) == 2
    assert again == live == ("Echo: Async hi", ["Echo:", " Async", " stream"])
    from google.genai import _api_client

    assert _api_client.BaseApiClient._use_aiohttp(client(server)._api_client) is True


def test_the_key_header_is_redacted_and_a_different_key_still_matches(
    tmp_path: Path, server: WireServer
) -> None:
    path = tmp_path / "keys.yaml"
    with use_cassette(path, record="once"):
        client(server).models.generate_content(model=MODEL, contents="Say hello")
    assert server.requests[0]["headers"]["x-goog-api-key"] == KEY
    text = path.read_text()
    assert KEY not in text
    headers = yaml.safe_load(text)["interactions"][0]["request"]["headers"]
    assert headers["x-goog-api-key"] == "REDACTED"
    with use_cassette(path):
        client(server, key="AIza" + "0" * 35).models.generate_content(
            model=MODEL, contents="Say hello"
        )
    assert len(server.requests) == 1


def test_a_key_in_the_query_string_is_redacted(tmp_path: Path, server: WireServer) -> None:
    """The REST form (``curl ...:generateContent?key=$GEMINI_API_KEY``)."""
    path = tmp_path / "query.yaml"
    url = f"{server.base_url}/v1beta/models/{MODEL}:generateContent"
    body = {"contents": [{"parts": [{"text": "Say hello"}]}]}
    with use_cassette(path, record="once"), httpx2.Client() as http:
        live = http.post(url, params={"key": KEY}, json=body).json()
    assert KEY not in path.read_text()
    recorded = yaml.safe_load(path.read_text())["interactions"][0]["request"]["url"]
    assert recorded.endswith(":generateContent?key=REDACTED")
    with use_cassette(path), httpx2.Client() as http:
        again = http.post(url, params={"key": "AIza" + "1" * 35}, json=body).json()
    assert again == live
    assert len(server.requests) == 1


def test_a_key_in_the_prompt_is_refused_by_the_secret_scan(
    tmp_path: Path, server: WireServer
) -> None:
    path = tmp_path / "leak.yaml"
    with pytest.raises(SecretFound) as info, use_cassette(path, record="once"):
        client(server).models.generate_content(model=MODEL, contents=f"my key is {KEY}")
    assert "shaped like a Google API key (AIza…yQ, 39 characters)" in str(info.value)
    assert not path.exists()


@pytest.mark.parametrize(
    "retry",
    [None, types.HttpRetryOptions(attempts=5)],
    ids=["sdk-default", "attempts-5"],
)
def test_a_miss_fails_at_once_through_tenacity(
    tmp_path: Path, server: WireServer, retry: types.HttpRetryOptions | None
) -> None:
    path = tmp_path / "miss.yaml"
    with use_cassette(path, record="once"):
        client(server).models.generate_content(model=MODEL, contents="Say hello")
    with (
        VirtualClock() as clock,
        pytest.raises(CassetteMiss) as info,
        use_cassette(path) as cassette,
    ):
        client(server, retry_options=retry).models.generate_content(
            model=MODEL, contents="Say goodbye"
        )
    assert "no recorded response matches this request" in str(info.value)
    assert "Say goodbye" in str(info.value)
    assert len(cassette.misses) == 1  # one HTTP attempt
    assert clock.sleeps == []


def test_an_async_stream_miss_fails_at_once(tmp_path: Path, server: WireServer) -> None:
    path = tmp_path / "amiss.yaml"
    with use_cassette(path, record="once"):
        client(server).models.generate_content(model=MODEL, contents="Say hello")

    async def call() -> None:
        aio = client(server, retry_options=types.HttpRetryOptions(attempts=4)).aio
        async for _ in await aio.models.generate_content_stream(model=MODEL, contents="x"):
            pass

    with VirtualClock() as clock, pytest.raises(CassetteMiss), use_cassette(path) as cassette:
        asyncio.run(call())
    assert len(cassette.misses) == 1
    assert clock.sleeps == []


def test_a_recorded_error_replays_as_the_sdk_error(tmp_path: Path, server: WireServer) -> None:
    path = tmp_path / "error.yaml"
    doc = {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}
    server.fail(400, doc)
    with pytest.raises(errors.ClientError), use_cassette(path, record="once"):
        client(server).models.generate_content(model=MODEL, contents="Say hello")
    with pytest.raises(errors.ClientError) as info, use_cassette(path):
        client(server).models.generate_content(model=MODEL, contents="Say hello")
    assert info.value.code == 400
    assert info.value.status == "INVALID_ARGUMENT"
    assert len(server.requests) == 1


def test_on_httpx_too(tmp_path: Path, server: WireServer) -> None:
    """google-genai takes httpx when httpx2 is missing (or when given httpx clients)."""
    import httpx

    path = tmp_path / "httpx.yaml"

    def run() -> tuple[str | None, str | None]:
        made = client(server, httpx_client=httpx.Client(), httpx_async_client=httpx.AsyncClient())
        reply = made.models.generate_content(model=MODEL, contents="On httpx")
        areply = asyncio.run(made.aio.models.generate_content(model=MODEL, contents="Async httpx"))
        return reply.text, areply.text

    with use_cassette(path, record="once") as recording:
        live = run()
    assert [i.data["meta"]["http"].split()[0] for i in recording.recorded] == ["httpx", "httpx"]
    with use_cassette(path):
        assert run() == live == ("Echo: On httpx", "Echo: Async httpx")
    assert len(server.requests) == 2


def test_a_miss_under_the_plugin_shows_the_miss_not_the_sdk_error(
    pytester: pytest.Pytester, server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with use_cassette(pytester.path / "cassettes" / "gem.yaml", record="once"):
        client(server).models.generate_content(model=MODEL, contents="Say hello")
    pytester.makepyfile(
        f"""
        import pytest
        from google import genai
        from google.genai import types

        @pytest.mark.llm_cassette("gem.yaml")
        def test_changed_prompt():
            client = genai.Client(
                api_key="test",
                http_options=types.HttpOptions(
                    base_url="{server.base_url}",
                    retry_options=types.HttpRetryOptions(attempts=5),
                ),
            )
            client.models.generate_content(model="{MODEL}", contents="Say goodbye")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    lines = result.stdout.lines
    start = lines.index("pytest-llm: no recorded response matches this request (record mode: none)")
    cassette = pytester.path / "cassettes" / "gem.yaml"
    assert lines[start + 1 : start + 7] == [
        f"  request:  POST /v1/models/{MODEL}:generateContent",
        '  body:     {"contents":[{"parts":[{"text":"Say goodbye"}],"role":"user"}]}',
        f"  cassette: {cassette} (1 interaction)",
        "nearest recorded requests (recorded != request):",
        f"  interactions[0] (line 11): POST /v1/models/{MODEL}:generateContent, 1 difference",
        "      contents[0].parts[0].text: 'Say hello' != 'Say goodbye'",
    ]
    assert "Retrying" not in result.stdout.str()
    assert len(server.requests) == 1
