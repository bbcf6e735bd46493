"""Soak: 10,000 requests from 4 processes through faults, one shared Redis restarted mid-run.

Every process (``multiprocessing`` spawn) runs a ``ResilientClient`` against its own
in-process ``FakeProvider``, with a seeded ``FaultPlan`` failing 30 % of the requests
(429 with Retry-After, 500, 503, connection resets). All processes share one real
``redis-server`` on loopback for the rate limiter, the token budget and the circuit
breaker. At 40 % of the arrival schedule the server is stopped (SIGTERM) and, after
an outage of 2 s, started again on the same port. The script prints:

* requests done per process; succeeded and typed errors by type, and whether any
  request was lost (neither a result nor an error; or an untyped error);
* budget: the tokens settled by the successful calls, summed over processes, against
  the budget (the Redis counter read at the end beside it);
* rate limit: the most requests started in any sliding window, against rpm + burst,
  from the start times the limiter's Lua script returns (the Redis server's ``TIME``),
  recorded in each process; starts admitted without Redis (fail-open) are counted apart;
* wall time, and the degradation notes the calls reported during the restart.

Clocks. Each process installs a ``VirtualClock``: the client's own waits (retry
backoff, a 429's Retry-After before its retry) return at once, so 10,000 requests
with 30 % faults do not take hours. The limiter and the budget on Redis decide on the
**server's** ``TIME``, real seconds, whatever the client's clock says. So:

* the limiter is given the real clock (``RateLimiter(clock=system_clock)``): when it
  must wait, it waits real time, because only real time frees its window. On the
  virtual clock it would poll Redis in a hot loop, and a call deadline would be read
  on two different clocks (the client computes the deadline on its clock and the
  limiter compares it with its own), so the calls have no deadline;
* the breaker's records on Redis carry wall-clock seconds, comparable across
  processes only on the real clock; per-process virtual clocks drift apart (each one
  moves by its own process's sleeps), so the breaker runs on the real clock too;
* time is compressed 60x: a window of 1 s stands for the provider's minute, so
  ``rpm`` is "requests per second" here, Retry-After is 0.02 s (about 1 s on the minute
  scale) and the breaker's reset timeout 0.5 s (30 s);
* the load is open-loop: requests arrive on a schedule (``--rate`` 100/s over all
  processes, each process taking its share on 8 threads), as users would send them,
  not as fast as the client can go. With 30 % faults and 2 retries that is about
  130 attempts/s, so the limiter (rpm 120 + burst 12 per 1 s window) is the
  bottleneck and queues callers, and 10,000 requests need about 100 s: under the
  ~2 minutes asked for. A wider window (the real 60 s) would make the run last
  minutes to hours with the same checks;
* the budget is an hourly token budget (Redis buckets by the server's UTC hour) of 80 %
  of what all the requests would settle (``--budget-fraction``): it runs out near the
  end only if nearly every request succeeds; when the restart and the breaker refuse
  many, it does not (a lower fraction makes it bind). A run that crosses the top of
  an hour gets two buckets; the script counts them.

Outage policy: the limiter and the breaker share a store with ``on_outage="open"``
(keep serving: admit without the shared limit, breaker on local records); the budget
has its own store on the same server with ``on_outage="closed"`` (money: refuse
rather than spend unbooked), ``--budget-outage open`` to compare. The server keeps an
append-only file (``appendfsync everysec``; SIGTERM flushes it), as a server holding
budgets would; ``--no-persist`` restarts it empty, which forgets the budget and the
limiter's window (the script then reports the overshoot that causes).

Nothing here asserts on time; the run stops by itself (every loop is bounded, and the
workers are terminated at ``--timeout``).

    python benchmarks/soak.py [--requests 10000] [--processes 4] [--threads 8] [--rate 100]
        [--rpm 120] [--burst 12] [--window 1.0] [--budget-fraction 0.8]
        [--restart-at 0.4] [--outage 2.0] [--no-persist] [--budget-outage closed|open]
"""

from __future__ import annotations

import argparse
import collections
import logging
import multiprocessing as mp
import os
import platform
import queue
import statistics
import subprocess
import sys
import threading
import time
from importlib import metadata
from typing import Any

from pytest_llm.conformance._redis_server import RedisServer

