"""pytest_llm.conformance: the 57 behavioural contracts of a resilient LLM client, run
against any client through a small adapter protocol.

``pytest --llm-conformance=MODULE:FACTORY`` runs them; see ``docs/conformance.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_facade

if TYPE_CHECKING:
    from ._contracts import (
        CONTRACTS as CONTRACTS,
    )
    from ._contracts import (
        FAMILIES as FAMILIES,
    )
    from ._contracts import (
        Contract as Contract,
    )
    from ._protocol import (
        CAPABILITIES as CAPABILITIES,
    )
    from ._protocol import (
        ERROR_KINDS as ERROR_KINDS,
    )
    from ._protocol import (
        Adapter as Adapter,
    )
    from ._protocol import (
        BreakerSpec as BreakerSpec,
    )
    from ._protocol import (
        BudgetSpec as BudgetSpec,
    )
    from ._protocol import (
        CacheSpec as CacheSpec,
    )
    from ._protocol import (
        ErrorInfo as ErrorInfo,
    )
    from ._protocol import (
        RateLimitSpec as RateLimitSpec,
    )
    from ._protocol import (
        Reply as Reply,
    )
    from ._protocol import (
        Request as Request,
    )
    from ._protocol import (
        RetryBudgetSpec as RetryBudgetSpec,
    )
    from ._protocol import (
        RouteSpec as RouteSpec,
    )
    from ._protocol import (
        Setup as Setup,
    )
    from ._render import (
        markdown as markdown,
    )

# The one table: each public name and the module it loads from, on first use.
_WHERE = {
    "CONTRACTS": "._contracts",
    "Contract": "._contracts",
    "FAMILIES": "._contracts",
    "Adapter": "._protocol",
    "BreakerSpec": "._protocol",
    "BudgetSpec": "._protocol",
    "CAPABILITIES": "._protocol",
    "CacheSpec": "._protocol",
    "ERROR_KINDS": "._protocol",
    "ErrorInfo": "._protocol",
    "RateLimitSpec": "._protocol",
    "Reply": "._protocol",
    "Request": "._protocol",
    "RetryBudgetSpec": "._protocol",
    "RouteSpec": "._protocol",
    "Setup": "._protocol",
    "markdown": "._render",
}
__all__, __getattr__, __dir__ = lazy_facade(__name__, _WHERE)
