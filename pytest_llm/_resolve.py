"""One resolve() for option precedence, per test.

CLI > environment > marker > fixture (``llm_cassette_config``) > ini > default.
Every resolved value remembers where it came from, for error messages and for the
CI rule (in CI, recording needs the flag given on the command line). The table and
what a pytest start-up needs of it (the session's values, the checks) are in
:mod:`pytest_llm._settings`; this loads with the first test that uses the plugin.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._settings import ENV, OPTION, first_given

if TYPE_CHECKING:
    import pytest

__all__ = ["Resolved", "option", "resolve"]

T = TypeVar("T")


class Resolved(Generic[T]):
    """An option's value and where it came from: ``command line``, ``environment
    variable X``, ``marker``, ``llm_cassette_config``, ``ini option X`` or ``default``."""

    __slots__ = ("source", "value")

    def __init__(self, value: T, source: str) -> None:
        self.value = value
        self.source = source

    def __eq__(self, other: object) -> bool:
        if type(other) is not Resolved:
            return NotImplemented
        return (self.value, self.source) == (other.value, other.source)

    def __hash__(self) -> int:
        return hash((self.value, self.source))

    def __repr__(self) -> str:
        return f"Resolved(value={self.value!r}, source={self.source!r})"


def resolve(
    name: str,
    *,
    cli: Any = None,
    marker: Mapping[str, Any] | None = None,
    fixture: Mapping[str, Any] | None = None,
    ini: Any = None,
    default: T,
    convert: Callable[[Any, str], T] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Resolved[T]:
    env = os.environ if environ is None else environ
    env_name = ENV.get(name)
    candidates: list[tuple[Any, str]] = [
        (cli, "command line"),
        (env.get(env_name) if env_name else None, f"environment variable {env_name}"),
        ((marker or {}).get(name), f"llm_cassette marker keyword {name}"),
        ((fixture or {}).get(name), f"llm_cassette_config[{name!r}]"),
        (ini, f"ini option llm_{name}"),
    ]
    value, source = first_given(candidates, default, convert)
    return Resolved(value, source)


def option(
    config: pytest.Config,
    name: str,
    *,
    marker: Mapping[str, Any] | None = None,
    fixture: Mapping[str, Any] | None = None,
) -> Resolved[Any]:
    """The value of option ``name`` from every source it has, by the one precedence rule."""
    o = OPTION[name]
    return resolve(
        name,
        cli=config.getoption(f"llm_{name}") if o.cli is not None else None,
        marker=marker if o.marker else None,
        fixture=fixture if (o.marker or o.config) else None,
        ini=config.getini(o.ini_key) if o.ini is not None else None,
        default=o.default,
        convert=o.convert,
    )
