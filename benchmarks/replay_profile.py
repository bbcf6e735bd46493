"""Where pytest-llm's replay time goes, per call, inside the openai SDK's real call path.

Times the transport call (plus reading the body) of pytest-llm's patched default
transport against the floor's ``MockTransport``, and the steps inside pytest-llm's,
by wrapping them with a clock in place (a few hundred nanoseconds each). Cassettes
and calls as in ``replay_cost.py``; the cassette is entered afresh each round, as a
test would, so "built on first replay" costs are counted.

It reaches into private functions of pytest-llm (named in the output); when one is
renamed the script says which and carries on without it.

    python benchmarks/replay_profile.py [--sizes 10,1000,10000] [--rounds 12]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import gc
import importlib
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import replay_cost as rc

STEPS = [
    # (module, attribute path, label)
    (
        "pytest_llm.transport._adapter",
        "to_exchange",
        "to_exchange: request to Exchange (headers decoded)",
    ),
    (
        "pytest_llm._flow",
        "Router.dispatch",
        "dispatch: the chain, down to the cassette's answer",
    ),
    (
        "pytest_llm.cassette._session",
        "Cassette._hits",
        "match key: exact-bytes index (canonical key only when the bytes differ)",
    ),
    (
        "pytest_llm.cassette._session",
        "Cassette._key_of",
        "canonical key: json.loads, ignored paths, dumps (the slow path)",
    ),
    (
        "pytest_llm.cassette._format",
        "Interaction.reply",
        "Interaction.reply: the Reply parsed on first replay (lazy reader), then shared",
    ),
    (
        "pytest_llm.transport._adapter",
        "_Streams.response",
        "response object: a plain body as content, or a ReplayStream",
    ),
]
TOTAL = "pytest-llm: patched transport call + body read"
FLOOR = "floor: MockTransport call + body read"


def wrap(owner: Any, attr: str, label: str, acc: dict[str, int], *, read: bool = False) -> None:
    orig = getattr(owner, attr)

    @functools.wraps(orig)  # keeps pytest-llm's patch marker: it must not re-patch over us
    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter_ns()
        out = orig(*args, **kwargs)
        if read:
            out.read()
        acc[label] += time.perf_counter_ns() - t0
        return out

    setattr(owner, attr, timed)


def install(stack: rc.Stack, acc: dict[str, int]) -> list[str]:
    missing = []
    for module, path, label in STEPS:
        try:
            owner: Any = importlib.import_module(module)
            *parents, attr = path.split(".")
            for p in parents:
                owner = getattr(owner, p)
            getattr(owner, attr)
        except (ImportError, AttributeError):
            missing.append(f"{module}.{path}")
            continue
        wrap(owner, attr, label, acc)
    m = stack.http
    wrap(m.HTTPTransport, "handle_request", TOTAL, acc, read=True)
    wrap(m.MockTransport, "handle_request", FLOOR, acc, read=True)
    return missing


def profile(stack: rc.Stack, n: int, rounds: int, calls: int, workdir: Path) -> dict[str, float]:
    import pytest_llm

    floor = rc.Floor(stack, n)
    paths = rc.generate(stack, n, workdir / f"n{n}", floor, {})
    path = paths["pytest-llm"]
    from pytest_llm._flow import router
    from pytest_llm.transport import _patch

    acc: dict[str, int] = collections.defaultdict(int)
    # The patches are scoped (the last handler out restores them): hold a scope open for
    # the whole profile, so the transports stay patched under our timing wrappers.
    held = contextlib.ExitStack()
    held.enter_context(_patch.scope(router))
    missing = install(stack, acc)
    for name in missing:
        print(f"  not found, not timed: {name}")
    clients = {"pytest-llm": stack.client(), "floor": stack.client(floor.transport())}
    rng = random.Random(rc.SEED + n)
    totals: dict[str, int] = collections.defaultdict(int)
    done = 0
    for r in range(rounds + 1):
        batch = rc.picks(n, calls, rng)
        for name in ("pytest-llm", "floor") if r % 2 else ("floor", "pytest-llm"):
            enter: Any = (
                (lambda: pytest_llm.use_cassette(path, allow_playback_repeats=True))
                if name == "pytest-llm"
                else contextlib.nullcontext
            )
            with enter():
                gc.collect()
                before = dict(acc)
                for i in batch:
                    rc.create(clients[name], i)
                if r:  # round 0 is the warm-up
                    for k, v in acc.items():
                        totals[k] += v - before.get(k, 0)
        done += len(batch) if r else 0
    held.close()
    return {k: v / done / 1000 for k, v in totals.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--sizes", default="10,1000,10000")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--calls", type=int, default=20)
    args = ap.parse_args(argv)
    stack = rc.Stack.detect()
    print(f"measured: {stack.describe()}")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results = {}
    with tempfile.TemporaryDirectory(prefix="replay-profile-") as tmp:
        for n in sizes:
            results[n] = profile(stack, n, args.rounds, args.calls, Path(tmp))
    labels = [FLOOR, TOTAL] + [label for _, _, label in STEPS]
    print()
    print("| µs per call | " + " | ".join(f"{n:,}" for n in sizes) + " |")
    print("| --- | " + " | ".join("---:" for _ in sizes) + " |")
    for label in labels:
        cells = [f"{results[n][label]:.1f}" if label in results[n] else "n/a" for n in sizes]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    print(
        "the steps are inside the pytest-llm total (match key and the lookup inside dispatch); "
        "the rest of it is glue (handle_sync, the patch) and reading the body. The canonical "
        "key runs only for requests whose bytes differ from the recording's (0 calls here: "
        "the SDK sends what it recorded)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
