"""The one shape of every handler on the chain: cassette, fault plan, fake provider.

A :class:`Handler` answers exchanges (:meth:`Handler.handle`), remembers the misses it
raised (``misses``: a miss the application swallowed must still fail the test),
knows what it was given and never used (:meth:`Handler.unused`,
:meth:`Handler.explain_unused`), and decides at the end with one rule,
:meth:`Handler.finish`, the same in and out of pytest:

* the block (or the test) failed: nothing more to report, the failure says it;
* else the first swallowed miss is the error;
* else, when ``check_unused``, anything unused is an :class:`~pytest_llm._errors.Unused`.

``with handler:`` activates it and raises that error on a clean exit; the pytest
fixtures (:func:`pytest_llm._outcome.serve`) turn it into the test's failure.
"""

from __future__ import annotations

import abc
import contextlib
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Self

from ._errors import ConfigError, ReplayInterrupt, Unused
from ._exchange import Exchange, Next, Outcome
from ._flow import router

if TYPE_CHECKING:
    from ._flow import _Activation

__all__ = ["Handler"]


class Handler(abc.ABC):
    """Base of the chain's handlers; lower ``order`` runs first (faults 100, cassette 200,
    fake 300)."""

    order: ClassVar[int]
    miss_type: ClassVar[type[ReplayInterrupt]]
    """Raised at the end for a miss the application swallowed."""
    unused_type: ClassVar[type[Unused]]
    check_unused: bool = True
    """The one default of every handler's unused check (a cassette in ``migrate`` mode
    and one that is recording do not check: :meth:`checks_unused`)."""

    def __init__(self) -> None:
        self.misses: list[str] = []
        """Every miss raised to the application, as its message, in order."""
        self._stack: contextlib.ExitStack | None = None

    @abc.abstractmethod
    def handle(self, exchange: Exchange, nxt: Next) -> Outcome: ...

    def unused(self) -> Sequence[object]:
        """What was scripted or recorded and never used."""
        return []

    def explain_unused(self) -> str:
        """The end-check message for :meth:`unused`."""
        return ""

    def checks_unused(self) -> bool:
        """Whether :meth:`finish` reports :meth:`unused`."""
        return self.check_unused

    def miss_error(self, message: str) -> ReplayInterrupt:
        return self.miss_type(message)

    def close(self, *, failed: bool) -> object:
        """Release what the handler holds (a cassette writes what it recorded)."""
        return None

    def finish(self, *, failed: bool) -> BaseException | None:
        """Close, then the error the end of the block must raise (``None``: all fine)."""
        self.close(failed=failed)
        if failed:
            return None
        if self.misses:
            return self.miss_error(self.misses[0])
        if self.checks_unused() and self.unused():
            return self.unused_type(self.explain_unused())
        return None

    # -- activation ---------------------------------------------------------------------

    def scopes(self, stack: contextlib.ExitStack) -> None:
        """Enter what the handler needs while active (override to add, e.g. the network)."""
        stack.enter_context(router.activate(self))

    def scoped_alone(self) -> bool:
        """Whether :meth:`scopes` would enter the router's activation alone (this class's
        :meth:`scopes`, not overridden): :meth:`active` then enters it itself, without
        the stack's calls (every replayed test enters one)."""
        return type(self).scopes is Handler.scopes

    def active(self) -> _Active:
        """The handler on the chain while inside, with no end check (fixtures use it):
        ``with handler.active() as stack:``, the :class:`~contextlib.ExitStack` of its
        :meth:`scopes`."""
        return _Active(self)

    def __enter__(self) -> Self:
        if self._stack is not None:
            raise ConfigError(
                f"this {type(self).__name__} is already active.\nFix: leave its with block "
                f"before entering it again, or make a second {type(self).__name__}."
            )
        stack = contextlib.ExitStack()
        self.scopes(stack)
        self._stack = stack
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        try:
            if stack is not None:
                stack.close()
        finally:
            error = self.finish(failed=exc_type is not None)
        if error is None and self.misses and isinstance(exc, Exception):
            # the SDK's error for the reply a miss was answered with (pytest_llm._miss),
            # or what the application did with that reply: the miss is the cause
            raise self.miss_error(self.misses[0]) from exc
        if error is not None:
            raise error


class _Active:
    """:meth:`Handler.active`'s block: a class, not a generator, as every test with a
    handler enters one. Where the handler's scopes are the router's activation alone
    (:meth:`Handler.scoped_alone`), it is entered here, outside the stack, which then
    holds only what the caller pushes onto it (unwound first, as it would be)."""

    __slots__ = ("activation", "handler", "stack")

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.stack = contextlib.ExitStack()
        self.activation: _Activation | None = None

    def __enter__(self) -> contextlib.ExitStack:
        handler, stack = self.handler, self.stack
        if handler.scoped_alone():
            activation = router.activate(handler)
            activation.__enter__()
            self.activation = activation
            return stack
        try:
            handler.scopes(stack)
        except BaseException:
            if not stack.__exit__(*sys.exc_info()):
                raise
        return stack

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        activation, self.activation = self.activation, None
        if activation is None:
            return bool(self.stack.__exit__(exc_type, exc, tb))
        try:
            return bool(self.stack.__exit__(exc_type, exc, tb))
        finally:
            activation.__exit__(exc_type, exc, tb)
