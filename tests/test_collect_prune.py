"""pytest skips the session's cassette folder where walking it could collect nothing
(``pytest_llm._collect``), and every run shows what it showed before.

Each case runs the same project twice in process: as it is, and with the folder's
pruning turned off (``_collect.prune`` answering ``None``, pytest's own walk): the
``--collect-only`` lines, the exit code and what pytest collected must be the same;
where the folder holds nothing to collect, pytest must not have been asked about
anything inside it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from fresh_process import run_probe

from pytest_llm import _collect
from pytest_llm._pytest_facts import hook_origin
from pytest_llm.cassette._build import cassette_path

TESTS = """
def test_one():
    pass

class TestTwo:
    def test_two(self):
        pass
"""

CASSETTE = "version: 2\ninteractions: []\n"


def _cassettes(pytester: pytest.Pytester, folder: str = "cassettes") -> Path:
    """A project with two test modules and their cassette folders: YAML files and each
    folder's load cache, as pytest-llm leaves them."""
    pytester.makepyfile(test_a=TESTS, test_b=TESTS)
    root = pytester.path / folder
    for module in ("test_a", "test_b"):
        for name in ("test_one.yaml", "TestTwo.test_two.yaml"):
            (root / module).mkdir(parents=True, exist_ok=True)
            (root / module / name).write_text(CASSETTE)
        cache = root / module / ".pytest-llm-cache"
        cache.mkdir()
        (cache / "small.marshal").write_bytes(b"\0")
        (cache / ".gitignore").write_text("*\n")
    return root


def _asked(pytester: pytest.Pytester, *args: str) -> list[Path]:
    """The paths pytest asked ``pytest_ignore_collect`` about in a ``--co`` run."""
    calls = pytester.inline_run("--co", "-p", "no:cacheprovider", *args).getcalls(
        "pytest_ignore_collect"
    )
    return [call.collection_path for call in calls]


def _inside(paths: list[Path], folder: Path) -> list[Path]:
    return [p for p in paths if folder in p.parents]


_TIME = re.compile(r" in \d+\.\d+s( \(\d+:\d+:\d+\))?")


def _shown(pytester: pytest.Pytester, *args: str) -> tuple[int, list[str]]:
    result = pytester.runpytest("-p", "no:cacheprovider", *args)
    return int(result.ret), [
        _TIME.sub(" in <t>", line) for line in result.outlines + result.errlines
    ]


def _same_both_ways(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, list[str]]:
    """The run's exit code and lines, after checking they are those of pytest's own walk."""
    pruned = _shown(pytester, *args)
    with monkeypatch.context() as m:
        m.setattr(_collect, "prune", lambda path, config: None)
        walked = _shown(pytester, *args)
    assert pruned == walked
    return pruned


