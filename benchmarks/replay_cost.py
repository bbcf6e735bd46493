"""Per-call replay cost through the openai SDK, as a ratio to a bare mock transport.

For cassettes of N distinct chat completions (different prompts), every contender
answers the same calls to ``client.chat.completions.create`` (sync, non-streaming):

- floor: ``httpx2.MockTransport`` (``httpx.MockTransport`` under openai 1.x/2.x)
  handing back the recorded response bytes from a dict, passed as the client's
  transport. No cassette tool can be cheaper than this.
- pytest-llm: ``pytest_llm.use_cassette(path)`` on the SDK's default client.
- vcrpy: ``vcr.use_cassette(path, match_on=["method", "path", "body"])``.
- cassetter: ``cassetter.use_cassette(path, match_on=["method", "uri", "json_body"])``.

Each cassette is recorded by its own tool from the floor's mock transport (vcrpy's
is cloned from one real vcrpy recording with vcrpy's own serializer: recording N
interactions through vcrpy costs O(N^2), since it scans the cassette on every
request). Generation and cassette loading are not timed.

Timing: rounds are interleaved (every contender runs once per round, in a rotating
order, so machine noise hits all alike); in a round each contender enters its
cassette, then the same calls are timed as one batch (the last interaction, the
middle one, then seeded random picks), so a linear scan shows. A contender's figure
is the median over rounds of its per-call time divided by the floor's in the same
round. Nothing here asserts on time: the machines are shared and noisy.

    python benchmarks/replay_cost.py [--sizes 10,100,1000,10000] [--rounds N] [--quick] [--clock cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

BASE_URL = "http://127.0.0.1:9/v1"
"""Loopback discard port: should any contender ever miss and go to the network, the
request fails at once on this machine (clients use ``max_retries=0``)."""

MODEL = "gpt-4o-mini"
API_KEY = "sk-benchmark"
SEED = 20240601

VCR_MATCH_ON = ["method", "path", "body"]
CASSETTER_MATCH_ON = ["method", "uri", "json_body"]

RESPONSE_HEADERS = [
    ("content-type", "application/json"),
    ("openai-processing-ms", "412"),
    ("openai-version", "2020-10-01"),
    ("x-ratelimit-limit-requests", "10000"),
    ("x-ratelimit-remaining-requests", "9999"),
    ("x-ratelimit-reset-requests", "6ms"),
    ("cf-cache-status", "DYNAMIC"),
    ("server", "cloudflare"),
]


def prompt(i: int) -> str:
    return (
        f"Ticket {i:05d}: the printer on floor {i % 7} shows error E{i % 97:02d} and "
        "prints blank pages. Summarise it in one sentence for the on-call engineer."
    )


def answer(i: int) -> str:
    return (
        f"Printer on floor {i % 7} reports error E{i % 97:02d} (ticket {i:05d}) and prints "
        "blank pages; check the toner cartridge seal and the fuser unit before escalating."
    )


def response_body(i: int) -> bytes:
    doc = {
        "id": f"chatcmpl-{i:024d}",
        "object": "chat.completion",
        "created": 1700000000 + i,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer(i), "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 38, "completion_tokens": 31, "total_tokens": 69},
        "system_fingerprint": "fp_0ba0d124f1",
    }
    return json.dumps(doc, separators=(",", ":")).encode()


# -- the HTTP stack under the SDK --------------------------------------------------------


@dataclass
class Stack:
    """Which openai SDK and HTTP library this interpreter has."""

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
            major = int(openai.__version__.split(".")[0])
            name = "httpx2" if major >= 3 else "httpx"
        return cls(openai, importlib.import_module(name))

    def describe(self) -> str:
        return (
            f"openai {self.openai.__version__} on {self.http.__name__} "
            f"{metadata.version(self.http.__name__)}, Python {platform.python_version()}"
        )

    def client(self, transport: Any = None) -> Any:
        """A sync openai client; the SDK's default HTTP client unless ``transport``."""
        kwargs: dict[str, Any] = {"api_key": API_KEY, "base_url": BASE_URL, "max_retries": 0}
        if transport is not None:
            kwargs["http_client"] = self.http.Client(transport=transport)
        return self.openai.OpenAI(**kwargs)


