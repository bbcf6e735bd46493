"""Reading a response's ``Retry-After``: the one definition, for the reference client
(``client/_retry.py``: how long to wait) and for the verdicts (``_verdicts.py``: how
long the server asked a test's client to wait). Imports neither pytest nor an SDK."""

from __future__ import annotations

import datetime as _dt
import email.utils
import math
import re
from collections.abc import Iterable, Mapping
from typing import Final

__all__ = ["Headers", "header", "parse_retry_after"]

Headers = Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[str | bytes, str | bytes]]
"""Response headers: an ``httpx``/``httpx2`` ``Headers``, any mapping, or (name, value) pairs."""

_SECONDS: Final = re.compile(r"\s*\d+(?:\.\d+)?\s*")


def header(headers: Headers, name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive), as text."""
    pairs: Iterable[tuple[str | bytes, str | bytes]]
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in pairs:
        key_text = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        if key_text.lower() == name:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


def parse_retry_after(headers: Headers, *, now: _dt.datetime) -> float | None:
    """The wait the server asked for, in seconds, or ``None`` for "no usable hint".

    ``retry-after-ms`` wins over ``retry-after``; a zero or invalid ``retry-after-ms``
    does not hide a valid ``retry-after``. ``retry-after`` is decimal seconds or an HTTP
    date, read against ``now`` (the injected clock's wall time, so a date header waits
    the same on virtual time). A zero wait, a negative, NaN or infinite number, a date
    in the past and anything unparsable are no hint: the caller backs off as usual
    rather than retrying in a hot loop or waiting forever. Never raises.
    """
    try:
        ms = header(headers, "retry-after-ms")
        if ms is not None:
            seconds = _number(ms)
            if seconds is not None:
                return seconds / 1000.0
        value = header(headers, "retry-after")
        if value is None:
            return None
        seconds = _number(value)
        if seconds is not None:
            return seconds
        return _date(value, now)
    except Exception:  # a header object that misbehaves is no hint either
        return None


def _number(text: str) -> float | None:
    """Plain decimal seconds (no sign, exponent, nan or inf); positive and finite."""
    if not _SECONDS.fullmatch(text):
        return None
    seconds = float(text)
    return seconds if 0 < seconds < math.inf else None


def _date(text: str, now: _dt.datetime) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=_dt.UTC)
    seconds = (when - now).total_seconds()
    return seconds if 0 < seconds < math.inf else None
