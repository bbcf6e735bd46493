"""Faults: what providers really do wrong, on virtual time.

``from pytest_llm import faults`` then ``llm_faults.add(faults.RateLimited(retry_after=7),
times=2)``. Names load on first use, so the plugin's start-up does not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_facade

if TYPE_CHECKING:
    from ._errors import (
        FaultError as FaultError,
    )
    from ._errors import (
        FaultNotApplicable as FaultNotApplicable,
    )
    from ._errors import (
        UnusedFaults as UnusedFaults,
    )
    from ._kinds import (
        KINDS as KINDS,
    )
    from ._kinds import (
        BrokenToolCall as BrokenToolCall,
    )
    from ._kinds import (
        ConnectError as ConnectError,
    )
    from ._kinds import (
        ConnectionReset as ConnectionReset,
    )
    from ._kinds import (
        ContentFilter as ContentFilter,
    )
    from ._kinds import (
        ContextLengthExceeded as ContextLengthExceeded,
    )
    from ._kinds import (
        CorruptEvent as CorruptEvent,
    )
    from ._kinds import (
        Fault as Fault,
    )
    from ._kinds import (
        HTTPError as HTTPError,
    )
    from ._kinds import (
        InsufficientQuota as InsufficientQuota,
    )
    from ._kinds import (
        MalformedJSON as MalformedJSON,
    )
    from ._kinds import (
        MaxTokens as MaxTokens,
    )
    from ._kinds import (
        Overloaded as Overloaded,
    )
    from ._kinds import (
        Pass as Pass,
    )
    from ._kinds import (
        RateLimited as RateLimited,
    )
    from ._kinds import (
        ReadTimeout as ReadTimeout,
    )
    from ._kinds import (
        ServerError as ServerError,
    )
    from ._kinds import (
        Slow as Slow,
    )
    from ._kinds import (
        Stall as Stall,
    )
    from ._kinds import (
        StreamError as StreamError,
    )
    from ._kinds import (
        TruncatedStream as TruncatedStream,
    )
    from ._kinds import (
        make_fault as make_fault,
    )
    from ._malformed import (
        VARIANTS as VARIANTS,
    )
    from ._malformed import (
        malform as malform,
    )
    from ._plan import (
        Applied as Applied,
    )
    from ._plan import (
        FaultPlan as FaultPlan,
    )
    from ._plan import (
        Rule as Rule,
    )

# The one table: each public name and the module it loads from, on first use.
_WHERE = {
    "FaultError": "._errors",
    "FaultNotApplicable": "._errors",
    "UnusedFaults": "._errors",
    "KINDS": "._kinds",
    "BrokenToolCall": "._kinds",
    "ConnectError": "._kinds",
    "ConnectionReset": "._kinds",
    "ContentFilter": "._kinds",
    "CorruptEvent": "._kinds",
    "ContextLengthExceeded": "._kinds",
    "Fault": "._kinds",
    "HTTPError": "._kinds",
    "InsufficientQuota": "._kinds",
    "MalformedJSON": "._kinds",
    "MaxTokens": "._kinds",
    "Overloaded": "._kinds",
    "Pass": "._kinds",
    "RateLimited": "._kinds",
    "ReadTimeout": "._kinds",
    "ServerError": "._kinds",
    "Slow": "._kinds",
    "Stall": "._kinds",
    "StreamError": "._kinds",
    "TruncatedStream": "._kinds",
    "make_fault": "._kinds",
    "VARIANTS": "._malformed",
    "malform": "._malformed",
    "Applied": "._plan",
    "FaultPlan": "._plan",
    "Rule": "._plan",
}
__all__, __getattr__, __dir__ = lazy_facade(__name__, _WHERE)
