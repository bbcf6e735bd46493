"""What a contract works with: the adapter, the harness's fixtures, and evidence."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ._protocol import Adapter, ErrorInfo, Reply, Request, RouteSpec, Setup

__all__ = ["ContractFailed", "Ctx", "Failed", "NotApplicable", "Streamed"]

QUESTION = "Capital of France?"
DEFAULT_TEXT = "This is a fake reply from pytest-llm."


class NotApplicable(Exception):
    """The contract needs something the adapter does not have (the reason says what)."""


class ContractFailed(AssertionError):
    """A contract was broken; the message is the evidence."""


@dataclass
class Failed:
    """A call that raised: the error and what the adapter says it means."""

    error: BaseException
    info: ErrorInfo

    @property
    def kind(self) -> str:
        return self.info.kind

    def __str__(self) -> str:
        return f"{type(self.error).__name__} ({self.info.kind})"


@dataclass
class Streamed:
    pieces: list[str] = field(default_factory=list)
    failed: Failed | None = None
    iterator: Any = field(default=None, repr=False)
    """What ``Adapter.stream()`` returned, kept so nothing is closed by being collected."""

    @property
    def text(self) -> str:
        return "".join(self.pieces)


Outcome = Reply | Failed


def describe(outcome: Any) -> str:
    if isinstance(outcome, Failed):
        return f"raised {outcome}"
    if isinstance(outcome, Reply):
        return f"returned {outcome.text[:40]!r} from {outcome.model}"
    return repr(outcome)


class Ctx:
    """One contract run: build clients, call them, count at the provider, keep evidence."""

    def __init__(
        self,
        adapter: Adapter,
        *,
        fake: Any,
        faults: Any,
        clock: Any,
        redis: Callable[[], Any] | None = None,
    ) -> None:
        self.adapter = adapter
        self.fake = fake
        self.faults = faults
        self.clock = clock
        self._redis = redis
        self.evidence: list[str] = []
        self.clients: list[Any] = []
        fake.configure(check_unused=False)

    # -- needs and evidence ----------------------------------------------------------

    def need(self, *capabilities: str) -> None:
        for cap in capabilities:
            reason = self.adapter.unsupported(cap)
            if reason is not None:
                raise NotApplicable(f"needs {cap}: {reason}")

    def has(self, capability: str) -> bool:
        return self.adapter.unsupported(capability) is None

    def need_async(self, why: str) -> None:
        if not self.adapter.is_async:
            raise NotApplicable(f"async only: {why}")

    def check(self, ok: bool, evidence: str) -> None:
        """Record ``evidence``; a false ``ok`` breaks the contract with it."""
        if not ok:
            self.evidence.append(evidence)
            raise ContractFailed("; ".join(self.evidence))
        self.evidence.append(evidence)

    def note(self, text: str) -> None:
        self.evidence.append(text)

    @contextmanager
    def redis_server(self) -> Iterator[Any]:
        if self._redis is None:
            raise NotApplicable("redis-server not installed")
        server = self._redis()
        with server:
            yield server

    # -- faults and counts -----------------------------------------------------------

    def fault(self, fault: Any, **target: Any) -> Any:
        target.setdefault("required", False)
        return self.faults.add(fault, **target)

    def seen(self, model: str | None = None) -> int:
        """Requests the provider saw (every request passes the fault plan)."""
        return sum(1 for a in self.faults.log if model is None or a.model == model)

    def models_seen(self) -> list[str]:
        return [str(a.model) for a in self.faults.log]

    def sleeps_since(self, mark: int) -> list[float]:
        return list(self.clock.sleeps[mark:])

    # -- clients and calls -----------------------------------------------------------

    def setup(self, *routes: str | RouteSpec, **options: Any) -> Setup:
        specs = tuple(r if isinstance(r, RouteSpec) else RouteSpec(r) for r in routes or ("m1",))
        options.setdefault("clock", self.clock)
        return Setup(routes=specs, **options)

    def client(self, *routes: str | RouteSpec, **options: Any) -> Any:
        client = self.adapter.make(self.setup(*routes, **options))
        self.clients.append(client)
        return client

    @staticmethod
    def request(content: str = QUESTION, *, model: str | None = None, **params: Any) -> Request:
        return Request(({"role": "user", "content": content},), model, params)

    async def call(
        self,
        client: Any,
        content: str | Request = QUESTION,
        *,
        model: str | None = None,
        **params: Any,
    ) -> Outcome:
        request = self._request(content, model=model, **params)
        try:
            result = await _settle(self.adapter.call(client, request))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return Failed(exc, self.adapter.describe(exc))
        if not isinstance(result, Reply):
            raise TypeError(f"{self.adapter!r}.call() returned {result!r}, not a Reply")
        return result

    async def call_waits(
        self, client: Any, content: str | Request = QUESTION, **params: Any
    ) -> tuple[Outcome, list[float]]:
        """:meth:`call`, and the waits on the clock while it ran."""
        mark = len(self.clock.sleeps)
        out = await self.call(client, content, **params)
        return out, self.sleeps_since(mark)

    async def call_seen(
        self,
        client: Any,
        content: str | Request = QUESTION,
        *,
        seen: str | None = None,
        **params: Any,
    ) -> tuple[Outcome, int]:
        """:meth:`call`, and how many requests for model ``seen`` (None: any) the
        provider has seen by its end."""
        out = await self.call(client, content, **params)
        return out, self.seen(seen)

    def _request(
        self, content: str | Request, *, model: str | None = None, **params: Any
    ) -> Request:
        return (
            content
            if isinstance(content, Request)
            else self.request(content, model=model, **params)
        )

    async def parse(self, client: Any, request: Request, schema: type[Any]) -> Any:
        try:
            result = await _settle(self.adapter.parse(client, request, schema))
        except Exception as exc:
            return Failed(exc, self.adapter.describe(exc))
        return result

    async def stream(
        self,
        client: Any,
        content: str | Request = QUESTION,
        *,
        take: int | None = None,
        into: Streamed | None = None,
        **params: Any,
    ) -> Streamed:
        """Read a streamed call to its end (or ``take`` pieces, then close it), into
        ``into`` when given (a concurrent task watches the pieces arrive)."""
        request = self._request(content, **params)
        out = Streamed() if into is None else into
        iterator: Any = None
        try:
            iterator = out.iterator = await _settle(self.adapter.stream(client, request))
            if hasattr(iterator, "__anext__"):
                async for piece in iterator:
                    out.pieces.append(piece)
                    if take is not None and len(out.pieces) >= take:
                        break
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:  # none: the client cannot close it early (29)
                    await aclose()
            else:
                for piece in iterator:
                    out.pieces.append(piece)
                    if take is not None and len(out.pieces) >= take:
                        break
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            out.failed = Failed(exc, self.adapter.describe(exc))
        return out

    async def together(self, *calls: Callable[[], Awaitable[Any]]) -> list[Any]:
        """Run calls concurrently: tasks of this loop (async), or threads (sync)."""
        if self.adapter.is_async:
            return list(await asyncio.gather(*(c() for c in calls)))

        def run(c: Callable[[], Awaitable[Any]]) -> Any:
            return asyncio.run(_await(c()))

        return list(await asyncio.gather(*(asyncio.to_thread(run, c) for c in calls)))

    async def until(self, predicate: Callable[[], bool], what: str) -> None:
        """Let other tasks run until ``predicate()`` (async adapters)."""
        for _ in range(10_000):
            if predicate():
                return
            await asyncio.sleep(0)
        raise ContractFailed(f"never happened: {what}")

    async def aclose(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):  # closing is best effort
                await _settle(self.adapter.close(client))


async def _await(value: Awaitable[Any]) -> Any:
    return await value


async def _settle(value: Any) -> Any:
    """What an adapter's method gave: itself, or what it awaits to (sync or async adapter)."""
    return await value if inspect.isawaitable(value) else value


def replace(setup: Setup, **changes: Any) -> Setup:
    return dataclasses.replace(setup, **changes)


def within(values: Sequence[float], low: float, high: float) -> bool:
    return all(low - 1e-9 <= v <= high + 1e-9 for v in values)
