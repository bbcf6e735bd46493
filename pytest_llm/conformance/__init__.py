"""pytest_llm.conformance: the 57 behavioural contracts of a resilient LLM client, run
against any client through a small adapter protocol.

``pytest --llm-conformance=MODULE:FACTORY`` runs them; see ``docs/conformance.md``.
"""

from __future__ import annotations

from ._contracts import CONTRACTS, FAMILIES, Contract
from ._protocol import (
    CAPABILITIES,
    ERROR_KINDS,
    Adapter,
    BreakerSpec,
    BudgetSpec,
    CacheSpec,
    ErrorInfo,
    RateLimitSpec,
    Reply,
    Request,
    RetryBudgetSpec,
    RouteSpec,
    Setup,
)
from ._render import markdown

__all__ = [
    "CAPABILITIES",
    "CONTRACTS",
    "ERROR_KINDS",
    "FAMILIES",
    "Adapter",
    "BreakerSpec",
    "BudgetSpec",
    "CacheSpec",
    "Contract",
    "ErrorInfo",
    "RateLimitSpec",
    "Reply",
    "Request",
    "RetryBudgetSpec",
    "RouteSpec",
    "Setup",
    "markdown",
]
