"""CircuitBreaker: contracts 34-38 and 57 (the half-open probe slot), on virtual time."""

from __future__ import annotations

import asyncio
import functools
import math
import threading
from collections.abc import Callable
from typing import Any

import openai
import pytest

from pytest_llm import VirtualClock
from pytest_llm.client import ClientConfigError
from pytest_llm.client._breaker import (
    BreakerState,
    CircuitBreaker,
    MemoryBreakerStore,
    Outcome,
    Ticket,
)
from pytest_llm.faults import ServerError

KEY = "gpt-4o-mini@api.openai.com"
HANG_GUARD = 20.0  # seconds; only so that a serialising breaker fails instead of hanging


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


def make(clock: VirtualClock, **kw: Any) -> CircuitBreaker:
    return CircuitBreaker(clock=clock, **kw)


def fail(breaker: CircuitBreaker, n: int, key: str = KEY, **kw: Any) -> None:
    for _ in range(n):
        ticket = breaker.admit(key)
        assert ticket is not None, f"refused while {breaker.state(key)}: {breaker!r}"
        breaker.record(ticket, "failure", **kw)


def call(breaker: CircuitBreaker, outcome: Outcome, key: str = KEY) -> None:
    ticket = breaker.admit(key)
    assert ticket is not None
    breaker.record(ticket, outcome)


# -- contract 34: what counts ----------------------------------------------------------


@pytest.mark.parametrize("threshold", [1, 2, 5])
def test_opens_after_exactly_failure_threshold_consecutive_failures(
    clock: VirtualClock, threshold: int
) -> None:
    breaker = make(clock, failure_threshold=threshold)
    fail(breaker, threshold - 1)
    assert breaker.state(KEY) == "closed"
    assert breaker.status(KEY).failures == threshold - 1
    fail(breaker, 1)
    assert breaker.state(KEY) == "open"
    assert breaker.admit(KEY) is None


def test_a_success_in_closed_resets_the_count(clock: VirtualClock) -> None:
    breaker = make(clock, failure_threshold=3)
    fail(breaker, 2)
    call(breaker, "success")
    fail(breaker, 2)
    assert breaker.state(KEY) == "closed"
    fail(breaker, 1)
    assert breaker.state(KEY) == "open"


@pytest.mark.parametrize("outcome", ["ignored", "cancelled"])
def test_ignored_and_cancelled_neither_count_nor_reset(
    clock: VirtualClock, outcome: Outcome
) -> None:
    breaker = make(clock, failure_threshold=3)
    for _ in range(10):
        call(breaker, outcome)
    assert breaker.state(KEY) == "closed"
    assert breaker.status(KEY).failures == 0
    fail(breaker, 2)
    call(breaker, outcome)  # a 4xx between two 5xx: the run of failures goes on
    assert breaker.status(KEY).failures == 2
    fail(breaker, 1)
    assert breaker.state(KEY) == "open"


def test_routes_are_independent(clock: VirtualClock) -> None:
    breaker = make(clock, failure_threshold=2)
    fail(breaker, 2, key="a")
    fail(breaker, 1, key="b")
    assert (breaker.state("a"), breaker.state("b"), breaker.state("never-seen")) == (
        "open",
        "closed",
        "closed",
    )
    assert breaker.admit("b") is not None


# -- contract 35: the open period ------------------------------------------------------


def test_open_refuses_for_reset_timeout_then_half_opens(clock: VirtualClock) -> None:
    breaker = make(clock, failure_threshold=1, reset_timeout=30.0)
    clock.advance(100)
    fail(breaker, 1)
    clock.advance(29.999)
    assert breaker.admit(KEY) is None
    assert breaker.status(KEY).retry_in == pytest.approx(0.001)
    clock.advance(0.001)
    assert breaker.state(KEY) == "half_open"
    ticket = breaker.admit(KEY)
    assert ticket is not None
    assert (ticket.state, ticket.probe) == ("half_open", True)


