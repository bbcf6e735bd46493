"""Workers of the multi-process client tests (spawned: no pytest import here).

Each worker process builds its own ``ResilientClient`` on the test's loopback provider
(``llm_server``) with its own ``RedisStore``, says it is ready, waits for the shared
"go" key, then fires its calls from threads. Every process reads a clock skewed by a
different number of hours: the shared state decides on the Redis server's TIME.
"""

from __future__ import annotations

from typing import Any

from shared_state_workers import SkewedClock, _fire, _start

from pytest_llm.client import BudgetExceeded, RateLimitExceeded, ResilientClient, Route
from pytest_llm.client._budget import Budget
from pytest_llm.client._limits import RateLimiter
from pytest_llm.client._redis import RedisStore

MESSAGES = [{"role": "user", "content": "Capital of France?"}]


def _outcome(call: Any) -> str:
    try:
        reply = call()
    except BudgetExceeded:
        return "budget"
    except RateLimitExceeded:
        return "rate_limit"
    except Exception as exc:  # anything else is a lost request: the test says which
        return f"error: {type(exc).__name__}: {exc}"
    return "ok" if reply.choices[0].message.content else "empty"


def budget_worker(
    redis_url: str, base_url: str, ns: str, threads: int, skew_hours: float, limit: int
) -> list[str]:
    clock = SkewedClock(skew_hours)
    store = RedisStore(redis_url, namespace=ns)
    client = ResilientClient(
        [Route("m", base_url=base_url, api_key="sk-test")],
        budget=Budget(hourly=limit, clock=clock, store=store),
        max_retries=0,
        clock=clock,
    )
    _start(store, ns, seconds=60)
    return _fire(
        threads,
        lambda: _outcome(lambda: client.chat.completions.create(messages=MESSAGES, max_tokens=100)),
    )


def rpm_worker(
    redis_url: str, base_url: str, ns: str, threads: int, skew_hours: float, deadline: float
) -> list[str]:
    clock = SkewedClock(skew_hours)
    store = RedisStore(redis_url, namespace=ns)
    client = ResilientClient(
        [Route("m", base_url=base_url, api_key="sk-test")],
        limiter=RateLimiter(rpm=10, burst=5, clock=clock, store=store),
        deadline=deadline,
        max_retries=0,
        clock=clock,
    )
    _start(store, ns, seconds=60)
    return _fire(
        threads, lambda: _outcome(lambda: client.chat.completions.create(messages=MESSAGES))
    )
