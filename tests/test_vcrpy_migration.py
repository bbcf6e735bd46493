"""Existing vcrpy / pytest-recording cassettes replay under pytest-llm, unchanged.

Every cassette here is recorded by vcrpy itself (it patches httpx and httpx2) from
real traffic to the loopback server through the openai SDK; the server is stopped
before pytest-llm replays, so a request that slipped through would fail.
"""

from __future__ import annotations

import asyncio
import gzip
import inspect
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import pytest_llm
from loopback import LoopbackServer, _Handler
from pytest_llm.cassette._format import load
from pytest_llm.cli import main as cli

vcr = pytest.importorskip("vcr")

KEY = "sk-test-" + "b" * 40


def calls(base_url: str) -> dict[str, Any]:
    """The app's traffic: a chat completion and a streamed one, as the SDK parsed them."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-test-" + "b" * 40, max_retries=0)
    plain = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Where is my parcel?"}]
    )
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Tell me a short story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    return {
        "plain": plain.model_dump(mode="json"),
        "chunks": [chunk.model_dump(mode="json") for chunk in stream],
    }


async def acalls(base_url: str) -> dict[str, Any]:
    """The same traffic through the async client."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    plain = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Where is my parcel?"}]
    )
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Tell me a short story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    return {
        "plain": plain.model_dump(mode="json"),
        "chunks": [chunk.model_dump(mode="json") async for chunk in stream],
    }


@dataclass
class Recorded:
    path: Path
    live: dict[str, Any]
    base_url: str
    """Of the stopped server: nothing listens there any more."""


def record_with_vcrpy(path: Path, server: LoopbackServer, **vcr_config: Any) -> Recorded:
    with vcr.use_cassette(str(path), record_mode="once", **vcr_config) as cassette:
        live = calls(server.base_url)
    assert cassette.play_count == 0
    assert len(cassette.data) == 2
    assert len(server.requests) == 2
    return Recorded(path, live, server.base_url)


@pytest.fixture(scope="module")
def vcrpy_recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """As pytest-recording users commit them: the authorization header filtered out."""
    path = tmp_path_factory.mktemp("vcrpy") / "filtered.yaml"
    with LoopbackServer() as server:
        rec = record_with_vcrpy(path, server, filter_headers=["authorization"])
    doc = yaml.safe_load(path.read_text())
    assert "format" not in doc  # a genuine vcrpy file, not ours
    stream_body = doc["interactions"][1]["response"]["body"]["string"]
    assert stream_body.count("data: ") == len(rec.live["chunks"]) + 1  # + [DONE]
    assert len(rec.live["chunks"]) == 8  # role, 6 words, finish + usage
    return rec


@pytest.fixture
def vcrpy_cassette(vcrpy_recorded: Recorded, tmp_path: Path) -> Recorded:
    """A fresh copy for one test."""
    path = tmp_path / "vcrpy.yaml"
    shutil.copy(vcrpy_recorded.path, path)
    return Recorded(path, vcrpy_recorded.live, vcrpy_recorded.base_url)


# -- (a) use_cassette -----------------------------------------------------------------


def test_use_cassette_replays_a_vcrpy_cassette(vcrpy_cassette: Recorded) -> None:
    before = vcrpy_cassette.path.read_bytes()
    with pytest_llm.use_cassette(vcrpy_cassette.path, check_unused=True) as cassette:
        replayed = calls(vcrpy_cassette.base_url)
    assert replayed == vcrpy_cassette.live
    assert cassette.file is not None
    assert cassette.file.source_format == "vcrpy"
    text = before.decode().splitlines()  # error messages can point at each interaction
    assert [text[(it.line or 0) - 1] for it in cassette.file.interactions] == ["- request:"] * 2
    assert vcrpy_cassette.path.read_bytes() == before  # replay never rewrites


def test_async_client_replays_a_cassette_vcrpy_recorded_from_a_sync_one(
    vcrpy_cassette: Recorded,
) -> None:
    with pytest_llm.use_cassette(vcrpy_cassette.path, check_unused=True):
        replayed = asyncio.run(acalls(vcrpy_cassette.base_url))
    assert replayed == vcrpy_cassette.live