def create(client: Any, i: int) -> Any:
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": prompt(i)}]
    )


class Floor:
    """A bare mock transport: one dict lookup from request bytes to response bytes."""

    def __init__(self, stack: Stack, n: int) -> None:
        self.stack = stack
        self.by_prompt = {prompt(i): i for i in range(n)}
        self.bodies: dict[bytes, bytes] = {}
        self.request_body: list[bytes] = [b""] * n

    def handler(self, request: Any) -> Any:
        content = request.content
        body = self.bodies.get(content)
        if body is None:  # only while generating: every request is seen then
            i = self.by_prompt[json.loads(content)["messages"][0]["content"]]
            body = self.bodies[content] = response_body(i)
            self.request_body[i] = content
        return self.stack.http.Response(200, headers=RESPONSE_HEADERS, content=body)

    def transport(self) -> Any:
        return self.stack.http.MockTransport(self.handler)


# -- contenders --------------------------------------------------------------------------


@dataclass
class Contender:
    name: str
    enter: Callable[[], contextlib.AbstractContextManager[Any]]
    """Enters the cassette (untimed); ``contextlib.nullcontext`` for the floor."""
    client: Any
    per_call_ns: list[float] = field(default_factory=list)
    load_ns: list[float] = field(default_factory=list)


def optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def generate(
    stack: Stack, n: int, where: Path, floor: Floor, notes: dict[str, str]
) -> dict[str, Path]:
    """Record one cassette per tool, all from the floor's mock transport."""
    where.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    client = stack.client(floor.transport())
    for i in range(n):  # the floor sees every request once: its dict is complete
        create(client, i)

    import pytest_llm

    path = where / "pytest_llm.yaml"
    with pytest_llm.use_cassette(path, record="once"):
        client = stack.client(pytest_llm.wrap_transport(floor.transport()))
        for i in range(n):
            create(client, i)
    out["pytest-llm"] = path

    if optional("vcr") is not None:
        out["vcrpy"] = _generate_vcrpy(stack, n, where, floor)

    cassetter = optional("cassetter")
    if cassetter is not None:
        out["cassetter"] = _generate_cassetter(cassetter, stack, n, where, floor, notes)
    return out


def _generate_cassetter(
    cassetter: ModuleType, stack: Stack, n: int, where: Path, floor: Floor, notes: dict[str, str]
) -> Path:
    """Record with cassetter: YAML, its default; TOML where its YAML reader refuses the file.

    Recorded with cassetter's default matching (method, uri): recording with
    ``json_body`` matching gives the same file but scans the cassette on every request
    (10,000 interactions: minutes). Replay uses ``json_body``.
    """
    error = ""
    for ext in ("yaml", "toml"):
        path = where / f"cassetter.{ext}"
        with cassetter.use_cassette(path, record_mode="once"):
            client = stack.client(floor.transport())  # built inside: cassetter wraps it
            for i in range(n):
                create(client, i)
        try:
            with cassetter.use_cassette(path, record_mode="none", match_on=CASSETTER_MATCH_ON):
                pass
        except Exception as exc:  # its reader's limits, e.g. YAML node budget
            error = str(exc).splitlines()[0].replace(str(path), path.name)
            continue
        if error:
            notes["cassetter"] = f"toml: cassetter could not read its own YAML cassette: {error}"
        return path
    raise SystemExit(f"cassetter cannot load its own cassette of {n} interactions: {error}")


def _generate_vcrpy(stack: Stack, n: int, where: Path, floor: Floor) -> Path:
    """Record one interaction with vcrpy, then clone it N times with vcrpy's serializer."""
    vcr = importlib.import_module("vcr")
    Request = importlib.import_module("vcr.request").Request
    ser = importlib.import_module("vcr.serialize")
    yamlserializer = importlib.import_module("vcr.serializers.yamlserializer")

    template = where / "vcrpy_template.yaml"
    with vcr.use_cassette(
        str(template), record_mode="once", match_on=VCR_MATCH_ON, filter_headers=["authorization"]
    ):
        create(stack.client(floor.transport()), 0)
    loaded = ser.deserialize(template.read_text(), yamlserializer)
    req0, resp0 = loaded[0][0], loaded[1][0]
    requests, responses = [], []
    for i in range(n):
        body = floor.request_body[i]
        headers = dict(req0.headers)
        headers["content-length"] = str(len(body))
        requests.append(Request(req0.method, req0.uri, body, headers))
        resp = json.loads(json.dumps(resp0, default=lambda b: b.decode()))
        payload = floor.bodies[body]
        resp["body"]["string"] = payload
        resp["headers"]["content-length"] = [str(len(payload))]
        responses.append(resp)
    path = where / "vcrpy.yaml"
    path.write_text(ser.serialize({"requests": requests, "responses": responses}, yamlserializer))
    template.unlink()
    return path


