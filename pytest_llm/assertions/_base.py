"""Shared pieces: the assertion error tree and the renderers every helper uses.

The helpers raise :class:`LLMAssertionError` (an ``AssertionError``) when the model
output does not satisfy a check, so pytest reports a failure, not an error; bad
input (a schema that is not a schema, an unknown option) raises
:class:`pytest_llm._errors.ConfigError` instead.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from .._jsonpath import render
from .._text import did_you_mean as _did_you_mean

__all__ = [
    "CaseFailedError",
    "JSONMismatchError",
    "JSONNotFoundError",
    "LLMAssertionError",
    "ModelAssertionError",
    "SchemaViolationError",
    "TextAssertionError",
    "ToolCallAssertionError",
    "chars",
    "did_you_mean",
    "escape",
    "indent",
    "json_path",
    "show_json",
    "show_text",
    "show_value",
    "type_name",
]

_PUBLIC_MODULE = "pytest_llm.assertions"


class LLMAssertionError(AssertionError):
    """The model output failed a check; pytest reports it as a test failure."""


class TextAssertionError(LLMAssertionError):
    """A text check (contains, not-contains, regex) failed."""


class JSONNotFoundError(LLMAssertionError):
    """No JSON value could be found in the model output."""


class JSONMismatchError(LLMAssertionError):
    """The JSON found differs from the expected value."""

    def __init__(self, message: str, *, differences: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.differences = list(differences)


class SchemaViolationError(LLMAssertionError):
    """The data violates a JSON Schema."""

    def __init__(self, message: str, *, violations: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.violations = list(violations)


class ModelAssertionError(LLMAssertionError):
    """The data does not validate against a pydantic model."""

    def __init__(self, message: str, *, errors: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


class ToolCallAssertionError(LLMAssertionError):
    """The tool calls differ from the expected ones."""

    def __init__(self, message: str, *, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class CaseFailedError(LLMAssertionError):
    """An eval case scored below its threshold."""


# pytest prints "module.Class: message"; show the public module, not the private one.
for _cls in (
    LLMAssertionError,
    TextAssertionError,
    JSONNotFoundError,
    JSONMismatchError,
    SchemaViolationError,
    ModelAssertionError,
    ToolCallAssertionError,
    CaseFailedError,
):
    _cls.__module__ = _PUBLIC_MODULE

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def json_path(parts: Iterable[object]) -> str:
    """Render a path as ``$.items[0].price``; odd keys as ``$['a b']``."""
    return render(parts)


def escape(text: str) -> str:
    """Make control characters visible so a message stays on one line per line."""
    out: list[str] = []
    for char in text:
        if char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif unicodedata.category(char) == "Cc":
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def show_text(text: str, limit: int = 120) -> str:
    """Quote a (possibly long) output for a message: repr, cut at ``limit`` chars."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text) - limit} more chars)"


def show_value(value: object, limit: int = 80) -> str:
    """A short Python repr for a value in a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def show_json(value: object, limit: int = 80) -> str:
    """A short JSON rendering (falls back to repr for non-JSON values)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the nearest choices, or ``""``."""
    return _did_you_mean(word, choices, template="; did you mean {!r}?")


def indent(lines: Iterable[str], prefix: str = "  ") -> list[str]:
    return [prefix + line for line in lines]


def chars(count: int) -> str:
    return f"{count} char" if count == 1 else f"{count} chars"


def type_name(value: object) -> str:
    return type(value).__name__