@pytest.mark.parametrize(
    ("retry_after", "open_for"),
    [(120.0, 120.0), (5.0, 30.0), (30.0, 30.0)],
)
def test_retry_after_makes_the_open_period_at_least_that_long(
    clock: VirtualClock, retry_after: float, open_for: float
) -> None:
    breaker = make(clock, failure_threshold=2, reset_timeout=30.0)
    fail(breaker, 2, retry_after=retry_after)
    clock.advance(open_for - 0.5)
    assert breaker.admit(KEY) is None
    clock.advance(0.5)
    assert breaker.admit(KEY) is not None


def test_retry_after_of_an_earlier_failure_in_the_run_still_holds(clock: VirtualClock) -> None:
    breaker = make(clock, failure_threshold=3, reset_timeout=30.0)
    fail(breaker, 1, retry_after=100.0)  # at t=0: "come back at t=100"
    clock.advance(10)
    fail(breaker, 2)  # opens at t=10 with no Retry-After of its own
    clock.advance(89)  # t=99
    assert breaker.admit(KEY) is None
    clock.advance(1)
    assert breaker.admit(KEY) is not None


def test_a_success_forgets_an_earlier_retry_after(clock: VirtualClock) -> None:
    breaker = make(clock, failure_threshold=2, reset_timeout=30.0)
    fail(breaker, 1, retry_after=100.0)
    call(breaker, "success")
    fail(breaker, 2)
    clock.advance(30)
    assert breaker.admit(KEY) is not None


# -- contracts 36, 37, 57: half-open ---------------------------------------------------


def opened(clock: VirtualClock, **kw: Any) -> CircuitBreaker:
    """A breaker whose route KEY has just become half-open."""
    kw.setdefault("failure_threshold", 1)
    breaker = make(clock, reset_timeout=30.0, **kw)
    fail(breaker, kw["failure_threshold"])
    clock.advance(30)
    assert breaker.state(KEY) == "half_open"
    return breaker


@pytest.mark.parametrize("max_calls", [1, 3])
def test_half_open_admits_at_most_half_open_max_calls(clock: VirtualClock, max_calls: int) -> None:
    breaker = opened(clock, half_open_max_calls=max_calls)
    tickets = [breaker.admit(KEY) for _ in range(max_calls + 5)]
    probes = [t for t in tickets if t is not None]
    assert len(probes) == max_calls
    assert all(t.probe for t in probes)
    assert breaker.status(KEY).probes == max_calls


def test_a_failed_probe_reopens_with_a_fresh_timer(clock: VirtualClock) -> None:
    breaker = opened(clock)
    probe = breaker.admit(KEY)
    assert probe is not None
    clock.advance(7)  # the probe took 7 s to fail: the new timer starts at its verdict
    assert breaker.record(probe, "failure") == "open"
    assert breaker.status(KEY).opens == 2
    clock.advance(29.9)
    assert breaker.admit(KEY) is None
    clock.advance(0.1)
    assert breaker.admit(KEY) is not None


def test_a_failed_probe_honours_retry_after(clock: VirtualClock) -> None:
    breaker = opened(clock)
    probe = breaker.admit(KEY)
    assert probe is not None
    breaker.record(probe, "failure", retry_after=90.0)
    clock.advance(89)
    assert breaker.admit(KEY) is None
    clock.advance(1)
    assert breaker.admit(KEY) is not None


@pytest.mark.parametrize("success_threshold", [1, 3])
def test_success_threshold_probe_successes_close_it(
    clock: VirtualClock, success_threshold: int
) -> None:
    breaker = opened(clock, success_threshold=success_threshold, failure_threshold=2)
    for _ in range(success_threshold - 1):
        call(breaker, "success")
        assert breaker.state(KEY) == "half_open"
    call(breaker, "success")
    assert breaker.state(KEY) == "closed"
    assert breaker.status(KEY).failures == 0
    fail(breaker, 1)  # a fresh count: one failure is not two
    assert breaker.state(KEY) == "closed"


@pytest.mark.parametrize("outcome", ["cancelled", "ignored"])
def test_a_probe_without_a_verdict_frees_its_slot(clock: VirtualClock, outcome: Outcome) -> None:
    breaker = opened(clock)
    probe = breaker.admit(KEY)
    assert probe is not None
    assert breaker.admit(KEY) is None  # the one slot is taken
    assert breaker.record(probe, outcome) == "half_open"
    second = breaker.admit(KEY)
    assert second is not None
    assert second.probe
    breaker.record(second, "success")
    assert breaker.state(KEY) == "closed"


