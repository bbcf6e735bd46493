"""Matchers: the text checks as objects usable with ``==`` and ``&``, ``|``, ``~``.

``assert output == IContains("paris") & NotContains("berlin")`` reads like the
requirement; :func:`matcher_repr_compare` (called from the plugin's
``pytest_assertrepr_compare`` hook) explains which part failed and why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar, Unpack

from ._base import show_text, show_value, type_name
from ._text import (
    MatchMode,
    TextOptionKwargs,
    TextOptions,
    Verdict,
    check_contains,
    check_contains_all,
    check_contains_any,
    check_matches,
    check_mode,
    check_not_contains,
    compile_pattern,
    pattern_source,
    validate_needle,
)

__all__ = [
    "AllOf",
    "AnyOf",
    "Contains",
    "ContainsAll",
    "ContainsAny",
    "IContains",
    "INotContains",
    "Matcher",
    "Matches",
    "Not",
    "NotContains",
    "matcher_repr_compare",
]


class Matcher:
    """Base of every matcher: ``matcher == text`` runs the check; never raises for a non-str."""

    __hash__: ClassVar[None]  # type: ignore[assignment]

    def verdict(self, actual: object) -> Verdict:
        """Why ``actual`` passes or fails this matcher."""
        if not isinstance(actual, str):
            return Verdict(
                False, f"expected a str, got {type_name(actual)}: {show_value(actual, 60)}"
            )
        return self._verdict(actual)

    def _verdict(self, text: str) -> Verdict:
        raise NotImplementedError

    def explain(self, actual: object) -> list[str]:
        """Lines for an assertion failure: a PASS/FAIL tree of the parts."""
        verdict = self.verdict(actual)
        mark = "PASS" if verdict.ok else "FAIL"
        return [f"{mark} {self!r}: {verdict.headline}", *("  " + d for d in verdict.details)]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Matcher):
            return repr(self) == repr(other)
        return self.verdict(other).ok

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __and__(self, other: Matcher) -> AllOf:
        if not isinstance(other, Matcher):
            return NotImplemented
        return AllOf(self, other)

    def __or__(self, other: Matcher) -> AnyOf:
        if not isinstance(other, Matcher):
            return NotImplemented
        return AnyOf(self, other)

    def __invert__(self) -> Not:
        return Not(self)

    # Precedence for reprs: ~ binds tightest, then &, then |.
    _precedence: ClassVar[int] = 3


def _operand(matcher: Matcher, precedence: int) -> str:
    text = repr(matcher)
    return f"({text})" if matcher._precedence < precedence else text


class Contains(Matcher):
    """Equal to any str containing ``needle``; ``options``: see :class:`TextOptionKwargs`."""

    _default_ignore_case: ClassVar[bool] = False

    def __init__(self, needle: str, **options: Unpack[TextOptionKwargs]) -> None:
        __tracebackhide__ = True  # a bad keyword or needle points at the caller
        self.options = TextOptions.from_kwargs(
            type(self).__name__, options, ignore_case=self._default_ignore_case
        )
        self.needle = validate_needle(needle, self.options, type(self).__name__)

    def _verdict(self, text: str) -> Verdict:
        return check_contains(text, self.needle, self.options)

    def _repr_options(self) -> str:
        names = [n for n in self.options.names() if n != "ignore_case"]
        if self.options.ignore_case != self._default_ignore_case:
            names.insert(0, "ignore_case")
        return "".join(
            f", {n}={n != 'ignore_case' or not self._default_ignore_case}" for n in names
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.needle!r}{self._repr_options()})"


class IContains(Contains):
    """:class:`Contains` with ``ignore_case=True``."""

    _default_ignore_case = True


class NotContains(Contains):
    """Equal to any str *not* containing ``needle``; a failure shows each hit in context."""

    def _verdict(self, text: str) -> Verdict:
        return check_not_contains(text, self.needle, self.options)


class INotContains(NotContains):
    """:class:`NotContains` with ``ignore_case=True``."""

    _default_ignore_case = True


class ContainsAny(Matcher):
    """Equal to any str containing at least one of ``needles``; ``options`` as :class:`Contains`."""

    def __init__(self, *needles: str, **options: Unpack[TextOptionKwargs]) -> None:
        __tracebackhide__ = True  # a bad keyword or needle points at the caller
        name = type(self).__name__
        self.options = TextOptions.from_kwargs(name, options)
        if not needles:
            from pytest_llm._errors import ConfigError

            raise ConfigError(f"{name} needs at least one needle, e.g. {name}('Paris', 'Lyon')")
        self.needles: Sequence[str] = tuple(validate_needle(n, self.options, name) for n in needles)

    def _verdict(self, text: str) -> Verdict:
        return check_contains_any(text, self.needles, self.options)

    def __repr__(self) -> str:
        shown = ", ".join(repr(n) for n in self.needles)
        return f"{type(self).__name__}({shown}{self.options.kwargs()})"


class ContainsAll(ContainsAny):
    """Equal to any str containing every one of ``needles``."""

    def _verdict(self, text: str) -> Verdict:
        return check_contains_all(text, self.needles, self.options)


class Matches(Matcher):
    """Equal to any str the regex matches (``search``, ``match`` or ``fullmatch``).

    ``options``: see :class:`TextOptionKwargs`, as for :func:`assert_matches`.
    """

    def __init__(
        self,
        pattern: str | re.Pattern[str],
        *,
        mode: MatchMode = "search",
        flags: int = 0,
        **options: Unpack[TextOptionKwargs],
    ) -> None:
        __tracebackhide__ = True  # a bad keyword or needle points at the caller
        self.options = TextOptions.from_kwargs("Matches", options, others=("mode", "flags"))
        self.mode = check_mode(mode, "Matches")
        self.flags = flags
        self.pattern = pattern
        compile_pattern(pattern, flags, self.options, "Matches")  # fail early on a bad regex

    def _verdict(self, text: str) -> Verdict:
        return check_matches(text, self.pattern, self.mode, self.flags, self.options)

    def __repr__(self) -> str:
        extra = "" if self.mode == "search" else f", mode={self.mode!r}"
        if self.flags:
            extra += f", flags={self.flags!r}"
        return f"Matches({pattern_source(self.pattern)!r}{extra}{self.options.kwargs()})"


class AllOf(Matcher):
    """Every part must match (``a & b``)."""

    _precedence = 2
    _symbol = " & "

    def __init__(self, *parts: Matcher) -> None:
        flat: list[Matcher] = []
        for part in parts:
            flat.extend(part.parts if type(part) is type(self) else [part])
        self.parts: tuple[Matcher, ...] = tuple(flat)

    def _combine(self, verdicts: list[Verdict]) -> bool:
        return all(v.ok for v in verdicts)

    def verdict(self, actual: object) -> Verdict:
        if not isinstance(actual, str):
            return super().verdict(actual)
        verdicts = [p.verdict(actual) for p in self.parts]
        ok = self._combine(verdicts)
        failed = sum(not v.ok for v in verdicts)
        return Verdict(ok, f"{len(self.parts) - failed} of {len(self.parts)} parts match")

    def explain(self, actual: object) -> list[str]:
        verdict = self.verdict(actual)
        if not isinstance(actual, str):
            return [f"FAIL {self!r}: {verdict.headline}"]
        lines = [f"{'PASS' if verdict.ok else 'FAIL'} {self!r}: {verdict.headline}"]
        for part in self.parts:
            lines.extend("  " + line for line in part.explain(actual))
        return lines

    def __repr__(self) -> str:
        return self._symbol.join(_operand(p, self._precedence + 1) for p in self.parts)


class AnyOf(AllOf):
    """At least one part must match (``a | b``)."""

    _precedence = 1
    _symbol = " | "

    def _combine(self, verdicts: list[Verdict]) -> bool:
        return any(v.ok for v in verdicts)


class Not(Matcher):
    """The inner matcher must not match (``~m``)."""

    def __init__(self, inner: Matcher) -> None:
        self.inner = inner

    def verdict(self, actual: object) -> Verdict:
        if not isinstance(actual, str):
            return super().verdict(actual)
        inner = self.inner.verdict(actual)
        if inner.ok:
            return Verdict(False, f"{self.inner!r} matched: {inner.headline}")
        return Verdict(True, f"{self.inner!r} did not match: {inner.headline}")

    def __repr__(self) -> str:
        return "~" + _operand(self.inner, 3)


def matcher_repr_compare(op: str, left: object, right: object) -> list[str] | None:
    """Explain a failed ``text == matcher`` (or ``!=``) for ``pytest_assertrepr_compare``."""
    if op not in ("==", "!="):
        return None
    if isinstance(right, Matcher) and not isinstance(left, Matcher):
        actual, matcher, first = left, right, True
    elif isinstance(left, Matcher) and not isinstance(right, Matcher):
        actual, matcher, first = right, left, False
    else:
        return None
    shown = show_text(actual, 60) if isinstance(actual, str) else show_value(actual, 60)
    summary = f"{shown} {op} {matcher!r}" if first else f"{matcher!r} {op} {shown}"
    if op == "==":
        return [summary, *matcher.explain(actual)]
    return [summary, "the output matches, but should not:", *matcher.explain(actual)]
