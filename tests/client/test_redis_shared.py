"""RedisStore: URL validation, scripts, processes sharing limits, and outages.

Everything here talks to a real ``redis-server`` on a private loopback port. In the
multi-process tests the server's TIME is the clock (each process's own clock is
skewed by hours on purpose); elsewhere real time only passes while the server is
stopped and started.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import shared_state_workers
from redis_server import RedisServer, redis_available
from shared_state_helpers import most_in_window

from pytest_llm import VirtualClock
from pytest_llm.client import BudgetExceeded, ClientConfigError, RateLimitExceeded
from pytest_llm.client._breaker import CircuitBreaker
from pytest_llm.client._budget import Budget
from pytest_llm.client._limits import RateLimiter
from pytest_llm.client._redis import SCRIPTS, RedisStore, safe_url

ROUTE = "gpt-4o-mini@api.openai.com"

pytestmark = pytest.mark.skipif(not redis_available(), reason="redis-server is not installed")


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as s:
        yield s


# -- construction ------------------------------------------------------------------------


def test_bad_scheme_is_a_config_error() -> None:
    with pytest.raises(ClientConfigError) as info:
        RedisStore("http://localhost:6379/0")
    assert str(info.value) == (
        "RedisStore('http://localhost:6379/0'): not a Redis URL (scheme 'http').\n"
        "Fix: pass e.g. redis://localhost:6379/0, rediss://host:6380/0 (TLS) or "
        "unix:///run/redis.sock."
    )


def test_unreachable_and_fail_closed_names_the_url_without_its_password() -> None:
    with pytest.raises(ClientConfigError) as info:
        RedisStore("redis://app:s3cret@127.0.0.1:1/0", on_outage="closed", timeout=0.2)
    text = str(info.value)
    assert text.startswith("RedisStore('redis://app:***@127.0.0.1:1/0'): cannot reach the server")
    assert "s3cret" not in text
    assert "\nFix: start Redis at that address or correct the URL" in text
    assert safe_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"on_outage": "opne"},
            "RedisStore(on_outage='opne'): unknown policy; did you mean 'open'?",
        ),
        ({"timeout": 0}, "RedisStore(timeout=0): a finite number of seconds above 0."),
        (
            {"namespce": "x"},
            "RedisStore() got an unknown option 'namespce'; did you mean 'namespace'?",
        ),
    ],
)
def test_bad_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ClientConfigError) as info:
        RedisStore("redis://127.0.0.1:1/0", **kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


def test_unreachable_and_fail_open_constructs_and_reports() -> None:
    store = RedisStore("redis://127.0.0.1:1/0", on_outage="open", timeout=0.2)
    assert store.down
    res = RateLimiter(rpm=10, store=store).acquire(ROUTE)
    assert res.status is not None
    assert res.status.startswith("shared store redis://127.0.0.1:1/0 unreachable (ConnectionError")
    assert "rate limiter failed open" in res.status
    held = Budget(daily=10, store=store).reserve(ROUTE, 5)
    assert held.status is not None
    assert "budget failed open" in held.status


def test_scripts_are_loaded_once_and_reloaded_after_a_flush(server: RedisServer) -> None:
    store = RedisStore(server.url)
    shas = [store._shas[name] for name in SCRIPTS]
    assert store.client.script_exists(*shas) == [True] * len(SCRIPTS)
    store.client.script_flush()
    lim = RateLimiter(rpm=60, store=store)
    assert lim.acquire(ROUTE).status is None  # NOSCRIPT -> loaded again, no outage
    assert store.outages == 0
    assert store.client.script_exists(*shas) == [True] * len(SCRIPTS)


def test_server_time_decides_not_the_client_clock(server: RedisServer) -> None:
    store = RedisStore(server.url)
    lim = RateLimiter(rpm=60, clock=VirtualClock(), store=store)  # virtual: 2026, t=0
    started = lim.acquire(ROUTE).started
    sec, usec = store.client.time()
    assert abs((sec + usec / 1e6) - started) < 60  # the server's epoch seconds, not 0.0


# -- processes sharing one Redis ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> Iterator[Any]:
    """4 spawned processes, started once for the module (spawning costs seconds)."""
    with multiprocessing.get_context("spawn").Pool(4) as p:
        yield p


def _run_processes(
    pool: Any, server: RedisServer, ns: str, target: object, *args: object
) -> list[object]:
    store = RedisStore(server.url, namespace=ns)
    pending = [
        pool.apply_async(target, (server.url, ns, 50, skew, *args))
        for skew in (-5.0, 0.0, 3.0, 11.5)  # hours of clock skew per process
    ]
    for _ in range(120_000):  # real time: the processes importing pytest_llm
        if int(store.client.get(f"{ns}:ready") or 0) == 4:
            break
        time.sleep(0.001)
    store.client.set(f"{ns}:go", 1)
    out: list[object] = []
    for p in pending:
        out += p.get(timeout=300)
    return out


def test_4_processes_200_requests_budget_for_50_admits_exactly_50(
    pool: Any, server: RedisServer
) -> None:
    out = _run_processes(pool, server, "mp-budget", shared_state_workers.budget_worker)
    assert len(out) == 200
    assert out.count("ok") == 50
    refused = [o for o in out if o != "ok"]
    assert all(str(o).startswith("refused: budget: the hourly limit of 50 tokens") for o in refused)
    assert Budget(hourly=50, store=RedisStore(server.url, namespace="mp-budget")).used() == {
        "hourly": 50.0
    }


def test_4_processes_200_requests_stay_within_rpm_in_every_sliding_window(
    pool: Any, server: RedisServer
) -> None:
    # rpm=40 + burst=10 per 1 s window (a short window keeps the test short), 1.5 s deadline
    out = _run_processes(pool, server, "mp-rpm", shared_state_workers.rpm_worker, 1.5)
    assert len(out) == 200
    starts = [o for o in out if isinstance(o, float)]
    refused = [o for o in out if o == "refused"]
    assert len(starts) + len(refused) == 200  # each admitted or a typed refusal
    assert most_in_window(starts, 1.0) <= 50
    # the burst went at once; how many more fit in 1.5 s depends on the machine's load
    assert len(starts) >= 11


# -- an outage mid-run -------------------------------------------------------------------------


def _load(store: RedisStore, server: RedisServer) -> list[tuple[str, str | None]]:
    """200 requests from 8 threads through budget, limiter and breaker; the server is
    stopped once 50 have finished and started again once 120 have."""
    lim = RateLimiter(rpm=100_000, tpm=10**9, store=store)
    budget = Budget(hourly=10**9, store=store)
    breaker_store = store.breaker_store()
    breaker = CircuitBreaker(store=breaker_store)
    results: list[tuple[str, str | None]] = []
    lock = threading.Lock()
    progress = threading.Condition(lock)

    def request() -> tuple[str, str | None]:
        try:
            held = budget.reserve(ROUTE, 10)
        except BudgetExceeded as exc:
            return "budget refused", str(exc)
        try:
            slot = lim.acquire(ROUTE, 10, deadline=time.monotonic() + 5)
        except RateLimitExceeded as exc:
            held.release()
            return "limiter refused", str(exc)
        ticket = breaker.admit(ROUTE)
        if ticket is None:  # the client raises CircuitOpenError here, with no I/O
            slot.release()
            held.release()
            return "breaker skipped", breaker_store.status
        time.sleep(0.005)  # the call
        breaker.record(ticket, "success")
        slot.settle(8)
        held.settle(8)
        return "ok", held.status or slot.status or breaker_store.status

    def worker() -> None:
        for _ in range(25):
            r = request()
            with progress:
                results.append(r)
                progress.notify_all()

    def controller() -> None:
        with progress:
            progress.wait_for(lambda: len(results) >= 50)
        server.stop()
        with progress:
            progress.wait_for(lambda: len(results) >= 120)
        server.start()

    ctl = threading.Thread(target=controller)
    ctl.start()
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ctl.join()
    return results


def _back_to_normal(store: RedisStore) -> None:
    """After the restart (and ``retry_interval``), the store answers again."""
    for _ in range(2000):  # real time: the outage window passing
        if not store.down and store.ping():
            break
        time.sleep(0.005)
    lim = RateLimiter(rpm=10, store=store)
    assert lim.acquire("after").status in (None, store.note("rate limiter"))
    assert lim.acquire("after-2", deadline=None).status is None


def test_outage_fail_open_every_request_served_and_reported(server: RedisServer) -> None:
    store = RedisStore(server.url, on_outage="open", timeout=0.2, retry_interval=0.05)
    results = _load(store, server)
    assert len(results) == 200  # none lost
    assert {kind for kind, _ in results} == {"ok"}
    notes = [note for _, note in results if note]
    assert notes, "the outage was never reported"
    assert all("unreachable" in n and "failed open" in n for n in notes)
    assert results[:50] == [("ok", None)] * 50  # before the outage: no notes
    assert store.outages >= 1
    _back_to_normal(store)


def test_outage_fail_closed_refuses_with_typed_errors(server: RedisServer) -> None:
    store = RedisStore(server.url, on_outage="closed", timeout=0.2, retry_interval=0.05)
    results = _load(store, server)
    assert len(results) == 200  # none lost
    kinds = {kind for kind, _ in results}
    assert "budget refused" in kinds  # the first component asked refuses
    assert kinds <= {"ok", "budget refused", "limiter refused", "breaker skipped"}
    refusals = [note for kind, note in results if kind != "ok"]
    assert all(n and "unreachable" in n and "failed closed" in n for n in refusals)
    assert results[:50] == [("ok", None)] * 50
    _back_to_normal(store)


# -- the breaker's shared records --------------------------------------------------------------


def test_breakers_in_two_processes_count_failures_together(server: RedisServer) -> None:
    store = RedisStore(server.url)
    a = CircuitBreaker(failure_threshold=4, store=store.breaker_store())
    b = CircuitBreaker(failure_threshold=4, store=store.breaker_store())
    for breaker in (a, b, a, b):
        ticket = breaker.admit(ROUTE)
        assert ticket is not None
        breaker.record(ticket, "failure")
    assert a.state(ROUTE) == b.state(ROUTE) == "open"
    assert b.admit(ROUTE) is None


def test_breaker_updates_are_atomic_under_concurrency(server: RedisServer) -> None:
    store = RedisStore(server.url)
    breaker = CircuitBreaker(failure_threshold=1000, store=store.breaker_store())

    def fail_25() -> None:
        for _ in range(25):
            ticket = breaker.admit(ROUTE)
            assert ticket is not None
            breaker.record(ticket, "failure")

    threads = [threading.Thread(target=fail_25) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert breaker.store.get(ROUTE).failures == 200  # no update lost


def test_breaker_outage_closed_reads_open_and_open_falls_back_to_local() -> None:
    closed = RedisStore("redis://127.0.0.1:1/0", on_outage="open", timeout=0.2)
    closed.on_outage = "closed"  # as if it had gone down after construction
    bs = closed.breaker_store()
    assert CircuitBreaker(store=bs).admit(ROUTE) is None
    assert bs.status is not None
    assert "circuit breaker failed closed" in bs.status
    opened = RedisStore("redis://127.0.0.1:1/0", on_outage="open", timeout=0.2)
    local = opened.breaker_store()
    breaker = CircuitBreaker(failure_threshold=2, store=local)
    for _ in range(2):
        ticket = breaker.admit(ROUTE)
        assert ticket is not None
        breaker.record(ticket, "failure")
    assert breaker.admit(ROUTE) is None  # this process's own breaker still works
    assert local.status is not None
    assert "circuit breaker failed open" in local.status
