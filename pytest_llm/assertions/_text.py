"""Text checks: contains, not-contains, any/all, regular expressions.

Every check is a pure function returning a :class:`Verdict`; the ``assert_*``
functions and the matchers are thin layers over the same functions, so they
agree on every input.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict, Unpack

from pytest_llm._errors import ConfigError

from .._text import did_you_mean, nearest
from ._base import TextAssertionError, chars, escape, show_text, show_value, type_name
from ._normalize import Mapped, normalize_text
from ._reading import read

__all__ = [
    "TEXT_OPTION_NAMES",
    "MatchMode",
    "TextOptionKwargs",
    "TextOptions",
    "Verdict",
    "assert_contains",
    "assert_contains_all",
    "assert_contains_any",
    "assert_matches",
    "assert_not_contains",
    "check_contains",
    "check_contains_all",
    "check_contains_any",
    "check_matches",
    "check_not_contains",
    "context",
    "find_hits",
    "require_text",
    "validate_needle",
]

MatchMode = Literal["search", "match", "fullmatch"]
_MODES: tuple[str, ...] = ("search", "match", "fullmatch")
_MAX_HITS_SHOWN = 3
_CONTEXT = 30


class TextOptionKwargs(TypedDict, total=False):
    """The keyword options of every text helper and matcher; all off by default.

    Without any, a check is an exact substring search. The needle is normalised
    the same way as the output; offsets in messages always refer to the text the
    model produced, not the normalised one.

    - ``ignore_case``: Unicode case folding (``"STRASSE"`` contains ``"straße"``);
      a regex gets ``re.IGNORECASE``.
    - ``normalize``: shorthand for ``collapse_whitespace``, ``nfkc`` and
      ``strip_markdown`` together.
    - ``collapse_whitespace``: runs of whitespace become one space; ends are trimmed.
    - ``nfkc``: Unicode NFKC (full-width letters become ASCII, ``"ﬁ"`` is ``"fi"``).
    - ``strip_markdown``: emphasis, inline code, links, images, headings, quotes,
      list markers, fences and HTML tags are removed.
    - ``whole_word``: the needle may not touch a word character on either side
      (``"cat"`` is not in ``"concatenate"``; ``"C++"`` works); a regex is wrapped
      in word guards.
    """

    ignore_case: bool
    normalize: bool
    collapse_whitespace: bool
    nfkc: bool
    strip_markdown: bool
    whole_word: bool


TEXT_OPTION_NAMES: tuple[str, ...] = tuple(TextOptionKwargs.__annotations__)


@dataclass(frozen=True)
class TextOptions:
    """How text is compared; every flag is off by default (exact substring)."""

    ignore_case: bool = False
    collapse_whitespace: bool = False
    nfkc: bool = False
    strip_markdown: bool = False
    whole_word: bool = False

    @classmethod
    def from_kwargs(
        cls,
        function: str,
        options: Mapping[str, object],
        *,
        ignore_case: bool = False,
        others: Sequence[str] = (),
    ) -> TextOptions:
        """Build from a helper's ``**options`` (see :class:`TextOptionKwargs`).

        ``**options`` takes any keyword at run time, so an unknown one is refused
        here, as the TypeError Python would raise, plus the nearest valid keyword
        (``others`` are the function's other keywords). ``ignore_case`` is the
        default when the caller passes none (``IContains`` defaults to True).
        """
        __tracebackhide__ = True
        for key in options:
            if key not in TEXT_OPTION_NAMES:
                valid = (*others, *TEXT_OPTION_NAMES)
                raise TypeError(
                    f"{function}() got an unexpected keyword argument {key!r}"
                    f"{_close(key, valid)}; valid keywords: {', '.join(valid)}"
                )
        case = options.get("ignore_case")
        normalize = bool(options.get("normalize"))
        return cls(
            ignore_case=ignore_case if case is None else bool(case),
            collapse_whitespace=bool(options.get("collapse_whitespace")) or normalize,
            nfkc=bool(options.get("nfkc")) or normalize,
            strip_markdown=bool(options.get("strip_markdown")) or normalize,
            whole_word=bool(options.get("whole_word")),
        )

    def names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name)]

    def suffix(self) -> str:
        names = self.names()
        return f" ({', '.join(names)})" if names else ""

    def kwargs(self) -> str:
        """The options as keyword arguments, for reprs."""
        return "".join(f", {name}=True" for name in self.names())


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: ``headline`` says why it passed or failed."""

    ok: bool
    headline: str
    details: tuple[str, ...] = ()


def require_text(value: object, what: str) -> str:
    """The model output as text: a str as is; a response of any provider (an SDK object
    or its JSON: chat completion, Responses API, Anthropic Message, Gemini response,
    plain or as its stream's chunks) as the text it carries. Anything else is refused
    with a message that names the usual fix."""
    __tracebackhide__ = True
    if isinstance(value, str):
        return value
    hint = "pass the message text"
    if value is not None and not isinstance(value, bytes | bytearray | int | float):
        try:
            calls, text = read(value, 0)
        except ConfigError:
            pass
        else:
            if text is not None:
                return text
            hint = (
                f"the response carries no text, only {len(calls)} tool call"
                f"{'' if len(calls) == 1 else 's'}: check it with assert_tool_calls"
                if calls
                else "the response carries no text (a blocked or empty answer)"
            )
            raise ConfigError(
                f"{what} expects the model output as a str, got {type_name(value)}: {hint}"
            )
    if value is None:
        hint = (
            "a message with tool calls has content None: check it with assert_tool_calls, "
            "or pass the text"
        )
    elif hasattr(value, "output_text"):
        hint = "pass response.output_text"
    elif hasattr(value, "choices") or (isinstance(value, dict) and "choices" in value):
        hint = "pass response.choices[0].message.content"
    elif isinstance(value, bytes | bytearray):
        hint = "decode it first, e.g. data.decode()"
    raise ConfigError(
        f"{what} expects the model output as a str, got {type_name(value)}: "
        f"{show_value(value, 60)}; {hint}"
    )


def _require_needle(needle: object, what: str) -> str:
    __tracebackhide__ = True
    if not isinstance(needle, str):
        raise ConfigError(
            f"{what} expects the text to look for as a str, got {type_name(needle)}: {needle!r}"
        )
    if not needle:
        raise ConfigError(
            f"{what} got an empty needle, which every text contains; pass a non-empty str"
        )
    return needle


def validate_needle(needle: object, options: TextOptions, what: str) -> str:
    """Check a needle up front, so a bad one is a ConfigError, never a failed check."""
    __tracebackhide__ = True
    checked = _require_needle(needle, what)
    _prepare_needle(checked, options, what)
    return checked


def _require_needles(needles: object, what: str) -> list[str]:
    __tracebackhide__ = True
    if isinstance(needles, str):
        raise ConfigError(
            f"{what} expects a list of strings, got the str {needles!r}; "
            f"wrap it in a list, or use assert_contains for one needle"
        )
    if not isinstance(needles, Iterable):
        raise ConfigError(f"{what} expects a list of strings, got {type_name(needles)}")
    items = list(needles)
    if not items:
        raise ConfigError(f"{what} got no needles; pass at least one str")
    return [_require_needle(item, what) for item in items]


def _prepare(text: str, options: TextOptions, *, casefold: bool) -> Mapped:
    return normalize_text(
        text,
        casefold=casefold and options.ignore_case,
        nfkc=options.nfkc,
        strip_markdown=options.strip_markdown,
        collapse_whitespace=options.collapse_whitespace,
    )


def _prepare_needle(needle: str, options: TextOptions, what: str) -> str:
    __tracebackhide__ = True
    prepared = _prepare(needle, options, casefold=True).text
    if not prepared:
        raise ConfigError(
            f"{what}: the needle {needle!r} is empty once normalised{options.suffix()}; "
            f"pass a needle with visible text"
        )
    return prepared


def find_hits(text: str, needle: str, options: TextOptions) -> list[tuple[int, int]]:
    """Non-overlapping occurrences of ``needle`` as spans of the original ``text``."""
    haystack = _prepare(text, options, casefold=True)
    target = _prepare_needle(needle, options, "needle")
    spans: list[tuple[int, int]] = []
    if options.whole_word:
        pattern = re.compile(r"(?<!\w)" + re.escape(target) + r"(?!\w)")
        for match in pattern.finditer(haystack.text):
            spans.append(haystack.span(match.start(), match.end()))
        return spans
    pos = haystack.text.find(target)
    while pos >= 0:
        spans.append(haystack.span(pos, pos + len(target)))
        pos = haystack.text.find(target, pos + len(target))
    return spans


def _width(text: str) -> int:
    """Terminal columns: wide East Asian characters take two, combining marks none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def context(text: str, start: int, end: int) -> tuple[str, str]:
    """One line of context around ``text[start:end]`` and a caret line under it."""
    left = max(start - _CONTEXT, 0)
    right = min(end + _CONTEXT, len(text))
    before = ("..." if left else "") + escape(text[left:start])
    hit = escape(text[start:end])
    after = escape(text[end:right]) + ("..." if right < len(text) else "")
    line = f"'{before}{hit}{after}'"
    carets = " " * (_width(before) + 1) + "^" * max(_width(hit), 1)
    return line, carets


_LENIENT: tuple[tuple[str, dict[str, bool]], ...] = (
    ("ignore_case=True", {"ignore_case": True}),
    ("whole_word=False", {"whole_word": False}),
    ("normalize=True", {"collapse_whitespace": True, "nfkc": True, "strip_markdown": True}),
    (
        "ignore_case=True, normalize=True, whole_word=False",
        {
            "ignore_case": True,
            "collapse_whitespace": True,
            "nfkc": True,
            "strip_markdown": True,
            "whole_word": False,
        },
    ),
)


def _hints(text: str, needle: str, options: TextOptions) -> tuple[str, ...]:
    """Teach: would a looser option have found it, or is something close there?"""
    for label, change in _LENIENT:
        looser = dataclasses.replace(options, **change)
        if looser == options:
            continue
        try:
            hits = find_hits(text, needle, looser)
        except ConfigError:
            continue
        if hits:
            start, end = hits[0]
            return (f"hint: found {text[start:end]!r} at offset {start} with {label}",)
    near = _nearest(text, needle)
    return (near,) if near else ()


_WORD = re.compile(r"\S+")


def _nearest(text: str, needle: str) -> str:
    if len(text) > 20_000:
        return ""
    words = list(_WORD.finditer(text))
    size = max(len(needle.split()), 1)
    windows: dict[str, int] = {}
    for i in range(len(words)):
        chunk = words[i : i + size]
        if not chunk:
            break
        windows.setdefault(text[chunk[0].start() : chunk[-1].end()], chunk[0].start())
    close = nearest(needle, windows)
    if close is None:
        return ""
    return f"hint: the closest passage is {close!r} at offset {windows[close]}"


def check_contains(text: object, needle: str, options: TextOptions) -> Verdict:
    text = require_text(text, "contains")
    hits = find_hits(text, needle, options)
    if hits:
        return Verdict(True, f"{needle!r} found at offset {hits[0][0]}{options.suffix()}")
    return Verdict(
        False,
        f"{needle!r} not found in the output{options.suffix()}",
        _hints(text, needle, options),
    )


def check_not_contains(text: object, needle: str, options: TextOptions) -> Verdict:
    text = require_text(text, "not-contains")
    hits = find_hits(text, needle, options)
    if not hits:
        return Verdict(True, f"{needle!r} not found{options.suffix()}")
    if len(hits) == 1:
        headline = f"forbidden {needle!r} found at offset {hits[0][0]}{options.suffix()}"
    else:
        offsets = ", ".join(str(s) for s, _ in hits[:_MAX_HITS_SHOWN])
        more = ", ..." if len(hits) > _MAX_HITS_SHOWN else ""
        headline = (
            f"forbidden {needle!r} found {len(hits)} times, at offsets {offsets}{more}"
            f"{options.suffix()}"
        )
    details: list[str] = []
    for start, end in hits[:_MAX_HITS_SHOWN]:
        line, carets = context(text, start, end)
        label = f"offset {start}: "
        details.append(label + line)
        details.append(" " * len(label) + carets)
    return Verdict(False, headline, tuple(details))


def check_contains_any(text: object, needles: Sequence[str], options: TextOptions) -> Verdict:
    text = require_text(text, "contains-any")
    for needle in needles:
        hits = find_hits(text, needle, options)
        if hits:
            return Verdict(True, f"{needle!r} found at offset {hits[0][0]}{options.suffix()}")
    shown = ", ".join(repr(n) for n in needles)
    details: list[str] = []
    for needle in needles:
        details.extend(_hints(text, needle, options))
    return Verdict(
        False,
        f"none of {len(needles)} needles found in the output{options.suffix()}: {shown}",
        tuple(details[:_MAX_HITS_SHOWN]),
    )


def check_contains_all(text: object, needles: Sequence[str], options: TextOptions) -> Verdict:
    text = require_text(text, "contains-all")
    found: list[str] = []
    missing: list[str] = []
    for needle in needles:
        hits = find_hits(text, needle, options)
        if hits:
            found.append(f"{needle!r} at offset {hits[0][0]}")
        else:
            missing.append(needle)
    if not missing:
        return Verdict(True, f"all {len(needles)} needles found{options.suffix()}")
    shown = ", ".join(repr(n) for n in missing)
    details: list[str] = []
    if found:
        details.append("found: " + ", ".join(found))
    for needle in missing:
        details.extend(_hints(text, needle, options))
    return Verdict(
        False,
        f"{len(missing)} of {len(needles)} needles missing from the output"
        f"{options.suffix()}: {shown}",
        tuple(details),
    )


def compile_pattern(
    pattern: str | re.Pattern[str], flags: int, options: TextOptions, what: str
) -> re.Pattern[str]:
    """Compile with ``ignore_case``/``whole_word`` folded in; bad patterns are ConfigError."""
    __tracebackhide__ = True
    if isinstance(pattern, re.Pattern):
        source, flags = pattern.pattern, flags | pattern.flags
    elif isinstance(pattern, str):
        source = pattern
    else:
        raise ConfigError(
            f"{what} expects a pattern as str or re.Pattern, got {type_name(pattern)}: {pattern!r}"
        )
    if not isinstance(source, str):
        raise ConfigError(f"{what} expects a str pattern, got a bytes pattern {source!r}")
    if options.ignore_case:
        flags |= re.IGNORECASE
    if options.whole_word:
        source = rf"(?<!\w)(?:{source})(?!\w)"
    try:
        return re.compile(source, flags)
    except re.error as exc:
        raise ConfigError(
            f"{what}: invalid regular expression /{pattern_source(pattern)}/: {exc}"
        ) from None


def pattern_source(pattern: str | re.Pattern[str]) -> str:
    return pattern.pattern if isinstance(pattern, re.Pattern) else pattern


def check_mode(mode: object, what: str) -> MatchMode:
    __tracebackhide__ = True
    if mode == "search":
        return "search"
    if mode == "match":
        return "match"
    if mode == "fullmatch":
        return "fullmatch"
    raise ConfigError(
        f"{what}: unknown mode {mode!r}{_close(str(mode), _MODES)}; "
        f"use one of 'search', 'match', 'fullmatch'"
    )


def _close(word: str, choices: Sequence[str]) -> str:
    return did_you_mean(word, choices, template=" (did you mean {!r}?)")


def run_pattern(
    text: str, compiled: re.Pattern[str], mode: MatchMode, options: TextOptions
) -> tuple[re.Match[str] | None, Mapped]:
    # Case is handled by re.IGNORECASE, so the text is not case-folded here.
    prepared = _prepare(text, options, casefold=False)
    if mode == "search":
        return compiled.search(prepared.text), prepared
    if mode == "match":
        return compiled.match(prepared.text), prepared
    return compiled.fullmatch(prepared.text), prepared


def check_matches(
    text: object,
    pattern: str | re.Pattern[str],
    mode: MatchMode,
    flags: int,
    options: TextOptions,
) -> Verdict:
    text = require_text(text, "regex")
    compiled = compile_pattern(pattern, flags, options, "regex")
    match, prepared = run_pattern(text, compiled, mode, options)
    shown = f"/{pattern_source(pattern)}/"
    if match is not None:
        start, end = prepared.span(match.start(), match.end())
        return Verdict(
            True,
            f"{shown} ({mode}) matched {text[start:end]!r} at offset {start}{options.suffix()}",
        )
    details: tuple[str, ...] = ()
    if mode != "search":
        found = compiled.search(prepared.text)
        if found is not None:
            start, end = prepared.span(found.start(), found.end())
            whole = "the whole output" if mode == "fullmatch" else "a match at offset 0"
            details = (
                f"hint: a search finds {text[start:end]!r} at offset {start}, "
                f"but mode={mode!r} needs {whole}",
            )
    return Verdict(False, f"{shown} ({mode}) does not match the output{options.suffix()}", details)


def failure_message(function: str, verdict: Verdict, text: object) -> str:
    """The full message of an ``assert_*`` failure: headline, output, details."""
    lines = [f"{function}: {verdict.headline}"]
    if isinstance(text, str):
        lines.append(f"  output ({chars(len(text))}): {show_text(text)}")
    lines.extend("  " + d for d in verdict.details)
    return "\n".join(lines)


def _fail(function: str, verdict: Verdict, text: object) -> None:
    __tracebackhide__ = True
    if not verdict.ok:
        raise TextAssertionError(failure_message(function, verdict, text))


def _arguments(
    function: str, text: object, needle: object, options: Mapping[str, object]
) -> tuple[str, str, TextOptions]:
    """An ``assert_*``'s checked arguments, in the order its errors are raised."""
    __tracebackhide__ = True
    opts = TextOptions.from_kwargs(function, options)
    checked = validate_needle(needle, opts, function)
    return require_text(text, function), checked, opts


def _arguments_many(
    function: str, text: object, needles: object, options: Mapping[str, object]
) -> tuple[str, list[str], TextOptions]:
    """:func:`_arguments` for a list of needles."""
    __tracebackhide__ = True
    opts = TextOptions.from_kwargs(function, options)
    items = [validate_needle(n, opts, function) for n in _require_needles(needles, function)]
    return require_text(text, function), items, opts


def assert_contains(text: object, needle: str, **options: Unpack[TextOptionKwargs]) -> int:
    """Assert ``needle`` occurs in ``text``; return the offset of the first hit.

    ``options``: see :class:`TextOptionKwargs`.
    """
    __tracebackhide__ = True
    text, needle, opts = _arguments("assert_contains", text, needle, options)
    hits = find_hits(text, needle, opts)
    if not hits:
        _fail("assert_contains", check_contains(text, needle, opts), text)
    return hits[0][0]


def assert_not_contains(text: object, needle: str, **options: Unpack[TextOptionKwargs]) -> None:
    """Assert ``needle`` does not occur; a failure shows each hit's offset and context.

    ``options``: see :class:`TextOptionKwargs`.
    """
    __tracebackhide__ = True
    text, needle, opts = _arguments("assert_not_contains", text, needle, options)
    _fail("assert_not_contains", check_not_contains(text, needle, opts), text)


def assert_contains_any(
    text: object, needles: Iterable[str], **options: Unpack[TextOptionKwargs]
) -> str:
    """Assert at least one needle occurs; return the first needle found.

    ``options``: see :class:`TextOptionKwargs`.
    """
    __tracebackhide__ = True
    text, items, opts = _arguments_many("assert_contains_any", text, needles, options)
    for needle in items:
        if find_hits(text, needle, opts):
            return needle
    _fail("assert_contains_any", check_contains_any(text, items, opts), text)
    raise AssertionError("unreachable")  # pragma: no cover


def assert_contains_all(
    text: object, needles: Iterable[str], **options: Unpack[TextOptionKwargs]
) -> dict[str, int]:
    """Assert every needle occurs; return each needle's first offset.

    ``options``: see :class:`TextOptionKwargs`.
    """
    __tracebackhide__ = True
    text, items, opts = _arguments_many("assert_contains_all", text, needles, options)
    verdict = check_contains_all(text, items, opts)
    _fail("assert_contains_all", verdict, text)
    return {needle: find_hits(text, needle, opts)[0][0] for needle in items}


def assert_matches(
    text: object,
    pattern: str | re.Pattern[str],
    *,
    mode: MatchMode = "search",
    flags: int = 0,
    **options: Unpack[TextOptionKwargs],
) -> re.Match[str]:
    """Assert the regex matches (``search``, ``match`` or ``fullmatch``); return the match.

    With normalisation on, the match is against the normalised text.
    ``options``: see :class:`TextOptionKwargs`.
    """
    __tracebackhide__ = True
    opts = TextOptions.from_kwargs("assert_matches", options, others=("mode", "flags"))
    checked_mode = check_mode(mode, "assert_matches")
    compiled = compile_pattern(pattern, flags, opts, "assert_matches")
    text = require_text(text, "assert_matches")
    match, _ = run_pattern(text, compiled, checked_mode, opts)
    if match is None:
        _fail("assert_matches", check_matches(text, pattern, checked_mode, flags, opts), text)
        raise AssertionError("unreachable")  # pragma: no cover
    return match
