"""Redis as the client's shared state, through the client and the real openai SDK
(CONTRACTS 39, 45, 46, 49): four real processes share one budget and one rate limit;
a ``redis-server`` stopped mid-run under load degrades each component as documented,
loses no request, and says so in the call's events.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import client_state_workers
import pytest
from client_helpers import MESSAGES, reached, route
from redis_server import RedisServer, redis_available
from shared_state_helpers import most_in_window

from pytest_llm import VirtualClock
from pytest_llm.client import (
    BudgetExceeded,
    Cache,
    CacheBackendWarning,
    CircuitBreaker,
    CircuitOpenError,
    LLMClientError,
    RateLimitExceeded,
    ResilientClient,
    call_info,
)
from pytest_llm.client._budget import Budget
from pytest_llm.client._gate import _split
from pytest_llm.client._limits import RateLimiter
from pytest_llm.client._redis import RedisStore

pytestmark = pytest.mark.skipif(not redis_available(), reason="redis-server is not installed")


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as s:
        yield s


# -- 45, 46: four processes, one Redis --------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> Iterator[Any]:
    """4 spawned processes, started once for the module (spawning costs seconds)."""
    with multiprocessing.get_context("spawn").Pool(4) as p:
        yield p


def _run_processes(
    pool: Any, server: RedisServer, base_url: str, ns: str, target: Any, *args: object
) -> list[str]:
    store = RedisStore(server.url, namespace=ns)
    pending = [
        pool.apply_async(target, (server.url, base_url, ns, 50, skew, *args))
        for skew in (-5.0, 0.0, 3.0, 11.5)  # hours of clock skew per process
    ]
    for _ in range(120_000):  # real time: the processes importing openai and pytest_llm
        if int(store.client.get(f"{ns}:ready") or 0) == 4:
            break
        time.sleep(0.001)
    store.client.set(f"{ns}:go", 1)
    out: list[str] = []
    for p in pending:
        out += p.get(timeout=300)
    return out


def test_4_processes_200_calls_against_a_budget_for_50_admit_50(
    pool: Any, server: RedisServer, llm_fake: Any, llm_server: Any
) -> None:
    call = {"model": "m", "messages": MESSAGES, "max_tokens": 100}
    prompt, output = _split(call)
    estimate = prompt + output
    llm_fake.add("ok", usage={"prompt_tokens": prompt, "completion_tokens": output}, times=None)
    out = _run_processes(
        pool,
        server,
        llm_server.base_url,
        "mp-client-budget",
        client_state_workers.budget_worker,
        50 * estimate,
    )
    assert len(out) == 200
    assert (out.count("ok"), out.count("budget")) == (50, 150), sorted(set(out))
    assert reached(llm_fake) == 50  # counted at the provider
    shared = Budget(
        hourly=50 * estimate, store=RedisStore(server.url, namespace="mp-client-budget")
    )
    assert shared.used() == {"hourly": 50.0 * estimate}


def test_4_processes_200_calls_stay_within_one_rpm_limit(
    pool: Any, server: RedisServer, llm_fake: Any, llm_server: Any
) -> None:
    """rpm=10 + burst=5 shared by 4 processes, 2 s deadline: 6 calls start at once (1 +
    burst), the next slot is 6 s away, so the rest are refused at once (43)."""
    starts: list[float] = []

    def arrived(request: Any) -> bool:
        starts.append(time.monotonic())  # real time: the processes run on it
        return True

    llm_fake.add("ok", match=arrived, times=None)
    began = time.monotonic()
    out = _run_processes(
        pool, server, llm_server.base_url, "mp-client-rpm", client_state_workers.rpm_worker, 2.0
    )
    took = time.monotonic() - began
    assert len(out) == 200
    assert set(out) <= {"ok", "rate_limit"}, sorted(set(out))
    assert out.count("ok") == reached(llm_fake) == len(starts)
    assert 6 <= out.count("ok") <= 6 + int(took / 6.0)  # one more slot per 6 s of real time
    assert most_in_window(starts, 60.0) <= 15  # rpm + burst over any 60 s


# -- 39, 49: the server stops mid-run ---------------------------------------------------------


def _everything_on(server: RedisServer, clock: VirtualClock, on_outage: str) -> ResilientClient:
    store = RedisStore(server.url, on_outage=on_outage, clock=clock)  # type: ignore[arg-type]
    return ResilientClient(
        [route("m")],
        cache=Cache(server.url, clock=clock),
        limiter=RateLimiter(rpm=100_000, burst=1000, clock=clock, store=store),
        budget=Budget(daily=10_000_000, clock=clock, store=store),
        breaker=CircuitBreaker(clock=clock, store=store.breaker_store()),
        max_retries=0,
        clock=clock,
    )


def test_redis_stops_mid_run_fail_open_no_request_lost_and_reported(
    server: RedisServer, llm_fake: Any, llm_clock: VirtualClock
) -> None:
    client = _everything_on(server, llm_clock, "open")
    done: list[tuple[int, Any]] = []
    lock = threading.Lock()
    stopped = threading.Event()

    def worker(w: int) -> None:
        for i in range(10):
            text = f"question {w}-{i}"
            after = stopped.is_set()
            try:
                out: Any = client.chat.completions.create(
                    messages=[{"role": "user", "content": text}], temperature=0
                )
            except Exception as exc:
                out = exc
            with lock:
                done.append((after, out))
                if len(done) == 30:
                    server.stop()  # under load: 8 threads are mid-call
                    stopped.set()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert stopped.is_set()
    results = [out for _, out in done]
    assert len(results) == 80
    lost = [r for r in results if isinstance(r, BaseException)]
    assert lost == []  # fail open: every call is served
    assert reached(llm_fake) == 80
    assert {w.category for w in caught} == {CacheBackendWarning}
    late = [call_info(r).extra.get("degraded", []) for after, r in done if after]
    assert len(late) >= 40
    for notes in late:  # each call after the outage says what degraded, and how
        text = "\n".join(notes)
        assert "failed to get" in text  # cache: a miss plus a warning
        assert "rate limiter failed open" in text
        assert "budget failed open" in text
        assert "circuit breaker failed open" in text
    early = [call_info(r).extra.get("degraded") for r in results[:20]]
    assert early == [None] * 20  # all was well before the outage

    # back up: the store is tried again after retry_interval and everything is shared again
    server.start()
    llm_clock.advance(1.5)
    reply = client.chat.completions.create(messages=MESSAGES, temperature=0)
    assert call_info(reply).extra.get("degraded") is None


@pytest.mark.parametrize(
    ("component", "error", "says"),
    [
        ("limiter", RateLimitExceeded, "rate limiter failed closed"),
        ("budget", BudgetExceeded, "budget failed closed"),
        ("breaker", CircuitOpenError, "every route's circuit is open"),
    ],
)
def test_redis_down_fail_closed_refuses_with_a_typed_error(
    server: RedisServer,
    llm_fake: Any,
    llm_clock: VirtualClock,
    component: str,
    error: type[LLMClientError],
    says: str,
) -> None:
    store = RedisStore(server.url, on_outage="closed", clock=llm_clock)
    options: dict[str, Any] = {
        "limiter": {"limiter": RateLimiter(rpm=1000, clock=llm_clock, store=store)},
        "budget": {"budget": Budget(daily=1_000_000, clock=llm_clock, store=store)},
        "breaker": {"breaker": CircuitBreaker(clock=llm_clock, store=store.breaker_store())},
    }[component]
    client = ResilientClient([route("m")], clock=llm_clock, **options)
    client.chat.completions.create(messages=MESSAGES)
    server.stop()
    with pytest.raises(error) as caught:
        client.chat.completions.create(messages=MESSAGES)
    assert says in str(caught.value)
    assert reached(llm_fake) == 1  # nothing was sent during the outage
    info = call_info(caught.value)
    if component == "breaker":
        assert info.extra["degraded"][0].startswith("shared store redis://127.0.0.1:")
        assert "circuit breaker failed closed" in info.extra["degraded"][0]
    if component == "budget":
        assert caught.value.limit == "store"  # type: ignore[attr-defined]