def test_a_changed_prompt_misses_where_vcrpy_would_replay_the_old_answer(
    vcrpy_cassette: Recorded,
) -> None:
    import openai

    client = openai.OpenAI(base_url=vcrpy_cassette.base_url, api_key=KEY, max_retries=0)
    changed: list[Any] = [{"role": "user", "content": "Where is my refund?"}]
    with (
        pytest.raises(pytest_llm.CassetteMiss) as miss,
        pytest_llm.use_cassette(vcrpy_cassette.path),
    ):
        client.chat.completions.create(model="gpt-4o-mini", messages=changed)
    assert "messages[0].content: 'Where is my parcel?' != 'Where is my refund?'" in str(miss.value)
    # vcrpy's default matching ignores the body and hands back the old answer:
    with vcr.use_cassette(str(vcrpy_cassette.path), record_mode="none"):
        old = client.chat.completions.create(model="gpt-4o-mini", messages=changed)
    assert old.choices[0].message.content == "Echo: Where is my parcel?"


# -- (b), (c) the plugin --------------------------------------------------------------

APP = """
from __future__ import annotations
import json
import os
from pathlib import Path
from typing import Any
import pytest

EXPECTED = json.loads(Path(__file__).with_name("live.json").read_text())

{calls}

{marker}
def test_chat():
    assert calls(os.environ["LOOPBACK_URL"]) == EXPECTED
    extra = os.environ.get("EXTRA_PROMPT")
    if extra:
        import openai
        client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], max_retries=0)
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{{"role": "user", "content": extra}}]
        )
        assert reply.choices[0].message.content == "Echo: " + extra
"""


@pytest.fixture
def app(
    pytester: pytest.Pytester, vcrpy_cassette: Recorded, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    monkeypatch.setenv("LOOPBACK_URL", vcrpy_cassette.base_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for var in ("CI", "EXTRA_PROMPT", "PYTEST_LLM_RECORD", "PYTEST_LLM_CASSETTE_DIR"):
        monkeypatch.delenv(var, raising=False)
    pytester.makeini("[pytest]\n")  # rootdir = the project, not tests/
    return pytester


def write_app(p: pytest.Pytester, live: dict[str, Any], marker: str, where: str = ".") -> Path:
    folder = p.path / where
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "live.json").write_text(json.dumps(live))
    test = folder / "test_app.py"
    test.write_text(APP.format(calls=inspect.getsource(calls), marker=marker))
    return test


def test_marker_with_the_path_of_a_vcrpy_cassette(
    app: pytest.Pytester, vcrpy_cassette: Recorded
) -> None:
    write_app(app, vcrpy_cassette.live, f"@pytest.mark.llm_cassette({str(vcrpy_cassette.path)!r})")
    result = app.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "pytest-llm" not in result.stdout.str()  # nothing recorded or written


def test_falls_back_to_pytest_recordings_location(
    app: pytest.Pytester, vcrpy_cassette: Recorded
) -> None:
    write_app(app, vcrpy_cassette.live, "@pytest.mark.llm_cassette", where="tests")
    ours = app.path / "cassettes/tests/test_app/test_chat.yaml"
    theirs = app.path / "tests/cassettes/test_app/test_chat.yaml"
    # without the vcrpy cassette the test fails, naming pytest-llm's own path
    missing = app.runpytest("-p", "no:cacheprovider")
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines([f"pytest-llm: cassette not found: {ours} (record mode: none)"])
    theirs.parent.mkdir(parents=True)
    shutil.copy(vcrpy_cassette.path, theirs)
    before = theirs.read_bytes()
    app.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert not ours.exists()
    assert theirs.read_bytes() == before


def test_record_new_rewrites_a_vcrpy_cassette_in_our_format_keeping_its_interactions(
    app: pytest.Pytester, vcrpy_cassette: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_app(app, vcrpy_cassette.live, "@pytest.mark.llm_cassette", where="tests")
    theirs = app.path / "tests/cassettes/test_app/test_chat.yaml"
    theirs.parent.mkdir(parents=True)
    shutil.copy(vcrpy_cassette.path, theirs)
    old = load(theirs).interactions

    monkeypatch.setenv("EXTRA_PROMPT", "and one more thing")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # recording needs the real key
    with LoopbackServer() as server:  # a new port: matching ignores the host
        monkeypatch.setenv("LOOPBACK_URL", server.base_url)
        result = app.runpytest("-p", "no:cacheprovider", "--llm-record=new")
        result.assert_outcomes(passed=1)
        # the two old interactions were replayed; only the new prompt reached the server
        assert [json.loads(r["body"])["messages"][0]["content"] for r in server.requests] == [
            "and one more thing"
        ]
    result.stdout.fnmatch_lines(
        [
            "*= pytest-llm =*",
            "recorded 1 interaction into 1 cassette:",
            "  tests/cassettes/test_app/test_chat.yaml (+1)",
        ]
    )
    doc = yaml.safe_load(theirs.read_text())
    assert (doc["format"], doc["version"], doc["meta"]["interactions"]) == (
        "pytest-llm-cassette",
        1,
        3,
    )
    assert "converted_from" not in doc["meta"]
    new = load(theirs)
    assert new.source_format == "pytest-llm-cassette"
    for before, after in zip(old, new.interactions[:2], strict=True):
        assert after.request_json() == before.request_json()
        assert after.url == before.url  # the old port: recorded as it was
        assert after.reply().events == before.reply().events
        assert after.reply().body == before.reply().body
    assert new.interactions[2].request_json()["messages"][0]["content"] == "and one more thing"
    assert new.interactions[2].data["meta"]["usage"]["total_tokens"] == 5 + 5

    # everything replays from the rewritten file, with no server at all
    app.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert cli(["cassettes", "check", str(theirs)]) == 0


# -- compressed bodies ----------------------------------------------------------------


class _GzipHandler(_Handler):
    """Answers gzip-encoded, as providers behind a CDN do when the client accepts it."""

    def _json(self, doc: dict[str, Any]) -> None:
        data = gzip.compress(json.dumps(doc).encode())
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-encoding", "gzip")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[tuple[str | None, str]]) -> None:
        body = "".join((f"event: {n}\n" if n else "") + f"data: {d}\n\n" for n, d in events)
        data = gzip.compress(body.encode())
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-encoding", "gzip")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def gzip_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    server.RequestHandlerClass = _GzipHandler
    with server:
        yield server


def test_gzip_encoded_vcrpy_bodies_replay(gzip_server: LoopbackServer, tmp_path: Path) -> None:
    rec = record_with_vcrpy(tmp_path / "gz.yaml", gzip_server, filter_headers=["authorization"])
    gzip_server.stop()
    raw = yaml.safe_load(rec.path.read_text())
    for item in raw["interactions"]:
        assert item["response"]["headers"]["content-encoding"] == ["gzip"]
        assert item["response"]["body"]["string"][:2] == b"\x1f\x8b"  # stored compressed
    with pytest_llm.use_cassette(rec.path, check_unused=True):
        assert calls(rec.base_url) == rec.live
    assert len(rec.live["chunks"]) == 8  # role, 6 words, finish + usage


# -- older layouts and unfiltered credentials -----------------------------------------


def test_record_new_on_an_unfiltered_vcrpy_cassette_redacts_the_key(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    rec = record_with_vcrpy(tmp_path / "raw.yaml", loopback)
    assert f"Bearer {KEY}" in rec.path.read_text()
    with pytest_llm.use_cassette(rec.path):  # replay alone is fine: headers are not matched
        assert calls(rec.base_url) == rec.live
    import openai

    client = openai.OpenAI(base_url=loopback.base_url, api_key=KEY, max_retries=0)
    with pytest_llm.use_cassette(rec.path, record="new"):
        assert calls(loopback.base_url) == rec.live
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "new"}])
    text = rec.path.read_text()
    assert KEY not in text
    assert "authorization: REDACTED" in text


