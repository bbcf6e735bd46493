"""What the client's gates share: a booking held for one call, and their option checks.

A :class:`Booking` is what :class:`~._budget.Budget` (an estimate) and
:class:`~._limits.RateLimiter` (a TPM reservation) hand an admitted call: settled or
released exactly once, from any thread, with a degradation note for the call's events.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Self

from ..assertions._base import did_you_mean
from ._errors import ClientConfigError

__all__ = ["Booking", "check_callable", "reject_unknown"]


class Booking:
    """Booked for one call: settled or released once (later calls are no-ops).

    ``status`` is a degradation note for the call's events (``None`` when all was well).
    A subclass says how to settle, and what releasing gives back (:meth:`_give_back`).
    """

    __slots__ = ("_done", "_lock", "route_key", "status")

    def __init__(self, route_key: str, status: str | None) -> None:
        self.route_key = route_key
        self.status = status
        self._done: str | None = None
        self._lock = threading.Lock()

    @property
    def done(self) -> str | None:
        """``"settled"``, ``"released"`` or ``None`` while the call is in flight."""
        return self._done

    def _finish(self, how: str) -> bool:
        """Whether this is the first end (``how``) of the booking."""
        with self._lock:
            if self._done is not None:
                return False
            self._done = how
            return True

    def _note(self, note: str | None) -> None:
        if note:
            self.status = note

    def _give_back(self) -> str | None:
        """Un-book what was booked; a degradation note, or ``None``."""
        return None

    def release(self) -> None:
        """The call failed before spending, or was cancelled: give back what was booked.

        Idempotent, and a no-op after ``settle``.
        """
        if self._finish("released"):
            self._note(self._give_back())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def check_callable(
    where: str, name: str, value: object, fix: str, *, optional: bool = True
) -> None:
    """``Where(name=value): not callable`` and the fix, unless ``value`` is callable
    (or ``None``, left out, when ``optional``)."""
    if not callable(value) and not (optional and value is None):
        raise ClientConfigError(f"{where}({name}={value!r}): not callable.\nFix: {fix}")


def reject_unknown(owner: str, unknown: Mapping[str, object], known: Sequence[str]) -> None:
    """``Owner() got an unknown option 'x'`` (and the nearest name) for a constructor's
    ``**unknown`` keywords."""
    if unknown:
        name = next(iter(unknown))
        raise ClientConfigError(
            f"{owner}() got an unknown option {name!r}{did_you_mean(name, known)}\n"
            f"Fix: use one of {', '.join(known)}."
        )
