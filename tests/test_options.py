"""Cassette naming and option precedence: CLI > env > marker > fixture > ini > default."""

from __future__ import annotations

import pytest

from loopback import LoopbackServer
from pytest_llm._resolve import resolve

CALL = """
import os, openai, pytest

def call():
    openai.OpenAI(base_url=os.environ["LOOPBACK_URL"]).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
"""


def test_names_follow_module_class_and_params(llm_project: pytest.Pytester) -> None:
    llm_project.mkpydir("pkg")
    llm_project.path.joinpath("pkg", "test_names.py").write_text(
        CALL
        + """
pytestmark = pytest.mark.llm_cassette

class TestGroup:
    def test_method(self):
        call()

@pytest.mark.parametrize("ticket", [1, 2, 3], ids=["short", "x" * 150, "with/slash and space"])
def test_param(ticket):
    call()
"""
    )
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=4)
    names = sorted(
        p.name for p in (llm_project.path / "cassettes" / "pkg" / "test_names").iterdir()
    )
    long_name = next(n for n in names if n.startswith("test_param[xxx"))
    assert names == sorted(
        [
            "TestGroup.test_method.yaml",
            "test_param[short].yaml",
            "test_param[with_slash_and_space-da4188e5a5].yaml",  # sanitised: hashed
            long_name,
        ]
    )
    # long ids: cut to a readable prefix plus a stable hash of the full id
    assert len(long_name) == len("yaml") + 1 + 100
    assert long_name.startswith("test_param[" + "x" * 77 + "-")
    assert long_name.endswith("].yaml")
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=4)  # same names again


@pytest.mark.parametrize(
    ("cli", "env", "marker", "fixture", "ini", "expected"),
    [
        ("all", "new", "once", "none", "none", ("all", "command line")),
        (None, "new", "once", "none", "none", ("new", "environment variable PYTEST_LLM_RECORD")),
        (None, None, "once", "new", "none", ("once", "llm_cassette marker keyword record")),
        (None, None, None, "new", "once", ("new", "llm_cassette_config['record']")),
        (None, None, None, None, "once", ("once", "ini option llm_record")),
        (None, None, None, None, None, ("none", "default")),
    ],
)
def test_precedence(
    cli: str | None,
    env: str | None,
    marker: str | None,
    fixture: str | None,
    ini: str | None,
    expected: tuple[str, str],
) -> None:
    got = resolve(
        "record",
        cli=cli,
        marker={"record": marker} if marker else {},
        fixture={"record": fixture} if fixture else {},
        ini=ini or "",
        default="none",
        environ={"PYTEST_LLM_RECORD": env} if env else {},
    )
    assert (got.value, got.source) == expected


def test_environment_and_fixture_config_reach_the_cassette(
    llm_project: pytest.Pytester, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_project.makeconftest(
        """
        import pytest

        @pytest.fixture
        def llm_cassette_config():
            return {"cassette_dir": "recorded"}
        """
    )
    llm_project.makepyfile(
        test_app=CALL + "\n@pytest.mark.llm_cassette\ndef test_one():\n    call()\n"
    )
    monkeypatch.setenv("PYTEST_LLM_RECORD", "once")
    llm_project.runpytest().assert_outcomes(passed=1)
    assert (llm_project.path / "recorded" / "test_app" / "test_one.yaml").exists()
    assert len(loopback.requests) == 1
    # the CLI flag wins over the environment
    monkeypatch.setenv("PYTEST_LLM_RECORD", "all")
    llm_project.runpytest("--llm-record=none").assert_outcomes(passed=1)
    assert len(loopback.requests) == 1


def test_marker_record_mode_is_blocked_in_ci_but_not_the_cli_flag(
    llm_project: pytest.Pytester, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_project.makepyfile(
        test_app=CALL + "\n@pytest.mark.llm_cassette(record='once')\ndef test_one():\n    call()\n"
    )
    monkeypatch.setenv("CI", "1")
    result = llm_project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "recording is off: CI is set and record mode 'once' came from the llm_cassette marker "
            "keyword record; in CI, recording needs --llm-record given on the command line"
        ]
    )
    monkeypatch.setenv("CI", "false")
    llm_project.runpytest().assert_outcomes(passed=1)
