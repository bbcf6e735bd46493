"""HTTP adapters: the patched httpx/httpx2 transports, an explicit wrapper, the server.

Loaded at every pytest start-up (the session's guard): PYTEST_DONT_REWRITE (see
:mod:`pytest_llm.plugin`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_facade

if TYPE_CHECKING:
    from ._server import (
        LLMServer as LLMServer,
    )
    from ._wrap import (
        wrap_transport as wrap_transport,
    )

# The one table: each public name and the module it loads from, on first use.
_WHERE = {
    "LLMServer": "._server",
    "wrap_transport": "._wrap",
}
__all__, __getattr__, __dir__ = lazy_facade(__name__, _WHERE)
