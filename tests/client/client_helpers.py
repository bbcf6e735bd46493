"""Shared helpers for the client's end-to-end tests (import: ``from client_helpers import ...``) (real openai SDK, fake provider,
faults and virtual clock).

``mode`` parametrises a test over the sync and the async client::

    def test_x(mode, llm_fake, llm_faults):
        client = mode.client(route("a"), route("b"), max_retries=1)
        reply = mode.call(client.chat.completions.create, messages=MESSAGES)
        err = mode.raises(openai.RateLimitError, client.chat.completions.create, ...)

(the ``mode`` fixture lives in ``conftest.py``.)

Requests are counted where the provider sees them (CONTRACTS 54):
``seen(llm_faults, "a")`` counts what the fault plan saw for model ``a`` (faulted or
passed on), ``reached(llm_fake, "a")`` what reached the fake.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from pytest_llm import VirtualClock, faults
from pytest_llm._exchange import Exchange, Next, Outcome, Reply
from pytest_llm.client import AsyncResilientClient, ResilientClient, Route
from pytest_llm.faults._base import Context

BASE_URL = "http://llm.test/v1"
MESSAGES = [{"role": "user", "content": "Capital of France?"}]


def key_for(model: str) -> str:
    """The route's API key: unique per model, so a leak names where it came from."""
    return f"sk-test-{model}-SECRETKEY0123456789"


def route(model: str, **kw: Any) -> Route:
    """A route on the fake provider (it answers any host; faults target by ``model=``)."""
    kw.setdefault("base_url", BASE_URL)
    kw.setdefault("api_key", key_for(model))
    return Route(model, **kw)


def seen(llm_faults: Any, model: str | None = None) -> int:
    """Requests the provider saw (the fault plan logs every one, faulted or passed on)."""
    return sum(1 for a in llm_faults.log if model is None or a.model == model)


def reached(llm_fake: Any, model: str | None = None) -> int:
    """Requests that reached the fake provider (not answered by a fault)."""
    return sum(1 for r in llm_fake.requests if model is None or r.model == model)


@dataclass(frozen=True, repr=False)
class Body200(faults.Fault):
    """A 200 whose JSON body is ``body`` (an error object, no choices...)."""

    kind: ClassVar[str] = ""
    body: dict[str, Any] = field(default_factory=dict)

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        return Reply(
            200,
            [("content-type", "application/json"), ("x-request-id", ctx.request_id())],
            json.dumps(self.body).encode(),
        )


async def _await(value: Any) -> Any:
    return await value


async def _consume_async(stream: Any) -> list[Any]:
    return [event async for event in stream]


@dataclass
class Mode:
    """Sync or async: builds the client and runs a call of it to the end."""

    is_async: bool
    clock: VirtualClock

    @property
    def name(self) -> str:
        return "async" if self.is_async else "sync"

    def client(self, *routes: Route | str, **options: Any) -> Any:
        """``ResilientClient`` or ``AsyncResilientClient`` on the test's virtual clock."""
        options.setdefault("clock", self.clock)
        cls = AsyncResilientClient if self.is_async else ResilientClient
        return cls(list(routes) if routes else None, **options)

    def call(self, method: Callable[..., Any], /, **kwargs: Any) -> Any:
        """``method(**kwargs)`` (chat by default: ``messages=MESSAGES``), awaited if async."""
        if "input" not in kwargs:
            kwargs.setdefault("messages", MESSAGES)
        result = method(**kwargs)
        if inspect.isawaitable(result):
            return asyncio.run(_await(result))
        return result

    def stream(self, method: Callable[..., Any], /, **kwargs: Any) -> tuple[Any, list[Any]]:
        """A streamed call, read to the end in the same event loop: (stream, events)."""
        if "input" not in kwargs:
            kwargs.setdefault("messages", MESSAGES)
        kwargs["stream"] = True
        if not self.is_async:
            stream = method(**kwargs)
            return stream, list(stream)

        async def go() -> tuple[Any, list[Any]]:
            stream = await method(**kwargs)
            return stream, await _consume_async(stream)

        return asyncio.run(go())

    def raises(self, error: Any, method: Callable[..., Any], /, **kwargs: Any) -> Any:
        """The exception (of type ``error``) that ``mode.call(method, **kwargs)`` raised."""
        with pytest.raises(error) as caught:
            self.call(method, **kwargs)
        return caught.value
