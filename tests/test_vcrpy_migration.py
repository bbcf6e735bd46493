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
from pytest_llm.cassette._format import VERSION, load
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
        VERSION,
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


# -- a zero-edit switch from pytest-recording -----------------------------------------

VCR_APP = """
from __future__ import annotations
import json
import os
from pathlib import Path
from typing import Any
import pytest
from vcr.record_mode import RecordMode

EXPECTED = json.loads(Path(__file__).with_name("live.json").read_text())

{calls}

@pytest.mark.vcr{marker_args}
def test_chat(vcr):
    assert calls(os.environ["LOOPBACK_URL"]) == EXPECTED
    {check}
"""

VCR_CONFTEST = """
import pytest

@pytest.fixture(scope="module")
def vcr_config():
    return {
        "filter_headers": ["authorization", "x-team-token"],
        "decode_compressed_response": True,
        "ignore_localhost": True,
    }

def pytest_recording_configure(config, vcr):
    raise AssertionError("pytest-llm has no VCR object to pass")
"""

REPLAYED = (
    "assert (vcr.play_count, len(vcr), vcr.all_played, vcr.record_mode) == (2, 2, True, 'none')\n"
    "    assert vcr.record_mode == RecordMode.NONE and sorted(vcr.play_counts) == [0, 1]"
)


def write_vcr_app(
    p: pytest.Pytester, live: dict[str, Any], marker_args: str = "", check: str = REPLAYED
) -> Path:
    tests = p.path / "tests"
    tests.mkdir(exist_ok=True)
    (tests / "live.json").write_text(json.dumps(live))
    (tests / "conftest.py").write_text(VCR_CONFTEST)
    test = tests / "test_app.py"
    test.write_text(
        VCR_APP.format(calls=inspect.getsource(calls), marker_args=marker_args, check=check)
    )
    return tests / "cassettes/test_app/test_chat.yaml"


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_vcr_marker_fixture_config_and_hook_work_unchanged(
    app: pytest.Pytester, vcrpy_cassette: Recorded, xdist: list[str]
) -> None:
    cassette = write_vcr_app(app, vcrpy_cassette.live)
    cassette.parent.mkdir(parents=True)
    shutil.copy(vcrpy_cassette.path, cassette)
    result = app.runpytest("-p", "no:cacheprovider", *xdist)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= pytest-llm: pytest-recording settings =*",
            "not used (no equivalent in pytest-llm):",
            "  ignore_localhost (1 test)",
            "pytest_recording_configure in tests/conftest.py is not called: pytest-llm "
            "replays without vcrpy (its serializers and matchers are not used)",
            "see docs/migration.md for what each maps to",
        ],
        consecutive=True,
    )


def test_vcr_record_mode_keyword_records_where_pytest_recording_would(
    app: pytest.Pytester, vcrpy_cassette: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    cassette = write_vcr_app(
        app,
        vcrpy_cassette.live,
        '(record_mode="once")',
        check="assert vcr.record_mode == 'once' and not vcr.write_protected",
    )
    # --record-mode on the command line wins, as --llm-record does
    missing = app.runpytest("-p", "no:cacheprovider", "--record-mode=none")
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines(
        [f"pytest-llm: cassette not found: {cassette} (record mode: none)"]
    )
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with LoopbackServer() as server:
        monkeypatch.setenv("LOOPBACK_URL", server.base_url)
        result = app.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= pytest-llm =*",
            "recorded 2 interactions into 1 cassette:",
            "  tests/cassettes/test_app/test_chat.yaml (+2)",
        ]
    )
    text = cassette.read_text()
    assert "format: pytest-llm-cassette" in text
    assert KEY not in text


def test_with_pytest_recording_active_the_vcr_marker_is_left_to_it(
    pytester: pytest.Pytester,
) -> None:
    pkg = pytester.mkpydir("pytest_recording")
    (pkg / "plugin.py").write_text(
        "import pytest\n"
        "def pytest_configure(config):\n"
        "    config.addinivalue_line('markers', 'vcr: theirs')\n"
        "@pytest.fixture\n"
        "def vcr():\n"
        "    return 'their cassette'\n"
    )
    pytester.syspathinsert()
    pytester.makepyfile(
        "import pytest\n@pytest.mark.vcr\ndef test_chat(vcr):\n    assert vcr == 'their cassette'\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "pytest_recording.plugin")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-llm: pytest-recording is active, so 1 @pytest.mark.vcr test replayed "
            "through vcrpy; to replay them with pytest-llm: pytest -p no:recording "
            "(or uninstall pytest-recording)"
        ]
    )


# -- drift instead of a wall of misses ------------------------------------------------


def edit_request(path: Path, change: Any) -> None:
    """Change the first recorded request's JSON body, as an older SDK would have sent it."""
    doc = yaml.safe_load(path.read_text())
    rq = doc["interactions"][0]["request"]
    body = json.loads(rq["body"])
    change(body)
    rq["body"] = json.dumps(body, separators=(",", ":"))
    path.write_text(yaml.safe_dump(doc))


