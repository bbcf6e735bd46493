"""Bad input gets a clear error naming the thing and the fix, and loses nothing."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

import pytest_llm
from loopback import LoopbackServer


@pytest.fixture
def recorded(tmp_path: Path, loopback: LoopbackServer) -> Path:
    path = tmp_path / "c.yaml"
    with pytest_llm.use_cassette(path, record="once"):
        for prompt in ("a", "b"):
            httpx.post(
                f"{loopback.base_url}/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": prompt}]},
            )
    return path


def _error(path: Path) -> str:
    with pytest.raises(pytest_llm.CassetteError) as info, pytest_llm.use_cassette(path):
        pass
    return str(info.value)


def test_corrupt_yaml_names_file_and_line(recorded: Path) -> None:
    lines = recorded.read_text().splitlines()
    lines[20] = "    : : ]["
    recorded.write_text("\n".join(lines))
    msg = _error(recorded)
    assert msg.startswith(f"cassette {recorded}:21 is not valid YAML: ")
    assert msg.endswith(
        "Fix: restore it from version control (a merge conflict or a truncated copy?), "
        "or delete it and re-record with --llm-record=once."
    )


def test_truncated_cassette_is_detected(recorded: Path) -> None:
    text = recorded.read_text()
    cut = text.index("- request:", text.index("- request:") + 1)
    recorded.write_text(text[:cut])
    assert _error(recorded).splitlines() == [
        f"cassette {recorded} has no 'end' marker after its 1 interaction: it was truncated "
        "(the last interaction may be cut short) or edited by hand.",
        "Fix: restore it from version control, or re-record with --llm-record=all.",
    ]


def test_truncated_inside_the_last_interaction_is_detected(recorded: Path) -> None:
    text = recorded.read_text()
    recorded.write_text(text[: text.rindex("meta:")])  # cut inside the last interaction
    assert _error(recorded).splitlines()[0] == (
        f"cassette {recorded} has no 'end' marker after its 2 interactions: it was truncated "
        "(the last interaction may be cut short) or edited by hand."
    )


def test_count_that_disagrees_with_the_interactions(recorded: Path) -> None:
    recorded.write_text(recorded.read_text().replace("  interactions: 2", "  interactions: 3"))
    assert _error(recorded).splitlines()[0] == (
        f"cassette {recorded} says it holds 3 interactions but has 2: it was truncated or edited by hand."
    )


def test_newer_format_version_asks_for_an_upgrade(recorded: Path) -> None:
    recorded.write_text(recorded.read_text().replace("version: 2", "version: 7"))
    assert _error(recorded).splitlines() == [
        f"cassette {recorded} has format version 7; this pytest-llm reads versions 1, 2.",
        "Fix: upgrade pytest-llm (the cassette was written by a newer one).",
    ]


def test_interaction_without_response_names_its_line(recorded: Path) -> None:
    text = recorded.read_text()
    recorded.write_text(
        text.replace("  response:\n    status: 200", "  reply:\n    status: 200", 1)
    )
    assert (
        _error(recorded).splitlines()[0]
        == f"cassette {recorded}:11: interactions[0] has no 'response' mapping."
    )


def test_not_a_cassette(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("just: a mapping\n")
    assert _error(path).splitlines()[0] == (
        f"cassette {path} has no 'interactions' list; it is not a pytest-llm or vcrpy cassette."
    )
    path.write_bytes(b"\xff\xfe garbage")
    assert _error(path).startswith(f"cassette {path} is not UTF-8 text")


def test_non_json_body_where_json_was_recorded(recorded: Path, loopback: LoopbackServer) -> None:
    with pytest.raises(pytest_llm.CassetteMiss) as info, pytest_llm.use_cassette(recorded):
        httpx.post(f"{loopback.base_url}/chat/completions", content=b"model=m&prompt=a")
    lines = str(info.value).splitlines()
    assert (
        "      body: the recorded body is JSON, the request's is not: b'model=m&prompt=a'" in lines
    )


def test_failed_write_leaves_the_old_cassette_and_no_temp_file(
    recorded: Path, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = recorded.read_text()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"), pytest_llm.use_cassette(recorded, record="all"):
        httpx.post(f"{loopback.base_url}/chat/completions", json={"model": "m", "messages": []})
    monkeypatch.undo()
    assert recorded.read_text() == before
    assert sorted(p.name for p in recorded.parent.iterdir()) == ["c.yaml"]


def test_unknown_options_are_clear() -> None:
    with pytest.raises(pytest_llm.ConfigError) as info:
        pytest_llm.Cassette("x.yaml", record="al")
    assert (
        str(info.value).splitlines()[0]
        == "record: 'al' is not a record mode (did you mean 'all'?); use one of: none, once, new, all"
    )
    with pytest.raises(pytest_llm.ConfigError, match=r"replay_timing='fast' is not a timing"):
        pytest_llm.Cassette("x.yaml", replay_timing="fast")
    with pytest.raises(
        pytest_llm.ConfigError, match=r"ignored JSON path 'messages\[x' is not valid"
    ):
        pytest_llm.Cassette("x.yaml", ignore=["messages[x"])


def test_unknown_marker_keyword(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.llm_cassette(recrd="once")
        def test_x():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_x _*",
            "llm_cassette marker got an unknown keyword 'recrd'. Did you mean 'record'?",
            "Fix: use one of allow_playback_repeats, check_unused, ignore, keep_headers, "
            "keep_host, match, model_aliases, null_as_absent, path, record, replay_timing.",
            "*= short test summary info =*",
        ],
        consecutive=True,
    )
    assert "_build.py" not in result.stdout.str()  # no traceback through the plugin


def test_connections_outside_httpx_are_blocked_in_replay(tmp_path: Path) -> None:
    import urllib.request

    with (
        pytest.raises(pytest_llm.NetworkBlocked) as info,
        pytest_llm.use_cassette(tmp_path / "none.yaml"),
    ):
        urllib.request.urlopen("http://api.openai.example/v1/models", timeout=5)
    assert str(info.value).startswith(
        "pytest-llm blocked a network connection to api.openai.example:80: it did not go through an "
        "httpx or httpx2 transport"
    )
    assert "--llm-allow-network" in str(info.value)


def test_loopback_outside_httpx_is_not_blocked(tmp_path: Path, loopback: LoopbackServer) -> None:
    import json
    import urllib.request

    req = urllib.request.Request(
        f"{loopback.base_url}/chat/completions",
        data=json.dumps({"model": "m", "messages": []}).encode(),
        method="POST",
    )
    with (
        pytest_llm.use_cassette(tmp_path / "none.yaml"),
        urllib.request.urlopen(req, timeout=5) as r,
    ):
        assert r.status == 200


def test_wrap_transport_records_and_replays_a_custom_transport(tmp_path: Path) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"answer": 42})

    client = httpx.Client(transport=pytest_llm.wrap_transport(httpx.MockTransport(handler)))
    path = tmp_path / "w.yaml"
    with pytest_llm.use_cassette(path, record="once"):
        assert client.post("http://llm.internal/v1/x", json={"q": 1}).json() == {"answer": 42}
    with pytest_llm.use_cassette(path):
        assert client.post("http://llm.internal/v1/x", json={"q": 1}).json() == {"answer": 42}
    assert len(calls) == 1
    assert repr(client._transport).startswith("pytest_llm.wrap_transport(<httpx.MockTransport")
    with pytest.raises(
        pytest_llm.ConfigError,
        match="wrap_transport\\(\\) needs an httpx or httpx2 transport, got object",
    ):
        pytest_llm.wrap_transport(object())


def test_allow_network_lets_misses_through_unrecorded(
    recorded: Path, loopback: LoopbackServer
) -> None:
    before = recorded.read_text()
    served = len(loopback.requests)
    # the recorded interactions are not asked for here: only the miss is the point
    with pytest_llm.use_cassette(recorded, allow_network=True, check_unused=False) as cassette:
        r = httpx.post(
            f"{loopback.base_url}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "new"}]},
        )
    assert r.json()["choices"][0]["message"]["content"] == "Echo: new"
    assert len(loopback.requests) == served + 1
    assert cassette.misses == []
    assert recorded.read_text() == before


def test_patches_come_back_after_another_tool_restores_the_originals(recorded: Path) -> None:
    from pytest_llm.transport._patch import install

    install()
    patched = httpx.HTTPTransport.handle_request
    httpx.HTTPTransport.handle_request = (
        patched.__pytest_llm_original__
    )  # what pytest-httpx's teardown does
    try:
        # one of the two recorded requests is enough to see the patch back in place
        with pytest_llm.use_cassette(recorded, check_unused=False):
            assert hasattr(httpx.HTTPTransport.handle_request, "__pytest_llm_original__")
            r = httpx.post(
                "http://127.0.0.1:9/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "a"}]},
            )
        assert r.status_code == 200
    finally:
        install()


def test_long_strings_diff_around_the_change() -> None:
    from pytest_llm.cassette._match import json_diff

    old = "You are a support assistant. Classify the ticket into billing, bug, account."
    new = old.replace("account", "login")
    assert json_diff({"p": old}, {"p": new}) == [
        "p: ...' into billing, bug, account.' != ...' into billing, bug, login.'"
    ]
