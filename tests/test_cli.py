"""The ``pytest-llm`` command, on cassettes recorded from a real loopback server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import openai
import pytest
import yaml

import pytest_llm
from loopback import LoopbackServer
from pytest_llm.cli import main

KEY = "sk-test-" + "a" * 40
PLANTED = "sk-proj-" + "Zq9" * 15  # 53 characters, shaped like a real OpenAI key


def client(server: LoopbackServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two cassettes recorded for real, once per module: chat (plain + streamed) and the
    Responses API."""
    root = tmp_path_factory.mktemp("recorded")
    with LoopbackServer() as server:
        c = client(server)
        with pytest_llm.use_cassette(root / "cassettes/chat.yaml", record="once"):
            c.chat.completions.create(
                model="m1", messages=[{"role": "user", "content": "hello there"}]
            )
            stream = c.chat.completions.create(
                model="m1", messages=[{"role": "user", "content": "stream me now"}], stream=True
            )
            text = "".join(ch.choices[0].delta.content or "" for ch in stream)
            assert text == "Echo: stream me now"
        with pytest_llm.use_cassette(root / "cassettes/sub/responses.yaml", record="once"):
            c.responses.create(model="m2", input="responses api here")
        assert len(server.requests) == 3
    return root


@pytest.fixture
def project(recorded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the recorded cassettes, as the working directory."""
    shutil.copytree(recorded / "cassettes", tmp_path / "cassettes")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def line_of(path: Path, text: str, start: int = 1) -> int:
    """The 1-based number of the first line at or after ``start`` that equals ``text``."""
    lines = path.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if n >= start and line == text)


# -- check ----------------------------------------------------------------------------


def test_check_clean_directory(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "cassettes", "check")
    assert (code, out, err) == (0, ["checked 2 cassettes (3 interactions): no problems"], [])


def test_check_names_the_line_of_a_bad_hand_edit(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "cassettes/chat.yaml"
    n = line_of(path, "      - content: hello there")
    lines = path.read_text().splitlines(keepends=True)
    lines[n - 1] = "      - content: hello: there\n"
    path.write_text("".join(lines))
    code, out, _ = run(capsys, "cassettes", "check")
    assert code == 1
    # libyaml and PyYAML's pure-Python parser word the problem differently
    problem = "in this context" if hasattr(yaml, "CSafeLoader") else "here"
    assert out == [
        f"cassettes/chat.yaml:{n}: cassette is not valid YAML: mapping values are not allowed {problem}.",
        "checked 2 cassettes (1 interaction): 1 problem",
        "fix: restore it from version control (a merge conflict or a truncated copy?), "
        "or delete it and re-record with --llm-record=once.",
    ]


def test_check_truncated_mid_string(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = project / "cassettes/chat.yaml"
    text = path.read_text()
    cut = text[: text.index("'Echo: hello there'") + 8]
    path.write_text(cut)
    code, out, _ = run(capsys, "cassettes", "check", "cassettes/chat.yaml")
    assert code == 1
    assert out[:2] == [
        f"cassettes/chat.yaml:{len(cut.splitlines())}: cassette is not valid YAML: "
        "found unexpected end of stream.",
        "checked 1 cassette (0 interactions): 1 problem",
    ]


def test_check_truncated_between_interactions(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "cassettes/chat.yaml"
    text = path.read_text()
    second = text.index("\n- ", text.index("\n- ") + 1) + 1
    path.write_text(text[:second])  # still valid YAML: only the count in meta tells
    code, out, _ = run(capsys, "cassettes", "check", "cassettes")
    assert code == 1
    assert out == [
        "cassettes/chat.yaml: cassette has no 'end' marker after its 1 interaction: "
        "it was truncated (the last interaction may be cut short) or edited by hand.",
        "checked 2 cassettes (1 interaction): 1 problem",
        "fix: restore it from version control, or re-record with --llm-record=all.",
    ]


def test_check_unknown_version_and_missing_field(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = project / "cassettes/chat.yaml"
    chat.write_text(chat.read_text().replace("\nversion: 2\n", "\nversion: 7\n"))
    resp = project / "cassettes/sub/responses.yaml"
    text = resp.read_text()
    resp.write_text(text.replace("    status: 200\n", "", 1))
    code, out, _ = run(capsys, "cassettes", "check")
    assert code == 1
    assert out == [
        "cassettes/chat.yaml: cassette has format version 7; this pytest-llm reads versions 1, 2.",
        f"cassettes/sub/responses.yaml:{line_of(resp, '- request:')}: interactions[0] has a "
        "response without an integer 'status'.",
        "checked 2 cassettes (0 interactions): 2 problems",
        "fix: upgrade pytest-llm (the cassette was written by a newer one).",
        "fix: restore it from version control, or re-record with --llm-record=all.",
    ]


def test_check_finds_planted_secrets_and_masks_them(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "cassettes/chat.yaml"
    text = path.read_text()
    text = text.replace("authorization: REDACTED", f"authorization: Bearer {PLANTED}", 1)
    text = text.replace("content: 'Echo: hello there'", f"content: 'Echo: my key is {PLANTED}'")
    text = text.replace("/v1/chat/completions\n", "/v1/chat/completions?api-key=abc123secret\n", 1)
    path.write_text(text)
    auth = line_of(path, f"      authorization: Bearer {PLANTED}")
    url = line_of(path, "    url: " + text.split("    url: ")[1].split("\n")[0])
    content = line_of(path, f"          content: 'Echo: my key is {PLANTED}'")
    code, out, err = run(capsys, "cassettes", "check")
    assert code == 1
    assert out == [
        f"cassettes/chat.yaml:{url}: interactions[0].request.url has a credential query "
        "parameter 'api-key' with a real value (abc1…et, 12 characters), not REDACTED",
        f"cassettes/chat.yaml:{auth}: interactions[0].request.headers.authorization is a "
        "credential header with a real value (Bear…q9, 60 characters), not REDACTED",
        f"cassettes/chat.yaml:{content}: interactions[0].response.json.choices[0].message.content "
        "holds something shaped like an OpenAI key (sk-p…q9, 53 characters)",
        "checked 2 cassettes (3 interactions): 3 problems",
        "fix: replace each secret with REDACTED (or delete the line), then revoke any real key "
        "that was ever committed; if a hit is not a secret, pass --allow REGEX.",
    ]
    assert err == []
    printed = "\n".join(out)
    assert PLANTED not in printed
    assert PLANTED[8:24] not in printed
    assert "abc123secret" not in printed
    # --allow takes a hit back, as llm_secret_allow does in the plugin
    code, out, _ = run(capsys, "cassettes", "check", "--allow", "^sk-proj-(Zq9)+$")
    assert code == 1
    assert len(out) == 4  # the header and the query parameter are still credentials


def test_check_flags_an_unfiltered_vcrpy_cassette(
    tmp_path: Path, loopback: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    vcr = pytest.importorskip("vcr")
    path = tmp_path / "vcr.yaml"
    with vcr.use_cassette(str(path)):
        client(loopback).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
    code, out, _ = run(capsys, "cassettes", "check", str(path))
    assert code == 1
    assert out[:2] == [
        f"{path}:{line_of(path, '      authorization:')}: interactions[0].request.headers."
        "authorization is a credential header with a real value (Bear…aa, 55 characters), "
        "not REDACTED",
        "checked 1 cassette (1 interaction): 1 problem",
    ]
    assert KEY not in "\n".join(out)


def test_check_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "cassettes", "check")
    assert (code, out) == (2, [])
    assert err == [
        f"pytest-llm: error: no cassettes/ directory here ({tmp_path}).",
        "Fix: name the cassette files or directories: pytest-llm cassettes check PATH...",
    ]
    code, _, err = run(capsys, "cassettes", "check", "nowhere.yaml")
    assert (code, err) == (2, ["pytest-llm: error: nowhere.yaml: no such file or directory."])
    (tmp_path / "empty").mkdir()
    code, out, _ = run(capsys, "cassettes", "check", "empty")
    assert (code, out) == (0, ["checked 0 cassettes (0 interactions): no problems"])
    code, _, err = run(capsys, "cassettes", "check", "empty", "--allow", "(")
    assert code == 2
    assert err[0].startswith("pytest-llm: error: secret allow pattern '(' is not a valid regular")


# -- stats ----------------------------------------------------------------------------

TABLE = [
    "cassette                      interactions  streamed  models  prompt_tokens  completion_tokens  total_tokens",
    "----------------------------  ------------  --------  ------  -------------  -----------------  ------------",
    "cassettes/chat.yaml                      2         1  m1                 10                  7            17",
    "cassettes/sub/responses.yaml             1         0  m2                  5                  4             9",
    "----------------------------  ------------  --------  ------  -------------  -----------------  ------------",
    "total (2 cassettes)                      3         1  m1, m2             15                 11            26",
]


def test_stats_table(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # chat: "Echo: hello there" is 3 words, "Echo: stream me now" 4; the loopback counts
    # 5 prompt tokens each. responses: "Echo: responses api here" is 4 words.
    code, out, err = run(capsys, "cassettes", "stats")
    assert (code, out, err) == (0, TABLE, [])


def test_stats_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "cassettes", "stats", "--json", "cassettes/sub")
    assert code == 0
    assert json.loads("\n".join(out)) == {
        "cassettes": [
            {
                "path": "cassettes/sub/responses.yaml",
                "format": "pytest-llm-cassette",
                "interactions": 1,
                "streamed": 0,
                "models": ["m2"],
                "prompt_tokens": 5,
                "completion_tokens": 4,
                "total_tokens": 9,
            }
        ],
        "total": {
            "cassettes": 1,
            "interactions": 1,
            "streamed": 0,
            "models": ["m2"],
            "prompt_tokens": 5,
            "completion_tokens": 4,
            "total_tokens": 9,
        },
        "problems": [],
    }


def test_stats_reads_usage_from_a_vcrpy_cassette(
    tmp_path: Path, loopback: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    vcr = pytest.importorskip("vcr")
    path = tmp_path / "vcr.yaml"
    with vcr.use_cassette(str(path), filter_headers=["authorization"]):
        c = client(loopback)
        c.responses.create(model="r1", input="one two")
        list(
            c.chat.completions.create(
                model="c1", messages=[{"role": "user", "content": "x"}], stream=True
            )
        )
    code, out, _ = run(capsys, "cassettes", "stats", "--json", str(path))
    assert code == 0
    (row,) = json.loads("\n".join(out))["cassettes"]
    assert row == {
        "path": str(path),
        "format": "vcrpy",
        "interactions": 2,
        "streamed": 1,
        "models": ["c1", "r1"],
        "prompt_tokens": 10,
        "completion_tokens": 5,  # "Echo: one two" + "Echo: x"
        "total_tokens": 15,
    }


def test_stats_skips_a_corrupt_cassette_and_says_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "cassettes/broken.yml").write_text("just: a config file\n")
    # found by walking the directory, YAML that is no cassette is not one to report
    code, out, err = run(capsys, "cassettes", "stats")
    assert (code, out[2:4], err) == (0, TABLE[2:4], [])
    # named on the command line, it is
    code, out, err = run(capsys, "cassettes", "stats", "cassettes", "cassettes/broken.yml")
    assert code == 1
    assert out[2:4] == TABLE[2:4]
    assert err == [
        "cassettes/broken.yml: cassette has no 'interactions' list; it is not a pytest-llm or "
        "vcrpy cassette. (not counted)"
    ]


# -- the command line itself ----------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    code, out, _ = run(capsys, "--version")
    assert (code, out) == (0, [f"pytest-llm {version('pytest-llm-harness')}"])


def test_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert out[0] == "usage: pytest-llm [-h] [--version] COMMAND ..."
    assert (
        "  pytest-llm cassettes check                    check every cassette under ./cassettes"
        in out
    )
    assert "exit status: 0 when clean, 1 when a problem was found, 2 on a usage error." in out
    code, out, _ = run(capsys, "cassettes", "check", "--help")
    assert code == 0
    assert out[0].startswith("usage: pytest-llm cassettes check [-h]")


@pytest.mark.parametrize(
    ("argv", "first", "hint"),
    [
        (
            ["cassettes", "chek"],
            "pytest-llm cassettes: error: argument ACTION: invalid choice: 'chek'",
            "; did you mean 'check'?",
        ),
        (
            ["casettes", "check"],
            "pytest-llm: error: argument COMMAND: invalid choice: 'casettes'",
            "; did you mean 'cassettes'?",
        ),
        (
            ["stats"],
            "pytest-llm: error: argument COMMAND: invalid choice: 'stats'",
            "; did you mean 'cassettes stats'?",
        ),
        (
            ["cassettes"],
            "pytest-llm cassettes: error: choose a command",
            " (see pytest-llm cassettes --help)",
        ),
        ([], "pytest-llm: error: choose a command", " (see pytest-llm --help)"),
    ],
)
def test_usage_errors_exit_2_with_a_hint(
    argv: list[str], first: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, [])
    assert err[0].startswith("usage: pytest-llm")
    # the list of choices between the two is argparse's own wording, which varies by version
    assert err[-1].startswith(first)
    assert err[-1].endswith(hint)


def test_extra_headers_and_patterns(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = project / "cassettes/sub/responses.yaml"
    text = path.read_text()
    text = text.replace(
        "      accept: application/json\n",
        "      accept: application/json\n      x-internal-token: t0ps3cr3t\n",
        1,
    )
    text = text.replace("text: 'Echo: responses api here'", "text: 'Echo: ticket tok_12345678'")
    path.write_text(text)
    code, out, _ = run(capsys, "cassettes", "check", "cassettes/sub")
    assert (code, out) == (0, ["checked 1 cassette (1 interaction): no problems"])
    code, out, _ = run(
        capsys,
        "cassettes",
        "check",
        "cassettes/sub",
        "--redact-header",
        "X-Internal-Token",
        "--secret-pattern",
        r"tok_[0-9]{8}",
    )
    assert code == 1
    token = line_of(path, "      x-internal-token: t0ps3cr3t")
    ticket = line_of(path, "          text: 'Echo: ticket tok_12345678'")
    assert out[:3] == [
        f"cassettes/sub/responses.yaml:{token}: "
        "interactions[0].request.headers.x-internal-token is a credential header with a real "
        "value (t0ps…3t, 9 characters), not REDACTED",
        f"cassettes/sub/responses.yaml:{ticket}: "
        "interactions[0].response.json.output[0].content[0].text holds something shaped like "
        "a secret pattern 'tok_[0-9]{8}' (tok_…78, 12 characters)",
        "checked 1 cassette (1 interaction): 2 problems",
    ]


def test_installed_console_script(project: Path) -> None:
    script = Path(sys.executable).with_name("pytest-llm")
    done = subprocess.run(
        [str(script), "cassettes", "check"], capture_output=True, text=True, check=False, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        "checked 2 cassettes (3 interactions): no problems\n",
        "",
    )
    (project / "cassettes/chat.yaml").write_text("format: pytest-llm-cassette\n")
    done = subprocess.run(
        [str(script), "cassettes", "check"], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == (
        "cassettes/chat.yaml: cassette has no 'interactions' list; "
        "it is not a pytest-llm or vcrpy cassette."
    )


# -- the same configuration as the plugin ---------------------------------------------


def _plant_header(path: Path) -> int:
    text = path.read_text().replace(
        "      accept: application/json\n",
        "      accept: application/json\n      x-internal-token: t0ps3cr3t\n",
        1,
    )
    path.write_text(text)
    return line_of(path, "      x-internal-token: t0ps3cr3t")


def test_allow_silences_a_credential_header_hit(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "cassettes/sub/responses.yaml"
    line = _plant_header(path)
    argv = ["cassettes", "check", "cassettes/sub", "--redact-header", "x-internal-token"]
    code, out, _ = run(capsys, *argv)
    assert (code, out[0]) == (
        1,
        f"cassettes/sub/responses.yaml:{line}: interactions[0].request.headers.x-internal-token "
        "is a credential header with a real value (t0ps…3t, 9 characters), not REDACTED",
    )
    assert out[-1].endswith("if a hit is not a secret, pass --allow REGEX.")
    # what the fix line says works
    code, out, _ = run(capsys, *argv, "--allow", "^t0ps3cr3t$")
    assert (code, out) == (0, ["checked 1 cassette (1 interaction): no problems"])


INI_FILES = {
    "pyproject.toml": """
[tool.pytest.ini_options]
llm_cassette_dir = "recorded"
llm_redact_headers = ["x-internal-token"]
llm_secret_patterns = ["tok_[0-9]{8}"]
llm_secret_allow = ["tok_00000000"]
""",
    "pytest.ini": """
[pytest]
llm_cassette_dir = recorded
llm_redact_headers = x-internal-token
llm_secret_patterns = tok_[0-9]{8}
llm_secret_allow = tok_00000000
""",
    "tox.ini": """
[pytest]
llm_cassette_dir = recorded
llm_redact_headers =
    x-internal-token
llm_secret_patterns = tok_[0-9]{8}
llm_secret_allow = tok_00000000
""",
    "setup.cfg": """
[tool:pytest]
llm_cassette_dir = recorded
llm_redact_headers = x-internal-token
llm_secret_patterns = tok_[0-9]{8}
llm_secret_allow = tok_00000000
""",
}


@pytest.mark.parametrize("ini", list(INI_FILES))
def test_check_and_stats_read_the_plugins_ini_options(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, ini: str
) -> None:
    monkeypatch.delenv("PYTEST_LLM_CASSETTE_DIR", raising=False)
    (project / "cassettes").rename(project / "recorded")
    (project / ini).write_text(INI_FILES[ini])
    path = project / "recorded/sub/responses.yaml"
    header = _plant_header(path)
    text = path.read_text().replace(
        "text: 'Echo: responses api here'", "text: 'Echo: ticket tok_12345678 or tok_00000000'"
    )
    path.write_text(text)
    ticket = line_of(path, "          text: 'Echo: ticket tok_12345678 or tok_00000000'")
    (project / "tests").mkdir()
    monkeypatch.chdir(project / "tests")  # the rootdir is where the ini file is
    code, out, err = run(capsys, "cassettes", "check")
    where = str(Path("..") / "recorded" / "sub" / "responses.yaml")
    assert (code, err) == (1, [])
    assert out[:3] == [
        f"{where}:{header}: interactions[0].request.headers.x-internal-token is a credential "
        "header with a real value (t0ps…3t, 9 characters), not REDACTED",
        f"{where}:{ticket}: interactions[0].response.json.output[0].content[0].text holds "
        "something shaped like a secret pattern 'tok_[0-9]{8}' (tok_…78, 12 characters)",
        "checked 2 cassettes (3 interactions): 2 problems",
    ]
    code, out, _ = run(capsys, "cassettes", "stats", "--json")
    assert code == 0
    assert json.loads("\n".join(out))["total"]["cassettes"] == 2
    # the environment wins over the ini, as in the plugin
    monkeypatch.setenv("PYTEST_LLM_CASSETTE_DIR", "elsewhere")
    code, out, err = run(capsys, "cassettes", "check")
    assert (code, out) == (2, [])
    assert err == [
        f"pytest-llm: error: no ../elsewhere/ directory here ({project / 'tests'}) (from the "
        "environment variable PYTEST_LLM_CASSETTE_DIR).",
        "Fix: name the cassette files or directories: pytest-llm cassettes check PATH...",
    ]
