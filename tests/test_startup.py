"""What pytest start-up loads of pytest-llm when no test uses it (issue 14).

Every pytest run of a project with pytest-llm installed pays for what the plugin
imports, and with bytecode writing off (``PYTHONDONTWRITEBYTECODE=1``, as in many
Docker images) every one of those modules is compiled from source on every run. The
cost is measured in ``benchmarks/import_overhead.py``; these tests guard it without
timing: the exact set of modules an unused run loads, so a heavy import creeping back
into the start-up path fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from fresh_process import run_probe

ROOT = Path(__file__).resolve().parent.parent

STARTUP = {
    "pytest_llm",  # the package (its facade loads names on first use)
    "pytest_llm._lazy",  # the facade's __getattr__
    "pytest_llm.plugin",  # the entry point: hooks and fixture declarations
    "pytest_llm._settings",  # the options table (--help lists every option) and resolution
    "pytest_llm._guard",  # the session's socket guard (llm_guard)
    "pytest_llm.transport",
    "pytest_llm.transport._common",
    "pytest_llm.transport._socket",  # the socket patch the guard needs (not the HTTP ones)
    "pytest_llm._vcr_shim",  # pytest-recording's marker, fixtures and flags, declared
    "pytest_llm._marks",  # the shim's collection hook finds each test's vcr marker
}
"""Every pytest-llm module a run loads when no test uses the plugin, and nothing else."""

PROBE = """
import json, sys, pytest
code = pytest.main(sys.argv[1:])
print(json.dumps([code, sorted(m for m in sys.modules if m.split(".")[0] == "pytest_llm")]))
"""


def _loaded(project: Path, *args: str) -> tuple[int, set[str]]:
    """Run pytest in a fresh interpreter in ``project``; its exit code and the
    pytest_llm modules loaded by the end of the session."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "-p", "no:cacheprovider", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    last = done.stdout.strip().splitlines()[-1:] or [""]
    try:
        code, modules = json.loads(last[0])
    except ValueError:
        pytest.fail(f"the probe printed no result:\n{done.stdout}\n{done.stderr}")
    return code, set(modules)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_plain.py").write_text(
        "def test_plain():\n    assert 1 + 1 == 2\n\n\ndef test_other(tmp_path):\n    assert tmp_path\n"
    )
    return tmp_path


@pytest.mark.parametrize("args", [["--co", "-q"], ["-q"]], ids=["collect", "run"])
def test_an_unused_run_loads_only_the_start_up_modules(project: Path, args: list[str]) -> None:
    code, modules = _loaded(project, *args)
    assert code == 0
    assert sorted(modules - STARTUP) == [], "loaded at start-up, not needed until a test uses it"
    assert sorted(STARTUP - modules) == []


def test_every_start_up_module_opts_out_of_assertion_rewriting() -> None:
    """pytest rewrites every module of a plugin's package it imports: with bytecode off
    it reads, parses, rewrites and compiles each on every run. The docstring marker
    skips the rewriter's pass (the modules have no asserts worth rewriting)."""
    import ast
    import importlib.util

    missing = []
    for name in sorted(STARTUP):
        spec = importlib.util.find_spec(name)
        assert spec is not None
        assert spec.origin is not None
        doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text())) or ""
        if "PYTEST_DONT_REWRITE" not in doc:
            missing.append(name)
    assert missing == []


LOADERS = """
import json, sys, pytest
from _pytest import config
# pytest rewrites a plugin's package when its install lists the package's files or says
# it is editable (pip's); an installer that says neither (tox's editable wheel by uv)
# gets no rewriting at all. Taken as editable, every install is rewritten here alike.
config._is_editable_install = lambda dist: True
pytest.main(sys.argv[1:])
print(json.dumps({n: type(m.__loader__).__name__ for n, m in list(sys.modules.items())
                  if n.split(".")[0] == "pytest_llm"}))
"""


def test_the_start_up_modules_are_compiled_by_python_not_rewritten(project: Path) -> None:
    """pytest's assertion rewriter parses every module of the plugin's package into AST
    objects and compiles those (no cache with bytecode off): about twice Python's own
    compile. The package marks its start-up modules as not for rewriting in a private
    cache of pytest's (``_lazy.not_rewritten``); this fails if that stops working. The
    package and ``_lazy`` load before the mark is made."""
    loaders = run_probe(LOADERS, ["-p", "no:cacheprovider", "--co", "-q"], project, bytecode=False)
    rewritten = sorted(n for n, loader in loaders.items() if loader == "AssertionRewritingHook")
    assert set(loaders) == STARTUP
    assert rewritten == ["pytest_llm", "pytest_llm._lazy"]


