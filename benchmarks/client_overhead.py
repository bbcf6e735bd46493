"""The resilient client's own cost per call, as a ratio to the bare openai SDK.

Every case makes the same ``chat.completions.create`` call through two arms, on the
same fake transport:

- **sdk**: ``openai.OpenAI`` / ``openai.AsyncOpenAI`` (``max_retries=0``: nothing fails).
- **client**: ``pytest_llm.client.ResilientClient`` / ``AsyncResilientClient`` as a
  user builds it, defaults on: ``routes=[Route(MODEL, base_url=..., api_key=...)]``,
  the circuit breaker on, telemetry as the default builds it (OpenTelemetry tracing on
  with no SDK set up, so no spans; Prometheus metrics off, they are opt-in with
  ``registry=`` or ``metrics=True``; logging at WARNING, so no record is formatted).

Cases: sync and async, plain (one JSON reply) and streamed (SSE chunks, read to the
end, usage included). Transports (``--transport``):

- ``mock`` (default): an ``httpx2.MockTransport`` (``httpx`` under openai 1.x/2.x)
  handing back canned bytes; both arms' SDK clients get the same kind of HTTP client
  on it (the client's SDK client gets it in place of its default HTTP client, the
  attribute ``_client`` the SDK itself sets from ``http_client=``). The floor is as
  low as it goes, so the ratio shows the client's work most sharply.
- ``fake``: pytest-llm's in-process ``FakeProvider`` as a context manager (no pytest):
  every HTTP client of the process talks to it; both arms use the SDK's default HTTP
  client. The fake builds every reply, so the ratio is lower.

Timing: rounds are interleaved (every arm of every case runs one batch per round, in
an order that rotates, so machine noise hits all alike). A case's figure is the
median over rounds of (client per-call time / sdk per-call time in the same round);
the spread is the interquartile range and the extremes of those per-round ratios.
Every reply is checked after the clock stops. Nothing asserts on time.

    python benchmarks/client_overhead.py [--rounds 31] [--calls 40] [--transport mock|fake] [--quick]
    python benchmarks/client_overhead.py --profile sync-plain   # cProfile of the client arm
    python benchmarks/client_overhead.py --instructions         # callgrind: instructions per call
    python benchmarks/client_overhead.py --instructions --cycles  # ... and a cycle estimate

``--instructions`` counts instead of timing: the script runs itself under ``valgrind
--tool=callgrind`` (needs ``valgrind``), each arm's batch inside one ``math.fsum`` call
so that ``--zero-before=math_fsum --dump-after=math_fsum`` dumps exactly that batch,
and reports machine instructions per call and their ratio. An instruction count is
the same on a busy machine and an idle one (``PYTHONHASHSEED=0``, GC frozen after the
warm-up); it leaves out what time adds on top (cache misses, branch mispredictions).

``--instructions --cycles`` adds callgrind's simulation of the caches and the branch
predictor (``--cache-sim=yes --branch-sim=yes``, the machine's cache sizes) and reports
KCachegrind's cycle estimate per call beside the instructions: ``CEst = Ir + 10 x (L1
misses + branch mispredictions) + 100 x last-level misses``. It is a model, not a
measurement, but the same on any load: the part of the client's cost that instructions
leave out (its code and data evicting the SDK's from the caches) shows in it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import importlib
import json
import logging
import math
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

BASE_URL = "http://127.0.0.1:9/v1"
"""Loopback discard port: a request that escaped the fake would fail at once."""
MODEL = "gpt-4o-mini"
API_KEY = "sk-benchmark-0123456789"
MESSAGES = [
    {"role": "system", "content": "You answer the on-call engineer in one sentence."},
    {
        "role": "user",
        "content": "Ticket 00042: the printer on floor 3 shows error E17 and prints blank "
        "pages. Summarise it.",
    },
]
ANSWER = (
    "Printer on floor 3 reports error E17 (ticket 00042) and prints blank pages; check "
    "the toner cartridge seal and the fuser unit before escalating."
)
CASES = ("sync-plain", "sync-stream", "async-plain", "async-stream")
TARGET = 1.05


# -- canned replies ----------------------------------------------------------------------


def plain_body() -> bytes:
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
        "usage": {"prompt_tokens": 38, "completion_tokens": 31, "total_tokens": 69},
        "system_fingerprint": "fp_0ba0d124f1",
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def stream_body() -> bytes:
    """SSE as the API streams it: role, one chunk per word, finish, usage, [DONE]."""
    words = ANSWER.split(" ")
    pieces = [words[0]] + [" " + w for w in words[1:]]
    base = {
        "id": "chatcmpl-benchmark",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_0ba0d124f1",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
        choices = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
        doc = {**base, "choices": choices, "usage": usage}
        return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": p}) for p in pieces]
    out.append(chunk({}, "stop"))
    out.append(chunk({}, usage={"prompt_tokens": 38, "completion_tokens": 31, "total_tokens": 69}))
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


PLAIN_HEADERS = [("content-type", "application/json"), ("x-request-id", "req_benchmark")]
STREAM_HEADERS = [("content-type", "text/event-stream"), ("x-request-id", "req_benchmark")]


# -- the stack ---------------------------------------------------------------------------


@dataclass
class Stack:
    openai: ModuleType
    http: ModuleType
    """``httpx2`` under openai >= 3, ``httpx`` under 1.x/2.x."""

    @classmethod
    def detect(cls) -> Stack:
        import openai

        probe = openai.OpenAI(api_key=API_KEY, base_url=BASE_URL)
        try:
            name = type(probe._client).__mro__[1].__module__.split(".")[0]
        finally:
            probe.close()
        if name not in ("httpx", "httpx2"):
            name = "httpx2" if int(openai.__version__.split(".")[0]) >= 3 else "httpx"
        return cls(openai, importlib.import_module(name))

    def describe(self) -> str:
        return (
            f"openai {self.openai.__version__} on {self.http.__name__} "
            f"{metadata.version(self.http.__name__)}, Python {platform.python_version()}"
        )

    def mock_transport(self) -> Any:
        plain, streamed = plain_body(), stream_body()
        http = self.http

        def handler(request: Any) -> Any:
            if b'"stream":true' in request.content:
                return http.Response(200, headers=STREAM_HEADERS, content=streamed)
            return http.Response(200, headers=PLAIN_HEADERS, content=plain)

        return http.MockTransport(handler)


# -- arms --------------------------------------------------------------------------------


def read_stream(stream: Any) -> str:
    text = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
    return "".join(text)


async def aread_stream(stream: Any) -> str:
    text = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
    return "".join(text)


def call_sync(client: Any, stream: bool) -> str:
    if stream:
        s = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        return read_stream(s)
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    return str(r.choices[0].message.content)


async def call_async(client: Any, stream: bool) -> str:
    if stream:
        s = await client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        return await aread_stream(s)
    r = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    return str(r.choices[0].message.content)


@dataclass
class Arm:
    case: str
    name: str
    """``sdk`` or ``client``."""
    client: Any
    per_call_ns: list[float] = field(default_factory=list)

    @property
    def is_async(self) -> bool:
        return self.case.startswith("async")

    @property
    def stream(self) -> bool:
        return self.case.endswith("stream")


def build_arms(stack: Stack, transport: str) -> list[Arm]:
    from pytest_llm.client import AsyncResilientClient, ResilientClient, Route

    http = stack.http
    arms: list[Arm] = []
    for case in CASES:
        is_async = case.startswith("async")
        sdk_kwargs: dict[str, Any] = {"api_key": API_KEY, "base_url": BASE_URL, "max_retries": 0}
        if transport == "mock":
            cls = http.AsyncClient if is_async else http.Client
            sdk_kwargs["http_client"] = cls(transport=stack.mock_transport())
        sdk_cls = stack.openai.AsyncOpenAI if is_async else stack.openai.OpenAI
        sdk = sdk_cls(**sdk_kwargs)
        route = Route(MODEL, base_url=BASE_URL, api_key=API_KEY)
        rc = (AsyncResilientClient if is_async else ResilientClient)(routes=[route])
        if transport == "mock":
            inner = rc._sdk(route)  # the SDK client the resilient client sends through
            cls = http.AsyncClient if is_async else http.Client
            inner._client = cls(transport=stack.mock_transport())
        arms += [Arm(case, "sdk", sdk), Arm(case, "client", rc)]
    return arms


CLOCKS: dict[str, Callable[[], int]] = {
    "cpu": time.process_time_ns,
    "wall": time.perf_counter_ns,
}


def run_batch(
    arm: Arm, calls: int, loop: asyncio.AbstractEventLoop, clock: Callable[[], int]
) -> float:
    """ns per call for ``calls`` calls; every answer checked after the clock stops."""
    gc.collect()
    if arm.is_async:

        async def batch() -> tuple[int, int, list[str]]:
            got = []
            start = clock()
            for _ in range(calls):
                got.append(await call_async(arm.client, arm.stream))
            return start, clock(), got

        start, stop, answers = loop.run_until_complete(batch())
        # async generators the streams left are closed by tasks the loop's finaliser
        # schedules: let them run now, outside the clock
        loop.run_until_complete(asyncio.sleep(0))
    else:
        answers = []
        start = clock()
        for _ in range(calls):
            answers.append(call_sync(arm.client, arm.stream))
        stop = clock()
    for got in answers:
        if got != ANSWER:
            raise SystemExit(f"{arm.case} {arm.name}: wrong answer {got!r}")
    return (stop - start) / calls


# -- reporting ---------------------------------------------------------------------------


@dataclass
class Row:
    case: str
    sdk_us: float
    client_us: float
    ratios: list[float]

    def quartiles(self) -> tuple[float, float]:
        q = (
            statistics.quantiles(self.ratios, n=4, method="inclusive")
            if len(self.ratios) > 1
            else self.ratios * 3
        )
        return q[0], q[2]


def table(rows: list[Row]) -> str:
    lines = [
        "| case | sdk µs/call | client µs/call | overhead µs | ratio (median) | "
        "ratio IQR | ratio min-max |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        med = statistics.median(r.ratios)
        lo, hi = r.quartiles()
        lines.append(
            f"| {r.case} | {r.sdk_us:,.0f} | {r.client_us:,.0f} | "
            f"{r.client_us - r.sdk_us:+,.0f} | {med:.3f}x | {lo:.3f}-{hi:.3f} | "
            f"{min(r.ratios):.3f}-{max(r.ratios):.3f} |"
        )
    return "\n".join(lines)


def measure(stack: Stack, transport: str, rounds: int, calls: int, clock: str) -> list[Row]:
    tick = CLOCKS[clock]
    loop = asyncio.new_event_loop()
    with contextlib.ExitStack() as es:
        fake: Any = None
        if transport == "fake":
            from pytest_llm import FakeProvider

            fake = es.enter_context(FakeProvider(default=ANSWER, check_unused=False))
        arms = build_arms(stack, transport)
        for arm in arms:  # warm-up: imports, first-call caches, platform look-ups
            run_batch(arm, max(3, calls // 4), loop, tick)
        for r in range(rounds):
            k = (r * 3) % len(arms)
            order = arms[k:] + arms[:k]
            if r % 2:
                order.reverse()
            for arm in order:
                arm.per_call_ns.append(run_batch(arm, calls, loop, tick))
                if fake is not None:
                    fake.requests.clear()  # its log would grow over the run
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    rows = []
    for case in CASES:
        sdk, client = (a for a in arms if a.case == case)
        rows.append(
            Row(
                case,
                statistics.median(sdk.per_call_ns) / 1000,
                statistics.median(client.per_call_ns) / 1000,
                [c / s for c, s in zip(client.per_call_ns, sdk.per_call_ns, strict=True)],
            )
        )
    return rows


def profile(stack: Stack, transport: str, case: str, calls: int, top: int) -> None:
    """cProfile the client arm of one case: the client's own frames and what they call."""
    loop = asyncio.new_event_loop()
    with contextlib.ExitStack() as es:
        if transport == "fake":
            from pytest_llm import FakeProvider

            es.enter_context(FakeProvider(default=ANSWER, check_unused=False))
        arm = next(a for a in build_arms(stack, transport) if a.case == case and a.name == "client")
        run_batch(arm, 20, loop, time.perf_counter_ns)
        prof = cProfile.Profile()
        prof.enable()
        run_batch(arm, calls, loop, time.perf_counter_ns)
        prof.disable()
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(top)
    stats.print_callees(r"pytest_llm/client/")


