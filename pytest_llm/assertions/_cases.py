"""Eval case files: a table of inputs and weighted checks, as ``pytest.param``s.

A YAML or JSON file lists cases; each has checks named like promptfoo's
(``contains``, ``icontains``, ``not-contains``, ``regex``, ``is-json``,
``json-schema``, ``pydantic``, ``tool-call``, ``python``, ...) with weights, and a
threshold on the weighted score. The file is validated against
``cases.schema.json`` (shipped beside this module, for editor completion too), and
every problem names the file, the case and the field.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llm._errors import ConfigError

from . import _text as text_checks
from ._base import (
    CaseFailedError,
    LLMAssertionError,
    chars,
    did_you_mean,
    json_path,
    show_text,
    show_value,
    type_name,
)
from ._samples import SamplesFailed
from ._text import TEXT_OPTION_NAMES, TextOptions, Verdict

if TYPE_CHECKING:
    from _pytest.mark.structures import ParameterSet

__all__ = [
    "CHECK_TYPES",
    "SCHEMA_PATH",
    "Case",
    "CaseResult",
    "Check",
    "CheckResult",
    "assert_case",
    "load_cases",
    "read_cases",
]

SCHEMA_PATH = Path(__file__).with_name("cases.schema.json")
_MAX_PROBLEMS = 10

_TEXT = ("contains", "icontains", "not-contains", "not-icontains", "starts-with")
_MULTI = ("contains-any", "icontains-any", "contains-all", "icontains-all")
_REGEX = ("regex", "not-regex")
_JSON = ("is-json", "contains-json", "json-schema")
CHECK_TYPES: tuple[str, ...] = (
    *_TEXT[:4],
    *_MULTI,
    "starts-with",
    "equals",
    *_REGEX,
    *_JSON,
    "pydantic",
    "tool-call",
    "python",
)
_OPTIONS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys((*_TEXT, *_MULTI), TEXT_OPTION_NAMES),
    **dict.fromkeys(_REGEX, (*TEXT_OPTION_NAMES, "mode", "flags")),
    **dict.fromkeys(_JSON, ("repair",)),
    "pydantic": ("repair",),
    "tool-call": ("order", "args"),
    "equals": (),
    "python": (),
}

Outcome = tuple[bool, float, str]  # passed, score in [0, 1], message


@dataclass(frozen=True)
class Check:
    """One check of a case; ``run(output)`` gives ``(passed, score, message)``."""

    type: str
    value: Any = None
    weight: float = 1.0
    threshold: float | None = None
    description: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    run: Callable[[Any], Outcome] = field(
        default=lambda _: (True, 1.0, ""), compare=False, repr=False
    )

    def label(self) -> str:
        """``icontains 'paris'``: how reports name the check."""
        if self.description:
            return self.description
        if self.value is None:
            return self.type
        return f"{self.type} {show_value(self.value, 50)}"


@dataclass(frozen=True)
class CheckResult:
    check: Check
    passed: bool
    score: float
    message: str

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        weight = f"{self.check.weight:g}"
        return f"{mark} {self.check.label()} (weight {weight}): {self.message}"


@dataclass(frozen=True)
class Case:
    """One eval case from a case file; ``evaluate(output)`` scores an output against it."""

    id: str
    checks: tuple[Check, ...]
    threshold: float = 1.0
    description: str | None = None
    input: Any = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    expected: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    index: int = 0

    def __repr__(self) -> str:
        where = f" from {self.source}" if self.source else ""
        return f"<Case {self.id!r}: {len(self.checks)} checks, threshold {self.threshold:g}{where}>"

    def evaluate(self, output: Any) -> CaseResult:
        """Run every check on ``output``; score = weighted mean, passed = score >= threshold."""
        results = []
        for check in self.checks:
            passed, score, message = check.run(output)
            results.append(CheckResult(check, passed, score, message))
        total = sum(c.weight for c in self.checks)
        score = sum(r.score * r.check.weight for r in results) / total if total else 1.0
        return CaseResult(self, output, tuple(results), score, score >= self.threshold - 1e-9)


@dataclass(frozen=True)
class CaseResult:
    """Per-check results, the weighted score and the verdict against the threshold."""

    case: Case
    output: Any
    checks: tuple[CheckResult, ...]
    score: float
    passed: bool

    @property
    def threshold(self) -> float:
        return self.case.threshold

    @property
    def first_failure(self) -> CheckResult | None:
        return next((r for r in self.checks if not r.passed), None)

    def describe(self) -> str:
        """The report: verdict line, one line per check, the output."""
        passed = sum(r.passed for r in self.checks)
        verdict = "passed" if self.passed else "failed"
        op = ">=" if self.passed else "<"
        lines = [
            f"case {self.case.id!r} {verdict}: score {self.score:.2f} {op} threshold "
            f"{self.threshold:g} ({passed} of {len(self.checks)} checks passed)"
        ]
        lines.extend("  " + r.line() for r in self.checks)
        if isinstance(self.output, str):
            lines.append(f"  output ({chars(len(self.output))}): {show_text(self.output)}")
        else:
            lines.append(f"  output: {show_value(self.output, 120)}")
        return "\n".join(lines)

    def assert_passed(self) -> CaseResult:
        """Raise :class:`CaseFailedError` (an AssertionError) with the report unless passed."""
        __tracebackhide__ = True
        if not self.passed:
            raise CaseFailedError(self.describe())
        return self


def assert_case(case: Case, output: Any) -> CaseResult:
    """Evaluate ``output`` against ``case`` and fail the test with a report if it scores low."""
    __tracebackhide__ = True
    return case.evaluate(output).assert_passed()


# --- check runners --------------------------------------------------------


def _text_of(output: Any, check: str) -> str | None:
    __tracebackhide__ = True
    if isinstance(output, str):
        return output
    from ._reading import response_text
    from ._text import require_text

    if output is None or isinstance(output, int | float | bool | bytes):
        require_text(output, f"check {check!r}")
    try:
        return response_text(output)
    except ConfigError:
        require_text(output, f"check {check!r}")
        raise


def _from_verdict(verdict: Verdict) -> Outcome:
    return verdict.ok, 1.0 if verdict.ok else 0.0, verdict.headline


def _no_text(output: Any) -> Outcome:
    return (
        False,
        0.0,
        f"the output has no text (got {type_name(output)}; the model only called tools)",
    )


def _first_lines(exc: BaseException, limit: int = 2) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    head = lines[0] if lines else type(exc).__name__
    # Drop the "assert_x: " prefix; the check label already says what ran.
    head = re.sub(r"^assert_\w+: |^extract_json: ", "", head)
    rest = [
        line for line in lines[1:] if not line.startswith(("output", "actual", "expected", "["))
    ]
    return "; ".join([head, *rest[: limit - 1]])


def _text_runner(kind: str, value: Any, options: TextOptions) -> Callable[[Any], Outcome]:
    def run(output: Any) -> Outcome:
        text = _text_of(output, kind)
        if text is None:
            return _no_text(output)
        if kind in ("contains", "icontains"):
            return _from_verdict(text_checks.check_contains(text, value, options))
        if kind in ("not-contains", "not-icontains"):
            return _from_verdict(text_checks.check_not_contains(text, value, options))
        if kind in ("contains-any", "icontains-any"):
            return _from_verdict(text_checks.check_contains_any(text, value, options))
        if kind in ("contains-all", "icontains-all"):
            return _from_verdict(text_checks.check_contains_all(text, value, options))
        # starts-with
        ok = text.startswith(value)
        shown = show_text(text, 40)
        return (
            ok,
            float(ok),
            (f"starts with {value!r}" if ok else f"starts with {shown}, not {value!r}"),
        )

    return run


def _regex_runner(
    kind: str, value: str, opts: Mapping[str, Any], options: TextOptions
) -> Callable[[Any], Outcome]:
    mode = text_checks.check_mode(opts.get("mode", "search"), kind)
    flags = 0
    for name in opts.get("flags", ()):
        flags |= getattr(re, name)
    text_checks.compile_pattern(value, flags, options, kind)

    def run(output: Any) -> Outcome:
        text = _text_of(output, kind)
        if text is None:
            return _no_text(output)
        verdict = text_checks.check_matches(text, value, mode, flags, options)
        if kind == "regex":
            return _from_verdict(verdict)
        return (not verdict.ok, float(not verdict.ok), verdict.headline)

    return run


def _json_runner(kind: str, value: Any, repair: bool, base: Path) -> Callable[[Any], Outcome]:
    from ._json import extract_json
    from ._schema import load_schema, schema_violations, validator_for

    validator = None
    if value is not None:
        schema, name = load_schema(value, base=base)
        validator = validator_for(schema, name)

    def run(output: Any) -> Outcome:
        if isinstance(output, str):
            try:
                found = extract_json(output, repair=repair)
            except LLMAssertionError as exc:
                return False, 0.0, _first_lines(exc, 1)
            if kind == "is-json" and found.strategy != "whole":
                return (
                    False,
                    0.0,
                    f"the output is not JSON as a whole (JSON found in {found.where()})",
                )
            data, where = found.value, f"JSON from {found.where()}"
        else:
            data, where = output, "the data"
        if validator is not None:
            violations = schema_violations(validator, data)
            if violations:
                more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
                return False, 0.0, violations[0] + more
            return True, 1.0, f"{where} matches the schema"
        return True, 1.0, f"valid {where}"

    return run


def _import(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {spec!r}: {exc}") from None
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            names = [n for n in dir(target) if not n.startswith("_")]
            raise ConfigError(
                f"cannot import {spec!r}: {module_name} has no attribute {part!r}"
                f"{did_you_mean(part, names)}"
            ) from None
    return target


def _pydantic_runner(value: str, repair: bool) -> Callable[[Any], Outcome]:
    from ._model import assert_model

    model = _import(value)

    def run(output: Any) -> Outcome:
        try:
            assert_model(output, model, repair=repair)
        except LLMAssertionError as exc:
            return False, 0.0, _first_lines(exc)
        return True, 1.0, f"valid {getattr(model, '__name__', value)}"

    return run


def _tool_runner(value: Any, opts: Mapping[str, Any]) -> Callable[[Any], Outcome]:
    from ._reading import ToolCall
    from ._tools import assert_tool_calls

    items = value if isinstance(value, list) else [value]
    expected = [
        ToolCall(i) if isinstance(i, str) else ToolCall(i["name"], i.get("args")) for i in items
    ]
    order = opts.get("order", "exact")
    args = opts.get("args", "partial")

    def run(output: Any) -> Outcome:
        if isinstance(output, str):
            raise ConfigError(
                "a 'tool-call' check needs the response object (or its dict), not its text; "
                "pass the whole response to Case.evaluate"
            )
        try:
            calls = assert_tool_calls(output, expected, order=order, args=args)
        except LLMAssertionError as exc:
            problems = getattr(exc, "problems", [])
            first = problems[0] if problems else _first_lines(exc, 1)
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            return False, 0.0, first + more
        return True, 1.0, "called " + ", ".join(c.render(40) for c in calls)

    return run


def _python_runner(value: str, threshold: float, case_ref: list[Case]) -> Callable[[Any], Outcome]:
    function = _import(value)
    if not callable(function):
        raise ConfigError(f"{value!r} is a {type_name(function)}, not a function")
    try:
        takes_case = len(inspect.signature(function).parameters) >= 2
    except (TypeError, ValueError):
        takes_case = False

    def run(output: Any) -> Outcome:
        try:
            result = function(output, case_ref[0]) if takes_case else function(output)
        except AssertionError as exc:
            return False, 0.0, _first_lines(exc, 1)
        message = ""
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
            result, message = result
        if result is None or result is True:
            return True, 1.0, message or f"{value} passed"
        if result is False:
            return False, 0.0, message or f"{value} returned False"
        if isinstance(result, int | float) and not isinstance(result, bool):
            if not 0 <= result <= 1:
                raise ConfigError(
                    f"{value} returned the score {result}, outside [0, 1]; return a fraction"
                )
            ok = result >= threshold
            return (
                ok,
                float(result),
                message or f"{value} scored {result:g} (threshold {threshold:g})",
            )
        raise ConfigError(
            f"{value} returned {type_name(result)} {show_value(result, 40)}; return a bool, "
            f"a score in [0, 1], None, or (result, message)"
        )

    return run


def _equals_runner(value: Any) -> Callable[[Any], Outcome]:
    def run(output: Any) -> Outcome:
        actual = output
        if isinstance(value, str) and not isinstance(output, str):
            actual = _text_of(output, "equals")
        ok = actual == value
        if ok:
            return True, 1.0, "equal"
        return False, 0.0, f"got {show_value(actual, 60)}, expected {show_value(value, 60)}"

    return run


# --- loading ----------------------------------------------------------------


class _Problems:
    def __init__(self, file: str, doc: Any) -> None:
        self.file = file
        self.doc = doc
        self.items: list[str] = []

    def case_label(self, index: int) -> str:
        cases = self.doc.get("cases") if isinstance(self.doc, Mapping) else None
        case = cases[index] if isinstance(cases, list) and index < len(cases) else None
        if isinstance(case, Mapping):
            for key in ("id", "description"):
                if isinstance(case.get(key), str) and case[key]:
                    return f"case {case[key]!r}"
        return f"case {index + 1}"

    def where(self, path: Sequence[object]) -> tuple[str, str]:
        """``("case 'paris' of cases.yaml", "checks[1].weight")`` for a document path."""
        if len(path) >= 2 and path[0] == "cases" and isinstance(path[1], int):
            return f"{self.case_label(path[1])} of {self.file}", json_path(path[2:])[1:].lstrip(".")
        return self.file, json_path(path)[1:].lstrip(".")

    def add(self, message: str) -> None:
        if message not in self.items:
            self.items.append(message)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        if len(self.items) == 1:
            raise ConfigError(self.items[0])
        shown = self.items[:_MAX_PROBLEMS]
        more = (
            [f"  ... and {len(self.items) - _MAX_PROBLEMS} more"]
            if len(self.items) > _MAX_PROBLEMS
            else []
        )
        raise ConfigError(
            "\n".join(
                [f"{self.file} has {len(self.items)} problems:", *("  " + p for p in shown), *more]
            )
        )


def _schema_problems(doc: Any, problems: _Problems) -> None:
    from ._schema import require_jsonschema

    jsonschema = require_jsonschema()
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        path = list(error.absolute_path)
        where, fieldname = problems.where(path)
        if error.validator == "enum" and path and path[-1] == "type" and "checks" in path:
            word = str(error.instance)
            hint = did_you_mean(word, CHECK_TYPES) or f"; known checks: {', '.join(CHECK_TYPES)}"
            problems.add(f"unknown check {word!r} in {where}{hint}")
        elif error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            allowed = list(error.schema.get("properties", {}))
            for extra in sorted(set(error.instance) - set(allowed)):
                place = f"{fieldname} of {where}" if fieldname else where
                hint = did_you_mean(str(extra), allowed) or f"; allowed: {', '.join(allowed)}"
                problems.add(f"unknown field {extra!r} in {place}{hint}")
        elif path and path[-1] == "threshold" and error.validator in ("minimum", "maximum", "type"):
            problems.add(
                f"threshold {show_value(error.instance, 30)} in {where} is outside [0, 1]; "
                f"a threshold is the share of the weighted score that must pass, e.g. 0.8"
            )
        elif error.validator == "required":
            missing = re.findall(r"'([^']+)' is a required property", error.message)
            name = missing[0] if missing else error.message
            place = f"{fieldname} of {where}" if fieldname else where
            problems.add(f"{place} has no {name!r}; add it (see {SCHEMA_PATH.name})")
        else:
            place = f"{where}, field {fieldname}" if fieldname else where
            message = error.message if len(error.message) <= 120 else error.message[:117] + "..."
            problems.add(f"{place}: {message}")


def _build_check(raw: Mapping[str, Any], base: Path, case_ref: list[Case]) -> Check:
    kind = raw["type"]
    value: Any = raw.get("value")
    opts: Mapping[str, Any] = raw.get("options") or {}
    allowed = _OPTIONS[kind]
    for key in opts:
        if key not in allowed:
            valid = ", ".join(allowed) or "none"
            raise ConfigError(f"option {key!r} does not apply to a {kind!r} check (valid: {valid})")
    text_opts = TextOptions.from_kwargs(
        kind,
        {key: opts[key] for key in TEXT_OPTION_NAMES if key in opts},
        ignore_case=kind.startswith(("icontains", "not-icontains")),
    )
    threshold = raw.get("threshold")
    run: Callable[[Any], Outcome]
    if kind in _TEXT:
        text_checks.validate_needle(value, text_opts, kind)
        run = _text_runner(kind, value, text_opts)
    elif kind in _MULTI:
        for needle in value:
            text_checks.validate_needle(needle, text_opts, kind)
        run = _text_runner(kind, value, text_opts)
    elif kind in _REGEX:
        run = _regex_runner(kind, value, opts, text_opts)
    elif kind in _JSON:
        run = _json_runner(kind, value, bool(opts.get("repair", False)), base)
    elif kind == "pydantic":
        run = _pydantic_runner(value, bool(opts.get("repair", False)))
    elif kind == "tool-call":
        run = _tool_runner(value, opts)
    elif kind == "python":
        run = _python_runner(value, 1.0 if threshold is None else float(threshold), case_ref)
    else:  # equals
        run = _equals_runner(value)
    return Check(
        kind,
        value,
        float(raw.get("weight", 1.0)),
        None if threshold is None else float(threshold),
        raw.get("description"),
        dict(opts),
        run,
    )


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _resolve(path: str | os.PathLike[str], depth: int) -> Path:
    """Relative paths are looked up beside the calling test module, then in the cwd."""
    candidate = Path(path)
    if candidate.is_absolute():
        tried = [candidate]
    else:
        caller = sys._getframe(depth).f_globals.get("__file__")
        tried = [Path(caller).parent / candidate] if caller else []
        tried.append(Path.cwd() / candidate)
    for option in tried:
        if option.is_file():
            return option
    places = " or ".join(repr(str(p)) for p in dict.fromkeys(tried))
    raise ConfigError(f"case file {str(path)!r} not found (looked for {places}); check the path")


def _parse(path: Path, file: str) -> Any:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            detail = " ".join(str(exc).split())
            raise ConfigError(f"{file} is not valid YAML: {detail}") from None
    if suffix == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{file} is not valid JSON: {exc}") from None
    raise ConfigError(
        f"case file {file} must end in .yaml, .yml or .json, not {suffix or 'nothing'!r}"
    )


def _read(path: Path) -> list[Case]:
    file = _display(path)
    doc = _parse(path, file)
    if doc is None:
        raise ConfigError(f"{file} is empty; it needs a 'cases' list (see {SCHEMA_PATH.name})")
    if isinstance(doc, list):
        raise ConfigError(
            f"{file} is a bare list; put the cases under a 'cases' key (cases: [...])"
        )
    problems = _Problems(file, doc)
    _schema_problems(doc, problems)
    problems.raise_if_any()

    default_threshold = float(doc.get("threshold", 1.0))
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(doc["cases"]):
        label = problems.case_label(index)
        case_id = raw.get("id") or raw.get("description") or f"case{index + 1}"
        if "id" in raw:
            if raw["id"] in seen:
                problems.add(
                    f"duplicate id {raw['id']!r} in {file}: cases {seen[raw['id']] + 1} and "
                    f"{index + 1}; ids must be unique"
                )
            seen[raw["id"]] = index
        case_ref: list[Case] = []
        checks: list[Check] = []
        for number, raw_check in enumerate(raw["checks"]):
            try:
                checks.append(_build_check(raw_check, path.parent, case_ref))
            except ConfigError as exc:
                problems.add(f"{label} of {file}, field checks[{number}]: {exc}")
        case = Case(
            id=case_id,
            checks=tuple(checks),
            threshold=float(raw.get("threshold", default_threshold)),
            description=raw.get("description"),
            input=raw.get("input"),
            vars=raw.get("vars") or {},
            expected=raw.get("expected"),
            metadata={
                **(raw.get("metadata") or {}),
                **{k: raw[k] for k in ("skip", "xfail") if k in raw},
            },
            source=file,
            index=index,
        )
        case_ref.append(case)
        cases.append(case)
    problems.raise_if_any()
    return cases


def read_cases(path: str | os.PathLike[str]) -> list[Case]:
    """Load and validate a case file; relative paths are resolved beside the caller."""
    return _read(_resolve(path, 2))


def load_cases(path: str | os.PathLike[str]) -> list[ParameterSet]:
    """Load a case file as ``pytest.param``s (id: the case id, else its description).

    Use it with ``@pytest.mark.parametrize("case", load_cases("cases.yaml"))``;
    a relative path is looked up beside the calling test module, then in the cwd.
    """
    import pytest

    params = []
    for case in _read(_resolve(path, 2)):
        marks = []
        skip = case.metadata.get("skip")
        if skip:
            marks.append(
                pytest.mark.skip(reason=skip if isinstance(skip, str) else "skipped in case file")
            )
        xfail = case.metadata.get("xfail")
        if xfail:
            marks.append(
                pytest.mark.xfail(
                    reason=xfail if isinstance(xfail, str) else "xfail in case file",
                    # a case that fails its checks, once or over llm_samples; not an error
                    raises=(CaseFailedError, SamplesFailed),
                )
            )
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params
