"""What a project's tests that do not use pytest-llm pay for it being installed.

Runs a temporary project of N trivial tests (none uses a cassette, fake, fault, clock,
server or marker) in fresh subprocesses, three arms interleaved: pytest-llm installed
(its default guard on), the same with ``-o llm_guard=off``, and ``-p no:llm``. Every
other ``pytest11`` plugin is disabled in all arms alike. Prints the median CPU time
(user + system: on a busy shared machine, wall time mostly measures the neighbours)
of each arm, the paired differences per test, and, from one profiled run per arm, how
many calls into pytest-llm's code the tests made (setup, call and teardown of each
test, from ``sys.setprofile``): 0 means no pytest-llm code on their path.

    python benchmarks/plain_tests.py [--tests 2000] [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from import_overhead import PLUGIN, base_env, other_plugins

PROBE = """
import os, sys, pytest
import pytest_llm

ROOT = os.path.dirname(pytest_llm.__file__) + os.sep
CALLS = [0]

def _profile(frame, event, arg):
    if event == "call" and frame.f_code.co_filename.startswith(ROOT):
        CALLS[0] += 1

@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    sys.setprofile(_profile)
    try:
        return (yield)
    finally:
        sys.setprofile(None)

def pytest_unconfigure(config):
    print(f"pytest-llm calls during tests: {CALLS[0]}")
"""


def project(root: Path, tests: int) -> None:
    (root / "pytest.ini").write_text("[pytest]\n")
    body = "\n".join(f"def test_{i}():\n    assert {i} + 1 == {i + 1}\n" for i in range(tests))
    (root / "test_plain.py").write_text(body)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--tests", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args(argv)
    others = [arg for name in other_plugins() for arg in ("-p", f"no:{name}")]
    arms = {
        "pytest-llm installed, unused": [],
        "the same, -o llm_guard=off": ["-o", "llm_guard=off"],
        "-p no:llm": ["-p", f"no:{PLUGIN}"],
    }
    times: dict[str, list[float]] = {name: [] for name in arms}
    with tempfile.TemporaryDirectory(prefix="plain-tests-") as tmp:
        root = Path(tmp)
        project(root, args.tests)
        env = base_env("cached", root)
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *others]
        calls = {}
        (root / "probe").mkdir()
        (root / "probe" / "conftest.py").write_text(PROBE)
        for name, extra in arms.items():
            if name == "-p no:llm":
                calls[name] = "n/a (pytest-llm not loaded)"
                continue
            probe = subprocess.run(
                [
                    *base,
                    *extra,
                    "--rootdir",
                    str(root),
                    "-c",
                    str(root / "pytest.ini"),
                    "--confcutdir",
                    str(root),
                    "-p",
                    "probe.conftest",
                    "test_plain.py",
                ],
                cwd=root,
                env={**env, "PYTHONPATH": os.pathsep.join([str(root), env.get("PYTHONPATH", "")])},
                capture_output=True,
                text=True,
            )
            line = [ln for ln in probe.stdout.splitlines() if "pytest-llm calls" in ln]
            calls[name] = line[0].split(": ")[1] if line else f"probe failed: {probe.stdout[-300:]}"
        for r in range(args.runs + 1):
            order = list(arms.items())
            for name, extra in order if r % 2 else order[::-1]:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                proc = subprocess.run(
                    [*base, *extra], cwd=root, env=env, capture_output=True, text=True
                )
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                # CPU time (user + system) of the pytest process: on a shared, busy machine
                # wall time measures the neighbours more than pytest
                ms = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
                if proc.returncode != 0:
                    raise SystemExit(f"{name}: exit {proc.returncode}\n{proc.stdout[-500:]}")
                if r:  # run 0 warms the caches
                    times[name].append(ms)
    floor = times["-p no:llm"]
    print(f"{args.tests} trivial tests, medians of {args.runs} interleaved runs per arm")
    print()
    print("| arm | CPU ms | vs -p no:llm, ms | per test, µs | pytest-llm calls during the tests |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, ms in times.items():
        diff = statistics.median(a - b for a, b in zip(ms, floor, strict=True))
        print(
            f"| {name} | {statistics.median(ms):.0f} | {diff:+.0f} | "
            f"{diff * 1000 / args.tests:+.1f} | {calls[name]} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
