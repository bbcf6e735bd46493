"""HTTP adapters: the patched httpx/httpx2 transports, an explicit wrapper, the server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_facade

if TYPE_CHECKING:
    from ._server import LLMServer
    from ._wrap import wrap_transport

_WHERE = {"LLMServer": "._server", "wrap_transport": "._wrap"}
__all__ = ["LLMServer", "wrap_transport"]
__getattr__, __dir__ = lazy_facade(__name__, __all__, _WHERE)