def contenders(stack: Stack, floor: Floor, paths: dict[str, Path]) -> list[Contender]:
    import pytest_llm

    out = [
        Contender("floor", contextlib.nullcontext, stack.client(floor.transport())),
        Contender(
            "pytest-llm",
            # a round replays some of the interactions: the rest are unused on purpose
            lambda: pytest_llm.use_cassette(
                paths["pytest-llm"], allow_playback_repeats=True, check_unused=False
            ),
            stack.client(),
        ),
    ]
    vcr = optional("vcr")
    if vcr is not None and "vcrpy" in paths:
        out.append(
            Contender(
                "vcrpy",
                lambda: vcr.use_cassette(
                    str(paths["vcrpy"]),
                    record_mode="none",
                    match_on=VCR_MATCH_ON,
                    allow_playback_repeats=True,
                ),
                stack.client(),
            )
        )
    cassetter = optional("cassetter")
    if cassetter is not None and "cassetter" in paths:
        out.append(
            Contender(
                "cassetter",
                lambda: cassetter.use_cassette(
                    paths["cassetter"], record_mode="none", match_on=CASSETTER_MATCH_ON
                ),
                stack.client(),
            )
        )
    return out


# -- measuring ---------------------------------------------------------------------------


def picks(n: int, calls: int, rng: random.Random) -> list[int]:
    """The last interaction, the middle one, then seeded random ones."""
    head = [n - 1, n // 2]
    return (head + [rng.randrange(n) for _ in range(calls)])[:calls]


CLOCK = time.perf_counter_ns
"""Wall time; ``--clock cpu``: this process's CPU time (on a loaded machine, wall time
mostly measures the neighbours)."""


def run_batch(c: Contender, batch: list[int]) -> tuple[float, float]:
    """(ns to enter the cassette, ns per call); checks every answer after the clock stops."""
    results: list[Any] = []
    t0 = CLOCK()
    with c.enter():
        t1 = CLOCK()
        gc.collect()
        start = CLOCK()
        for i in batch:
            results.append(create(c.client, i))
        stop = CLOCK()
    for i, r in zip(batch, results, strict=True):
        got = r.choices[0].message.content
        if got != answer(i):
            raise SystemExit(f"{c.name} replayed the wrong answer for interaction {i}: {got!r}")
    return float(t1 - t0), (stop - start) / len(batch)


@dataclass
class Row:
    size: int
    floor_us: float
    ratios: dict[str, float]
    per_call_us: dict[str, float]
    load_ms: dict[str, float]
    notes: dict[str, str]
    """Per contender: what differs from the other sizes (shown as a footnote)."""


def measure(stack: Stack, n: int, rounds: int, calls: int, workdir: Path) -> Row:
    floor = Floor(stack, n)
    t0 = time.perf_counter()
    notes: dict[str, str] = {}
    paths = generate(stack, n, workdir / f"n{n}", floor, notes)
    print(
        f"  N={n}: cassettes generated in {time.perf_counter() - t0:.1f} s (not timed)", flush=True
    )
    cs = contenders(stack, floor, paths)
    rng = random.Random(SEED + n)
    for c in cs:  # warm-up: imports, patches, first-call caches
        run_batch(c, picks(n, calls, rng))
    for r in range(rounds):
        batch = picks(n, calls, rng)
        k = r % len(cs)
        for c in cs[k:] + cs[:k]:
            load, per_call = run_batch(c, batch)
            c.load_ns.append(load)
            c.per_call_ns.append(per_call)
    base = cs[0].per_call_ns
    row = Row(n, statistics.median(base) / 1000, {}, {}, {}, notes)
    for c in cs:
        row.per_call_us[c.name] = statistics.median(c.per_call_ns) / 1000
        row.load_ms[c.name] = statistics.median(c.load_ns) / 1e6
        if c is not cs[0]:
            row.ratios[c.name] = statistics.median(
                x / b for x, b in zip(c.per_call_ns, base, strict=True)
            )
    return row


# -- reporting ---------------------------------------------------------------------------

NAMES = ("pytest-llm", "vcrpy", "cassetter")


def _fmt(v: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if v is None else f"{v:{spec}}{suffix}"


def table(rows: list[Row]) -> str:
    lines = [
        "| size | floor µs/call | pytest-llm ratio | vcrpy ratio | cassetter ratio |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        cells = [f"{row.size:,}", f"{row.floor_us:.0f}"]
        for name in NAMES:
            cell = _fmt(row.ratios.get(name), ".2f", "x")
            if name in row.notes:
                cell += f" ({row.notes[name].split(':')[0]})"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    for row in rows:
        for name, note in row.notes.items():
            lines.append(f"{name} at {row.size:,}: {note}")
    lines += [
        "",
        "absolute, µs/call (median of rounds) and cassette entry, ms (untimed above):",
        "",
        "| size | floor | pytest-llm | vcrpy | cassetter | pytest-llm load | vcrpy load | cassetter load |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        cells = [f"{row.size:,}", f"{row.floor_us:.0f}"]
        cells += [_fmt(row.per_call_us.get(name), ",.0f") for name in NAMES]
        cells += [_fmt(row.load_ms.get(name), ",.1f") for name in NAMES]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def versions() -> str:
    out = []
    # pytest-llm's distribution is pytest-llm-harness (the name pytest-llm is another project's)
    for name, dist in (
        ("pytest-llm", "pytest-llm-harness"),
        ("vcrpy", "vcrpy"),
        ("cassetter", "cassetter"),
    ):
        try:
            out.append(f"{name} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} not installed (its column says n/a)")
    return ", ".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--sizes", default="10,100,1000,10000", help="cassette sizes, comma-separated")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 11)")
    ap.add_argument("--calls", type=int, default=None, help="timed calls per batch (default 20)")
    ap.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="what is timed (default wall)"
    )
    ap.add_argument(
        "--quick", action="store_true", help="sizes 10,100,1000, 5 rounds of 10 calls: a smoke run"
    )
    ap.add_argument(
        "--keep", type=Path, default=None, help="write the cassettes here and keep them"
    )
    args = ap.parse_args(argv)
    sizes = [int(s) for s in ("10,100,1000" if args.quick else args.sizes).split(",") if s]
    rounds = args.rounds or (5 if args.quick else 11)
    calls = args.calls or (10 if args.quick else 20)
    if min(sizes) < 1 or rounds < 1 or calls < 1:
        ap.error("--sizes, --rounds and --calls must be positive")
    global CLOCK
    CLOCK = time.process_time_ns if args.clock == "cpu" else time.perf_counter_ns

    stack = Stack.detect()
    print(f"measured: {stack.describe()}")
    print(f"contenders: {versions()}")
    print(
        "repeats: a round may ask for the same interaction twice; pytest-llm and vcrpy run "
        "with allow_playback_repeats=True, cassetter (no such option) replays repeats "
        "by itself in record_mode='none'."
    )
    print(
        f"matching: pytest-llm default (method, path, query, canonical JSON body); "
        f"vcrpy match_on={VCR_MATCH_ON}; cassetter match_on={CASSETTER_MATCH_ON}"
    )
    print(
        f"timing: {args.clock} clock, {rounds} interleaved rounds x {calls} calls per contender and size, after warm-up"
    )
    rows = []
    with contextlib.ExitStack() as stack_:
        if args.keep is not None:
            workdir = args.keep
        else:
            workdir = Path(stack_.enter_context(tempfile.TemporaryDirectory(prefix="replay-cost-")))
        for n in sizes:
            rows.append(measure(stack, n, rounds, calls, workdir))
    print()
    print(table(rows))
    print()
    print(
        "ratio = median over rounds of (contender per-call time / floor per-call time in the "
        "same round); target for pytest-llm: at most 1.10x at every size."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