def test_a_cassette_folder_is_not_walked_and_the_run_shows_the_same(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _cassettes(pytester)
    code, lines = _same_both_ways(pytester, monkeypatch, "--co")
    assert code == 0
    assert [line for line in lines if line.lstrip().startswith("<")] == [
        f"<Dir {pytester.path.name}>",
        "  <Module test_a.py>",
        "    <Function test_one>",
        "    <Class TestTwo>",
        "      <Function test_two>",
        "  <Module test_b.py>",
        "    <Function test_one>",
        "    <Class TestTwo>",
        "      <Function test_two>",
    ]
    assert _same_both_ways(pytester, monkeypatch, "-q")[1][-1] == "4 passed in <t>"
    asked = _asked(pytester)
    assert root in asked
    assert _inside(asked, root) == []
    with monkeypatch.context() as m:
        m.setattr(_collect, "prune", lambda path, config: None)
        walked = _inside(_asked(pytester), root)
    assert root / "test_a" / "test_one.yaml" in walked
    assert len(walked) == 8  # 2 folders, 4 YAML files, 2 cache folders (not walked: ".*")


def test_the_load_caches_are_skipped_by_pytests_own_rule_anyway(pytester: pytest.Pytester) -> None:
    """``.pytest-llm-cache`` is a dot-folder: pytest's default ``norecursedirs`` (``.*``)
    skips it where the cassette folder is walked."""
    root = _cassettes(pytester, "elsewhere")
    asked = _asked(pytester)
    assert root / "test_a" / ".pytest-llm-cache" in asked
    assert root / "test_a" / ".pytest-llm-cache" / "small.marshal" not in asked


@pytest.mark.parametrize(
    "inside",
    ["test_a/test_kept.py", "test_a/sub/conftest.py", "test_a/__init__.py", "notes/helper.py"],
)
def test_a_python_file_inside_is_collected_as_before(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, inside: str
) -> None:
    root = _cassettes(pytester)
    path = root / inside
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("def test_inside():\n    pass\n")
    _, lines = _same_both_ways(pytester, monkeypatch, "--co", "-q")
    inside_ids = [line for line in lines if line.startswith("cassettes/")]
    if path.name.startswith("test_"):
        assert inside_ids == [f"cassettes/{inside}::test_inside"]
    else:
        assert inside_ids == []
    assert root / "test_a" / "test_one.yaml" in _asked(pytester)


def test_a_doctest_text_file_inside_is_collected_as_before(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _cassettes(pytester)
    (root / "test_a" / "test_notes.txt").write_text(">>> 1 + 1\n2\n")
    _, lines = _same_both_ways(pytester, monkeypatch, "--co", "-q")
    assert "cassettes/test_a/test_notes.txt::test_notes.txt" in lines


@pytest.mark.parametrize(
    ("glob", "pruned"), [("*.yaml", False), ("*.md", True), ("cassettes/*/*.yaml", False)]
)
def test_doctest_globs_decide_as_pytest_does(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, glob: str, pruned: bool
) -> None:
    root = _cassettes(pytester)
    (root / "test_a" / "doc.yaml").write_text(">>> 1 + 1\n2\n")
    _, lines = _same_both_ways(pytester, monkeypatch, "--co", "-q", f"--doctest-glob={glob}")
    taken = "cassettes/test_a/doc.yaml::doc.yaml" in lines
    assert taken is (glob != "*.md")
    assert (_inside(_asked(pytester, f"--doctest-glob={glob}"), root) == []) is pruned


def test_doctest_modules_and_a_module_inside(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _cassettes(pytester)
    (root / "test_a" / "helper.py").write_text('def f():\n    """\n    >>> 1\n    1\n    """\n')
    _, lines = _same_both_ways(pytester, monkeypatch, "--co", "-q", "--doctest-modules")
    assert "cassettes/test_a/helper.py::helper.f" in lines


YAML_COLLECTOR = """
import pytest

class YamlItem(pytest.Item):
    def runtest(self):
        pass

class YamlFile(pytest.File):
    def collect(self):
        yield YamlItem.from_parent(self, name=self.path.stem)

def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".yaml":
        return YamlFile.from_parent(parent, path=file_path)
"""


def test_a_conftest_collecting_yaml_sees_every_cassette(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _cassettes(pytester)
    pytester.makeconftest(YAML_COLLECTOR)
    _, lines = _same_both_ways(pytester, monkeypatch, "--co", "-q")
    assert "cassettes/test_a/test_one.yaml::test_one" in lines
    assert lines[-1] == "8 tests collected in <t>"
    assert root / "test_a" / "test_one.yaml" in _asked(pytester)


def test_a_plugin_collecting_yaml_sees_every_cassette(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cassettes(pytester)
    pytester.makepyfile(yaml_plugin=YAML_COLLECTOR)
    monkeypatch.syspath_prepend(pytester.path)
    _, lines = _same_both_ways(pytester, monkeypatch, "--co", "-q", "-p", "yaml_plugin")
    assert "cassettes/test_b/TestTwo.test_two.yaml::TestTwo.test_two" in lines


def test_a_conftest_watching_collect_reports_sees_them_all(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _cassettes(pytester)
    pytester.makeconftest(
        """
        def pytest_collectreport(report):
            print("report", report.nodeid or "<session>", report.outcome)
        """
    )
    _, lines = _same_both_ways(pytester, monkeypatch, "--co", "-q", "-s")
    assert "report cassettes/test_a passed" in lines
    assert root / "test_a" in _asked(pytester)


def test_a_conftest_deciding_what_to_ignore_is_asked_as_before(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cassettes(pytester)
    pytester.makeconftest(
        """
        def pytest_ignore_collect(collection_path):
            if collection_path.suffix == ".yaml":
                print("asked", collection_path.name)
        """
    )
    _, lines = _same_both_ways(pytester, monkeypatch, "--co", "-q", "-s")
    assert lines.count("asked test_one.yaml") == 2


@pytest.mark.parametrize(
    "args",
    [
        ["cassettes"],
        ["cassettes/test_a"],
        ["cassettes/test_a/test_one.yaml"],
        ["cassettes/test_a", "test_b.py"],
        ["--ignore=cassettes/test_a"],
        ["--ignore=test_a.py"],
        ["--deselect=test_a.py::test_one"],
        ["-o", "norecursedirs=cassettes"],
        ["-o", "testpaths=cassettes"],
        ["-p", "no:llm"],
    ],
    ids=lambda args: " ".join(args),
)
def test_paths_options_and_rules_behave_as_before(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    root = _cassettes(pytester)
    (root / "test_b" / "test_kept.py").write_text("def test_inside():\n    pass\n")
    (root / "test_a" / "test_two.yaml").write_text(CASSETTE)
    _same_both_ways(pytester, monkeypatch, "--co", *args)
    _same_both_ways(pytester, monkeypatch, "-q", *args)


@pytest.mark.parametrize(
    "args",
    [
        ["cassettes"],
        ["cassettes/test_a"],
        ["cassettes/test_a/test_one.yaml"],
        ["cassettes/test_a", "test_b.py"],
        ["--ignore=test_a.py"],
        ["--deselect=test_a.py::test_one"],
        ["-o", "testpaths=cassettes"],
        ["--pyargs", "test_a"],
    ],
    ids=lambda args: " ".join(args),
)
def test_paths_and_options_into_a_folder_with_nothing_to_collect(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    _cassettes(pytester)
    monkeypatch.syspath_prepend(pytester.path)
    _same_both_ways(pytester, monkeypatch, "--co", *args)
    code, lines = _same_both_ways(pytester, monkeypatch, "-q", *args)
    if args[0].startswith("cassettes/test_a/"):
        assert code == 4
        assert "(no match in any of [<Dir test_a>])" in lines


def test_without_the_plugin_the_folder_is_walked(pytester: pytest.Pytester) -> None:
    root = _cassettes(pytester)
    assert root / "test_a" / "test_one.yaml" in _asked(pytester, "-p", "no:llm")


@pytest.mark.parametrize("source", ["cli", "env", "ini", "absolute"])
def test_the_folder_is_the_sessions_cassette_dir(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    """The configured folder is skipped, the default's is walked; it is the folder
    every test's cassette path starts with."""
    root = _cassettes(pytester, "recorded")
    other = _cassettes_beside(pytester)
    args: list[str] = []
    if source == "cli":
        args = ["--llm-cassette-dir=recorded"]
    elif source == "env":
        monkeypatch.setenv("PYTEST_LLM_CASSETTE_DIR", "recorded")
    elif source == "ini":
        pytester.makeini("[pytest]\nllm_cassette_dir = recorded\n")
    else:
        args = [f"--llm-cassette-dir={root}"]
    asked = _asked(pytester, *args)
    assert root in asked
    assert _inside(asked, root) == []
    assert other / "test_one.yaml" in asked
    items, _ = pytester.inline_genitems(*args)
    config = items[0].config
    assert _collect.cassette_root(config) == root
    for item in items:
        assert root in cassette_path(item, str(_option(config))).parents


def _cassettes_beside(pytester: pytest.Pytester) -> Path:
    folder = pytester.path / "cassettes" / "test_a"
    folder.mkdir(parents=True)
    (folder / "test_one.yaml").write_text(CASSETTE)
    return folder


def _option(config: pytest.Config) -> object:
    from pytest_llm._resolve import option

    return option(config, "cassette_dir").value


def test_a_symlinked_folder_inside_is_walked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _cassettes(pytester)
    target = pytester.path / "shared"
    target.mkdir()
    (target / "test_shared.py").write_text("def test_shared():\n    pass\n")
    (root / "test_a" / "linked").symlink_to(target, target_is_directory=True)
    _, lines = _same_both_ways(pytester, monkeypatch, "--co", "-q")
    assert "cassettes/test_a/linked/test_shared.py::test_shared" in lines


def test_a_hypothesis_folder_inside_is_walked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hypothesis's plugin warns about a ``.hypothesis`` folder pytest is asked about
    when ``norecursedirs`` lost its ``.*``: the folder holding one is walked."""
    root = _cassettes(pytester)
    (root / "test_a" / ".hypothesis").mkdir()
    pytester.makeini("[pytest]\nnorecursedirs = build\n")
    _, lines = _same_both_ways(pytester, monkeypatch, "--co", "-q")
    assert any("Skipping collection of '.hypothesis' directory" in line for line in lines)
    assert root / "test_a" / ".hypothesis" in _asked(pytester)


def test_a_folder_named_in_the_last_failed_cache_is_walked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A passed report of a folder clears its entry from ``--lf``'s cache: the folder is
    walked while the cache names it or anything under it, and skipped once it does not."""
    root = _cassettes(pytester)
    cache = pytester.path / ".pytest_cache" / "v" / "cache" / "lastfailed"

    def run() -> tuple[list[Path], dict[str, bool]]:
        reprec = pytester.inline_run("--co")
        asked = [c.collection_path for c in reprec.getcalls("pytest_ignore_collect")]
        return _inside(asked, root), json.loads(cache.read_text()) if cache.exists() else {}

    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"cassettes/test_a": True, "test_b.py::test_one": True}))
    inside, failed = run()
    assert root / "test_a" / "test_one.yaml" in inside
    assert failed == {"test_b.py::test_one": True}
    inside, failed = run()
    assert inside == []
    assert failed == {"test_b.py::test_one": True}


def test_only_pytests_own_collectors_and_the_watchers_read(pytester: pytest.Pytester) -> None:
    """The hooks checked in this interpreter's session: each implementation comes from
    pytest, pytest-llm or a plugin whose implementation was read."""
    config = pytester.parseconfigure()
    assert _collect._only_pytest_collects(config)
    hook = config.pluginmanager.hook
    modules = {
        hook_origin(impl)
        for name in _collect.COLLECTING + _collect.WATCHING
        for impl in getattr(hook, name).get_hookimpls()
    }
    outside = {m for m in modules if not m.startswith(("_pytest.", "pytest_llm."))}
    assert outside <= _collect.WATCHERS_READ


def test_prune_answers_for_the_folder_only_and_leaves_errors_to_pytest(
    pytester: pytest.Pytester,
) -> None:
    root = _cassettes(pytester)
    config = pytester.parseconfigure()
    assert _collect.prune(root, config) is True
    assert _collect.prune(root / "test_a", config) is None
    assert _collect.prune(pytester.path / "test_a.py", config) is None
    shutil.rmtree(root)
    assert _collect.prune(root, config) is None  # gone: pytest says what it says
    root.write_text("not a folder\n")
    assert _collect.prune(root, config) is None


STARTUP_PROBE = """
import json, sys, pytest
code = pytest.main(sys.argv[1:])
print(json.dumps([code, "pytest_llm._collect" in sys.modules]))
"""


@pytest.mark.parametrize(("folder", "loaded"), [("docs", False), ("cassettes", True)])
def test_the_module_loads_only_for_a_folder_of_the_cassette_dirs_name(
    tmp_path: Path, folder: str, loaded: bool
) -> None:
    """pytest asks about every entry of the tree: the plugin's hook compares a name
    and loads nothing more unless the entry has the cassette folder's name."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_plain.py").write_text("def test_plain():\n    pass\n")
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "a.yaml").write_text(CASSETTE)
    assert run_probe(STARTUP_PROBE, ["-p", "no:cacheprovider", "-q"], tmp_path) == [0, loaded]


XDIST_CONFTEST = """
import json, os
import _pytest.main

ASKED = []
_in_venv = _pytest.main._in_venv


def counted(path):  # pytest's own pytest_ignore_collect asks this of every entry it decides
    ASKED.append(str(path))
    return _in_venv(path)


_pytest.main._in_venv = counted


def pytest_collection_finish(session):
    worker = getattr(session.config, "workerinput", {}).get("workerid", "main")
    inside = [p for p in ASKED if os.sep + "cassettes" + os.sep in p]
    with open(os.path.join(os.environ["ASKED_DIR"], worker), "w") as fh:
        json.dump(inside, fh)
"""


@pytest.mark.parametrize("plugin", [True, False], ids=["pytest-llm", "no:llm"])
def test_each_xdist_worker_skips_the_folder(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, plugin: bool
) -> None:
    pytest.importorskip("xdist")
    _cassettes(pytester)
    pytester.makeconftest(XDIST_CONFTEST)
    out = pytester.mkdir("asked")
    monkeypatch.setenv("ASKED_DIR", str(out))
    args = ["-n", "2", "-p", "no:cacheprovider", *([] if plugin else ["-p", "no:llm"])]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=4)
    assert sorted(p.name for p in out.iterdir()) == ["gw0", "gw1"]
    for worker in out.iterdir():
        inside = json.loads(worker.read_text())
        assert (inside == []) is plugin
        assert plugin or len(inside) == 8
