"""What a suite of replayed tests costs: pytest session wall time and peak memory.

Each arm is a temporary project of N tests (100 per module); every test makes one
``client.chat.completions.create`` call (sync, non-streaming, a distinct prompt per
test) and checks the answer. The arms differ only in what answers the call:

- floor: a hand-written ``httpx2.MockTransport`` (``httpx`` under openai 1.x/2.x)
  passed as the client's transport; its handler reads the ticket number out of the
  prompt and hands back that test's response. No replaying tool can be cheaper.
  pytest-llm and pytest-recording are disabled (``-p no:...``). The reference for
  the target and for every "vs floor" column.
- floor (SDK default client): the same handler, reached through a client built the
  way the replay arms' is: ``openai.DefaultHttpxClient(mounts={"http://":
  MockTransport(handler)})`` (public API: the SDK's default timeout, limits and
  redirects; httpx builds its default transport, SSL context and CA bundle included,
  for every other URL, while ``BASE_URL``'s ``http://`` goes to the mock). What a
  replaying tool is up against once the app's own client is counted in. Every arm's
  ``suite_support`` already builds one default client (``Stack.detect``'s probe: the
  first construction, with its imports and an SSL context); the replay arms and this
  floor build a second one (~20-35 ms of CPU a process, each ``-n 2`` worker again),
  the floor does not. Its row's ratios are against the floor; the table below the main
  one gives every replay arm's ratios against it ("vs floor with the SDK's default
  client").
- pytest-llm: ``pytestmark = pytest.mark.llm_cassette``, one cassette per test, the
  SDK's default client; pytest-recording disabled.
- pytest-recording (body): ``pytestmark = pytest.mark.vcr`` with a ``vcr_config``
  fixture matching on ``method``, ``path`` and ``body`` (what pytest-llm matches on);
  pytest-llm disabled.
- pytest-recording (defaults): the same with vcrpy's default matching (method, scheme,
  host, port, path, query: the body is not compared).

The cassettes are recorded by each tool itself, by running the suite once in its
record mode (``--llm-record=once``, ``--record-mode=once``) with the client on the
floor's mock transport (wrapped by ``pytest_llm.wrap_transport`` for pytest-llm).
One client per process, built at import, in every arm: building one per test would
time the SDK's SSL context, not the tools.

Each run is a fresh ``python -m pytest -q -p no:cacheprovider`` subprocess, serial
and under ``-n 2`` (pytest-xdist); every other ``pytest11`` plugin of the
interpreter is disabled in all arms alike. Rounds are interleaved (every arm, size
and mode once per round, the arms' order rotating), and each figure is the median
over rounds; a ratio is the median of (arm / floor in the same round). Reported:
wall time, CPU time of the process tree (user + system of the pytest process and its
xdist workers; on a busy shared machine the steadier of the two) and peak memory: the
sum over the tree's processes of each one's peak RSS (``VmHWM``, written by the
project's conftest as each process ends). Nothing asserts on time.

pytest-recording is optional (its columns say n/a). Its ``pytest11`` plugin loads in
every pytest run of the interpreter it is installed into, so it can be installed
beside the venv instead and passed with ``--path``:
``pip install --no-deps --target /tmp/rec pytest-recording`` (vcrpy itself in the venv),
then ``python benchmarks/session_time.py --path /tmp/rec``.

    python benchmarks/session_time.py [--tests 200,2000] [--rounds 5] [--jobs 0,2]
        [--path DIR] [--llm-src LABEL=DIR] [--arms NAMES] [--keep DIR] [--phases]

``--phases`` then runs each arm once per round and size, serial, with a probe plugin
that sums ``time.process_time`` over each test phase (setup, call, teardown, the
reports, the rest of the protocol): where a replayed test's extra CPU goes; with
``--jobs ''`` only that.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import os
import re
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from import_overhead import PLUGIN, base_env, other_plugins  # noqa: E402

PER_MODULE = 100
KEEP_PLUGINS = {PLUGIN, "recording", "xdist", "xdist.looponfail"}
"""Not disabled wholesale: the arms choose between the first two; xdist runs ``-n 2``."""

SUPPORT = '''\
"""The suite's client, built once per process; the arm says what answers it."""

import json
import os
import sys

sys.path.insert(0, {bench!r})

from replay_cost import API_KEY, BASE_URL, MODEL, RESPONSE_HEADERS, Stack, answer, prompt, response_body

__all__ = ["answer", "ask"]

STACK = Stack.detect()
HTTP = STACK.http