def test_help_loads_no_more_and_lists_every_option(project: Path) -> None:
    code, modules = _loaded(project, "--help")
    assert code == 0
    assert modules <= STARTUP


def test_without_the_plugin_nothing_loads(project: Path) -> None:
    code, modules = _loaded(project, "-q", "-p", "no:llm")
    assert (code, modules) == (0, set())


def test_a_test_that_uses_a_fixture_loads_its_body(project: Path) -> None:
    (project / "test_fake.py").write_text(
        "def test_fake(llm_fake):\n    assert len(llm_fake.requests) == 0\n"
    )
    code, modules = _loaded(project, "-q")
    assert code == 0
    assert {"pytest_llm.fake._fixtures", "pytest_llm.fake._provider", "pytest_llm._report"} <= (
        modules - STARTUP
    )


def test_the_distribution_declares_one_pytest_entry_point() -> None:
    with (ROOT / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    assert project["entry-points"]["pytest11"] == {"llm": "pytest_llm.plugin"}


def test_every_fixture_is_declared_with_its_docstring(pytester: pytest.Pytester) -> None:
    """The fixtures are declared in the plugin module (their bodies load on first use):
    ``pytest --fixtures`` still shows each with its help."""
    result = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines_random(
        [
            "llm_clock -- *plugin.py:*",
            "*Virtual time for the test: every wait of pytest-llm and the openai SDK returns at",
            "llm_cassette_config -- *plugin.py:*",
            "*Override in a conftest to set cassette options for a directory of tests.",
            "llm_cassette -- *plugin.py:*",
            "*The test's cassette, active for the whole test: replays, or records when asked.",
            "llm_fake_config -- *plugin.py:*",
            "llm_fake -- *plugin.py:*",
            "*An OpenAI-compatible fake provider, active for the whole test.",
            "llm_faults -- *plugin.py:*",
            "*The test's fault plan, on the virtual clock; at the end every scripted fault must",
            "llm_server -- *plugin.py:*",
            "*A real HTTP server on 127.0.0.1 serving the request chain (faults, cassettes, fake).",
            "vcr -- *_vcr_shim.py:*",
        ]
    )


@pytest.mark.parametrize(
    "given",
    [("cli", "env", "ini"), ("env", "ini"), ("ini",), ()],
    ids=lambda g: "+".join(g) or "none",
)
def test_the_session_values_follow_the_one_precedence_rule(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, given: tuple[str, ...]
) -> None:
    """An unused run reads its options with ``_settings.session_value`` (the per-test
    ``_resolve.option`` loads with the first test that uses the plugin): both give the
    same value, by the same precedence, for every source a session has."""
    from pytest_llm._resolve import option
    from pytest_llm._settings import session_value

    values = {"cli": ("all", "true"), "env": ("new", "false"), "ini": ("once", "true")}
    monkeypatch.delenv("PYTEST_LLM_RECORD", raising=False)
    monkeypatch.delenv("PYTEST_LLM_ALLOW_NETWORK", raising=False)
    args = []
    if "cli" in given:
        args = ["--llm-record=all", "--llm-allow-network"]
    if "env" in given:
        monkeypatch.setenv("PYTEST_LLM_RECORD", values["env"][0])
        monkeypatch.setenv("PYTEST_LLM_ALLOW_NETWORK", values["env"][1])
    ini = "[pytest]\n"
    if "ini" in given:
        ini += f"llm_record = {values['ini'][0]}\nllm_allow_network = {values['ini'][1]}\n"
    pytester.makeini(ini)
    config = pytester.parseconfig(*args)
    first = given[0] if given else None
    expected_record = values[first][0] if first else "none"
    expected_network = first is not None and values[first][1] == "true"
    assert session_value(config, "record")[0] == option(config, "record").value == expected_record
    assert (
        session_value(config, "allow_network")[0]
        == option(config, "allow_network").value
        == expected_network
    )
