"""A miss answered as an error response that no SDK retries, and kept to be reported.

A cassette miss, a fake's strict miss, a fault that cannot apply, a blocked request:
each is raised inside the transport as a :class:`~pytest_llm._errors.ReplayInterrupt`.
Raising it on through the SDK failed fast, but a ``BaseException`` in an async test
breaks the runner: anyio's pytest runner cancels its runner task for one (a teardown
``ClosedResourceError`` per miss, then an ``INTERNALERROR``). So the adapter answers
the SDK instead, once, with :func:`miss_reply`: a 418 whose JSON body carries the
miss's message and ``x-should-retry: false``. No SDK retries a 4xx other than 408,
409 and 429, and those that read ``x-should-retry`` are told twice; the SDK raises its
ordinary status error (an ``Exception``) at once, which every runner handles.

The miss itself is what the user must see: it goes to :data:`missed`, and the
plugin's report hook (:mod:`pytest_llm._report`) shows it as the test's failure
instead of the SDK's status error. ``with use_cassette(...)`` (and every handler used
as a context manager) raises the miss itself, from the error that left the block.
A miss the application swallowed fails the test at its end, as before (each
handler keeps its misses: :meth:`pytest_llm._handler.Handler.finish`).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass

from ._errors import ReplayInterrupt
from ._exchange import Reply

__all__ = ["MISS_HEADER", "MISS_STATUS", "Missed", "caused_by_miss", "miss_reply", "missed"]

MISS_STATUS = 418
"""A 4xx that no SDK retries or falls back on, and that no real provider sends."""
MISS_HEADER = "x-pytest-llm-miss"
"""Marks the reply (its value: the miss's class name), so the SDK's error is known as ours."""


@dataclass(frozen=True)
class Missed:
    message: str
    during: str | None
    """``<node id> (<phase>)`` of the test pytest ran when it happened (``None``: none)."""


class MissLog:
    """The misses answered since the plugin last looked (one test phase at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Missed] = []

    limit = 100
    """Outside pytest nobody takes them: the first ones are the ones worth keeping."""

    def add(self, exc: ReplayInterrupt) -> None:
        with self._lock:
            if len(self._items) < self.limit:
                self._items.append(Missed(str(exc), os.environ.get("PYTEST_CURRENT_TEST")))

    def __bool__(self) -> bool:
        """Whether any miss waits to be taken."""
        return bool(self._items)

    def take(self, during: str | None = None) -> list[Missed]:
        """Forget every miss; return those of ``during`` (``<node id> (<phase>)``)."""
        if not self._items:  # every phase of every test asks; most have none
            return []
        with self._lock:
            items, self._items = self._items, []
        return [m for m in items if m.during == during]


missed = MissLog()


def miss_reply(exc: ReplayInterrupt) -> Reply:
    """The response the SDK gets for ``exc``; the miss is logged in :data:`missed`."""
    missed.add(exc)
    doc = {
        "error": {
            "message": str(exc),
            "type": "pytest_llm_miss",
            "param": None,
            "code": "pytest_llm_miss",
        }
    }
    headers = [
        ("content-type", "application/json"),
        ("x-should-retry", "false"),
        (MISS_HEADER, type(exc).__name__),
    ]
    return Reply(MISS_STATUS, headers, body=json.dumps(doc, indent=2).encode())


def caused_by_miss(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is an SDK's error for a
    :func:`miss_reply`: it carries the response, with :data:`MISS_HEADER`."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        headers = getattr(getattr(exc, "response", None), "headers", None)
        if headers is not None and _has_header(headers):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _has_header(headers: object) -> bool:
    get = getattr(headers, "get", None)
    try:
        return bool(get(MISS_HEADER)) if callable(get) else False
    except Exception:  # a headers object we do not know: not ours
        return False