def test_a_ticket_is_recorded_once(clock: VirtualClock) -> None:
    breaker = make(clock, failure_threshold=2)
    ticket = breaker.admit(KEY)
    assert ticket is not None
    breaker.record(ticket, "failure")
    breaker.record(ticket, "failure")
    assert ticket.recorded
    assert breaker.state(KEY) == "closed"
    assert breaker.status(KEY).failures == 1


def test_recording_a_probe_twice_frees_one_slot(clock: VirtualClock) -> None:
    breaker = opened(clock, half_open_max_calls=2)
    first, second = breaker.admit(KEY), breaker.admit(KEY)
    assert first is not None
    assert second is not None
    breaker.record(first, "cancelled")
    breaker.record(first, "cancelled")
    assert breaker.status(KEY).probes == 1
    assert breaker.admit(KEY) is not None
    assert breaker.admit(KEY) is None


def test_calls_admitted_before_it_opened_do_not_decide_later(clock: VirtualClock) -> None:
    breaker = make(clock, failure_threshold=2)
    late = [breaker.admit(KEY) for _ in range(4)]
    assert all(t is not None for t in late)
    fail(breaker, 2)
    clock.advance(30)
    probe = breaker.admit(KEY)
    assert probe is not None
    for ticket in late[:2]:
        assert ticket is not None
        breaker.record(ticket, "success")  # a slow call from before the outage
    assert breaker.state(KEY) == "half_open"
    breaker.record(probe, "success")
    assert breaker.state(KEY) == "closed"
    for ticket in late[2:]:
        assert ticket is not None
        breaker.record(ticket, "failure")  # evidence of the old outage, not of now
    assert breaker.state(KEY) == "closed"
    assert breaker.status(KEY).failures == 0


def test_a_probe_from_an_earlier_half_open_period_does_not_decide_the_next(
    clock: VirtualClock,
) -> None:
    breaker = opened(clock, half_open_max_calls=2)
    slow, fast = breaker.admit(KEY), breaker.admit(KEY)
    assert slow is not None
    assert fast is not None
    breaker.record(fast, "failure")  # reopens
    clock.advance(30)
    probe = breaker.admit(KEY)
    assert probe is not None
    breaker.record(slow, "failure")  # a verdict on the previous half-open period
    assert breaker.state(KEY) == "half_open"
    assert breaker.status(KEY).probes == 1
    breaker.record(probe, "success")
    assert breaker.state(KEY) == "closed"


# -- contract 38: concurrency ----------------------------------------------------------


def test_50_threads_through_a_closed_breaker_are_not_serialised(clock: VirtualClock) -> None:
    breaker = make(clock, failure_threshold=50)
    all_admitted = threading.Barrier(50)
    order: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        ticket = breaker.admit(KEY)
        assert ticket is not None
        with lock:
            order.append("admit")
        all_admitted.wait(HANG_GUARD)  # the "I/O": only ends once every thread is inside
        with lock:
            order.append("record")
        breaker.record(ticket, "failure")

    errors = run_threads(worker, 50)
    assert errors == []
    assert order == ["admit"] * 50 + ["record"] * 50
    # 50 concurrent failures, counted without a lost update: exactly one opening
    assert breaker.state(KEY) == "open"
    assert breaker.status(KEY).opens == 1


def test_concurrent_failures_are_all_counted(clock: VirtualClock) -> None:
    breaker = make(clock, failure_threshold=1000)
    tickets = [breaker.admit(KEY) for _ in range(400)]
    start = threading.Barrier(8)

    def worker(chunk: list[Ticket | None]) -> None:
        start.wait(HANG_GUARD)
        for ticket in chunk:
            assert ticket is not None
            breaker.record(ticket, "failure")

    errors = run_threads([functools.partial(worker, tickets[i::8]) for i in range(8)])
    assert errors == []
    assert breaker.status(KEY).failures == 400


