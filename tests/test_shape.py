"""The shape of the package: no import cycles, facades that agree with their tables,
patches that undo themselves, and one exit rule for every handler."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import pytest_llm

ROOT = Path(pytest_llm.__file__).parent


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every pytest_llm module ``path`` imports, at the top or inside a function
    (imports under ``if TYPE_CHECKING:`` do not run, so they do not count)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pytest_llm"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if not target.startswith("pytest_llm"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if _exists(sub) else target)
    return found


def _exists(module: str) -> bool:
    rel = Path(*module.split("."))
    base = ROOT.parent / rel
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        name = _module_name(path)
        deps = _imports(path)
        # importing a.b.c runs a.b's __init__ first (a package's own modules load
        # while it initialises: that is no cycle)
        for dep in list(deps):
            parts = dep.split(".")
            deps.update(".".join(parts[:i]) for i in range(2, len(parts)))
        deps = {d for d in deps if d != name and not name.startswith(d + ".")}
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_not_even_through_lazy_imports() -> None:
    graph = import_graph()
    assert graph["pytest_llm._flow"] >= {"pytest_llm.transport._patch"}  # the checker sees edges
    assert cycles(graph) == []


def test_the_checker_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


FACADES = sorted(
    {info.name for info in pkgutil.walk_packages(pytest_llm.__path__, "pytest_llm.") if info.ispkg}
    | {"pytest_llm"}
)


@pytest.mark.parametrize("facade", FACADES)
def test_a_facade_has_one_table_and_its_names_agree_with_it(facade: str) -> None:
    """``__all__``, the lazy look-up and the names a type checker sees come from one table."""
    module = importlib.import_module(facade)
    table: dict[str, str] = module._WHERE
    helpers = getattr(module, "_HELPERS", frozenset())
    assert module.__all__ == sorted(set(table) - helpers)
    typed: dict[str, str] = {}
    source = Path(module.__file__ or "")
    stub = source.with_suffix(".pyi")  # the typed names in a stub, or under TYPE_CHECKING
    tree = ast.parse((stub if stub.exists() else source).read_text())
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            imports = node.body
        elif stub.exists() and isinstance(node, ast.ImportFrom):
            imports = [node]
        else:
            continue
        for imp in imports:
            assert isinstance(imp, ast.ImportFrom)
            for alias in imp.names:
                assert alias.asname == alias.name  # an explicit re-export
                typed[alias.name] = "." * imp.level + (imp.module or "")
    assert typed == table
    for name, where in table.items():
        real = importlib.import_module(where, facade)
        assert getattr(module, name) is getattr(real, name)
    assert sorted(dir(module)) == sorted(table)


def test_helpers_stay_out_of_the_public_names() -> None:
    from pytest_llm import assertions

    assert "matcher_repr_compare" not in assertions.__all__
    assert callable(assertions.matcher_repr_compare)


def test_version_is_the_installed_one() -> None:
    from importlib import metadata

    assert pytest_llm.__version__ == metadata.version("pytest-llm-harness")


def test_install_hints_name_this_distribution_and_one_of_its_extras() -> None:
    """The distribution is pytest-llm-harness: ``pip install 'pytest-llm[...]'`` would
    install an unrelated project that ships its own top-level pytest_llm package."""
    import re
    from importlib import metadata

    extras = set(metadata.metadata("pytest-llm-harness").get_all("Provides-Extra") or [])
    files = [*ROOT.rglob("*.py"), ROOT.parent / "README.md", *(ROOT.parent / "docs").glob("*.md")]
    hints = [
        (path.name, m[1], m[2])
        for path in files
        if path.exists()
        for m in re.finditer(r"pip install '?(pytest[\w.-]*)\[([\w,-]+)\]", path.read_text())
    ]
    assert len(hints) >= 10
    wrong = [(f, d, e) for f, d, e in hints if d != "pytest-llm-harness" or e not in extras]
    assert wrong == []


def test_one_options_table_feeds_every_source() -> None:
    """The marker, the config fixture, Cassette, use_cassette, the CLI, env and ini all
    come from ``_settings.OPTIONS``: adding an option is one row there."""
    import inspect
    import typing

    from pytest_llm import Cassette, use_cassette
    from pytest_llm._settings import CONFIG_KEYS, ENV, MARKER_KEYWORDS, MARKERS, OPTIONS

    marker = {o.name for o in OPTIONS if o.marker}
    assert set(MARKER_KEYWORDS) == {"path"} | marker
    assert set(CONFIG_KEYS) == marker | {o.name for o in OPTIONS if o.config}
    params = set(inspect.signature(Cassette.__init__).parameters) - {"self", "path"}
    assert marker | {"allow_network"} <= params
    # use_cassette takes Cassette's keywords, typed by one TypedDict that must list them all
    assert set(inspect.signature(use_cassette).parameters) == {"path", "options"}
    (keywords,) = typing.get_args(typing.get_type_hints(use_cassette)["options"])
    assert marker | {"allow_network"} <= set(keywords.__annotations__) <= params
    assert all(f"{name}=None" in MARKERS[0] for name in marker)
    assert sorted(ENV.values()) == [
        "PYTEST_LLM_ALLOW_NETWORK",
        "PYTEST_LLM_CASSETTE_DIR",
        "PYTEST_LLM_MATCH",
        "PYTEST_LLM_NULL_AS_ABSENT",
        "PYTEST_LLM_RECORD",
        "PYTEST_LLM_REPLAY_TIMING",
        "PYTEST_LLM_VERDICTS",
    ]


def test_every_option_reaches_pytest(pytester: pytest.Pytester) -> None:
    from pytest_llm._settings import OPTIONS

    result = pytester.runpytest("--help")
    out = result.stdout.str()
    for o in OPTIONS:
        if o.cli is not None:
            assert "--llm-" + o.name.replace("_", "-") in out
        if o.ini is not None:
            assert o.ini_key in out


def test_check_unused_has_one_default_for_every_handler(tmp_path: Path) -> None:
    """``Handler.check_unused`` is the default of the cassette, the fault plan and the
    fake; a cassette in migrate mode (vcrpy's semantics) does not check unless asked."""
    from pytest_llm import Cassette, FakeProvider, FaultPlan
    from pytest_llm._handler import Handler

    path = tmp_path / "c.yaml"
    assert Handler.check_unused is True
    assert Cassette(path).check_unused is Handler.check_unused
    assert FaultPlan().check_unused is Handler.check_unused
    assert FakeProvider().check_unused is Handler.check_unused
    assert Cassette(path, match="migrate").check_unused is False
    assert Cassette(path, match="migrate", check_unused=True).check_unused is True
    assert Cassette(path, check_unused=False).check_unused is False


def test_a_replayed_test_that_leaves_its_recordings_unused_fails_by_default(
    llm_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_project.makepyfile(
        test_app="""
        import os, openai

        def test_app(llm_cassette):
            client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"])
            for i in range(int(os.environ.get("CALLS", "2"))):
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": str(i)}])
        """
    )
    llm_project.runpytest("--llm-record=once").assert_outcomes(passed=1)
    monkeypatch.setenv("CALLS", "1")
    result = llm_project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-llm: 1 recorded interaction in */cassettes/test_app/test_app.yaml was never used:",
            "  interactions[[]1] (line *): POST http://localhost/v1/chat/completions",
            "fix: remove them by re-recording with --llm-record=all, or drop the check (check_unused=False).",
        ]
    )
    llm_project.runpytest("--llm-match=migrate").assert_outcomes(passed=1)
    llm_project.runpytest("-o", "llm_check_unused=false").assert_outcomes(passed=1)
    migrate_checked = llm_project.runpytest("--llm-match=migrate", "-o", "llm_check_unused=true")
    migrate_checked.assert_outcomes(passed=1, errors=1)


def test_the_benchmarks_readme_lists_every_script() -> None:
    """Every script in ``benchmarks/`` has its row in the README's table (what it answers,
    how long it runs), so a new benchmark cannot land unlisted."""
    benchmarks = Path(__file__).resolve().parent.parent / "benchmarks"
    text = (benchmarks / "README.md").read_text(encoding="utf-8")
    table = text.split("| script | what it answers |", 1)[1].split("\n\n", 1)[0]
    listed = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert listed == {script.name for script in benchmarks.glob("*.py")}