def test_migrate_match_replays_on_method_and_path_and_reports_the_drift(
    app: pytest.Pytester, vcrpy_cassette: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = vcrpy_cassette.path
    # an old recording: the prompt the app sends today gained a question mark
    edit_request(path, lambda body: body["messages"][0].update(content="Where is my parcel"))
    write_app(app, vcrpy_cassette.live, f"@pytest.mark.llm_cassette({str(path)!r})")
    strict = app.runpytest("-p", "no:cacheprovider")
    strict.assert_outcomes(failed=1)
    result = app.runpytest("-p", "no:cacheprovider", "--llm-match=migrate", "--llm-report=r.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= pytest-llm drift =*",
            "1 replayed request in 1 test differs from the recording "
            "(match mode: migrate; recorded != request):",
            "test_app.py::test_chat",
            f"  {path} interactions[0] (line 2): POST /v1/chat/completions",
            "      messages[0].content: 'Where is my parcel' != 'Where is my parcel?'",
            "fix: re-record what changed (--llm-record=all), or leave fields that vary out of "
            "matching (llm_ignore_paths, --llm-null-as-absent); then drop --llm-match=migrate",
        ],
        consecutive=True,
    )
    report = json.loads((app.path / "r.json").read_text())
    spread = app.runpytest("-p", "no:cacheprovider", "--llm-match=migrate", "-n", "2")
    spread.assert_outcomes(passed=1)  # under pytest-xdist the controller reports it
    spread.stdout.fnmatch_lines(["*= pytest-llm drift =*", "test_app.py::test_chat"])
    assert report["drift"] == [
        {
            "nodeid": "test_app.py::test_chat",
            "cassette": str(path),
            "interaction": 0,
            "line": 2,
            "request": "POST /v1/chat/completions",
            "differences": ["messages[0].content: 'Where is my parcel' != 'Where is my parcel?'"],
        }
    ]
    # the same from the environment and the ini, as every option
    app.makeini("[pytest]\nllm_match = migrate\n")
    app.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    bad = app.runpytest("-p", "no:cacheprovider", "--llm-match=migrat")
    assert bad.ret == 4
    bad.stderr.fnmatch_lines(["*argument --llm-match: invalid choice: 'migrat'*"])
    monkeypatch.setenv("PYTEST_LLM_MATCH", "Migrate")
    bad = app.runpytest("-p", "no:cacheprovider")
    assert bad.ret == 4
    bad.stderr.fnmatch_lines(
        [
            "ERROR: environment variable PYTEST_LLM_MATCH: 'Migrate' is not a match mode "
            "(did you mean 'migrate'?); use one of: strict, migrate"
        ]
    )


def test_migrate_match_still_misses_a_request_with_another_path(
    vcrpy_cassette: Recorded,
) -> None:
    import openai

    client = openai.OpenAI(base_url=vcrpy_cassette.base_url, api_key=KEY, max_retries=0)
    with (
        pytest.raises(pytest_llm.CassetteMiss) as miss,
        pytest_llm.use_cassette(vcrpy_cassette.path, match="migrate"),
    ):
        client.embeddings.create(model="m", input="x")
    assert "POST /v1/embeddings" in str(miss.value)


def test_null_as_absent(vcrpy_cassette: Recorded) -> None:
    """Old SDKs sent "name": null where today's leave the key out."""
    path = vcrpy_cassette.path
    edit_request(path, lambda body: body["messages"][0].update(name=None))
    with pytest.raises(pytest_llm.CassetteMiss) as miss, pytest_llm.use_cassette(path):
        calls(vcrpy_cassette.base_url)
    assert "messages[0].name: None != <absent>" in str(miss.value)
    with pytest_llm.use_cassette(path, null_as_absent=True, check_unused=True):
        assert calls(vcrpy_cassette.base_url) == vcrpy_cassette.live


# -- parsed_body cassettes (vcr.register_serializer) ----------------------------------


def to_parsed_body(path: Path, extra: dict[str, Any] | None = None) -> None:
    """Rewrite a vcrpy cassette as a JSON-body serializer does (pydantic-ai's): each JSON
    body as structured YAML under ``parsed_body``, the string gone."""
    doc = yaml.safe_load(path.read_text())
    for item in doc["interactions"]:
        rq, rs = item["request"], item["response"]
        rq["parsed_body"] = {**json.loads(rq.pop("body")), **(extra or {})}
        ctype = rs["headers"].get("content-type", [""])[0]
        if ctype.startswith("application/json"):
            rs["parsed_body"] = json.loads(rs.pop("body")["string"])
    path.write_text(yaml.safe_dump(doc))


def test_parsed_body_cassettes_replay(vcrpy_cassette: Recorded) -> None:
    to_parsed_body(vcrpy_cassette.path)
    with pytest_llm.use_cassette(vcrpy_cassette.path, check_unused=True) as cassette:
        assert calls(vcrpy_cassette.base_url) == vcrpy_cassette.live
    assert cassette.file is not None
    first = cassette.file.interactions[0].request_json()
    assert first["messages"] == [{"role": "user", "content": "Where is my parcel?"}]