def to_legacy_httpx_format(path: Path) -> None:
    """Rewrite a vcrpy cassette as vcrpy < 6 wrote httpx responses: ``status_code``,
    ``http_version``, ``content`` (already decoded) instead of ``status`` and ``body``."""
    doc = yaml.safe_load(path.read_text())
    for item in doc["interactions"]:
        rs = item["response"]
        body = rs["body"]["string"]
        item["response"] = {
            "status_code": rs["status"]["code"],
            "http_version": "HTTP/1.1",
            "headers": rs["headers"],
            "content": body.decode() if isinstance(body, bytes) else body,
        }
    path.write_text(yaml.safe_dump(doc))


def test_legacy_httpx_format_is_still_what_vcrpy_replays(vcrpy_cassette: Recorded) -> None:
    """The fixture of the next test is faithful: vcrpy itself replays it."""
    to_legacy_httpx_format(vcrpy_cassette.path)
    with vcr.use_cassette(str(vcrpy_cassette.path), record_mode="none") as cassette:
        assert calls(vcrpy_cassette.base_url) == vcrpy_cassette.live
    assert cassette.play_count == 2


def test_legacy_httpx_vcrpy_cassettes_replay(vcrpy_cassette: Recorded) -> None:
    to_legacy_httpx_format(vcrpy_cassette.path)
    with pytest_llm.use_cassette(vcrpy_cassette.path, check_unused=True):
        assert calls(vcrpy_cassette.base_url) == vcrpy_cassette.live
