"""pydantic checks: validate model output (text or data) against a model.

A failure lists every validation error with its JSON path and the offending
value, not just pydantic's first line, because a model that gets one field wrong
usually gets several.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, cast

from pytest_llm._errors import ConfigError

from ._base import ModelAssertionError, json_path, show_value, type_name
from ._reading import is_sdk_response

__all__ = ["assert_model", "format_model_errors"]

M = TypeVar("M")
MAX_ERRORS = 10


def format_model_errors(errors: Sequence[Any]) -> list[str]:
    """One line per pydantic error: ``$.path: message (got value)``."""
    lines: list[str] = []
    for error in errors:
        where = json_path(error.get("loc", ()))
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "missing":
            lines.append(f"{where}: {message}")
        else:
            lines.append(f"{where}: {message} (got {show_value(error.get('input'))})")
    return lines


def _pydantic() -> Any:
    __tracebackhide__ = True
    try:
        import pydantic
    except ImportError:
        raise ConfigError(
            "assert_model needs the pydantic package; install it: pip install pydantic"
        ) from None
    return pydantic


def _adapter(model: Any) -> Any:
    __tracebackhide__ = True
    pydantic = _pydantic()

    if isinstance(model, type) and issubclass(model, pydantic.BaseModel):
        return None
    try:
        return pydantic.TypeAdapter(model)
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError) as exc:
        raise ConfigError(
            f"assert_model expects a pydantic model class (or a type pydantic can validate), "
            f"got {type_name(model)}: {show_value(model, 60)}; pass a BaseModel subclass"
        ) from exc


def assert_model(text_or_data: object, model: type[M], *, repair: bool = False) -> M:
    """Validate against a pydantic model and return the instance.

    A str is taken as model output: its JSON is found with :func:`extract_json`
    (``repair`` is passed on); so is a provider SDK's response object (its text).
    Anything else is validated as is.
    """
    __tracebackhide__ = True
    pydantic = _pydantic()
    adapter = _adapter(model)
    data: Any = text_or_data
    where = ""
    if is_sdk_response(text_or_data):  # a provider SDK's response: its text is the output
        from ._text import require_text

        text_or_data = require_text(text_or_data, "assert_model")
    if isinstance(text_or_data, str):
        from ._json import extract_json

        found = extract_json(text_or_data, repair=repair)
        data = found.value
        where = f" (JSON from {found.where()})"
    name = model.__name__ if adapter is None else repr(model)
    try:
        if adapter is None:
            return cast("M", model.model_validate(data))  # type: ignore[attr-defined]
        return cast("M", adapter.validate_python(data))
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False)
        count = len(errors)
        lines = [
            f"assert_model: {count} validation error{'s' if count != 1 else ''} for {name}{where}"
        ]
        lines.extend("  " + line for line in format_model_errors(errors)[:MAX_ERRORS])
        if count > MAX_ERRORS:
            lines.append(f"  ... and {count - MAX_ERRORS} more")
        raise ModelAssertionError("\n".join(lines), errors=[dict(e) for e in errors]) from None
