"""The client's state features, measured: cache hits, coalescing, Redis limiter and budget.

Three parts, each with real parts only (the openai SDK, pytest-llm's cassette replay and
fake, a real ``redis-server`` on loopback, real processes):

**(a) a cache hit versus a replayed call.** The same ``chat.completions.create`` call
(``temperature=0``: cacheable) through ``ResilientClient``:

- **replay**: no cache; the request goes through the SDK and is answered from a
  recorded cassette (``pytest_llm.use_cassette``, replay mode): the cheapest a real
  HTTP round trip gets, with the SDK building its reply;
- **memory**, **sqlite**, **redis**: ``cache=True`` / ``"sqlite:///..."`` /
  ``"redis://..."``, filled by one call before timing: every timed call is a hit.
  Nothing writes to the SQLite file while it is timed, so an SQLite hit answers from
  the row it read before, after checking SQLite's WAL-index header (the ``-shm`` file)
  is unchanged; a hit after any commit queries its row again (``docs/client-cache.md``).

Rounds are interleaved (every arm one batch per round, in a rotating order) and a
ratio is the median over rounds of (replay per-call time / hit per-call time in the
same round). Target: at least 50x for memory and SQLite (Redis for information).
Every reply is checked after the clock stops (content, ``CallInfo.cache``).

**(b) coalescing.** 1,000 concurrent identical requests (``asyncio.gather``) through
``AsyncResilientClient(coalesce=True)`` against ``FakeProvider`` answering after 50 ms
(a ``Slow`` fault on the real clock, so the requests overlap as they would against a
provider); upstream calls are counted at the fake. The same 1,000 without
coalescing, interleaved, for the wall time beside it.

**(c) Redis decisions per second.** ``RateLimiter(store=RedisStore(url))`` acquire +
settle (rpm high enough never to wait: every decision is the Lua script's admit path,
then its settle), and ``Budget(store=...)`` reserve + settle, from 1 process and from
4 processes (``multiprocessing`` spawn, one thread each, the same route key: they
contend for the same keys), interleaved rounds, median.

Nothing asserts on time.

    python benchmarks/client_state.py [--rounds 9] [--calls 200] [--coalesce 1000] [--ops 2000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from pytest_llm.conformance._redis_server import RedisServer

MODEL = "gpt-4o-mini"
BASE_URL = "http://127.0.0.1:9/v1"
"""Loopback discard port: a request that escaped the cassette would fail at once."""
API_KEY = "sk-benchmark-0123456789"
MESSAGES = [
    {"role": "system", "content": "You answer the on-call engineer in one sentence."},
    {"role": "user", "content": "Ticket 00042: printer on floor 3 shows E17. Summarise it."},
]
ANSWER = "Printer on floor 3 reports error E17 (ticket 00042); check the toner seal and fuser."
TARGET = 50.0
ROUTE_KEY = "gpt-4o-mini@bench"


def body() -> bytes:
    doc = {
        "id": "chatcmpl-benchmark",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 38, "completion_tokens": 21, "total_tokens": 59},
        "system_fingerprint": "fp_0ba0d124f1",
    }
    return json.dumps(doc, separators=(",", ":")).encode()


# -- (a) cache hit vs replay ---------------------------------------------------------------


def http_module() -> Any:
    import openai

    major = int(openai.__version__.split(".")[0])
    return importlib.import_module("httpx2" if major >= 3 else "httpx")


def record_cassette(path: Path) -> None:
    """One interaction, recorded by pytest-llm from a mock transport (as replay_cost.py)."""
    import openai

    import pytest_llm

    http = http_module()
    payload = body()

    def handler(request: Any) -> Any:
        return http.Response(200, headers={"content-type": "application/json"}, content=payload)

    transport = pytest_llm.wrap_transport(http.MockTransport(handler))
    with pytest_llm.use_cassette(path, record="once"):
        client = openai.OpenAI(
            api_key=API_KEY,
            base_url=BASE_URL,
            max_retries=0,
            http_client=http.Client(transport=transport),
        )
        create(client)


def create(client: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=0)


CLOCKS = {"cpu": time.process_time_ns, "wall": time.perf_counter_ns}
"""(a)'s clocks: ``cpu`` (default) is this process's CPU time: a hit and a replay are
in-process CPU work, and on a shared machine the other processes' load then counts
less than in wall time. It leaves out the Redis server's own work (a hit's round trip
waits on it): the Redis ratio is information, and ``--clock wall`` shows it whole."""


def part_a(rounds: int, calls: int, redis_url: str, workdir: Path, clock: str = "cpu") -> None:
    import pytest_llm
    from pytest_llm.client import ResilientClient, Route, call_info

    tick = CLOCKS[clock]
    cassette = workdir / "hit.yaml"
    record_cassette(cassette)

    def client(cache: Any) -> Any:
        return ResilientClient(
            routes=[Route(MODEL, base_url=BASE_URL, api_key=API_KEY)], cache=cache
        )

    arms: dict[str, Any] = {
        "replay": client(None),
        "memory": client(True),
        "sqlite": client(f"sqlite:///{workdir / 'cache.db'}"),
        "redis": client(redis_url),
    }
    expect = {"replay": "off", "memory": "hit", "sqlite": "hit", "redis": "hit"}
    per_call: dict[str, list[float]] = {name: [] for name in arms}
    with pytest_llm.use_cassette(cassette, allow_playback_repeats=True):
        for c in arms.values():  # fill the caches; warm every path
            for _ in range(20):
                create(c)
        names = list(arms)
        for r in range(rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                c = arms[name]
                out = []
                gc.collect()
                t0 = tick()
                for _ in range(calls):
                    out.append(create(c))
                t1 = tick()
                per_call[name].append((t1 - t0) / calls)
                for reply in out:
                    got, how = reply.choices[0].message.content, call_info(reply).cache
                    if got != ANSWER or how != expect[name]:
                        raise SystemExit(f"{name}: wrong reply {got!r} (cache {how!r})")
    base = per_call["replay"]
    print(
        f"(a) cache hit vs replayed call: {rounds} interleaved rounds x {calls} calls, {clock} time"
    )
    print()
    print("| arm | µs per call (median) | replay / arm (median of rounds) | target |")
    print("| --- | ---: | ---: | --- |")
    for name in names:
        us = statistics.median(per_call[name]) / 1000
        if name == "replay":
            print(f"| replay (cassette, no cache) | {us:,.1f} | 1x | |")
            continue
        ratio = statistics.median(b / x for b, x in zip(base, per_call[name], strict=True))
        low = min(b / x for b, x in zip(base, per_call[name], strict=True))
        target = (
            "info"
            if name == "redis"
            else f">= {TARGET:g}x: {'met' if ratio >= TARGET else 'NOT met'}"
        )
        print(f"| {name} hit | {us:,.1f} | {ratio:,.1f}x (lowest round {low:,.1f}x) | {target} |")
    for c in arms.values():
        if c.cache is not None:
            c.cache.close()


# -- (b) coalescing ------------------------------------------------------------------------


def part_b(rounds: int, n: int) -> None:
    from pytest_llm import FakeProvider, FaultPlan
    from pytest_llm.client import AsyncResilientClient, Route, call_info
    from pytest_llm.faults import Slow

    async def burst(coalesce: bool) -> tuple[float, int, dict[str, int]]:
        with FakeProvider(check_unused=False) as fake, FaultPlan() as plan:
            fake.add(ANSWER, times=None)
            plan.add(Slow(0.05), times=None)
            client = AsyncResilientClient(
                routes=[Route(MODEL, base_url=BASE_URL, api_key=API_KEY)], coalesce=coalesce
            )
            t0 = time.perf_counter()
            replies = await asyncio.gather(
                *(
                    client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=0)
                    for _ in range(n)
                )
            )
            wall = time.perf_counter() - t0
            upstream = len(fake.requests)
        kinds: dict[str, int] = {}
        for reply in replies:
            if reply.choices[0].message.content != ANSWER:
                raise SystemExit(f"coalescing: wrong reply {reply.choices[0].message.content!r}")
            how = call_info(reply).cache
            kinds[how] = kinds.get(how, 0) + 1
        return wall, upstream, kinds

    walls: dict[bool, list[float]] = {True: [], False: []}
    upstream: dict[bool, list[int]] = {True: [], False: []}
    seen: dict[bool, dict[str, int]] = {}
    asyncio.run(burst(True))  # warm-up
    for r in range(rounds):
        for flag in (True, False) if r % 2 == 0 else (False, True):
            wall, up, kinds = asyncio.run(burst(flag))
            walls[flag].append(wall)
            upstream[flag].append(up)
            seen[flag] = kinds
    print()
    print(
        f"(b) coalescing: {n:,} concurrent identical async requests, fake answering after "
        f"50 ms (real), {rounds} interleaved rounds"
    )
    print()
    print(
        "| coalesce | upstream calls at the fake (each round) | wall ms (median) | CallInfo.cache (last round) |"
    )
    print("| --- | --- | ---: | --- |")
    for flag in (True, False):
        ups = sorted(set(upstream[flag]))
        print(
            f"| {flag} | {', '.join(map(str, ups))} | {statistics.median(walls[flag]) * 1000:,.0f} | "
            f"{', '.join(f'{k}: {v}' for k, v in sorted(seen[flag].items()))} |"
        )


# -- (c) Redis decisions per second ------------------------------------------------------


def ops_worker(url: str, ns: str, commands: Any, results: Any) -> None:
    """Run batches on command: ("limiter"|"budget", n, start_at wall) -> (t0, t1, n)."""
    from pytest_llm.client._budget import Budget
    from pytest_llm.client._limits import RateLimiter
    from pytest_llm.client._redis import RedisStore

    store = RedisStore(url, namespace=ns)
    limiter = RateLimiter(rpm=1_000_000_000, burst=1_000_000, window=60.0, store=store)
    budget = Budget(hourly=10**15, store=store)
    for _ in range(10_000):  # bounded: the parent sends "stop" long before
        cmd = commands.get(timeout=120)
        if cmd[0] == "stop":
            break
        kind, n, start_at = cmd
        while time.time() < start_at:  # real time: all processes start together
            time.sleep(0.0005)
        degraded = 0
        t0 = time.perf_counter()
        if kind == "limiter":
            for _ in range(n):
                res = limiter.acquire(ROUTE_KEY, 100)
                res.settle(90)
                degraded += res.status is not None
        else:
            for _ in range(n):
                held = budget.reserve(ROUTE_KEY, 100)
                held.settle(90)
                degraded += held.status is not None
        t1 = time.perf_counter()
        results.put((time.time() - (t1 - t0), time.time(), n, degraded))
    store.close()


def part_c(rounds: int, ops: int, redis_url: str) -> None:
    ctx = mp.get_context("spawn")
    commands = [ctx.Queue() for _ in range(4)]
    results = ctx.Queue()
    procs = [
        ctx.Process(target=ops_worker, args=(redis_url, "bench-c", q, results), daemon=True)
        for q in commands
    ]
    for p in procs:
        p.start()
    arms = [("limiter", 1), ("limiter", 4), ("budget", 1), ("budget", 4)]
    rates: dict[tuple[str, int], list[float]] = {arm: [] for arm in arms}
    try:

        def run(kind: str, nproc: int, n: int) -> float:
            start_at = time.time() + 0.3
            for q in commands[:nproc]:
                q.put((kind, n, start_at))
            got = [results.get(timeout=300) for _ in range(nproc)]
            if any(g[3] for g in got):
                raise SystemExit(f"{kind}: the store reported degraded decisions")
            begin = min(g[0] for g in got)
            end = max(g[1] for g in got)
            return sum(g[2] for g in got) / (end - begin)

        for kind, nproc in arms:  # warm-up: imports, script loading, connections
            run(kind, nproc, 50)
        for r in range(rounds):
            k = r % len(arms)
            for arm in arms[k:] + arms[:k]:
                rates[arm].append(run(arm[0], arm[1], ops // arm[1]))
    finally:
        for q in commands:
            q.put(("stop",))
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    print()
    print(
        f"(c) Redis shared state: {ops:,} operations per round spread over the processes "
        f"(one thread each, the same route), {rounds} interleaved rounds"
    )
    print()
    print("| operation | 1 process, /s (median) | 4 processes, /s (median) |")
    print("| --- | ---: | ---: |")
    for kind, label in (
        ("limiter", "limiter decision (acquire + settle)"),
        ("budget", "budget reservation (reserve + settle)"),
    ):
        one = statistics.median(rates[(kind, 1)])
        four = statistics.median(rates[(kind, 4)])
        print(f"| {label} | {one:,.0f} | {four:,.0f} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 9)")
    ap.add_argument("--calls", type=int, default=None, help="calls per batch in (a) (default 200)")
    ap.add_argument("--coalesce", type=int, default=1000, help="concurrent requests in (b)")
    ap.add_argument("--ops", type=int, default=None, help="operations per round in (c) (2000)")
    ap.add_argument("--parts", default="abc", help="which parts to run, e.g. 'ac'")
    ap.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="cpu",
        help="(a)'s clock: cpu (default: this process's CPU time) or wall (perf_counter)",
    )
    ap.add_argument("--quick", action="store_true", help="3 rounds, 50 calls, 500 ops")
    args = ap.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 9)
    calls = args.calls or (50 if args.quick else 200)
    ops = args.ops or (500 if args.quick else 2000)
    os.environ.setdefault("OPENAI_API_KEY", API_KEY)
    import logging

    import openai

    logging.getLogger("pytest_llm").setLevel(logging.ERROR)
    print(
        f"measured: openai {openai.__version__} on {http_module().__name__}, redis-py "
        f"{metadata.version('redis')}, Python {platform.python_version()}, {os.cpu_count()} "
        f"cores, load average {os.getloadavg()[0]:.1f}"
    )
    with RedisServer() as server, contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="client-state-")))
        print(f"redis-server {server.url}")
        print()
        if "a" in args.parts:
            part_a(rounds, calls, server.url, workdir, args.clock)
        if "b" in args.parts:
            part_b(max(3, rounds // 2), args.coalesce)
        if "c" in args.parts:
            part_c(rounds, ops, server.url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
