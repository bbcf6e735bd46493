"""An option's value as given: read and checked, or a :class:`ConfigError` that says
where it came from, what is wrong, the nearest valid value and the fix.

The options table (:mod:`pytest_llm._settings`) loads at every pytest start-up; this
loads with the first value given (a flag, an environment variable, an ini option, a
marker keyword, a keyword of ``Cassette``), so a run that gives none never compiles it.
"""

from __future__ import annotations

from typing import Any

from ._errors import ConfigError

__all__ = ["choice", "parse_bool", "parse_timing"]


def parse_bool(value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{source}={value!r} is not a boolean.\nFix: use true or false.")


def choice(value: Any, source: str, allowed: tuple[str, ...], what: str) -> str:
    """``value`` if it is one of ``allowed`` (a ``what``), else the error naming ``source``
    (when there is one: argparse names the flag itself)."""
    if value in allowed:
        return str(value)
    from ._text import did_you_mean

    hint = did_you_mean(str(value), allowed, template=" (did you mean {!r}?)")
    where = f"{source}: " if source else ""
    raise ConfigError(f"{where}{value!r} is not a {what}{hint}; use one of: {', '.join(allowed)}")


def parse_timing(value: Any, source: str = "replay_timing") -> float | None:
    """``None``/"off": no waits; "real": recorded gaps; a number: gaps scaled by it."""
    if value is None or value is False or value == "off":
        return None
    if value is True or value == "real":
        return 1.0
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = -1.0
    if scale < 0 or scale != scale:
        raise ConfigError(
            f"{source}={value!r} is not a timing.\n"
            "Fix: use 'off' (no waits), 'real' (the recorded gaps), or a scale such as 0.5."
        )
    return scale or None
