"""Simulated seconds per wall second: a suite of 100 tests, each facing five 30 s Retry-After waits.

Each test makes one chat completion through the openai SDK (``max_retries=5``, its
default client: httpx2 under openai 3.x, httpx under 1.x/2.x). The provider answers
429 with ``retry-after: 30`` five times, then the answer; the SDK waits 30 s before
each retry. On the virtual clock those waits cost nothing, and each test checks that
they happened: ``clock.sleeps == [30.0] * 5``. So the suite simulates
100 x 5 x 30 s = 15,000 s (4 h 10 min) of waiting.

Ways of running the same suite:

- ``pytest: the tests``: a generated test file of 100 tests using the ``llm_clock``
  and ``llm_faults`` fixtures, run by pytest in a subprocess; the wall time is the sum
  of each test's setup, call and teardown (from pytest's JUnit report): fixtures,
  teardown checks and the SDK's requests included.
- ``pytest: whole session``: the same run's session time as pytest prints it, with
  collection, which imports the openai SDK (about a second on a slow machine, once
  per run, however many tests follow).
- ``in-process sync`` / ``in-process async``: the same 100 tests as a plain loop
  (``VirtualClock`` and ``FaultPlan`` as context managers), sync and async clients.

The client is built once, at import, as applications usually build theirs. The last
row builds a new client in every test instead, as a function-scoped fixture would:
building an openai client loads the CA bundle into a new SSL context, which costs
more than the whole test (tens of ms on a slow machine) and has nothing to do with
time. Figures are medians over ``--rounds`` rounds (each round runs every way once,
so machine noise hits all alike); the headline is the slowest of the first, third
and fourth rows. Nothing asserts on time: machines are shared.

    python benchmarks/virtual_time.py [--tests 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

RETRY_AFTER = 30
WAITS = 5
BASE_URL = "http://llm.test/v1"

ANSWER = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1767225600,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "ok"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}

HANDLER_SOURCE = f'''
import json
from pytest_llm._flow import Reply

ANSWER = json.dumps({ANSWER!r}).encode()


class Answer:
    """Where a cassette or the fake would stand: answers whatever the faults let through."""

    order = 300

    def handle(self, exchange, nxt):
        return Reply(200, [("content-type", "application/json")], ANSWER)
'''

SUITE_SOURCE = f'''
import openai
import pytest

from bench_handler import Answer
from pytest_llm._flow import router
from pytest_llm.faults import RateLimited


CLIENT = openai.OpenAI(api_key="sk-bench", base_url="{BASE_URL}", max_retries={WAITS})


@pytest.fixture
def answers():
    with router.activate(Answer()):
        yield


@pytest.mark.parametrize("n", range({{tests}}))
def test_survives_rate_limits(llm_faults, llm_clock, answers, n):
    llm_faults.add(RateLimited(retry_after={RETRY_AFTER}), times={WAITS})
    client = CLIENT if {{shared}} else openai.OpenAI(
        api_key="sk-bench", base_url="{BASE_URL}", max_retries={WAITS}
    )
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}]
    )
    assert reply.choices[0].message.content == "ok"
    assert llm_clock.sleeps == [{float(RETRY_AFTER)}] * {WAITS}
'''


def _handler() -> Any:
    namespace: dict[str, Any] = {}
    exec(HANDLER_SOURCE, namespace)
    return namespace["Answer"]()


def in_process_sync(tests: int) -> float:
    import openai

    from pytest_llm import FaultPlan, VirtualClock
    from pytest_llm._flow import router
    from pytest_llm.faults import RateLimited

    handler = _handler()
    client = openai.OpenAI(api_key="sk-bench", base_url=BASE_URL, max_retries=WAITS)
    t0 = time.perf_counter()
    for _ in range(tests):
        with VirtualClock() as clock, FaultPlan() as plan, router.activate(handler):
            plan.add(RateLimited(retry_after=RETRY_AFTER), times=WAITS)
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        assert reply.choices[0].message.content == "ok"
        assert clock.sleeps == [float(RETRY_AFTER)] * WAITS
    return time.perf_counter() - t0


def in_process_async(tests: int) -> float:
    import openai

    from pytest_llm import FaultPlan, VirtualClock
    from pytest_llm._flow import router
    from pytest_llm.faults import RateLimited

    handler = _handler()
    client = openai.AsyncOpenAI(api_key="sk-bench", base_url=BASE_URL, max_retries=WAITS)

    async def one() -> None:
        with VirtualClock() as clock, FaultPlan() as plan, router.activate(handler):
            plan.add(RateLimited(retry_after=RETRY_AFTER), times=WAITS)
            reply = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        assert reply.choices[0].message.content == "ok"
        assert clock.sleeps == [float(RETRY_AFTER)] * WAITS

    async def suite() -> float:
        t0 = time.perf_counter()
        for _ in range(tests):
            await one()
        return time.perf_counter() - t0

    return asyncio.run(suite())


_SESSION_TIME = re.compile(r"(\d+) passed in ([\d.]+)s")


def pytest_suite(tests: int, *, shared: bool = True) -> tuple[float, float]:
    """(tests, session): the tests' own time (setup + call + teardown, from the JUnit
    report) and pytest's whole session time (collection and imports included)."""
    with tempfile.TemporaryDirectory(prefix="pytest-llm-bench-") as tmp:
        root = Path(tmp)
        (root / "bench_handler.py").write_text(HANDLER_SOURCE)
        source = SUITE_SOURCE.replace("{tests}", str(tests)).replace("{shared}", str(shared))
        (root / "test_bench.py").write_text(source)
        (root / "pytest.ini").write_text("[pytest]\n")
        proc = subprocess.run(
            [
                sys.executable,
                *("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"),
                "--junitxml=report.xml",
            ],
            cwd=root,
            capture_output=True,
            text=True,
            env=_env(),
            check=False,
        )
        match = _SESSION_TIME.search(proc.stdout)
        if proc.returncode != 0 or match is None or int(match.group(1)) != tests:
            raise SystemExit(f"the benchmark suite failed:\n{proc.stdout}\n{proc.stderr}")
        cases = ElementTree.parse(root / "report.xml").iter("testcase")
        return sum(float(c.get("time", 0)) for c in cases), float(match.group(2))


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.setdefault("OPENAI_API_KEY", "sk-bench")
    env.pop("PYTEST_LLM_SEED", None)
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args()

    simulated = args.tests * WAITS * RETRY_AFTER
    print(
        f"python {platform.python_version()}, openai {_version('openai')}, "
        f"httpx2 {_version('httpx2')}, httpx {_version('httpx')}, pytest {_version('pytest')}"
    )
    print(
        f"suite: {args.tests} tests x {WAITS} Retry-After waits of {RETRY_AFTER} s = "
        f"{simulated:,} simulated seconds; median of {args.rounds} rounds\n"
    )
    in_process_sync(3)  # warm imports and the patched transports
    in_process_async(3)
    rows: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        tests_time, session = pytest_suite(args.tests)
        rows.setdefault("pytest: the tests", []).append(tests_time)
        rows.setdefault("pytest: whole session", []).append(session)
        rows.setdefault("in-process sync", []).append(in_process_sync(args.tests))
        rows.setdefault("in-process async", []).append(in_process_async(args.tests))
        rows.setdefault("pytest: the tests, new client each", []).append(
            pytest_suite(args.tests, shared=False)[0]
        )
    results = {}
    print(f"{'how':<36} {'wall s':>8} {'ms/test':>8} {'simulated s per wall s':>24}")
    for name, walls in rows.items():
        wall = statistics.median(walls)
        ratio = simulated / wall
        results[name] = {"wall_seconds": wall, "ratio": ratio, "rounds": walls}
        print(f"{name:<36} {wall:>8.3f} {wall / args.tests * 1000:>8.2f} {ratio:>23,.0f}x")
    headline = ("pytest: the tests", "in-process sync", "in-process async")
    best = min(results[name]["ratio"] for name in headline)
    print(
        f"\nslowest of {', '.join(headline)}: {best:,.0f} simulated seconds per wall second "
        "(target: above 10,000)"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"simulated_seconds": simulated, **results}, indent=2)
        )


if __name__ == "__main__":
    main()