def count_batches(stack: Stack, calls: int) -> None:
    """Under callgrind (see ``--instructions``): every arm's batch inside ``math.fsum``,
    its name on stderr in the same order as the dumps."""
    loop = asyncio.new_event_loop()
    arms = build_arms(stack, "mock")
    for arm in arms:
        run_batch(arm, 20, loop, time.perf_counter_ns)
    gc.collect()
    gc.freeze()  # no collection of the warm-up's objects inside a batch

    def first() -> Any:
        run_batch(arms[0], calls, loop, time.perf_counter_ns)
        yield 0.0

    # The first dump holds work of the first batch only (~70 M more instructions
    # under the cache simulation, none of them in the arm's frames): dumped, not counted.
    math.fsum(first())
    print("batch warm-up", file=sys.stderr, flush=True)
    for arm in arms:

        def batch(arm: Arm = arm) -> Any:
            run_batch(arm, calls, loop, time.perf_counter_ns)
            yield 0.0

        math.fsum(batch())
        print(f"batch {arm.case} {arm.name}", file=sys.stderr, flush=True)
    loop.close()


CYCLE_WEIGHTS = {
    "Ir": 1,
    **dict.fromkeys(("I1mr", "D1mr", "D1mw", "Bcm", "Bim"), 10),
    **dict.fromkeys(("ILmr", "DLmr", "DLmw"), 100),
}
"""KCachegrind's cycle estimate: each event's weight in cycles."""


