"""Adapters the suite ships: ``reference`` for pytest-llm's own ``ResilientClient``.

Each is a module (``pytest_llm.conformance.adapters.reference``), not a name here: the
package itself exports nothing.
"""

from __future__ import annotations

from ..._lazy import lazy_facade

# The one table (empty: the adapters are modules of their own).
_WHERE: dict[str, str] = {}
__all__, __getattr__, __dir__ = lazy_facade(__name__, _WHERE)
