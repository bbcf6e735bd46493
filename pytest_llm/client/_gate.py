"""The gate in front of every attempt: the budget books an estimate, the rate limiter
admits (waiting on the clock, never past the deadline); after the attempt both settle
to what the provider reported, or give everything back (CONTRACTS 41, 46, 47, 57).

Budget first: a call that the budget refuses must not take a limiter slot. Every
attempt passes the gate (retries, re-asks, fallbacks, hedges), so every one of them
counts, at the serving route's price; cache hits and coalesced followers never reach it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._clock import Clock
from ._route import Route
from ._usage import estimate_request_tokens

__all__ = ["DEFAULT_OUTPUT_TOKENS", "Gate", "Hold"]

DEFAULT_OUTPUT_TOKENS = 256
"""Output allowance booked for a request without ``max_tokens`` (settled to the truth)."""


def _split(kwargs: dict[str, Any]) -> tuple[int, int]:
    """(prompt tokens, output allowance) of a request, estimated."""
    output = (
        kwargs.get("max_completion_tokens")
        or kwargs.get("max_tokens")
        or kwargs.get("max_output_tokens")
        or 0
    )
    total = estimate_request_tokens(kwargs)
    prompt = max(0, total - int(output))
    return prompt, int(output) or DEFAULT_OUTPUT_TOKENS


@dataclass
class Hold:
    """What one attempt holds at the gate; settle or release it exactly once."""

    route: Route
    budget: Any | None = None
    limit: Any | None = None
    waited: float = 0.0
    notes: list[str] = field(default_factory=list)
    gate: Gate | None = None

    def settle(self, usage: dict[str, int] | None) -> None:
        """The attempt was served: count what the provider reported (the estimate if none)."""
        gate = self.gate
        if self.limit is not None:
            self.limit.settle(None if not usage else usage.get("total_tokens"))
            self._note(self.limit)
        if self.budget is not None and gate is not None and gate.budget is not None:
            self.budget.settle(None if not usage else gate.budget.amount(self.route, usage))
            self._note(self.budget)

    def release(self) -> None:
        """The attempt failed or was cancelled: give back what it held (idempotent)."""
        for held in (self.limit, self.budget):
            if held is not None:
                held.release()
                self._note(held)

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        """Waiting for the limiter failed or was cancelled: give the budget back."""
        if exc is not None:
            self.release()

    def limited(self, reservation: Any) -> None:
        """The limiter admitted the attempt with ``reservation``."""
        self.limit = reservation
        self.waited = reservation.waited
        self._note(reservation)

    def _note(self, held: Any) -> None:
        status = getattr(held, "status", None)
        if status and status not in self.notes:
            self.notes.append(status)


class Gate:
    """Budget and rate limiter for the client's attempts."""

    def __init__(self, limiter: Any | None, budget: Any | None, clock: Clock) -> None:
        self.limiter = limiter
        self.budget = budget
        self.clock = clock

    def _book(self, route: Route, kwargs: dict[str, Any]) -> tuple[Hold, int]:
        prompt, output = _split(kwargs)
        hold = Hold(route, gate=self)
        if self.budget is not None:
            hold.budget = self.budget.reserve(
                route.key, self.budget.estimate(route, prompt, output)
            )
            hold._note(hold.budget)
        return hold, prompt + output

    def admit(self, route: Route, kwargs: dict[str, Any], deadline_at: float | None) -> Hold:
        """Book the budget, then wait for the limiter (blocking, on the clock)."""
        hold, tokens = self._book(route, kwargs)
        if self.limiter is not None:
            with hold:
                hold.limited(self.limiter.acquire(route.key, tokens, deadline=deadline_at))
        return hold

    async def aadmit(self, route: Route, kwargs: dict[str, Any], deadline_at: float | None) -> Hold:
        """:meth:`admit` for asyncio: the limiter waits with ``clock.asleep``."""
        hold, tokens = self._book(route, kwargs)
        if self.limiter is not None:
            with hold:
                hold.limited(await self.limiter.aacquire(route.key, tokens, deadline=deadline_at))
        return hold

    def charge(self, route: Route, usage: dict[str, int] | None) -> str | None:
        """Book what an attempt that bypassed the gate used (a hedge); a note if the
        budget could not take it (it was spent already: the overshoot is reported)."""
        if self.budget is None or not usage:
            return None
        amount = self.budget.amount(route, usage)
        try:
            self.budget.reserve(route.key, amount).settle(amount)
        except Exception as exc:  # over budget after the fact: report, do not fail the call
            return f"budget: a hedge on {route.key} used {amount:g} past the limit ({exc})"
        return None

    def pause(self, route: Route, seconds: float | None) -> None:
        """A provider's 429 with Retry-After: every caller of the route waits (44)."""
        if self.limiter is not None and seconds:
            self.limiter.pause(route.key, seconds)

    def __repr__(self) -> str:
        return f"Gate(limiter={self.limiter!r}, budget={self.budget!r})"
