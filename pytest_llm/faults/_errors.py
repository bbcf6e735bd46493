"""What goes wrong with faults themselves: bad parameters, a fault that cannot apply, unused faults."""

from __future__ import annotations

from .._errors import ConfigError, ReplayInterrupt, Unused

__all__ = ["FaultError", "FaultNotApplicable", "UnusedFaults"]


class FaultError(ConfigError):
    """A fault or a plan was given parameters it cannot use (raised where it was written)."""


class FaultNotApplicable(ReplayInterrupt):
    """A fault met a reply it cannot change (a chunk index past the end, no JSON content).

    Raised inside the transport, so it is a ``BaseException``: the SDK's retry loop
    must not turn it into a retried connection error.
    """


class UnusedFaults(Unused):
    """A plan ends with scripted faults that no request consumed."""


for _cls in (FaultError, FaultNotApplicable, UnusedFaults):
    _cls.__module__ = "pytest_llm.faults"  # where users import them from
