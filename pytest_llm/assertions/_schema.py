"""JSON Schema checks through ``jsonschema``.

The schema is checked first, so a broken schema is reported as what it is (a
``ConfigError`` naming the schema problem), not as a thousand data violations.
Violations come most relevant first (``jsonschema``'s relevance heuristic), each
as ``$.path: message (schema: schema.path)``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llm._errors import ConfigError

from ._base import SchemaViolationError, did_you_mean, json_path, show_value, type_name
from ._reading import is_sdk_response

if TYPE_CHECKING:
    import jsonschema.exceptions
    from jsonschema.protocols import Validator

__all__ = ["assert_json_schema", "load_schema", "schema_violations", "validator_for"]

MAX_VIOLATIONS = 10
_MESSAGE_LIMIT = 200


def load_schema(schema_or_path: object, *, base: Path | None = None) -> tuple[Any, str]:
    """Return ``(schema, name)``; a str or path is a JSON (or YAML) file to read."""
    __tracebackhide__ = True
    if isinstance(schema_or_path, Mapping | bool):
        name = ""
        if isinstance(schema_or_path, Mapping) and isinstance(schema_or_path.get("title"), str):
            name = f"schema {schema_or_path['title']!r}"
        return schema_or_path, name or "the schema"
    if isinstance(schema_or_path, str | os.PathLike):
        path = Path(schema_or_path)
        if base is not None and not path.is_absolute():
            path = base / path
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"schema file {str(path)!r} does not exist; pass a dict, "
                f"or a path to a .json or .yaml schema"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot read schema file {str(path)!r}: {exc}") from None
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                schema = yaml.safe_load(raw)
            else:
                schema = json.loads(raw)
        except (ValueError, ImportError) as exc:
            raise ConfigError(f"schema file {str(path)!r} is not valid JSON/YAML: {exc}") from None
        except Exception as exc:  # yaml.YAMLError
            raise ConfigError(f"schema file {str(path)!r} is not valid YAML: {exc}") from None
        return schema, f"schema {path.name!r}"
    raise ConfigError(
        f"expected a JSON Schema (dict or bool) or a path to one, got "
        f"{type_name(schema_or_path)}: {show_value(schema_or_path, 60)}"
    )


def require_jsonschema() -> Any:
    """Import jsonschema on first use: it is an optional dependency of pytest-llm."""
    __tracebackhide__ = True
    try:
        import jsonschema
        import jsonschema.exceptions
        import jsonschema.validators
    except ImportError:
        raise ConfigError(
            "JSON Schema checks need the jsonschema package; install it: pip install jsonschema"
        ) from None
    return jsonschema


def _schema_path(parts: Iterable[object]) -> str:
    return ".".join(str(p) for p in parts) or "(root)"


_DRAFTS = {
    "Draft3Validator": "draft 3",
    "Draft4Validator": "draft 4",
    "Draft6Validator": "draft 6",
    "Draft7Validator": "draft 7",
    "Draft201909Validator": "draft 2019-09",
    "Draft202012Validator": "draft 2020-12",
}
_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")


def validator_for(schema: Any, name: str = "the schema") -> Validator:
    """A validator for ``schema`` after checking the schema itself (ConfigError if broken)."""
    __tracebackhide__ = True
    if not isinstance(schema, Mapping | bool):
        raise ConfigError(
            f"{name} is not a JSON Schema: expected an object or a boolean, got "
            f"{type_name(schema)}: {show_value(schema, 60)}"
        )
    jsonschema = require_jsonschema()
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        draft = _DRAFTS.get(getattr(cls, "__name__", ""), "JSON Schema")
        hint = ""
        if exc.path and exc.path[-1] == "type" and isinstance(exc.instance, str):
            hint = did_you_mean(exc.instance, _TYPES)
        raise ConfigError(
            f"{name} is not a valid JSON Schema ({draft}): at {_schema_path(exc.path)}: "
            f"{_short(exc.message)}; fix the schema (the data was not checked){hint}"
        ) from None
    validator: Validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return validator


def _short(message: str) -> str:
    return message if len(message) <= _MESSAGE_LIMIT else message[: _MESSAGE_LIMIT - 3] + "..."


def _leaf(error: jsonschema.exceptions.ValidationError) -> jsonschema.exceptions.ValidationError:
    """For anyOf/oneOf, descend to the sub-error ``best_match`` finds most relevant."""
    best = require_jsonschema().exceptions.best_match([error])
    return best if best is not None else error


def _relevance(error: jsonschema.exceptions.ValidationError) -> tuple[Any, ...]:
    """jsonschema's relevance: shallow first, weak (anyOf/oneOf) last; the sort is stable,
    so ties keep the order the validator met them in (schema order, array index order)."""
    exceptions = require_jsonschema().exceptions
    return (
        len(error.path),
        error.validator in exceptions.WEAK_MATCHES,
        error.validator not in exceptions.STRONG_MATCHES,
    )


def schema_violations(validator: Validator, data: Any) -> list[str]:
    """Every violation as one line, most relevant first."""
    errors = sorted(validator.iter_errors(data), key=_relevance)
    lines: list[str] = []
    for error in errors:
        leaf = _leaf(error)
        lines.append(
            f"{json_path(leaf.absolute_path)}: {_short(leaf.message)} "
            f"(schema: {_schema_path(leaf.absolute_schema_path)})"
        )
    return lines


def assert_json_schema(data: object, schema_or_path: object) -> Any:
    """Assert ``data`` is valid under the schema; return the (parsed) data.

    ``data`` that is a str (or a provider SDK's response object: its text) is taken
    as model output: its JSON is found with :func:`extract_json` first. ``schema_or_path`` is a dict, a bool, or a path.
    """
    __tracebackhide__ = True
    schema, name = load_schema(schema_or_path)
    validator = validator_for(schema, name)
    if is_sdk_response(data):  # a provider SDK's response: its text is the output
        from ._text import require_text

        data = require_text(data, "assert_json_schema")
    if isinstance(data, str):
        from ._json import extract_json

        data = extract_json(data).value
    violations = schema_violations(validator, data)
    if violations:
        count = len(violations)
        lines = [f"assert_json_schema: {count} violation{'s' if count != 1 else ''} of {name}"]
        lines.extend("  " + v for v in violations[:MAX_VIOLATIONS])
        if count > MAX_VIOLATIONS:
            lines.append(f"  ... and {count - MAX_VIOLATIONS} more")
        raise SchemaViolationError("\n".join(lines), violations=violations)
    return data
