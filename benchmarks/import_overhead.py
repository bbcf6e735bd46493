"""What pytest-llm adds to pytest start-up when it is installed but no test uses it.

Runs ``python -m pytest --co -q -p no:cacheprovider`` on a tiny temporary project
(one trivial test) many times in fresh subprocesses, the two arms interleaved so
machine noise hits both alike, and prints the median wall time of each arm and
their difference. Nothing asserts on time: the machines are shared and noisy.

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

    python benchmarks/import_overhead.py [--runs 30] [--mode autoload|explicit|both]
        [--bytecode cached|off|both]
"""

from __future__ import annotations

import argparse
import os
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


def arms(mode: str, bytecode: str, project: Path) -> list[Arm]:
    env = base_env(bytecode, project)
    if mode == "autoload":
        others = [arg for name in other_plugins() for arg in ("-p", f"no:{name}")]
        return [
            Arm("plugin installed, unused", others, env),
            Arm("-p no:llm", [*others, "-p", f"no:{PLUGIN}"], env),
        ]
    quiet = {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return [
        Arm("-p pytest_llm.plugin", ["-p", "pytest_llm.plugin"], quiet),
        Arm("no plugin", [], quiet),
    ]


def run(arm: Arm, project: Path, extra: list[str] | None = None) -> tuple[float, str]:
    cmd = [sys.executable, *BASE_ARGS, *arm.args, *(extra or [])]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=project, env=arm.env, capture_output=True, text=True)
    ms = (time.perf_counter() - t0) * 1000
    if extra is None and (proc.returncode != 0 or "1 test collected" not in proc.stdout):
        raise SystemExit(
            f"{arm.name}: pytest did not collect the one test (exit {proc.returncode}):\n"
            f"{' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
        )
    return ms, proc.stdout + proc.stderr


def check_arms(pair: list[Arm], project: Path) -> None:
    """Prove which arm loads pytest-llm: only that one accepts --llm-record."""
    loaded = [run(arm, project, ["--llm-record=none"])[1] for arm in pair]
    with_plugin, without = loaded
    if "1 test collected" not in with_plugin or "unrecognized arguments" not in without:
        raise SystemExit(
            "the arms do not differ by pytest-llm alone:\n"
            f"{pair[0].name}: {with_plugin.strip()[-300:]}\n{pair[1].name}: {without.strip()[-300:]}"
        )


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


def measure(mode: str, bytecode: str, runs: int, project: Path) -> list[Arm]:
    pair = arms(mode, bytecode, project)
    check_arms(pair, project)
    for _ in range(3):  # warm-up: bytecode caches, page cache
        for arm in pair:
            run(arm, project)
    for r in range(runs):
        for arm in pair if r % 2 == 0 else pair[::-1]:
            arm.ms.append(run(arm, project)[0])
    return pair


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=30, help="timed runs per arm (default 30)")
    ap.add_argument("--mode", choices=["autoload", "explicit", "both"], default="autoload")
    ap.add_argument("--bytecode", choices=["cached", "off", "both"], default="both")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be positive")
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
        project = Path(tmp)
        (project / "pytest.ini").write_text("[pytest]\n")
        (project / "test_trivial.py").write_text(TEST_FILE)
        rows = []
        for mode in modes:
            for code in codes:
                with_plugin, without = measure(mode, code, args.runs, project)
                paired = statistics.median(
                    a - b for a, b in zip(with_plugin.ms, without.ms, strict=True)
                )
                rows.append((mode, code, with_plugin, without, paired))
        imp = plugin_import_ms(project)
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
        f"medians of {args.runs} interleaved runs per arm; difference = median of the paired "
        "differences (with - without); target: at most 20 ms."
    )
    print(f"import of pytest_llm.plugin after pytest: {imp:.1f} ms (median of 9 processes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