def handler(request):
    """The floor: the ticket number is in the prompt; no table to build."""
    text = json.loads(request.content)["messages"][0]["content"]
    return HTTP.Response(200, headers=RESPONSE_HEADERS, content=response_body(int(text[7:12])))


ARM = os.environ["SUITE_ARM"]
if ARM == "floor-sdk":  # the SDK's default client (its default transport, SSL context
    # and all), with the mock mounted for the suite's http:// base URL
    assert BASE_URL.startswith("http://"), BASE_URL
    client = STACK.openai.OpenAI(
        api_key=API_KEY,
        base_url=BASE_URL,
        max_retries=0,
        http_client=STACK.openai.DefaultHttpxClient(mounts={{"http://": HTTP.MockTransport(handler)}}),
    )
else:
    if ARM == "floor" or ARM == "record-vcr":  # vcrpy records what this transport answers
        transport = HTTP.MockTransport(handler)
    elif ARM == "record-llm":
        import pytest_llm

        transport = pytest_llm.wrap_transport(HTTP.MockTransport(handler))
    else:  # replay: the SDK's default client, as an app builds it
        transport = None
    client = STACK.client(transport)


def ask(i):
    r = client.chat.completions.create(model=MODEL, messages=[{{"role": "user", "content": prompt(i)}}])
    return r.choices[0].message.content
'''

CONFTEST = '''\
import os

import pytest


def pytest_unconfigure(config):
    """Each process (controller, xdist workers) leaves its peak RSS for the benchmark."""
    out = os.environ.get("SUITE_PEAK_DIR")
    if not out:
        return
    with open("/proc/self/status") as fh:
        kib = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    with open(os.path.join(out, str(os.getpid())), "w") as fh:
        fh.write(str(kib))
'''

PHASE_PROBE = '''\
"""CPU time (``time.process_time``) of each phase of every test, for --phases."""

import json
import os
import time

import pytest

SPENT = {"setup": 0.0, "call": 0.0, "teardown": 0.0, "reports": 0.0, "protocol": 0.0}
TESTS = [0]


def _timed(name):
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def hook(*args, **kwargs):
        t0 = time.process_time()
        try:
            return (yield)
        finally:
            SPENT[name] += time.process_time() - t0

    return hook


pytest_runtest_setup = _timed("setup")
pytest_runtest_call = _timed("call")
pytest_runtest_teardown = _timed("teardown")
pytest_runtest_makereport = _timed("reports")
pytest_runtest_logreport = _timed("reports")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    t0 = time.process_time()
    TESTS[0] += 1
    try:
        return (yield)
    finally:
        SPENT["protocol"] += time.process_time() - t0


def pytest_unconfigure(config):
    with open(os.environ["SUITE_PHASES_OUT"], "w") as fh:
        json.dump({"tests": TESTS[0], "spent": SPENT}, fh)
