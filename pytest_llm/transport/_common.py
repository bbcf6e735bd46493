"""What the patches and the adapters share, in a module that loads nothing else.

``forwarding`` is set by an adapter around the real send, so inner transports and
the socket guard let it pass; the socket guard loads at start-up without the adapters.

Loaded at every pytest start-up (the session's guard): PYTEST_DONT_REWRITE (see
:mod:`pytest_llm.plugin`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

__all__ = ["AIOHTTP", "HTTP_TARGETS", "LIBRARIES", "MARK", "forwarding", "on_first_use", "restore"]

forwarding: ContextVar[bool] = ContextVar("pytest_llm_forwarding", default=False)
"""True while a request is on its way to the real network: inner transports pass it on."""

LIBRARIES = ("httpx", "httpx2")
AIOHTTP = {
    # module holding AiohttpTransport -> the httpx flavour whose Response it returns
    "openai._vendor.httpx_aiohttp.transport": "httpx2",  # openai 3.x DefaultAioHttpClient
    "httpx_aiohttp.transport": "httpx",  # openai 1.x/2.x DefaultAioHttpClient
}
HTTP_TARGETS = (*LIBRARIES, *AIOHTTP)
"""Every module whose transports can be patched (see :func:`patched`)."""
MARK = "__pytest_llm_original__"
on_first_use: list[Callable[[], None]] = []
"""Called when the first handler becomes active (the plugin arms its per-test hooks)."""


def restore(saved: list[tuple[Any, str, Any]]) -> None:
    """Put back what ``saved`` replaced, then forget it."""
    for owner, attr, original in reversed(saved):
        if hasattr(getattr(owner, attr), MARK):  # not if another tool patched over us
            setattr(owner, attr, original)
    saved.clear()
