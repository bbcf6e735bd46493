"""An explicit transport for clients that bring their own.

``httpx2.Client(transport=pytest_llm.wrap_transport(MyTransport()))`` routes the
client's traffic through the same chain as the patched default transports; the
wrapped transport is used for the real network when recording.
"""

from __future__ import annotations

import importlib
from typing import Any

from .._errors import ConfigError
from .._flow import router
from ._adapter import handle_async, handle_sync

__all__ = ["wrap_transport"]


def _library_of(transport: Any) -> tuple[Any, str]:
    for name in ("httpx2", "httpx"):
        try:
            m = importlib.import_module(name)
        except ImportError:
            continue
        if isinstance(transport, m.BaseTransport | m.AsyncBaseTransport):
            return m, name
    raise ConfigError(
        f"wrap_transport() needs an httpx or httpx2 transport, got {type(transport).__qualname__}.\n"
        "Fix: pass e.g. httpx2.HTTPTransport() or httpx.AsyncHTTPTransport()."
    )


def wrap_transport(transport: Any) -> Any:
    """Wrap an httpx or httpx2 transport (sync or async) so pytest-llm sees its traffic."""
    m, name = _library_of(transport)

    class LLMTransport(m.BaseTransport, m.AsyncBaseTransport):  # type: ignore[name-defined,misc]
        """Sync and async: each side delegates to the wrapped transport's own side."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def handle_request(self, request: Any) -> Any:
            if not router.active:
                return self.inner.handle_request(request)
            return handle_sync(router.dispatch, m, name, self.inner.handle_request, request)

        async def handle_async_request(self, request: Any) -> Any:
            if not router.active:
                return await self.inner.handle_async_request(request)
            return await handle_async(
                router.dispatch, m, name, self.inner.handle_async_request, request
            )

        def close(self) -> None:
            self.inner.close()

        async def aclose(self) -> None:
            await self.inner.aclose()

        def __repr__(self) -> str:
            return f"pytest_llm.wrap_transport({self.inner!r})"

    return LLMTransport(transport)