def test_50_asyncio_tasks_through_a_closed_breaker_overlap(clock: VirtualClock) -> None:
    breaker = make(clock)
    order: list[str] = []

    async def one() -> None:
        ticket = breaker.admit(KEY)
        assert ticket is not None
        order.append("admit")
        await clock.asleep(1.0)  # one second of I/O on virtual time
        order.append("record")
        breaker.record(ticket, "success")

    async def main() -> None:
        await asyncio.gather(*(one() for _ in range(50)))

    asyncio.run(main())
    assert order == ["admit"] * 50 + ["record"] * 50
    assert clock.monotonic() == 1.0  # overlapped: 50 one-second calls took one second
    assert breaker.state(KEY) == "closed"


@pytest.mark.parametrize("max_calls", [1, 4])
def test_half_open_admits_at_most_max_calls_concurrent_probes_across_threads(
    clock: VirtualClock, max_calls: int
) -> None:
    breaker = opened(clock, half_open_max_calls=max_calls)
    start = threading.Barrier(50)
    got: list[Ticket] = []
    lock = threading.Lock()

    def worker() -> None:
        start.wait(HANG_GUARD)
        ticket = breaker.admit(KEY)
        if ticket is not None:
            with lock:
                got.append(ticket)

    assert run_threads(worker, 50) == []
    assert len(got) == max_calls
    assert breaker.status(KEY).probes == max_calls


@pytest.mark.parametrize("max_calls", [1, 4])
def test_half_open_admits_at_most_max_calls_concurrent_probes_across_tasks(
    clock: VirtualClock, max_calls: int
) -> None:
    breaker = opened(clock, half_open_max_calls=max_calls)
    in_flight = 0
    peak = 0

    async def one() -> bool:
        nonlocal in_flight, peak
        ticket = breaker.admit(KEY)
        if ticket is None:
            return False
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await clock.asleep(1.0)
        finally:
            in_flight -= 1
            breaker.record(ticket, "cancelled")  # no verdict: the circuit stays half-open
        return True

    async def main() -> list[bool]:
        return list(await asyncio.gather(*(one() for _ in range(50))))

    admitted = asyncio.run(main())
    assert sum(admitted) == max_calls
    assert peak == max_calls
    assert breaker.status(KEY).probes == 0


def test_a_cancelled_task_frees_its_probe_slot_through_guard(clock: VirtualClock) -> None:
    breaker = opened(clock)

    async def probe() -> None:
        with breaker.guard(KEY) as ticket:
            assert ticket is not None
            await clock.asleep(60)

    async def main() -> None:
        task = asyncio.create_task(probe())
        await asyncio.sleep(0)
        assert breaker.admit(KEY) is None  # the slot is held while the probe runs
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert breaker.state(KEY) == "half_open"
    assert breaker.status(KEY).probes == 0
    assert breaker.admit(KEY) is not None


def run_threads(
    targets: Callable[[], None] | list[Callable[[], None]], n: int = 0
) -> list[BaseException]:
    funcs = [targets] * n if callable(targets) else targets
    errors: list[BaseException] = []

    def wrap(f: Callable[[], None]) -> None:
        try:
            f()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(f,), daemon=True) for f in funcs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG_GUARD)
        if t.is_alive():  # blocked for good (a lock held across the "I/O"): stop waiting
            alive = sum(t.is_alive() for t in threads)
            errors.append(TimeoutError(f"{alive} of {len(threads)} threads are stuck"))
            break
    return errors


# -- contract 35 over an outage --------------------------------------------------------


def simulate(
    clock: VirtualClock,
    breaker: CircuitBreaker,
    *,
    outage: int,
    rate: int,
    until: int,
) -> tuple[int, float | None, list[float]]:
    """Steady traffic, ``rate`` calls a second, each answered before the next one comes
    (a 5xx fails fast), against a route down for the first ``outage`` seconds.

    Returns the calls that reached the route while it was down (what the provider
    counts), when it served its first success after recovery, and the times of the
    calls refused after that."""
    reached_while_down = 0
    back: float | None = None
    refused_after_back: list[float] = []
    for i in range(until * rate):
        clock.advance(i / rate - clock.monotonic())
        now = clock.monotonic()
        ticket = breaker.admit(KEY)
        if ticket is None:
            if back is not None:
                refused_after_back.append(now)
            continue
        if i < outage * rate:
            reached_while_down += 1
            breaker.record(ticket, "failure")
        else:
            breaker.record(ticket, "success")
            if back is None:
                back = now
    return reached_while_down, back, refused_after_back