def instructions(stack: Stack, calls: int, cycles: bool = False) -> int:
    """Run this script's ``count_batches`` under callgrind and print the table."""
    if shutil.which("valgrind") is None:
        print("--instructions needs valgrind (Debian: apt-get install valgrind)")
        return 2
    with tempfile.TemporaryDirectory(prefix="client-overhead-cg-") as tmp:
        out = os.path.join(tmp, "cg.out")
        cmd = [
            *("valgrind", "--tool=callgrind", "--zero-before=math_fsum"),
            *(("--cache-sim=yes", "--branch-sim=yes") if cycles else ()),
            *("--dump-after=math_fsum", f"--callgrind-out-file={out}"),
            *(sys.executable, __file__, "--count-batches", "--calls", str(calls)),
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        names = [
            line.split(" ", 1)[1] for line in done.stderr.splitlines() if line.startswith("batch ")
        ]
        dumps = sorted(
            (f for f in os.listdir(tmp) if f.startswith("cg.out.")),
            key=lambda f: int(f.rsplit(".", 1)[1]),
        )
        if done.returncode != 0 or len(dumps) != len(names) or not names:
            print(done.stderr[-3000:])
            return 1
        counts: dict[str, int] = {}
        estimates: dict[str, int] = {}
        for name, dump in zip(names, dumps, strict=True):
            if name == "warm-up":
                continue
            events = _totals(os.path.join(tmp, dump))
            counts[name] = events["Ir"] // calls
            if cycles:
                estimates[name] = sum(events[k] * w for k, w in CYCLE_WEIGHTS.items()) // calls
    print(f"measured: {stack.describe()}; callgrind, {calls} calls per arm after a warm-up")
    print()
    head = "| case | sdk instructions/call | client instructions/call | overhead | ratio |"
    print(head + (" sdk cycles (est.) | client cycles (est.) | ratio |" if cycles else ""))
    print("| --- | ---: | ---: | ---: | ---: |" + (" ---: | ---: | ---: |" if cycles else ""))
    for case in CASES:
        sdk, client = counts[f"{case} sdk"], counts[f"{case} client"]
        line = f"| {case} | {sdk:,} | {client:,} | {client - sdk:+,} | {client / sdk:.3f}x |"
        if cycles:
            s_est, c_est = estimates[f"{case} sdk"], estimates[f"{case} client"]
            line += f" {s_est:,} | {c_est:,} | {c_est / s_est:.3f}x |"
        print(line)
    print()
    print(f"target: at most {TARGET:.2f}x (in time; instructions leave out cache misses).")
    return 0


def _totals(dump: str) -> dict[str, int]:
    """A callgrind dump's event totals by event name (``Ir``, and with the simulations
    ``D1mr``, ``Bcm``, ...)."""
    names: list[str] = []
    with open(dump) as fh:
        for line in fh:
            if line.startswith("events:"):
                names = line.split()[1:]
            elif line.startswith(("summary:", "totals:")):
                return dict(zip(names, map(int, line.split()[1:]), strict=True))
    raise SystemExit(f"{dump}: no totals line")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 31)")
    ap.add_argument("--calls", type=int, default=None, help="calls per batch (default 40)")
    ap.add_argument("--transport", choices=("mock", "fake"), default="mock")
    ap.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="cpu",
        help="cpu: this process's CPU time (default; the work is all in-process CPU, and "
        "a shared machine's other load then counts less); wall: perf_counter",
    )
    ap.add_argument("--quick", action="store_true", help="7 rounds of 15 calls: a smoke run")
    ap.add_argument("--profile", choices=CASES, default=None, help="cProfile one case instead")
    ap.add_argument(
        "--instructions",
        action="store_true",
        help="count machine instructions per call under callgrind instead of timing",
    )
    ap.add_argument(
        "--cycles",
        action="store_true",
        help="with --instructions: simulate the caches and branch predictor too and add "
        "a cycle estimate per call (about 2x slower)",
    )
    ap.add_argument("--count-batches", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    rounds = args.rounds or (7 if args.quick else 31)
    calls = args.calls or (15 if args.quick else 40)
    if rounds < 1 or calls < 1:
        ap.error("--rounds and --calls must be positive")

    logging.basicConfig(level=logging.WARNING)
    stack = Stack.detect()
    if args.profile:
        profile(stack, args.transport, args.profile, max(calls, 500), 40)
        return 0
    if args.count_batches:
        count_batches(stack, calls)
        return 0
    if args.instructions:
        return instructions(stack, args.calls or 30, args.cycles)
    from pytest_llm.client import ResilientClient, Route

    probe = ResilientClient(routes=[Route(MODEL, base_url=BASE_URL, api_key=API_KEY)])
    print(f"measured: {stack.describe()}, pytest-llm {metadata.version('pytest-llm-harness')}")
    print(f"client: breaker {type(probe.breaker).__name__}, {probe.telemetry!r}")
    print(
        f"transport: {args.transport}; clock: {args.clock}; "
        f"{rounds} interleaved rounds x {calls} calls per arm"
    )
    rows = measure(stack, args.transport, rounds, calls, args.clock)
    print()
    print(table(rows))
    print()
    print(
        "ratio = median over rounds of (client per-call time / sdk per-call time in the same "
        f"round); target: at most {TARGET:.2f}x."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