'''

PHASES = ("setup", "call", "teardown", "reports", "rest")
"""``rest``: the protocol of a test beyond its phases and reports (logging, hooks)."""

VCR_BODY = """

@pytest.fixture(scope="session")
def vcr_config():
    return {"match_on": ["method", "path", "body"]}
"""


@dataclass(frozen=True)
class ArmSpec:
    name: str
    marker: str
    """The module's ``pytestmark`` ("" for none)."""
    args: tuple[str, ...]
    record_args: tuple[str, ...]
    record_arm: str
    conftest_extra: str = ""
    needs: str = ""
    """A module the arm needs (``pytest_recording``)."""
    source: str = ""
    """A folder holding the ``pytest_llm`` package to run instead of the installed one."""
    run_arm: str = "replay"
    """What ``suite_support`` builds in the timed runs (``SUITE_ARM``)."""


SDK_FLOOR = "floor (SDK default client)"
FLOORS = ("floor", SDK_FLOOR)
"""Both always run; every "vs floor" ratio is against the first."""


ARMS = (
    ArmSpec("floor", "", ("-p", f"no:{PLUGIN}", "-p", "no:recording"), (), "", run_arm="floor"),
    ArmSpec(
        SDK_FLOOR, "", ("-p", f"no:{PLUGIN}", "-p", "no:recording"), (), "", run_arm="floor-sdk"
    ),
    ArmSpec(
        "pytest-llm",
        "pytest.mark.llm_cassette",
        ("-p", "no:recording"),
        ("--llm-record=once",),
        "record-llm",
    ),
    ArmSpec(
        "pytest-recording (body)",
        "pytest.mark.vcr",
        ("-p", f"no:{PLUGIN}"),
        ("--record-mode=once",),
        "record-vcr",
        VCR_BODY,
        "pytest_recording",
    ),
    ArmSpec(
        "pytest-recording (defaults)",
        "pytest.mark.vcr",
        ("-p", f"no:{PLUGIN}"),
        ("--record-mode=once",),
        "record-vcr",
        "",
        "pytest_recording",
    ),
)


@dataclass
class Cell:
    """One arm at one size and mode: its runs, round by round."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peak: list[float] = field(default_factory=list)


def module_text(spec: ArmSpec, first: int, count: int) -> str:
    lines = ["import pytest", "", "from suite_support import answer, ask", ""]
    if spec.marker:
        lines += [f"pytestmark = {spec.marker}", ""]
    for i in range(first, first + count):
        lines += ["", f"def test_{i:05d}():", f"    assert ask({i}) == answer({i})", ""]
    return "\n".join(lines)


def make_project(root: Path, spec: ArmSpec, tests: int) -> bool:
    """Write the project; ``False`` if a kept one (``--keep``) is there already."""
    if (root / ".ready").exists():
        return False
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    (root / "suite_support.py").write_text(SUPPORT.format(bench=str(HERE)))
    (root / "conftest.py").write_text(CONFTEST + spec.conftest_extra)
    for m, first in enumerate(range(0, tests, PER_MODULE)):
        count = min(PER_MODULE, tests - first)
        (root / f"test_suite_{m:03d}.py").write_text(module_text(spec, first, count))
    return True


def run(
    root: Path, spec: ArmSpec, env: dict[str, str], extra: list[str], arm: str, tests: int
) -> tuple[float, float, float]:
    """(wall s, CPU s of the process tree, summed peak RSS MiB); fails loudly unless all pass."""
    peaks = root / "peaks"
    shutil.rmtree(peaks, ignore_errors=True)
    peaks.mkdir()
    env = {**env, "SUITE_ARM": arm, "SUITE_PEAK_DIR": str(peaks)}
    if spec.source:
        env["PYTHONPATH"] = os.pathsep.join([spec.source, env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *spec.args, *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tail = proc.stdout.strip().splitlines()[-1:] or [""]
    if proc.returncode != 0 or not re.search(rf"\b{tests} passed\b", tail[0]):
        raise SystemExit(
            f"{spec.name}, {tests} tests ({arm}): expected {tests} passed (exit {proc.returncode}):\n"
            f"{' '.join(cmd)}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    peak = sum(int(p.read_text()) for p in peaks.iterdir()) / 1024
    return wall, cpu, peak


def record(root: Path, spec: ArmSpec, env: dict[str, str], tests: int) -> None:
    if spec.record_arm:
        run(root, spec, env, list(spec.record_args), spec.record_arm, tests)
        found = len(list((root / "cassettes").rglob("*.yaml")))
        if found != tests:
            raise SystemExit(f"{spec.name}: recorded {found} cassettes for {tests} tests")


def versions(available: list[ArmSpec]) -> str:
    out = [
        f"pytest {metadata.version('pytest')}",
        f"pytest-xdist {metadata.version('pytest-xdist')}",
    ]
    for dist in ("pytest-llm-harness", "vcrpy", "pytest-recording"):
        try:
            out.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(f"{dist} not installed (n/a)")
    return ", ".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--tests", default="200,2000", help="suite sizes, comma-separated")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--jobs", default="0,2", help="xdist -n values; 0 = serial (default 0,2)")
    ap.add_argument(
        "--path", action="append", default=[], help="prepend to PYTHONPATH (pytest-recording)"
    )
    ap.add_argument(
        "--llm-src",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="one more pytest-llm arm running the pytest_llm package in DIR "
        "(e.g. a `git archive` of an older commit), labelled LABEL",
    )
    ap.add_argument(
        "--arms",
        default=None,
        help="comma-separated arm names to run (both floors always: "
        f"{', '.join(FLOORS)}); of {', '.join(s.name for s in ARMS)}",
    )
    ap.add_argument("--keep", type=Path, default=None, help="build the projects here, keep them")
    ap.add_argument(
        "--phases",
        action="store_true",
        help="then, per arm and size, serial: CPU per test in each test phase "
        "(setup, call, teardown, reports, the rest of the protocol), median of --rounds runs",
    )
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.tests.split(",") if s]
    jobs = [int(j) for j in args.jobs.split(",") if j]
    if min(sizes) < 1 or args.rounds < 1 or min(jobs, default=0) < 0:
        ap.error("--tests and --rounds must be positive, --jobs not negative")
    if not jobs and not args.phases:
        ap.error("--jobs '' (no timed runs) only makes sense with --phases")
    for p in reversed(args.path):
        sys.path.insert(0, str(Path(p).resolve()))
    wanted = None if args.arms is None else {a.strip() for a in args.arms.split(",")}
    unknown = sorted((wanted or set()) - {s.name for s in ARMS})
    if unknown:
        ap.error(
            f"--arms: no arm {', '.join(map(repr, unknown))}; the arms: "
            f"{', '.join(s.name for s in ARMS)}"
        )
    specs = [
        s
        for s in ARMS
        if (wanted is None or s.name in wanted or s.name in FLOORS)
        and (not s.needs or importlib.util.find_spec(s.needs) is not None)
    ]
    llm = next(s for s in ARMS if s.name == "pytest-llm")
    at = sum(s.name in (*FLOORS, "pytest-llm") for s in specs)  # after those, in order
    for item in args.llm_src:
        label, _, folder = item.partition("=")
        if not (Path(folder) / "pytest_llm" / "plugin.py").exists():
            ap.error(f"--llm-src {item}: no pytest_llm package in {folder!r}")
        src = str(Path(folder).resolve())
        specs.insert(at, dataclasses.replace(llm, name=f"pytest-llm {label}", source=src))
        at += 1
    others = [
        arg for name in other_plugins() if name not in KEEP_PLUGINS for arg in ("-p", f"no:{name}")
    ]
    print(f"measured: {versions(specs)}, Python {sys.version.split()[0]} ({sys.executable})")
    print(f"arms: {', '.join(s.name for s in specs)}; disabled in all: {' '.join(others[1::2])}")
    with contextlib.ExitStack() as stack:
        work = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="suite-")))
        env = base_env("cached", work)
        env.pop("CI", None)  # the CI rule does not matter here; recording uses the flag anyway
        if args.path:
            extra_path = [str(Path(p).resolve()) for p in args.path]
            env["PYTHONPATH"] = os.pathsep.join([*extra_path, env.get("PYTHONPATH", "")])
        roots: dict[tuple[str, int], Path] = {}
        t0 = time.perf_counter()
        for spec in specs:
            for n in sizes:
                slug = re.sub(r"\W+", "-", spec.name).strip("-")
                root = work / f"{slug}-{n}"
                if make_project(root, spec, n):
                    record(root, dataclasses.replace(spec, args=(*others, *spec.args)), env, n)
                    (root / ".ready").touch()
                roots[spec.name, n] = root
        print(f"projects and cassettes built in {time.perf_counter() - t0:.0f} s (not timed)")
        cells = {(s.name, n, j): Cell() for s in specs for n in sizes for j in jobs}

        def one(spec: ArmSpec, n: int, j: int) -> tuple[float, float, float]:
            extra = [*others, *(["-n", str(j)] if j else [])]
            return run(roots[spec.name, n], spec, env, extra, spec.run_arm, n)

        # warm-up: bytecode caches, page cache and pytest-llm's load caches, every size
        # (until 2026-11-30 only the smallest: the first round of the others read cold)
        for spec in specs:
            for n in sizes:
                one(spec, n, max(jobs, default=0))
        for r in range(args.rounds if jobs else 0):
            t1 = time.perf_counter()
            k = r % len(specs)
            for j in jobs:
                for n in sizes:
                    for spec in specs[k:] + specs[:k]:
                        wall, cpu, peak = one(spec, n, j)
                        cell = cells[spec.name, n, j]
                        cell.wall.append(wall)
                        cell.cpu.append(cpu)
                        cell.peak.append(peak)
            print(
                f"  round {r + 1}/{args.rounds}: {time.perf_counter() - t1:.0f} s, "
                f"1-minute load average {_load_average()}",
                flush=True,
            )
            if r + 1 < args.rounds:  # a long run shows what it has so far
                print(table(specs, sizes, jobs, cells), flush=True)
        if args.phases:
            print()
            print(phase_table(specs, sizes, args.rounds, roots, env, others))
    if not jobs:
        return 0
    print()
    print(table(specs, sizes, jobs, cells))
    print()
    print(
        "medians over rounds; ratio = median of (arm / floor in the same round); peak = sum of "
        "each process's peak RSS (controller + xdist workers). Target for pytest-llm: "
        "wall time within 1.10x the floor, memory flat in the number of tests."
    )
    print()
    print(sdk_floor_table(specs, sizes, jobs, cells))
    return 0


def _ratio(mine: list[float], base: list[float]) -> float:
    """The median of (arm / floor in the same round)."""
    return statistics.median(a / b for a, b in zip(mine, base, strict=True))


def sdk_floor_table(
    specs: list[ArmSpec], sizes: list[int], jobs: list[int], cells: dict[tuple[str, int, int], Cell]
) -> str:
    """Each replay arm against the floor with the SDK's default client (an extra figure:
    the target and the table above stay against the floor)."""
    lines = [
        f"vs floor with the SDK's default client ({SDK_FLOOR}; an extra figure, not the "
        "target's reference): ratio = median of (arm / that floor in the same round)",
        "",
        "| tests | mode | arm | wall vs SDK floor | CPU vs SDK floor | peak vs SDK floor |",
        "| ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for j in jobs:
        for n in sizes:
            base = cells[SDK_FLOOR, n, j]
            for spec in specs:
                if spec.name in FLOORS:
                    continue
                c = cells[spec.name, n, j]
                row = [f"{n:,}", f"-n {j}" if j else "serial", spec.name]
                row += [
                    f"{_ratio(mine, ref):.2f}x"
                    for mine, ref in ((c.wall, base.wall), (c.cpu, base.cpu), (c.peak, base.peak))
                ]
                lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def phase_table(
    specs: list[ArmSpec],
    sizes: list[int],
    rounds: int,
    roots: dict[tuple[str, int], Path],
    env: dict[str, str],
    others: list[str],
) -> str:
    """CPU per test in each phase (serial, a probe plugin in each project), rounds
    interleaved; each figure the median over rounds, ms per test."""
    runs: dict[tuple[str, int], list[dict[str, float]]] = {
        (s.name, n): [] for s in specs for n in sizes
    }
    loads = [_load_average()]
    for r in range(rounds):
        k = r % len(specs)
        for n in sizes:
            for spec in specs[k:] + specs[:k]:
                root = roots[spec.name, n]
                (root / "suite_phases.py").write_text(PHASE_PROBE)
                out = root / "phases.json"
                run(
                    root,
                    spec,
                    {**env, "SUITE_PHASES_OUT": str(out)},
                    [*others, "-p", "suite_phases"],
                    spec.run_arm,
                    n,
                )
                doc = json.loads(out.read_text())
                spent = doc["spent"]
                rest = spent["protocol"] - sum(spent[p] for p in PHASES[:-1])
                per = {p: spent[p] for p in PHASES[:-1]} | {"rest": rest}
                runs[spec.name, n].append({p: 1000 * v / doc["tests"] for p, v in per.items()})
        loads.append(_load_average())
    lines = [
        "CPU per test, ms (serial; median over rounds); in brackets: more than the floor; "
        f"1-minute load average before and after each round: {', '.join(loads)}",
        "",
        "| tests | arm | " + " | ".join(PHASES) + " | total |",
        "| ---: | --- | " + " | ".join("---:" for _ in PHASES) + " | ---: |",
    ]
    for n in sizes:
        floor = {p: statistics.median(x[p] for x in runs["floor", n]) for p in PHASES}
        for spec in specs:
            mine = {p: statistics.median(x[p] for x in runs[spec.name, n]) for p in PHASES}
            cells = [
                f"{mine[p]:.3f}" + ("" if spec.name == "floor" else f" (+{mine[p] - floor[p]:.3f})")
                for p in PHASES
            ]
            total, base = sum(mine.values()), sum(floor.values())
            cells.append(
                f"{total:.3f}" + ("" if spec.name == "floor" else f" (+{total - base:.3f})")
            )
            lines.append(f"| {n:,} | {spec.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _load_average() -> str:
    """The 1-minute load average now (the machine's share of what the figures mean)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:  # pragma: no cover - not available on this platform
        return "n/a"


def table(
    specs: list[ArmSpec], sizes: list[int], jobs: list[int], cells: dict[tuple[str, int, int], Cell]
) -> str:
    lines = [
        "| tests | mode | arm | wall s | vs floor | CPU s | vs floor | peak MiB | vs floor |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for j in jobs:
        for n in sizes:
            floor = cells["floor", n, j]
            for spec in specs:
                c = cells[spec.name, n, j]
                row = [f"{n:,}", f"-n {j}" if j else "serial", spec.name]
                for mine, base in ((c.wall, floor.wall), (c.cpu, floor.cpu), (c.peak, floor.peak)):
                    row += [f"{statistics.median(mine):.2f}", f"{_ratio(mine, base):.2f}x"]
                row[-2] = f"{statistics.median(c.peak):.0f}"
                lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
