"""Finding JSON in what models really send back.

Models wrap JSON in code fences (three or more backticks, with or without a
language label), put prose around it, send several candidates, or stop half-way.
:func:`extract_json` tries the strategies in a fixed order and says which one
found the value and where, so a test can also assert *how* the model answered.
Repair (trailing commas, single quotes, truncation) happens only when asked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ._base import JSONMismatchError, JSONNotFoundError, chars, show_text
from ._diff import json_diff
from ._text import require_text

__all__ = ["JSONCandidate", "JSONMatch", "assert_json", "extract_json"]

_JSON_LABELS = frozenset({"", "json", "jsonc", "json5", "javascript", "js"})
_MAX_DIFFS = 10


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _loads(text: str) -> Any:
    value, end = _DECODER.raw_decode(text)
    if text[end:].strip():
        raise json.JSONDecodeError("Extra data", text, end)
    return value


@dataclass(frozen=True)
class JSONCandidate:
    """One JSON value found in the output: ``text[start:end]`` is its source."""

    value: Any
    strategy: str  # "whole", "fence" or "scan"
    start: int
    end: int
    label: str | None = None  # the fence's language label, for strategy "fence"
    repairs: tuple[str, ...] = ()

    def where(self) -> str:
        if self.strategy == "whole":
            how = "the whole message"
        elif self.strategy == "fence":
            how = f"a ```{self.label or ''} fence"
        else:
            how = "the prose"
        return f"{how}, chars {self.start}..{self.end}"


@dataclass(frozen=True)
class JSONMatch(JSONCandidate):
    """The JSON :func:`extract_json` chose, plus every candidate it found (best first)."""

    source: str = ""
    candidates: tuple[JSONCandidate, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:
        fixed = f", repairs={self.repairs!r}" if self.repairs else ""
        value = repr(self.value)
        value = value if len(value) <= 200 else value[:197] + "..."
        return (
            f"JSONMatch(strategy={self.strategy!r}, start={self.start}, end={self.end}"
            f"{fixed}, value={value})"
        )


@dataclass(frozen=True)
class _Fence:
    label: str
    start: int  # content start
    end: int  # content end
    closed: bool
    offset: int  # where the opening fence starts


_FENCE_OPEN = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n]*$", re.MULTILINE)


def _fences(text: str) -> list[_Fence]:
    """CommonMark-style fenced blocks; the closing fence is as long or longer."""
    fences: list[_Fence] = []
    pos = 0
    while True:
        opening = _FENCE_OPEN.search(text, pos)
        if opening is None:
            return fences
        marker = opening.group(1)
        content_start = min(opening.end() + 1, len(text))
        closing = re.compile(
            r"^[ \t]{0,3}" + re.escape(marker[0]) + "{" + str(len(marker)) + r",}[ \t]*$",
            re.MULTILINE,
        ).search(text, content_start)
        if closing is None:
            fences.append(
                _Fence(opening.group(2).lower(), content_start, len(text), False, opening.start())
            )
            return fences
        content_end = max(closing.start() - 1, content_start)
        fences.append(
            _Fence(opening.group(2).lower(), content_start, content_end, True, opening.start())
        )
        pos = closing.end()


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _scan(text: str, skip: list[tuple[int, int]]) -> Iterator[JSONCandidate]:
    pos = 0
    starts = re.compile(r"[{\[]")
    while True:
        found = starts.search(text, pos)
        if found is None:
            return
        start = found.start()
        inside = next((e for s, e in skip if s <= start < e), None)
        if inside is not None:
            pos = inside
            continue
        try:
            value, end = _DECODER.raw_decode(text, start)
        except ValueError:
            pos = start + 1
            continue
        yield JSONCandidate(value, "scan", start, end)
        pos = end


def _strict_candidates(text: str, errors: list[str]) -> list[JSONCandidate]:
    start, end = _strip_span(text, 0, len(text))
    try:
        return [JSONCandidate(_loads(text[start:end]), "whole", start, end)]
    except ValueError as exc:
        errors.append(f"the whole message: {exc}")
    found: list[JSONCandidate] = []
    preferred: list[JSONCandidate] = []
    spans: list[tuple[int, int]] = []
    for fence in _fences(text):
        s, e = _strip_span(text, fence.start, fence.end)
        try:
            candidate = JSONCandidate(_loads(text[s:e]), "fence", s, e, fence.label)
        except ValueError as exc:
            state = "" if fence.closed else " (never closed)"
            errors.append(f"```{fence.label} fence at offset {fence.offset}{state}: {exc}")
            continue
        (preferred if fence.label in _JSON_LABELS else found).append(candidate)
        spans.append((s, e))
    scanned = sorted(_scan(text, spans), key=lambda c: (-(c.end - c.start), c.start))
    if not scanned:
        errors.append("the prose: no '{' or '[' starts a valid JSON value")
    return preferred + found + scanned


# --- repair ---------------------------------------------------------------

_LITERALS = {
    "true": "true",
    "false": "false",
    "null": "null",
    "True": "true",
    "False": "false",
    "None": "null",
}
_TOKEN = re.compile(r"[A-Za-z0-9_.+\-]+")


class _Repairer:
    """Rewrite a value that starts at ``start`` into strict JSON, noting each repair."""

    def __init__(self, text: str, start: int) -> None:
        self.text = text
        self.i = start
        self.out: list[str] = []
        self.stack: list[str] = []  # "{" or "["
        self.state: list[str] = []  # per level: "key", "colon", "value", "comma"
        self.repairs: set[str] = set()
        self.key_mark = 0

    def run(self) -> tuple[str, int, tuple[str, ...]] | None:
        text, n = self.text, len(self.text)
        if self.i >= n or text[self.i] not in "{[":
            return None
        while self.i < n:
            char = text[self.i]
            if char.isspace():
                self.out.append(char)
                self.i += 1
            elif char in "{[":
                self.stack.append(char)
                self.state.append("key" if char == "{" else "value")
                self.out.append(char)
                self.i += 1
            elif char in "}]":
                if not self.stack or (char == "}") != (self.stack[-1] == "{"):
                    return None
                self._drop_trailing_comma()
                self.out.append(char)
                self.stack.pop()
                self.state.pop()
                self.i += 1
                self._value_done()
                if not self.stack:
                    return "".join(self.out), self.i, tuple(sorted(self.repairs))
            elif char in "\"'":
                if not self._string(char):
                    break
            elif char == ",":
                self.out.append(char)
                self.state[-1] = "key" if self.stack[-1] == "{" else "value"
                self.i += 1
            elif char == ":":
                self.out.append(char)
                self.state[-1] = "value"
                self.i += 1
            else:
                token = _TOKEN.match(text, self.i)
                if token is None:
                    return None
                self._token(token.group(), at_end=token.end() == n)
                self.i = token.end()
        return self._close_truncated()

    def _value_done(self) -> None:
        if self.stack:
            self.state[-1] = {"key": "colon", "value": "comma"}.get(self.state[-1], self.state[-1])

    def _drop_trailing_comma(self) -> None:
        j = len(self.out) - 1
        while j >= 0 and self.out[j].isspace():
            j -= 1
        if j >= 0 and self.out[j] == ",":
            del self.out[j]
            self.repairs.add("trailing-comma")

    def _string(self, quote: str) -> bool:
        """Copy a string, converting single quotes; False if the text ends inside it."""
        text, n = self.text, len(self.text)
        if quote == "'":
            self.repairs.add("single-quotes")
        is_key = bool(self.stack) and self.state[-1] == "key"
        mark = len(self.out)
        if is_key:
            self.key_mark = mark
        parts = ['"']
        j = self.i + 1
        while j < n:
            char = text[j]
            if char == "\\":
                if j + 1 >= n:
                    break
                nxt = text[j + 1]
                parts.append("'" if (quote == "'" and nxt == "'") else char + nxt)
                j += 2
                continue
            if char == quote:
                parts.append('"')
                self.out.extend(parts)
                self.i = j + 1
                self._value_done()
                return True
            parts.append('\\"' if char == '"' else "\\n" if char == "\n" else char)
            j += 1
        # The text ended inside the string: close it (dropping a dangling escape).
        self.repairs.add("truncation")
        self.i = n
        if is_key:
            del self.out[mark:]
            return False
        joined = "".join(parts)
        joined = re.sub(r"\\u[0-9a-fA-F]{0,3}\Z", "", joined)
        self.out.append(joined + '"')
        self._value_done()
        return False

    def _token(self, token: str, *, at_end: bool) -> None:
        if token in _LITERALS and _LITERALS[token] != token:
            self.repairs.add("python-literals")
            token = _LITERALS[token]
        elif at_end and self.stack:
            done = next((lit for lit in ("true", "false", "null") if lit.startswith(token)), None)
            token = done if done is not None else token.rstrip(".eE+-")
            if not token:
                return
        self.out.append(token)
        self._value_done()

    def _close_truncated(self) -> tuple[str, int, tuple[str, ...]] | None:
        if not self.stack:
            return None
        self.repairs.add("truncation")
        while self.out and self.out[-1].isspace():
            self.out.pop()
        if self.state[-1] == "key":
            self._drop_trailing_comma()
        elif self.state[-1] in ("colon", "value") and self.stack[-1] == "{":
            # A key with no value: drop it rather than invent one.
            del self.out[self.key_mark :]
            self._drop_trailing_comma()
        elif self.state[-1] == "value":
            self._drop_trailing_comma()
        for opener in reversed(self.stack):
            self.out.append("}" if opener == "{" else "]")
        return "".join(self.out), len(self.text), tuple(sorted(self.repairs))


def _repair_at(
    text: str, start: int, end: int | None = None
) -> tuple[Any, int, tuple[str, ...]] | None:
    """Repair the value starting at ``start``; if ``end`` is given it must be consumed exactly."""
    sub = text if end is None else text[:end]
    result = _Repairer(sub, start).run()
    if result is None:
        return None
    fixed, stop, repairs = result
    if end is not None and sub[stop:].strip():
        return None
    try:
        value = _loads(fixed)
    except ValueError:
        return None
    return value, stop, repairs


def _repaired_candidates(text: str) -> list[JSONCandidate]:
    start, end = _strip_span(text, 0, len(text))
    whole = _repair_at(text, start, end)
    if whole is not None:
        return [JSONCandidate(whole[0], "whole", start, whole[1], repairs=whole[2])]
    found: list[JSONCandidate] = []
    spans: list[tuple[int, int]] = []
    for fence in _fences(text):
        s, e = _strip_span(text, fence.start, fence.end)
        fixed = _repair_at(text, s, e)
        if fixed is not None:
            found.append(JSONCandidate(fixed[0], "fence", s, fixed[1], fence.label, fixed[2]))
            spans.append((s, e))
    scanned: list[JSONCandidate] = []
    pos = 0
    while (m := re.compile(r"[{\[]").search(text, pos)) is not None:
        inside = next((e for s, e in spans if s <= m.start() < e), None)
        if inside is not None:
            pos = inside
            continue
        fixed = _repair_at(text, m.start())
        if fixed is None:
            pos = m.start() + 1
            continue
        scanned.append(JSONCandidate(fixed[0], "scan", m.start(), fixed[1], repairs=fixed[2]))
        pos = fixed[1]
    scanned.sort(key=lambda c: (-(c.end - c.start), c.start))
    return found + scanned


def _match(text: str, candidates: list[JSONCandidate]) -> JSONMatch:
    best = candidates[0]
    return JSONMatch(
        best.value,
        best.strategy,
        best.start,
        best.end,
        best.label,
        best.repairs,
        source=text[best.start : best.end],
        candidates=tuple(candidates),
    )


_RANK = {"whole": 0, "fence": 1, "scan": 2}


def _outranks(a: JSONCandidate, b: JSONCandidate) -> bool:
    """A repaired candidate beats a strict one from a better strategy, or a longer scan."""
    if _RANK[a.strategy] != _RANK[b.strategy]:
        return _RANK[a.strategy] < _RANK[b.strategy]
    return a.end - a.start > b.end - b.start


def extract_json(text: object, *, repair: bool = False) -> JSONMatch:
    """Find the JSON in a model's output: whole message, then fences, then the prose.

    Returns a :class:`JSONMatch` with ``.value``, ``.strategy`` (``"whole"``,
    ``"fence"`` or ``"scan"``), ``.start``/``.end`` (offsets of the JSON source) and
    every ``.candidates``. Among fences, JSON-labelled or unlabelled ones come first;
    in the prose, the longest value wins. ``repair=True`` also fixes trailing commas,
    single quotes, Python literals and truncation (``.repairs`` lists what was fixed).
    """
    __tracebackhide__ = True
    text = require_text(text, "extract_json")
    errors: list[str] = []
    candidates = _strict_candidates(text, errors)
    if candidates and (not repair or candidates[0].strategy != "scan"):
        return _match(text, candidates)
    repaired = _repaired_candidates(text)
    if repair and repaired and (not candidates or _outranks(repaired[0], candidates[0])):
        best = repaired[0]
        rest = [c for c in candidates if (c.start, c.end) != (best.start, best.end)]
        return _match(text, [best, *rest])
    if candidates:
        return _match(text, candidates)
    lines = [f"extract_json: no JSON found in the output ({chars(len(text))})"]
    lines.append(f"  output: {show_text(text)}")
    lines.extend(f"  tried {error}" for error in errors)
    if repaired:
        fixes = ", ".join(repaired[0].repairs)
        lines.append(
            f"  hint: repair=True would recover it from {repaired[0].where()} (fixes: {fixes})"
        )
    raise JSONNotFoundError("\n".join(lines))


def assert_json(text: object, expected: Any = UNSET, *, repair: bool = False) -> Any:
    """Assert the output holds JSON (and, if given, that it equals ``expected``); return it."""
    __tracebackhide__ = True
    found = extract_json(text, repair=repair)
    if expected is UNSET:
        return found.value
    differences = json_diff(found.value, expected)
    if differences:
        count = len(differences)
        fixed = f" (repaired: {', '.join(found.repairs)})" if found.repairs else ""
        lines = [
            f"assert_json: the JSON from {found.where()}{fixed} differs from expected "
            f"in {count} place{'s' if count != 1 else ''}"
        ]
        lines.extend("  " + d for d in differences[:_MAX_DIFFS])
        if count > _MAX_DIFFS:
            lines.append(f"  ... and {count - _MAX_DIFFS} more")
        raise JSONMismatchError("\n".join(lines), differences=differences)
    return found.value