@pytest.mark.parametrize("outage", [3, 30, 31, 95, 600, 3600])
@pytest.mark.parametrize(
    ("threshold", "reset_timeout", "max_calls", "rate"),
    [(5, 30.0, 1, 1), (3, 10.0, 2, 5), (1, 60.0, 1, 3), (5, 7.5, 3, 10)],
)
def test_outage_traffic_stays_within_the_contract_35_bound(
    clock: VirtualClock,
    outage: int,
    threshold: int,
    reset_timeout: float,
    max_calls: int,
    rate: int,
) -> None:
    breaker = make(
        clock,
        failure_threshold=threshold,
        reset_timeout=reset_timeout,
        half_open_max_calls=max_calls,
    )
    reached, back, refused = simulate(
        clock, breaker, outage=outage, rate=rate, until=outage + 3 * int(reset_timeout)
    )
    bound = threshold + math.ceil(outage / reset_timeout) * max_calls
    assert reached <= bound
    assert back is not None
    assert back - outage <= reset_timeout + 1 / rate  # + one probe (the next call)
    assert refused == []  # the probe closed it: every later call goes through


def test_outage_through_the_sdk_is_counted_at_the_provider(
    llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    """Contract 35 with the real openai SDK: 5xx for W seconds, one call a second."""
    outage, reset_timeout, threshold = 95, 30.0, 5
    llm_fake.add("ok", times=None)
    down = llm_faults.add(ServerError(503), times=None)
    client = openai.OpenAI(max_retries=0)
    breaker = CircuitBreaker(
        failure_threshold=threshold, reset_timeout=reset_timeout, clock=llm_clock
    )
    back: float | None = None
    while llm_clock.monotonic() < outage + 2 * reset_timeout:
        if llm_clock.monotonic() == outage:
            down.times = down.used  # the provider recovers
        ticket = breaker.admit(KEY)
        if ticket is not None:
            try:
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )
            except openai.InternalServerError:
                breaker.record(ticket, "failure")
            else:
                breaker.record(ticket, "success")
                back = llm_clock.monotonic() if back is None else back
        llm_clock.advance(1.0)
    assert down.used <= threshold + math.ceil(outage / reset_timeout)  # 5 + 4
    # failures at t=0..4 open it; probes at 34, 64, 94 fail; the one at 124 succeeds
    assert down.used == 8
    assert back == 124.0
    assert back - outage <= reset_timeout
    assert len(llm_fake.requests) == (outage + 2 * reset_timeout) - back


# -- a store shared by several breakers (what a Redis store does across processes) -----


class SharedStore(MemoryBreakerStore):
    shared = True


def test_breakers_sharing_a_store_share_the_circuit_in_wall_time(clock: VirtualClock) -> None:
    store = SharedStore()
    one = make(clock, failure_threshold=2, store=store)
    two = make(clock, failure_threshold=2, store=store)
    fail(one, 1)
    fail(two, 1)  # two processes, one count
    assert one.state(KEY) == two.state(KEY) == "open"
    assert two.admit(KEY) is None
    assert store.get(KEY).open_until == clock.time() + 30.0  # wall seconds, not monotonic
    clock.advance(30)
    probe = one.admit(KEY)
    assert probe is not None
    assert two.admit(KEY) is None  # the one probe slot is taken, in the other "process"
    one.record(probe, "success")
    assert two.state(KEY) == "closed"


def test_state_record_round_trips_through_a_redis_hash() -> None:
    record = BreakerState(
        state="half_open", failures=0, open_until=12.5, probes=1, generation=7, opens=3
    )
    as_redis = {k.encode(): str(v).encode() for k, v in record.as_fields().items()}
    assert BreakerState.from_fields(as_redis) == record
    assert BreakerState.from_fields({}) == BreakerState()
    with pytest.raises(ValueError, match="state='ajar'"):
        BreakerState.from_fields({**record.as_fields(), "state": "ajar"})


# -- reporting -------------------------------------------------------------------------


