"""Semantic cache lookup cost at 1k / 10k / 100k entries, per vector backend.

A lookup is one nearest-neighbour search (k=4) over every entry of a scope: brute
force in each backend. All entries sit in ONE scope here (the worst case: a real
cache spreads them over models and parameter sets, and only the query's scope is
searched). The query's embedding is not counted (it is a network call in real use).

Arms: ``memory/python`` (pure Python dot products), ``memory/numpy`` (if numpy is
importable), ``sqlite-vec`` (a vec0 table in a temporary file, cosine distance).
The store is filled in bulk (SQLite: one transaction); ``put`` is timed apart, one
entry at a time as the cache writes them. Figures are medians; nothing asserts.

    python benchmarks/semantic_cache.py [--sizes 1000,10000,100000] [--dims 256] [--queries 9]

Figures (2-core shared VM, Python 3.11, numpy 2.4 with OPENBLAS_NUM_THREADS=1: on a
loaded 2-core machine OpenBLAS's own threads made numpy's 10k lookups 16 ms instead of
0.9 ms), lookup ms / put ms:

    entries  dims  memory/python  memory/numpy  sqlite-vec
      1000   256        13 / .003     0.08 / .01   0.4 / 0.08
     10000   256       124 / .002     0.90 / .01    12 / 0.07
    100000   256       906 / .002       11 / .01    62 / 0.07
     10000  1536       804 / .01       8.2 / .05    72 / 1.7
    100000  1536     10542 / .01        88 / .03   652 / 1.9

So: pure Python is for small caches (up to ~1k entries a scope); numpy scans 100k in
~10-90 ms; sqlite-vec is ~5-7x slower than numpy per lookup but persistent, shared
between processes and out of the Python heap (100k x 1536 floats: 614 MB in memory).
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_llm.client._semantic import MemoryVectors, SQLiteVectors, _pack, _unit

SCOPE = "chat:bench"


def unit_vectors(n: int, dims: int, rng: random.Random) -> list[list[float]]:
    return [_unit([rng.gauss(0.0, 1.0) for _ in range(dims)]) for _ in range(n)]


def fill_sqlite(backend: SQLiteVectors, vectors: list[list[float]]) -> None:
    backend.add(SCOPE, vectors[0], b"{}", expires_at=None)  # creates the tables
    db = backend._conn()
    dims = len(vectors[0])
    db.execute("BEGIN")
    for vector in vectors[1:]:
        cur = db.execute(
            "INSERT INTO semantic_entries (scope, dims, value, expires_at) VALUES (?, ?, ?, NULL)",
            (SCOPE, dims, b"{}"),
        )
        db.execute(
            f"INSERT INTO semantic_vec_{dims} (rowid, scope, embedding) VALUES (?, ?, ?)",
            (cur.lastrowid, SCOPE, _pack(vector)),
        )
    db.execute("COMMIT")


def timed(fn: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--queries", type=int, default=9)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(0)
    has_numpy = importlib.util.find_spec("numpy") is not None
    print(f"python {platform.python_version()}, dims={args.dims}, k=4, one scope")
    print(f"{'entries':>8} {'arm':>14} {'lookup ms':>10} {'put ms':>8}")
    queries = unit_vectors(args.queries, args.dims, rng)
    for n in sizes:
        vectors = unit_vectors(n, args.dims, rng)
        arms: list[tuple[str, Any]] = [("memory/python", MemoryVectors(n + 100, use_numpy=False))]
        if has_numpy:
            arms.append(("memory/numpy", MemoryVectors(n + 100, use_numpy=True)))
        tmp = tempfile.TemporaryDirectory()
        arms.append(("sqlite-vec", SQLiteVectors(Path(tmp.name) / "bench.db")))
        for name, backend in arms:
            if isinstance(backend, SQLiteVectors):
                fill_sqlite(backend, vectors)
            else:
                for v in vectors:
                    backend.add(SCOPE, v, b"{}", expires_at=None)
            rounds = 3 if (name == "memory/python" and n >= 100_000) else args.queries
            it = iter(queries * 2)
            lookup = timed(lambda b=backend, it=it: b.search(SCOPE, next(it), k=4, now=0.0), rounds)
            extra = iter(unit_vectors(20, args.dims, rng))
            put = timed(
                lambda b=backend, e=extra: b.add(SCOPE, next(e), b"{}", expires_at=None), 20
            )
            print(f"{n:>8} {name:>14} {lookup * 1000:>10.2f} {put * 1000:>8.3f}")
            backend.close()
        tmp.cleanup()


if __name__ == "__main__":
    main()