def test_secret_scan_sees_into_parsed_body(
    vcrpy_cassette: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    to_parsed_body(vcrpy_cassette.path, extra={"metadata": {"token": KEY}})
    path = vcrpy_cassette.path
    assert cli(["cassettes", "check", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    token = next(n for n, line in enumerate(path.read_text().splitlines(), 1) if KEY in line)
    assert lines[0] == (
        f"{path}:{token}: interactions[0].request.json.metadata.token holds something shaped "
        "like an OpenAI key (sk-t…bb, 48 characters)"
    )


def test_an_unknown_serializer_layout_is_refused(vcrpy_cassette: Recorded) -> None:
    path = vcrpy_cassette.path
    doc = yaml.safe_load(path.read_text())
    doc["interactions"][0]["request"]["msgpack_body"] = doc["interactions"][0]["request"].pop(
        "body"
    )
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(pytest_llm.CassetteError) as err:
        load(path)
    assert str(err.value).splitlines() == [
        f"vcrpy cassette {path}:2: interactions[0].request has no body but 'msgpack_body': "
        "it was written by a custom vcrpy serializer (vcr.register_serializer), whose "
        "layout pytest-llm cannot read (it reads vcrpy's 'body' and the 'parsed_body' of "
        "JSON-body serializers).",
        "Fix: load it with that serializer's deserialize() and save it with vcrpy's default "
        "serializer (vcr.serializers.yamlserializer), then convert it: pytest-llm cassettes "
        "convert PATH; or re-record it with --llm-record=all.",
    ]


# -- pytest-llm cassettes convert ------------------------------------------------------


def test_convert_rewrites_in_our_format_and_keeps_the_original(
    loopback: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = record_with_vcrpy(tmp_path / "raw.yaml", loopback)  # authorization in clear
    loopback.stop()
    original = rec.path.read_bytes()
    assert cli(["cassettes", "check", str(rec.path)]) == 1
    capsys.readouterr()

    assert cli(["cassettes", "convert", "--diff", str(rec.path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [f"--- {rec.path} (vcrpy)", f"+++ {rec.path} (pytest-llm)"]
    assert out[-2:] == [
        f"would convert {rec.path} (2 interactions)",
        "would convert 1 cassette (2 interactions)",
    ]
    assert rec.path.read_bytes() == original  # --diff writes nothing

    assert cli(["cassettes", "convert", str(rec.path), str(tmp_path / "missing")]) == 2
    capsys.readouterr()
    assert cli(["cassettes", "convert", str(rec.path)]) == 0
    backup = tmp_path / "raw.yaml.vcrpy"
    assert capsys.readouterr().out.splitlines() == [
        f"converted {rec.path} (2 interactions; original kept as {backup})",
        "converted 1 cassette (2 interactions)",
        f"next: pytest-llm cassettes check {rec.path}",
    ]
    assert backup.read_bytes() == original
    text = rec.path.read_text()
    assert KEY not in text
    assert "authorization: REDACTED" in text
    assert cli(["cassettes", "check", str(rec.path)]) == 0
    assert capsys.readouterr().out == "checked 1 cassette (2 interactions): no problems\n"
    with pytest_llm.use_cassette(rec.path, check_unused=True):
        assert calls(rec.base_url) == rec.live

    # a second run leaves our cassette (and the original) alone
    assert cli(["cassettes", "convert", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"skipped {rec.path}: already a pytest-llm cassette",
        "converted 0 cassettes (0 interactions), skipped 1",
    ]
    assert backup.read_bytes() == original


def test_vcr_config_and_marker_keywords_map_to_llm_cassette_keywords(tmp_path: Path) -> None:
    from pytest_llm._vcr_map import translate

    marks = [
        pytest.mark.vcr(record_mode="new_episodes", match_on=["method", "uri", "headers"]).mark,
        pytest.mark.vcr("extra.yaml", record_mode="none").mark,  # farther: loses
    ]
    config = {
        "filter_headers": [("X-Team-Token", "DUMMY"), "Cookie"],
        "cassette_library_dir": str(tmp_path),
        "before_record_request": print,
        "allow_playback_repeats": True,
        "decode_compressed_response": True,
    }
    keywords, unmapped, redact = translate(config, marks, Path("/elsewhere"), "TestA.test_b[x]")
    # the test's own file does not exist: the marker's cassette is used instead
    assert keywords == {
        "path": str(tmp_path / "extra.yaml"),
        "record": "new",
        "allow_playback_repeats": True,
    }
    assert unmapped == ["before_record_request", "match_on headers"]
    assert redact == {"x-team-token", "cookie"}
    (tmp_path / "TestA.test_b[x].yaml").write_text("interactions: []\n")
    keywords, unmapped, _ = translate({}, marks, tmp_path, "TestA.test_b[x]")
    assert keywords["path"] == str(tmp_path / "TestA.test_b[x].yaml")
    assert unmapped == [
        "more than one cassette per test (@pytest.mark.vcr(path, ...))",
        "match_on headers",
    ]
