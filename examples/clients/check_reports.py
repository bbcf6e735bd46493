"""Rerun the conformance suite for every baseline and compare with the committed reports.

    python examples/clients/check_reports.py            # fail (exit 1) on any difference
    python examples/clients/check_reports.py --update   # rewrite reports/<name>.md
    python examples/clients/check_reports.py tenacity_retry fallback_loop   # some only

Each baseline runs in its own pytest process (``pytest --llm-conformance=
examples.clients.<name>:adapter --llm-report=...``) from the repository root, with the
interpreter running this script; its report is the Markdown that ``pytest-llm
conformance report`` prints for that JSON. The committed reports were made with
openai 2.x (instructor needs it; see README.md): run this in the same kind of
environment, ``pip install -r examples/clients/requirements.txt``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REPORTS = HERE / "reports"

BASELINES = (
    "openai_sdk",
    "tenacity_retry",
    "sliding_window",
    "redis_cache",
    "fallback_loop",
    "daily_budget",
    "inflight_coalescer",
    "circuit_breaker",
    "seed_timeouts",
    "retry_loop",
    "logged_calls",
    "litellm_router",
    "instructor_reask",
    "broken_reference",
)


JITTERED = {
    "litellm_router": "LiteLLM draws its backoff jitter in its native router core, unseeded",
}
"""Baselines whose waits are random whatever the seed: their decimals are masked."""


def masked(name: str, text: str) -> str:
    """``text``, with every decimal number shown as ``#.#`` for a jittered baseline."""
    if name not in JITTERED:
        return text
    import re

    note = f"\n> Decimal numbers masked as `#.#`: {JITTERED[name]}.\n"
    body = re.sub(r"\d+\.\d+(?:e-?\d+)?", "#.#", text)
    title, _, rest = body.partition("\n")
    return f"{title}\n{note}{rest}"


def fresh_report(name: str) -> tuple[str, float]:
    """Run the suite for one baseline: its report as Markdown, and the seconds it took."""
    from pytest_llm import conformance
    from pytest_llm.conformance import markdown

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"conformance-{name}-") as tmp:
        report = Path(tmp) / "report.json"
        env = {**os.environ, "PYTEST_DEBUG_TEMPROOT": tmp}
        env.pop("PYTEST_ADDOPTS", None)
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-W",
            "ignore",
            f"--llm-conformance=examples.clients.{name}:adapter",
            f"--llm-report={report}",
            # the suite's own file as the one path: the project's testpaths (and their
            # conftest.py) stay out of the run
            str(Path(conformance.__file__).with_name("_suite.py")),
        ]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        # exit 1 is the verdicts (contracts broken); anything else stopped the run
        if done.returncode not in (0, 1) or not report.exists():
            raise RuntimeError(
                f"{name}: the suite did not run to its end (pytest exit {done.returncode}).\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        section = json.loads(report.read_text())["conformance"]
        short = {a: sum(c.values()) for a, c in section["adapters"].items()}
        short = {a: n for a, n in short.items() if n != len(conformance.CONTRACTS)}
        if short:
            raise RuntimeError(f"{name}: verdicts missing: {short} of {len(conformance.CONTRACTS)}")
    return masked(name, markdown(section)), time.monotonic() - start


def breaks_table() -> str:
    """Which adapter breaks which contract, from the committed reports (Markdown)."""
    import re

    fails: dict[int, list[str]] = {}
    titles: dict[int, str] = {}
    for name in BASELINES:
        path = REPORTS / f"{name}.md"
        if not path.exists():
            continue
        adapters: list[str] = []
        for line in path.read_text().splitlines():
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            if line.startswith("| # |"):
                adapters = cells[2:-1]
            elif re.match(r"\| \d+ \|", line) and adapters:
                number = int(cells[0])
                titles[number] = cells[1]
                fails.setdefault(number, [])
                fails[number] += [
                    a for a, v in zip(adapters, cells[2:-1], strict=True) if v == "fail"
                ]
    lines = ["| # | contract | broken by |", "| --- | --- | --- |"]
    for number in sorted(titles):
        broken = ", ".join(fails[number]) or "**none**"
        lines.append(f"| {number} | {titles[number]} | {broken} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"baselines (default: all of {BASELINES})")
    parser.add_argument("--update", action="store_true", help="rewrite the committed reports")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="suites run at once")
    parser.add_argument(
        "--table", action="store_true", help="print which adapter breaks which contract"
    )
    args = parser.parse_args(argv)
    if args.table:
        print(breaks_table(), end="")
        return 0
    names = args.names or list(BASELINES)
    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        parser.error(f"unknown baseline(s) {unknown}; known: {', '.join(BASELINES)}")
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        fresh = dict(zip(names, pool.map(fresh_report, names), strict=True))
    failed = []
    for name, (text, took) in fresh.items():
        path = REPORTS / f"{name}.md"
        if args.update:
            REPORTS.mkdir(exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)} ({took:.0f} s)")
            continue
        committed = path.read_text() if path.exists() else ""
        if committed == text:
            print(f"{name}: the committed report matches a fresh run ({took:.0f} s)")
            continue
        failed.append(name)
        print(f"{name}: the committed report differs from a fresh run:")
        sys.stdout.writelines(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"committed {path.relative_to(ROOT)}",
                "fresh run",
            )
        )
    if failed:
        print(
            f"{len(failed)} report(s) differ: {', '.join(failed)}.\n"
            "Fix: if the change is intended, rerun with --update and commit the reports."
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
