"""Faults: what providers really do wrong, on virtual time.

``from pytest_llm import faults`` then ``llm_faults.add(faults.RateLimited(retry_after=7),
times=2)``. Names load on first use, so the plugin's start-up does not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_facade

if TYPE_CHECKING:
    from ._errors import FaultError, FaultNotApplicable, UnusedFaults
    from ._kinds import (
        KINDS,
        ConnectError,
        ConnectionReset,
        ContentFilter,
        ContextLengthExceeded,
        Fault,
        HTTPError,
        InsufficientQuota,
        MalformedJSON,
        Overloaded,
        Pass,
        RateLimited,
        ReadTimeout,
        ServerError,
        Slow,
        Stall,
        StreamError,
        TruncatedStream,
        make_fault,
    )
    from ._malformed import VARIANTS, malform
    from ._plan import Applied, FaultPlan, Rule

__all__ = [
    "KINDS",
    "VARIANTS",
    "Applied",
    "ConnectError",
    "ConnectionReset",
    "ContentFilter",
    "ContextLengthExceeded",
    "Fault",
    "FaultError",
    "FaultNotApplicable",
    "FaultPlan",
    "HTTPError",
    "InsufficientQuota",
    "MalformedJSON",
    "Overloaded",
    "Pass",
    "RateLimited",
    "ReadTimeout",
    "Rule",
    "ServerError",
    "Slow",
    "Stall",
    "StreamError",
    "TruncatedStream",
    "UnusedFaults",
    "make_fault",
    "malform",
]

_WHERE = {
    "FaultError": "._errors",
    "FaultNotApplicable": "._errors",
    "UnusedFaults": "._errors",
    "VARIANTS": "._malformed",
    "malform": "._malformed",
    "Applied": "._plan",
    "FaultPlan": "._plan",
    "Rule": "._plan",
}


__getattr__, __dir__ = lazy_facade(__name__, __all__, _WHERE, default="._kinds")