MODEL = "gpt-4o-mini"
BASE_URL = "http://127.0.0.1:9/v1"
"""Loopback discard port: a request that escaped the fake would fail at once."""
API_KEY = "sk-soak-0123456789"
MAX_TOKENS = 32
SEED = 20261130


# -- one worker process -------------------------------------------------------------------


def _first_line(text: str) -> str:
    line = text.splitlines()[0] if text else ""
    return line.replace(BASE_URL, "BASE")


def worker(index: int, cfg: dict[str, Any], progress: Any, ready: Any, go: Any, out: Any) -> None:
    """Run this process's share of the requests; put one result dict on ``out``."""
    os.environ["OPENAI_API_KEY"] = API_KEY
    logging.getLogger("pytest_llm").setLevel(logging.ERROR)  # the calls' warning lines
    import openai

    from pytest_llm import FakeProvider, FaultPlan, VirtualClock
    from pytest_llm._clock import system_clock
    from pytest_llm.client import LLMClientError, ResilientClient, Route, call_info
    from pytest_llm.client._breaker import CircuitBreaker
    from pytest_llm.client._budget import Budget
    from pytest_llm.client._limits import RateLimiter, Reservation
    from pytest_llm.client._redis import RedisStore
    from pytest_llm.faults import ConnectionReset, RateLimited, ServerError

    starts: list[tuple[float | None, float]] = []  # (server TIME if shared, wall)
    waits: list[float] = []  # the limiter's real waits before each start
    starts_lock = threading.Lock()

    class RecordingLimiter(RateLimiter):
        """Records when each admitted request starts (the limiter's own verdict)."""

        def acquire(
            self, route_key: str, tokens: int = 0, *, deadline: float | None = None
        ) -> Reservation:
            res = super().acquire(route_key, tokens, deadline=deadline)
            shared = res.status is None  # admitted by the Lua script: started is server TIME
            with starts_lock:
                starts.append((res.started if shared else None, time.time()))
                waits.append(res.waited)
            return res

    url, ns = cfg["url"], cfg["namespace"]
    store = RedisStore(url, namespace=ns, timeout=0.25, retry_interval=0.5)
    budget_store = RedisStore(
        url, namespace=ns, timeout=0.25, retry_interval=0.5, on_outage=cfg["budget_outage"]
    )
    limiter = RecordingLimiter(
        rpm=cfg["rpm"], burst=cfg["burst"], window=cfg["window"], clock=system_clock, store=store
    )
    budget = Budget(hourly=cfg["budget_tokens"], store=budget_store)
    breaker_store = store.breaker_store()
    breaker = CircuitBreaker(
        failure_threshold=5, reset_timeout=0.5, clock=system_clock, store=breaker_store
    )
    n = cfg["per_process"][index]
    outcomes: collections.Counter[str] = collections.Counter()
    notes: collections.Counter[str] = collections.Counter()
    settled = 0
    attempts = 0
    timeline: list[tuple[float, str]] = []  # (wall end, outcome)
    lock = threading.Lock()
    next_i = iter(range(n))

    with (
        VirtualClock(seed=index) as vclock,
        FakeProvider(check_unused=False),
        FaultPlan(seed=cfg["seed"] + index) as plan,
    ):
        plan.random(
            RateLimited(retry_after=0.02),
            ServerError(500),
            ServerError(503),
            ConnectionReset(),
            probability=cfg["fault_rate"],
        )
        client = ResilientClient(
            routes=[Route(MODEL, base_url=BASE_URL, api_key=API_KEY)],
            limiter=limiter,
            budget=budget,
            breaker=breaker,
            seed=cfg["seed"] + index,
        )

        def one(i: int) -> None:
            nonlocal settled, attempts
            refused = ""
            prompt = f"process {index} request {i}: say hello"
            try:
                reply = client.chat.completions.create(
                    model=MODEL,
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens=MAX_TOKENS,
                )
            except (LLMClientError, openai.APIError) as exc:
                kind = f"{type(exc).__module__.split('.')[0]}.{type(exc).__name__}"
                if kind.endswith("BudgetLimitExceeded") and getattr(exc, "limit", "") == ("store"):
                    kind += " (store down)"
                    refused = _first_line(str(exc))
                info = call_info(exc)
            except Exception as exc:  # anything else is an untyped error: a finding
                kind = f"UNTYPED {type(exc).__name__}: {_first_line(str(exc))}"
                info = None
            else:
                kind = "ok"
                info = call_info(reply)
                if not reply.choices or not reply.choices[0].message.content:
                    kind = "LOST: empty reply"
            with lock:
                outcomes[kind] += 1
                timeline.append((time.time(), kind))
                if info is not None:
                    attempts += sum(1 for a in info.attempts if not a.skipped)
                    for note in info.extra.get("degraded", []):
                        notes[_first_line(str(note))] += 1
                    if kind == "ok" and info.usage:
                        settled += int(info.usage.get("total_tokens", 0))
                if refused:
                    notes[refused] += 1
            with progress.get_lock():
                progress.value += 1

        def run() -> None:
            for _ in range(n):  # bounded: at most this process's share
                with lock:
                    i = next(next_i, None)
                if i is None:
                    return
                due = began + i / per_second  # open loop: request i arrives at its time
                time.sleep(max(0.0, due - time.perf_counter()))
                one(i)

        with ready.get_lock():
            ready.value += 1
        if not go.wait(timeout=120):
            raise SystemExit("worker: never got the go signal")
        began = time.perf_counter()
        per_second = cfg["rate"] / len(cfg["per_process"])
        threads = [threading.Thread(target=run) for _ in range(cfg["threads"])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - began
        fault_log = len(plan.log)
    out.put(
        {
            "index": index,
            "pid": os.getpid(),
            "requests": n,
            "outcomes": dict(outcomes),
            "notes": dict(notes),
            "settled_tokens": settled,
            "attempts": attempts,
            "faults_seen": fault_log,
            "starts": starts,
            "waits": waits,
            "timeline": timeline,
            "wall": wall,
            "virtual_slept": vclock.monotonic(),
            "store_outages": store.outages + budget_store.outages,
        }
    )


# -- the parent: server, restart, figures ----------------------------------------------


def server_time(url: str) -> float | None:
    import redis

    try:
        sec, usec = redis.Redis.from_url(url, socket_timeout=1).time()
    except redis.RedisError:
        return None
    return sec + usec / 1e6


def max_in_window(times: list[float], window: float) -> tuple[int, float]:
    """The most entries in any half-open window ``[t, t + window)``, and where it starts."""
    times = sorted(times)
    best, at, lo = 0, times[0] if times else 0.0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window:
            lo += 1
        if hi - lo + 1 > best:
            best, at = hi - lo + 1, times[lo]
    return best, at


def estimate_budget(fraction: float, requests: int) -> int:
    """Tokens a fraction of the requests settle (one fake reply's usage, measured)."""
    os.environ.setdefault("OPENAI_API_KEY", API_KEY)
    import openai

    from pytest_llm import FakeProvider

    with FakeProvider():
        reply = openai.OpenAI(base_url=BASE_URL, max_retries=0).chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "process 0 request 1000: say hello"}],
            max_tokens=MAX_TOKENS,
        )
    assert reply.usage is not None
    return int(reply.usage.total_tokens * requests * fraction)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--threads", type=int, default=8, help="threads per process")
    ap.add_argument("--fault-rate", type=float, default=0.3)
    ap.add_argument(
        "--rate", type=float, default=100.0, help="requests arriving per second, all processes"
    )
    ap.add_argument("--rpm", type=int, default=120, help="requests per window (see docstring)")
    ap.add_argument("--burst", type=int, default=12)
    ap.add_argument("--window", type=float, default=1.0, help="the limiter's window, seconds")
    ap.add_argument(
        "--budget-fraction", type=float, default=0.8, help="budget = tokens of this share"
    )
    ap.add_argument("--restart-at", type=float, default=0.4, help="share of the arrival schedule")
    ap.add_argument("--outage", type=float, default=2.0, help="seconds the server is down")
    ap.add_argument("--no-persist", action="store_true", help="restart the server empty")
    ap.add_argument("--budget-outage", choices=("closed", "open"), default="closed")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--timeout", type=float, default=300.0, help="hard stop, seconds")
    args = ap.parse_args(argv)
    if args.requests < args.processes or args.processes < 1 or args.threads < 1:
        ap.error("--requests must be at least --processes, both positive")

    per = [args.requests // args.processes] * args.processes
    for k in range(args.requests % args.processes):
        per[k] += 1
    budget_tokens = estimate_budget(args.budget_fraction, args.requests)
    server = RedisServer(persist=not args.no_persist)
    server.start()
    cfg = {
        "url": server.url,
        "namespace": f"soak-{os.getpid()}",
        "rpm": args.rpm,
        "burst": args.burst,
        "window": args.window,
        "budget_tokens": budget_tokens,
        "budget_outage": args.budget_outage,
        "fault_rate": args.fault_rate,
        "threads": args.threads,
        "rate": args.rate,
        "per_process": per,
        "seed": args.seed,
    }
    import openai

    print(
        f"measured: openai {openai.__version__}, redis-server "
        f"{subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.split()[2]}, "
        f"redis-py {metadata.version('redis')}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"setup: {args.requests:,} requests arriving at {args.rate:g}/s, "
        f"{args.processes} processes x {args.threads} threads, "
        f"{args.fault_rate:.0%} faults (429 Retry-After 0.02 s, 500, 503, reset), "
        f"rpm={args.rpm} burst={args.burst} per {args.window:g} s, hourly budget "
        f"{budget_tokens:,} tokens (~{args.budget_fraction:.0%} of the requests), "
        f"restart at {args.restart_at:.0%} for {args.outage:g} s, "
        f"persistence {'off' if args.no_persist else 'AOF'}, budget on_outage="
        f"{args.budget_outage!r}, limiter/breaker on_outage='open'"
    )
    ctx = mp.get_context("spawn")
    progress = ctx.Value("i", 0)
    ready = ctx.Value("i", 0)
    go = ctx.Event()
    out = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(k, cfg, progress, ready, go, out), daemon=True)
        for k in range(args.processes)
    ]
    results: list[dict[str, Any]] = []
    restart: dict[str, float | None] = {}
    try:
        for p in procs:
            p.start()
        limit = time.monotonic() + 120
        while ready.value < args.processes and time.monotonic() < limit:
            if any(p.exitcode not in (None, 0) for p in procs):
                raise SystemExit("a worker failed while starting")
            time.sleep(0.05)
        t0_server = server_time(server.url)
        t0 = time.perf_counter()
        wall0 = time.time()
        go.set()
        hard_stop = time.monotonic() + args.timeout
        restart_after = args.restart_at * args.requests / args.rate  # by the arrival schedule
        restarted = False
        while len(results) < args.processes and time.monotonic() < hard_stop:
            if not restarted and time.perf_counter() - t0 >= restart_after:
                restart["done_at_stop"] = progress.value
                restart["server_before"] = server_time(server.url)
                restart["wall_stop"] = time.time()
                server.stop()
                restart["stop_took"] = time.time() - restart["wall_stop"]
                time.sleep(args.outage)
                began_start = time.time()
                server.start()
                restart["wall_start"] = time.time()
                restart["start_took"] = restart["wall_start"] - began_start
                restart["server_after"] = server_time(server.url)
                restart["done_at_start"] = progress.value
                restarted = True
            try:
                results.append(out.get(timeout=0.05))
            except queue.Empty:
                if all(p.exitcode is not None for p in procs) and out.empty():
                    break
        wall = time.perf_counter() - t0
        t1_server = server_time(server.url)
        from pytest_llm.client._budget import Budget
        from pytest_llm.client._redis import RedisStore

        store = RedisStore(server.url, namespace=cfg["namespace"])
        used = Budget(hourly=budget_tokens, store=store).used().get("hourly")
        opens = sum(state.opens for _, state in store.breaker_store().items())
        store.close()
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
        server.close()

    report(args, cfg, results, restart, wall, wall0, t0_server, t1_server, used, opens)
    return 0


