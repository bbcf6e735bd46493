"""Small text helpers shared by every error message: the nearest candidate to a typo.

``did_you_mean`` is the one place that asks :mod:`difflib` for close matches, so every
"did you mean ...?" in pytest-llm (options, marker keywords, fault kinds, assertion
arguments, the command line) finds candidates the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["did_you_mean", "nearest"]

CUTOFF = 0.6
"""How alike a candidate must be (difflib's ratio) to be offered."""


def nearest(word: str, choices: Iterable[str], *, cutoff: float = CUTOFF) -> str | None:
    """The choice closest to ``word``, or ``None`` when none is close enough (a choice
    equal but for case, ``ONCE`` for ``once``, is the closest)."""
    import difflib  # only when a message needs it: not at pytest start-up

    options = list(choices)
    for choice in options:
        if choice.lower() == str(word).lower():
            return choice
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(
    word: str,
    choices: Iterable[str],
    *,
    template: str = " Did you mean {!r}?",
    cutoff: float = CUTOFF,
) -> str:
    """``template`` filled with the nearest choice (`` Did you mean 'x'?``), or ``""``."""
    near = nearest(word, choices, cutoff=cutoff)
    return template.format(near) if near is not None else ""
