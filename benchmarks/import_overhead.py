"""What pytest-llm adds to pytest start-up when it is installed but no test uses it.

Runs ``python -m pytest --co -q -p no:cacheprovider`` on a tiny temporary project
(one trivial test) many times in fresh subprocesses, the two arms interleaved so
machine noise hits both alike, and prints the median time of each arm and their
difference: CPU time (user + system) of the pytest process by default, which a loaded
machine disturbs far less than elapsed time (``--clock wall`` for that). Nothing
asserts on time: the machines are shared and noisy.

Two ways to build the arms (``--mode``):

- ``autoload`` (default, what a user sees): plugin autoloading stays on, as in any
  real run; every *other* third-party plugin of this interpreter (``pytest11``
  entry points) is disabled with ``-p no:NAME`` in both arms alike, so their cost
  and noise drop out of both. The arms are then "nothing more" vs ``-p no:llm``.
  The entry-point scan happens in both arms; the difference is exactly loading
  pytest-llm's entry point, importing it, and running its hooks.
- ``explicit``: ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1`` in both arms, pytest-llm
  loaded by ``-p pytest_llm.plugin`` in one. Quieter (no other plugin is even
  looked at) but not how users run; a cross-check of the first.

And two bytecode settings (``--bytecode``), because pytest rewrites the asserts of
every module of a plugin it loads and caches the result only where Python may
write bytecode:

- ``cached``: bytecode writing on (``PYTHONDONTWRITEBYTECODE`` removed), caches in a
  temporary ``PYTHONPYCACHEPREFIX`` filled by the warm-up runs: a developer's laptop.
- ``off``: ``PYTHONDONTWRITEBYTECODE=1``, as many Docker images and this workplace's
  shells set it: pytest parses, rewrites and compiles the plugin's modules on every
  run (installed packages still use the ``.pyc`` files written at install time).

``--llm-src LABEL=DIR`` adds one more "with pytest-llm" arm running the ``pytest_llm``
package in DIR (e.g. a ``git archive`` of an older commit, put first on
``PYTHONPATH``), so a before/after comparison is measured side by side in one run.

    python benchmarks/import_overhead.py [--runs 30] [--mode autoload|explicit|both]
        [--bytecode cached|off|both] [--llm-src LABEL=DIR]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

TEST_FILE = "def test_trivial():\n    assert 1 + 1 == 2\n"
BASE_ARGS = ["-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"]
PLUGIN = "llm"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Arm:
    name: str
    args: list[str]
    env: dict[str, str]
    ms: list[float] = field(default_factory=list)


def other_plugins() -> list[str]:
    """Entry-point names of every pytest11 plugin of this interpreter except pytest-llm."""
    names = {ep.name for ep in metadata.entry_points(group="pytest11")}
    names.discard(PLUGIN)
    return sorted(names)


def base_env(bytecode: str, project: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var in (
        "PYTEST_ADDOPTS",
        "PYTEST_PLUGINS",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONPYCACHEPREFIX",
    ):
        env.pop(var, None)
    if bytecode == "cached":
        env["PYTHONPYCACHEPREFIX"] = str(project / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def with_source(env: dict[str, str], source: str) -> dict[str, str]:
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))}


def clean_copy(package_dir: Path, into: Path) -> str:
    """A copy of the ``pytest_llm`` package in ``package_dir`` without ``__pycache__``
    (pytest would read a rewritten ``.pyc`` left there by an earlier run even with
    bytecode writing off); the folder to put on ``PYTHONPATH``."""
    shutil.copytree(
        package_dir / "pytest_llm",
        into / "pytest_llm",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return str(into)


def arms(mode: str, bytecode: str, project: Path, sources: dict[str, str]) -> list[Arm]:
    """The arms with pytest-llm (this tree, labelled "", then one per ``--llm-src``),
    each from its clean copy, and the one without last."""
    env = base_env(bytecode, project)
    if mode == "autoload":
        others = [arg for name in other_plugins() for arg in ("-p", f"no:{name}")]
        return [
            *(
                Arm(
                    "plugin installed, unused" + (f" ({label})" if label else ""),
                    others,
                    with_source(env, src),
                )
                for label, src in sources.items()
            ),
            # the same PYTHONPATH as this tree's arm: every import looks there first
            Arm("-p no:llm", [*others, "-p", f"no:{PLUGIN}"], with_source(env, sources[""])),
        ]
    quiet = {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return [
        *(
            Arm(
                "-p pytest_llm.plugin" + (f" ({label})" if label else ""),
                ["-p", "pytest_llm.plugin"],
                with_source(quiet, src),
            )
            for label, src in sources.items()
        ),
        Arm("no plugin", [], with_source(quiet, sources[""])),
    ]


CLOCK = "cpu"
"""``cpu``: user + system time of the pytest process; ``wall``: elapsed time (``--clock``)."""


def run(arm: Arm, project: Path, extra: list[str] | None = None) -> tuple[float, str]:
    cmd = [sys.executable, *BASE_ARGS, *arm.args, *(extra or [])]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=project, env=arm.env, capture_output=True, text=True)
    ms = (time.perf_counter() - t0) * 1000
    if CLOCK == "cpu":
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        ms = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    if extra is None and (proc.returncode != 0 or "1 test collected" not in proc.stdout):
        raise SystemExit(
            f"{arm.name}: pytest did not collect the one test (exit {proc.returncode}):\n"
            f"{' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
        )
    return ms, proc.stdout + proc.stderr


def check_arms(group: list[Arm], project: Path) -> None:
    """Prove which arms load pytest-llm: only those accept --llm-record."""
    *withs, without = group
    for arm in withs:
        out = run(arm, project, ["--llm-record=none"])[1]
        if "1 test collected" not in out:
            raise SystemExit(f"{arm.name} does not load pytest-llm:\n{out.strip()[-300:]}")
    out = run(without, project, ["--llm-record=none"])[1]
    if "unrecognized arguments" not in out:
        raise SystemExit(f"{without.name} loads pytest-llm:\n{out.strip()[-300:]}")


def plugin_import_ms(project: Path) -> float:
    """Median time to import pytest_llm.plugin once pytest itself is imported (no rewriting)."""
    code = (
        "import time, pytest; t = time.perf_counter(); import pytest_llm.plugin; "
        "print((time.perf_counter() - t) * 1000)"
    )
    out = []
    for _ in range(9):
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=project,
            env=base_env("cached", project),
            capture_output=True,
            text=True,
            check=True,
        )
        out.append(float(proc.stdout.strip()))
    return statistics.median(out)


PROBE = """
import json, sys, pytest
pytest.main(sys.argv[1:])
print(json.dumps(sorted(
    m.__file__ for n, m in list(sys.modules.items())
    if n.split(".")[0] == "pytest_llm" and getattr(m, "__file__", None)
)))
"""


def startup_modules(project: Path, source: str) -> tuple[int, int, int]:
    """How many pytest-llm modules an unused ``pytest --co`` run loads, their lines and
    the nodes of their syntax trees: each is read, parsed and compiled when bytecode is
    off, at a cost that grows with the nodes more than with the lines (long strings
    cost little)."""
    env = with_source(base_env("off", project), source)
    others = [arg for name in other_plugins() for arg in ("-p", f"no:{name}")]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *BASE_ARGS[2:], *others],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    files = json.loads(proc.stdout.strip().splitlines()[-1])
    sources = [Path(f).read_text() for f in files]
    nodes = sum(sum(1 for _ in ast.walk(ast.parse(text))) for text in sources)
    return len(files), sum(len(text.splitlines()) for text in sources), nodes


def measure(
    mode: str, bytecode: str, runs: int, project: Path, sources: dict[str, str]
) -> list[Arm]:
    group = arms(mode, bytecode, project, sources)
    check_arms(group, project)
    for _ in range(3):  # warm-up: bytecode caches, page cache
        for arm in group:
            run(arm, project)
    for r in range(runs):
        for arm in group if r % 2 == 0 else group[::-1]:
            arm.ms.append(run(arm, project)[0])
    return group


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=30, help="timed runs per arm (default 30)")
    ap.add_argument("--mode", choices=["autoload", "explicit", "both"], default="autoload")
    ap.add_argument("--bytecode", choices=["cached", "off", "both"], default="both")
    ap.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="cpu (default): user + system time of each pytest process, steadier on a "
        "shared machine; wall: elapsed time",
    )
    ap.add_argument(
        "--llm-src",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="one more arm with the pytest_llm package in DIR (e.g. a `git archive` of an "
        "older commit), labelled LABEL",
    )
    args = ap.parse_args(argv)
    global CLOCK
    CLOCK = args.clock
    if args.runs < 1:
        ap.error("--runs must be positive")
    folders = {"": ROOT}
    for item in args.llm_src:
        label, _, folder = item.partition("=")
        if not label or not (Path(folder) / "pytest_llm" / "plugin.py").exists():
            ap.error(f"--llm-src {item}: expected LABEL=DIR with a pytest_llm package in DIR")
        folders[label] = Path(folder).resolve()
    modes = ["autoload", "explicit"] if args.mode == "both" else [args.mode]
    codes = ["cached", "off"] if args.bytecode == "both" else [args.bytecode]
    print(
        f"measured: pytest {metadata.version('pytest')}, pytest-llm {metadata.version('pytest-llm-harness')}, "
        f"Python {sys.version.split()[0]} ({sys.executable})"
    )
    print(
        f"other pytest11 plugins disabled in both arms (autoload mode): {', '.join(other_plugins())}"
    )
    with tempfile.TemporaryDirectory(prefix="import-overhead-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        sources = {
            label: clean_copy(folder, Path(tmp) / f"src-{n}")
            for n, (label, folder) in enumerate(folders.items())
        }
        (project / "pytest.ini").write_text("[pytest]\n")
        (project / "test_trivial.py").write_text(TEST_FILE)
        rows = []
        for mode in modes:
            for code in codes:
                *withs, without = measure(mode, code, args.runs, project, sources)
                for with_plugin in withs:
                    paired = statistics.median(
                        a - b for a, b in zip(with_plugin.ms, without.ms, strict=True)
                    )
                    rows.append((mode, code, with_plugin, without, paired))
        imp = plugin_import_ms(project)
        loaded = {label: startup_modules(project, src) for label, src in sources.items()}
    print()
    print("| mode | bytecode | arm with pytest-llm | ms | arm without | ms | difference, ms |")
    print("| --- | --- | --- | ---: | --- | ---: | ---: |")
    for mode, code, a, b, paired in rows:
        print(
            f"| {mode} | {code} | {a.name} | {statistics.median(a.ms):.1f} | {b.name} | "
            f"{statistics.median(b.ms):.1f} | {paired:+.1f} |"
        )
    print()
    print(
        f"{args.clock} time, medians of {args.runs} interleaved runs per arm; difference = "
        "median of the paired "
        "differences (with - without); target: at most 20 ms."
    )
    print(f"import of pytest_llm.plugin after pytest: {imp:.1f} ms (median of 9 processes)")
    for label, (count, lines, nodes) in loaded.items():
        name = f" ({label})" if label else ""
        print(
            f"pytest-llm modules loaded by an unused run{name}: {count}, {lines:,} lines, "
            f"{nodes:,} AST nodes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