def report(
    args: argparse.Namespace,
    cfg: dict[str, Any],
    results: list[dict[str, Any]],
    restart: dict[str, float | None],
    wall: float,
    wall0: float,
    t0_server: float | None,
    t1_server: float | None,
    used: float | None,
    opens: int,
) -> None:
    results.sort(key=lambda r: r["index"])
    print()
    if len(results) < args.processes:
        print(f"TIMED OUT: {len(results)} of {args.processes} processes reported")
    outcomes: collections.Counter[str] = collections.Counter()
    notes: collections.Counter[str] = collections.Counter()
    print("| process | requests | done | ok | errors | attempts | wall s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        done = sum(r["outcomes"].values())
        ok = r["outcomes"].get("ok", 0)
        print(
            f"| {r['index']} | {r['requests']:,} | {done:,} | {ok:,} | {done - ok:,} | "
            f"{r['attempts']:,} | {r['wall']:.1f} |"
        )
        outcomes.update(r["outcomes"])
        notes.update(r["notes"])
    asked = sum(cfg["per_process"])
    done = sum(outcomes.values())
    lost = asked - done + sum(v for k, v in outcomes.items() if k.startswith(("LOST", "UNTYPED")))
    print()
    print(f"requests: {asked:,} asked, {done:,} answered (result or typed error), lost: {lost}")
    for kind, count in sorted(outcomes.items(), key=lambda kv: -kv[1]):
        print(f"  {kind}: {count:,}")

    settled = sum(r["settled_tokens"] for r in results)
    buckets = 1
    if t0_server is not None and t1_server is not None:
        buckets = int(t1_server // 3600) - int(t0_server // 3600) + 1
    limit = cfg["budget_tokens"] * buckets
    verdict = "within" if settled <= limit else f"OVERSHOOT by {settled - limit:,}"
    print()
    print(
        f"budget: {settled:,} tokens settled by the successful calls (all processes) vs "
        f"budget {cfg['budget_tokens']:,}{f' x {buckets} hourly buckets' if buckets > 1 else ''}: "
        f"{verdict}; the Redis counter at the end: "
        f"{'unknown' if used is None else f'{used:,.0f}'} (reserved + settled, "
        "estimates kept for settles lost in the outage)"
    )

    shared = [s for r in results for s, _ in r["starts"] if s is not None]
    open_ = [w for r in results for s, w in r["starts"] if s is None]
    walls = [w for r in results for _, w in r["starts"]]
    cap = cfg["rpm"] + cfg["burst"]
    print()
    if shared:
        most, at = max_in_window(shared, cfg["window"])
        verdict = "within" if most <= cap else "OVERSHOOT"
        print(
            f"rate limit: {len(shared):,} starts admitted by Redis; most in any "
            f"{cfg['window']:g} s window (server TIME): {most} vs rpm + burst = {cap}: {verdict}"
        )
        if t0_server is not None and at and most > cap:
            print(f"  (the fullest window starts {at - t0_server:.2f} s into the run)")
    print(f"  {len(open_):,} starts admitted failed-open while Redis was down (no shared limit)")
    if walls:
        most_all, at_all = max_in_window(walls, cfg["window"])
        print(
            f"  all {len(walls):,} starts on wall time, failed-open ones included: most in a "
            f"window {most_all} (at {at_all - wall0:.2f} s)"
        )
        span = max(walls) - min(walls)
        print(f"  mean start rate {len(walls) / span:.0f}/s over {span:.1f} s")
        waits = sorted(w for r in results for w in r["waits"])  # round trips included
        if waits:
            slow = sum(1 for w in waits if w > 0.01)
            print(
                f"  time in the limiter per start (real): median {statistics.median(waits) * 1000:.0f}"
                f" ms, p90 {waits[int(len(waits) * 0.9)] * 1000:.0f} ms, longest {waits[-1]:.2f} s;"
                f" {slow:,} of {len(waits):,} starts waited over 10 ms"
            )

    print()
    print(f"breaker: the shared record opened {opens} times (0 if the restart lost it)")
    print(f"wall time: {wall:.1f} s (go to the last process's report)")
    if restart:
        stop, start = restart["wall_stop"] or 0.0, restart["wall_start"] or 0.0
        print(
            f"restart: stopped at {stop - wall0:.2f} s ({restart['done_at_stop']:,} requests "
            f"done), back at {start - wall0:.2f} s ({restart['done_at_start']:,} done; stopping "
            f"took {restart['stop_took']:.2f} s, starting {restart['start_took']:.2f} s); "
            f"store outages seen by the processes: "
            f"{sum(r['store_outages'] for r in results)}"
        )
        around: collections.Counter[str] = collections.Counter()
        for r in results:
            for t, kind in r["timeline"]:
                if stop <= t <= start + 1.0:
                    around[kind] += 1
        print("  outcomes from the stop to 1 s after the start:")
        for kind, count in sorted(around.items(), key=lambda kv: -kv[1]):
            print(f"    {kind}: {count:,}")
    print("degradation notes reported (count, first line):")
    for note, count in sorted(notes.items(), key=lambda kv: -kv[1]):
        if count:
            print(f"  {count:>6,}  {note}")
    if not any(notes.values()):
        print("  none")


if __name__ == "__main__":
    sys.exit(main())