def test_snapshot_status_and_repr(clock: VirtualClock) -> None:
    breaker = make(clock, failure_threshold=1)
    fail(breaker, 1, key="b")
    call(breaker, "success", key="a")
    clock.advance(10)
    snap = breaker.snapshot()
    assert list(snap) == ["a", "b"]
    assert snap["b"].state == "open"
    assert snap["b"].retry_in == 20.0
    assert snap["b"].opens == 1
    assert snap["a"].retry_in is None
    assert repr(breaker) == (
        "CircuitBreaker(failure_threshold=1, reset_timeout=30, half_open_max_calls=1, "
        "success_threshold=1, routes=2, not_closed={'b': 'open'})"
    )
    ticket = breaker.admit("a")
    assert repr(ticket) == "Ticket('a', call, state='closed')"


def test_on_change_hears_every_transition(clock: VirtualClock) -> None:
    heard: list[tuple[str, str, str]] = []
    breaker = make(clock, failure_threshold=1, on_change=lambda *t: heard.append(t))
    fail(breaker, 1)
    clock.advance(30)
    probe = breaker.admit(KEY)
    assert probe is not None
    breaker.record(probe, "failure")
    clock.advance(30)
    call(breaker, "success")
    assert heard == [
        (KEY, "closed", "open"),
        (KEY, "open", "half_open"),
        (KEY, "half_open", "open"),
        (KEY, "open", "half_open"),
        (KEY, "half_open", "closed"),
    ]


def test_guard_records_for_the_caller(clock: VirtualClock) -> None:
    breaker = make(clock, failure_threshold=2)
    with breaker.guard(KEY) as ticket:
        assert ticket is not None
    assert ticket.recorded
    for _ in range(2):
        with pytest.raises(ConnectionError), breaker.guard(KEY):
            raise ConnectionError("reset")
    assert breaker.state(KEY) == "open"
    with breaker.guard(KEY) as ticket:
        assert ticket is None


def test_guard_uses_classify(clock: VirtualClock) -> None:
    breaker = make(clock, failure_threshold=1)
    for _ in range(3):
        with (
            pytest.raises(ValueError, match="400"),
            breaker.guard(KEY, classify=lambda e: "ignored"),
        ):
            raise ValueError("400 bad request")
    assert breaker.state(KEY) == "closed"


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"failure_threshold": 0}, ["failure_threshold=0", "Fix: pass e.g. failure_threshold=5"]),
        ({"failure_threshold": True}, ["failure_threshold=True"]),
        ({"failure_threshold": 2.0}, ["failure_threshold=2.0", "whole number"]),
        ({"half_open_max_calls": 0}, ["half_open_max_calls=0", "Fix:"]),
        ({"success_threshold": -1}, ["success_threshold=-1", "Fix:"]),
        ({"reset_timeout": 0}, ["reset_timeout=0", "above 0", "Fix: pass e.g. reset_timeout=30.0"]),
        ({"reset_timeout": math.inf}, ["reset_timeout=inf", "finite"]),
        ({"reset_timeout": "30"}, ["reset_timeout='30'"]),
        ({"clock": object()}, ["clock=<object", "VirtualClock"]),
        ({"store": {}}, ["store={}", "BreakerStore"]),
        ({"on_change": 3}, ["on_change=3", "not callable"]),
        ({"failure_treshold": 5}, ["'failure_treshold'", "did you mean 'failure_threshold'?"]),
        ({"colour": 5}, ["'colour'", "Fix: use one of clock, failure_threshold"]),
    ],
)
def test_bad_configuration_names_the_field_and_the_fix(
    kw: dict[str, Any], words: list[str]
) -> None:
    with pytest.raises(ClientConfigError) as info:
        CircuitBreaker(**kw)
    message = str(info.value)
    assert "\nFix: " in message
    for word in words:
        assert word in message


def test_bad_records_are_refused(clock: VirtualClock) -> None:
    breaker, other = make(clock), make(clock)
    ticket = breaker.admit(KEY)
    assert ticket is not None
    with pytest.raises(ValueError, match="not a ticket from this breaker"):
        other.record(ticket, "success")
    with pytest.raises(ValueError, match="did you mean 'failure'"):
        breaker.record(ticket, "failed")  # type: ignore[arg-type]
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="retry_after"):
            breaker.record(ticket, "failure", retry_after=bad)
    assert not ticket.recorded  # a refused record leaves the ticket to be recorded
