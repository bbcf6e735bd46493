"""Text normalisation that remembers where every character came from.

Checks run on the normalised text (case-folded, NFKC, whitespace collapsed,
markdown stripped) but messages report offsets in the text the model produced,
so each normalised character keeps the span of the original it stems from.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Mapped", "normalize_text"]


@dataclass(frozen=True)
class Mapped:
    """Normalised text plus, per character, the original span ``[starts[i], ends[i])``."""

    text: str
    starts: Sequence[int] | None  # None: identity mapping (nothing was changed)
    ends: Sequence[int] | None

    @classmethod
    def identity(cls, text: str) -> Mapped:
        return cls(text, None, None)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the normalised slice ``[start, end)``."""
        if self.starts is None or self.ends is None:
            return start, end
        if start >= end:
            pos = self.starts[start] if start < len(self.starts) else self._length()
            return pos, pos
        return self.starts[start], self.ends[end - 1]

    def _length(self) -> int:
        return self.ends[-1] if self.ends else 0

    def _lists(self) -> tuple[list[int], list[int]]:
        if self.starts is None or self.ends is None:
            return list(range(len(self.text))), list(range(1, len(self.text) + 1))
        return list(self.starts), list(self.ends)


class _Builder:
    """Builds the next :class:`Mapped` from pieces of ``source``, each with its original span."""

    def __init__(self, source: Mapped) -> None:
        self.source = source
        self.starts, self.ends = source._lists()
        self.out: list[str] = []
        self.new_starts: list[int] = []
        self.new_ends: list[int] = []

    def copy(self, a: int, b: int) -> None:
        """Keep ``source.text[a:b]`` unchanged, with the spans it already had."""
        self.out.append(self.source.text[a:b])
        self.new_starts.extend(self.starts[a:b])
        self.new_ends.extend(self.ends[a:b])

    def put(self, piece: str, a: int, b: int) -> None:
        """Emit ``piece`` in place of ``source.text[a:b]``: each character spans all of it."""
        self.out.append(piece)
        self.new_starts.extend([self.starts[a]] * len(piece))
        self.new_ends.extend([self.ends[b - 1]] * len(piece))

    def build(self) -> Mapped:
        return Mapped("".join(self.out), self.new_starts, self.new_ends)


def _nfkc(m: Mapped) -> Mapped:
    whole = unicodedata.normalize("NFKC", m.text)
    if whole == m.text:
        return m
    built = _Builder(m)
    # Normalise per starter + combining marks run, which equals whole-text NFKC
    # except for rare cross-starter compositions (Hangul jamo, some Indic signs).
    i, n = 0, len(m.text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(m.text[j]):
            j += 1
        built.put(unicodedata.normalize("NFKC", m.text[i:j]), i, j)
        i = j
    if "".join(built.out) == whole:
        return built.build()
    # Fallback: exact text, approximate (proportional) offsets.
    total = built.ends[-1] if built.ends else 0
    scale = total / max(len(whole), 1)
    approx = [min(int(k * scale), max(total - 1, 0)) for k in range(len(whole))]
    approx_ends = [max(b, a + 1) for a, b in zip(approx, [*approx[1:], total], strict=True)]
    return Mapped(whole, approx, [min(e, total) for e in approx_ends])


def _sub(m: Mapped, pattern: re.Pattern[str], keep: tuple[int, ...] = ()) -> Mapped:
    """Replace each match of ``pattern`` by its ``keep`` groups, carrying spans along."""
    matches = list(pattern.finditer(m.text))
    if not matches:
        return m
    built = _Builder(m)
    pos = 0
    for match in matches:
        built.copy(pos, match.start())
        for group in keep:
            if match.start(group) >= 0:
                built.copy(match.start(group), match.end(group))
        pos = match.end()
    built.copy(pos, len(m.text))
    return built.build()


_ML = re.MULTILINE
_MARKDOWN: list[tuple[re.Pattern[str], tuple[int, ...]]] = [
    (re.compile(r"^[ \t]*(?:`{3,}|~{3,})[^\n]*\n?", _ML), ()),  # code fence lines
    (re.compile(r"(`+)(?=\S)(.+?)(?<=\S)\1"), (2,)),  # inline code
    (re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)"), (1,)),  # images -> alt text
    (re.compile(r"\[([^\]\n]+)\]\([^)\n]*\)"), (1,)),  # links -> text
    (re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]"), (1,)),  # reference links
    (re.compile(r"<(https?://[^>\s]+)>"), (1,)),  # autolinks
    (re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>\n]*)?/?>"), ()),  # html tags
    (re.compile(r"^[ \t]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$\n?", _ML), ()),  # rules
    (re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", _ML), ()),  # heading marks
    (re.compile(r"[ \t]+#+[ \t]*$", _ML), ()),  # closing heading marks
    (re.compile(r"^[ \t]{0,3}(?:>[ \t]?)+", _ML), ()),  # block quotes
    (re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?", _ML), ()),  # lists
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), (2,)),  # bold
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), (1,)),  # strikethrough
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), (1,)),  # *italic*
    (re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])"), (1,)),  # _italic_
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!>~|])"), (1,)),  # backslash escapes
]


def _strip_markdown(m: Mapped) -> Mapped:
    for pattern, keep in _MARKDOWN:
        m = _sub(m, pattern, keep)
    return m


_SPACE = re.compile(r"\s+")


def _collapse_whitespace(m: Mapped) -> Mapped:
    m = _sub(m, re.compile(r"^\s+|\s+$"))
    runs = list(_SPACE.finditer(m.text))
    if not runs or all(r.group() == " " for r in runs):
        return m
    built = _Builder(m)
    pos = 0
    for run in runs:
        built.copy(pos, run.start())
        built.put(" ", run.start(), run.end())
        pos = run.end()
    built.copy(pos, len(m.text))
    return built.build()


def _casefold(m: Mapped) -> Mapped:
    folded = m.text.casefold()
    if folded == m.text:
        return m
    built = _Builder(m)
    for i, char in enumerate(m.text):
        built.put(char.casefold(), i, i + 1)  # casefold is a per-character mapping
    return built.build()


def normalize_text(
    text: str,
    *,
    casefold: bool = False,
    nfkc: bool = False,
    strip_markdown: bool = False,
    collapse_whitespace: bool = False,
) -> Mapped:
    """Apply the requested normalisations in a fixed order: NFKC, markdown, spaces, case."""
    m = Mapped.identity(text)
    if nfkc:
        m = _nfkc(m)
    if strip_markdown:
        m = _strip_markdown(m)
    if collapse_whitespace:
        m = _collapse_whitespace(m)
    if casefold:
        m = _casefold(m)
    return m
