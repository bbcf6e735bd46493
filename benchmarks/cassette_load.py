"""Cassette load cost: CPU time and peak memory to open a cassette of N interactions.

The cassettes are the ones ``replay_cost.py`` records (N distinct chat completions,
each tool recording its own file from the same mock transport). Contenders, each
entering its cassette for replay (so the time includes whatever index the tool
builds for lookups):

- pytest-llm before: ``Cassette(path).open()`` with the load path of before issue 14
  (``_load.enabled = False``: the whole YAML parsed by PyYAML with the GC running, no
  cache; replies are built when first replayed, as on every path now);
- pytest-llm whole: the whole document parsed by the event reader with the GC paused
  (``_load.lazy = False``), no cache file yet: the cold path before the lazy reader;
- pytest-llm cold: the lazy reader with no cache file yet (the syntax checked in C,
  only the requests parsed, then the derived cache
  ``.pytest-llm-cache/<name>.marshal`` written; under 64 KiB, nothing of the folder's
  cache in memory either);
- pytest-llm warm: the lazy reader reading that cache (the YAML unchanged since); a
  cassette under 64 KiB shares its folder's cache ``.pytest-llm-cache/small.marshal``
  (written at the end of a run), read from the file as a new process reads it;
- pytest-llm cold+replies: a cold load, then every interaction's reply built (what
  the lazy reader leaves to the first replay of each: the others build every reply
  as they load);
- vcrpy: entering ``vcr.use_cassette(path, record_mode="none")``;
- cassetter: entering ``cassetter.use_cassette(path, record_mode="none")``.

Timing: CPU time (``time.process_time``: the machines are shared and loaded, wall
time mostly measures the neighbours), in interleaved rounds (every contender once
per round, in a rotating order), median over rounds; ratios are to cassetter's
median at the same size. Peak memory: ``tracemalloc``'s peak during one more load
per contender (tracemalloc slows the load, so it is not timed). Nothing asserts on
time.

    python benchmarks/cassette_load.py [--sizes 10,100,1000,10000] [--rounds N] [--keep DIR]

With ``--keep DIR`` the cassettes are written there and reused by the next run with
the same folder (generating 10,000 interactions takes many minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from replay_cost import (
    CASSETTER_MATCH_ON,
    Floor,
    Stack,
    generate,
    optional,
    versions,
)

NAMES = (
    "pytest-llm before",
    "pytest-llm whole",
    "pytest-llm cold",
    "pytest-llm warm",
    "pytest-llm cold+replies",
    "vcrpy",
    "cassetter",
)


@dataclass
class Contender:
    name: str
    path: Path
    load: Callable[[], Any]
    """Loads the cassette and returns what keeps it alive."""
    prepare: Callable[[], None] = lambda: None
    """Untimed, before each load (e.g. removing the cache for a cold load)."""
    cpu_s: list[float] = field(default_factory=list)
    peak: int = 0


def contenders(paths: dict[str, Path]) -> list[Contender]:
    from pytest_llm.cassette import _load
    from pytest_llm.cassette._session import Cassette

    ours = paths["pytest-llm"]
    cache = ours.parent / _load.CACHE_DIR

    def load_ours(enabled: bool, lazy: bool = True) -> Callable[[], Any]:
        def run() -> Any:
            _load.enabled, _load.lazy = enabled, lazy
            try:
                return Cassette(ours).open()
            finally:
                _load.enabled = _load.lazy = True

        return run

    def every_reply() -> Any:
        cassette = Cassette(ours).open()
        assert cassette.file is not None
        for it in cassette.file.interactions:
            it.reply()
        return cassette

    def drop_cache() -> None:
        # the files, and what this process keeps of a small cassette's folder cache
        shutil.rmtree(cache, ignore_errors=True)
        _load.forget()

    def ensure_cache() -> None:  # the lazy reader's (the whole reader writes another)
        drop_cache()
        Cassette(ours).open()
        _load.flush()  # a small cassette's folder cache, written as at the end of a run,
        _load.forget()  # and read from the file, as by the next process

    out = [
        Contender("pytest-llm before", ours, load_ours(False)),
        Contender("pytest-llm whole", ours, load_ours(True, lazy=False), drop_cache),
        Contender("pytest-llm cold", ours, load_ours(True), drop_cache),
        Contender("pytest-llm warm", ours, load_ours(True), ensure_cache),
        Contender("pytest-llm cold+replies", ours, every_reply, drop_cache),
    ]
    vcr = optional("vcr")
    if vcr is not None and "vcrpy" in paths:

        def load_vcr() -> Any:
            with vcr.use_cassette(str(paths["vcrpy"]), record_mode="none") as c:
                return c

        out.append(Contender("vcrpy", paths["vcrpy"], load_vcr))
    cassetter = optional("cassetter")
    if cassetter is not None and "cassetter" in paths:

        def load_cassetter() -> Any:
            with cassetter.use_cassette(
                paths["cassetter"], record_mode="none", match_on=CASSETTER_MATCH_ON
            ) as c:
                return c

        out.append(Contender("cassetter", paths["cassetter"], load_cassetter))
    return out


def timed(c: Contender) -> float:
    c.prepare()
    gc.collect()
    t0 = time.process_time()
    kept = c.load()
    t1 = time.process_time()
    del kept
    return t1 - t0


def peak(c: Contender) -> int:
    c.prepare()
    gc.collect()
    tracemalloc.start()
    try:
        kept = c.load()
        _, top = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del kept
    return top


@dataclass
class Row:
    size: int
    cpu_s: dict[str, float]
    peak: dict[str, int]
    file_bytes: dict[str, int]
    notes: dict[str, str]


def cassettes(stack: Stack, n: int, where: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """The cassettes of size ``n``: generated, or those a ``--keep`` folder already holds
    (``generated.json`` lists them once every tool has written its own)."""
    listing = where / "generated.json"
    if listing.exists():
        saved = json.loads(listing.read_text())
        paths = {name: where / file for name, file in saved["paths"].items()}
        if all(p.exists() for p in paths.values()):
            print(f"  N={n}: cassettes reused from {where}", flush=True)
            return paths, dict(saved["notes"])
    notes: dict[str, str] = {}
    t0 = time.perf_counter()
    paths = generate(stack, n, where, Floor(stack, n), notes)
    print(f"  N={n}: cassettes generated in {time.perf_counter() - t0:.1f} s", flush=True)
    listing.write_text(
        json.dumps({"paths": {k: p.name for k, p in paths.items()}, "notes": notes}, indent=1)
    )
    return paths, notes


def measure(stack: Stack, n: int, rounds: int, workdir: Path) -> Row:
    paths, notes = cassettes(stack, n, workdir / f"n{n}")
    cs = contenders(paths)
    for c in cs:  # warm-up: imports, first-use caches
        timed(c)
    for r in range(rounds):
        k = r % len(cs)
        for c in cs[k:] + cs[:k]:
            c.cpu_s.append(timed(c))
    for c in cs:
        c.peak = peak(c)
    return Row(
        n,
        {c.name: statistics.median(c.cpu_s) for c in cs},
        {c.name: c.peak for c in cs},
        {c.name: c.path.stat().st_size for c in cs},
        notes,
    )


def _ms_per(row: Row, name: str) -> str:
    v = row.cpu_s.get(name)
    return "n/a" if v is None else f"{v * 1000 / row.size:.3f}"


def _ratio(row: Row, name: str) -> str:
    v, base = row.cpu_s.get(name), row.cpu_s.get("cassetter")
    return "n/a" if v is None or not base else f"{v / base:.2f}x"


def _mib(b: int | None) -> str:
    return "n/a" if b is None else f"{b / 2**20:,.1f}"


def table(rows: list[Row]) -> str:
    head = " | ".join(NAMES)
    lines = [
        "load, CPU ms per interaction (median of rounds); ratio to cassetter below:",
        "",
        f"| size | {head} |",
        "| ---: |" + " ---: |" * len(NAMES),
    ]
    for row in rows:
        cells = [f"{row.size:,}"] + [_ms_per(row, n) for n in NAMES]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"| size | {head} |", "| ---: |" + " ---: |" * len(NAMES)]
    for row in rows:
        cells = [f"{row.size:,}"] + [_ratio(row, n) for n in NAMES]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "peak memory during the load, MiB (tracemalloc), and its ratio to the file's size:",
        "",
        f"| size | file MiB (pytest-llm / vcrpy / cassetter) | {head} |",
        "| ---: | ---: |" + " ---: |" * len(NAMES),
    ]
    for row in rows:
        files = " / ".join(
            _mib(row.file_bytes.get(n)) for n in ("pytest-llm cold", "vcrpy", "cassetter")
        )
        cells = [f"{row.size:,}", files]
        for n in NAMES:
            p, f = row.peak.get(n), row.file_bytes.get(n)
            cells.append("n/a" if p is None or not f else f"{_mib(p)} ({p / f:.1f}x)")
        lines.append("| " + " | ".join(cells) + " |")
    for row in rows:
        for name, note in row.notes.items():
            lines.append(f"{name} at {row.size:,}: {note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--sizes", default="10,100,1000,10000", help="cassette sizes, comma-separated")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument(
        "--keep", type=Path, default=None, help="write the cassettes here and keep them"
    )
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if min(sizes) < 1 or args.rounds < 1:
        ap.error("--sizes and --rounds must be positive")
    stack = Stack.detect()
    print(f"measured: {stack.describe()}")
    print(f"contenders: {versions()}")
    print(f"timing: CPU time, {args.rounds} interleaved rounds per size, after one warm-up load")
    rows = []
    with contextlib.ExitStack() as es:
        if args.keep is not None:
            workdir = args.keep
        else:
            workdir = Path(es.enter_context(tempfile.TemporaryDirectory(prefix="cassette-load-")))
        for n in sizes:
            rows.append(measure(stack, n, args.rounds, workdir))
    print()
    print(table(rows))
    print()
    print(
        "targets (issue 14): load time at most cassetter's at every size and linear; "
        "peak memory at most 2x the file's size."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
