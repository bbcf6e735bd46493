"""One resolve() for option precedence.

CLI > environment > marker > fixture (``llm_cassette_config``) > ini > default.
Every resolved value remembers where it came from, for error messages and for the
CI rule (in CI, recording needs the flag given on the command line).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ._errors import ConfigError

__all__ = ["ENV", "Resolved", "in_ci", "parse_bool", "resolve"]

T = TypeVar("T")

ENV = {
    "record": "PYTEST_LLM_RECORD",
    "cassette_dir": "PYTEST_LLM_CASSETTE_DIR",
    "allow_network": "PYTEST_LLM_ALLOW_NETWORK",
    "replay_timing": "PYTEST_LLM_REPLAY_TIMING",
}

_MISSING: Any = object()


@dataclass(frozen=True)
class Resolved(Generic[T]):
    value: T
    source: str
    """``command line``, ``environment variable X``, ``marker``, ``llm_cassette_config``,
    ``ini option X`` or ``default``."""


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
    for value, source in candidates:
        if value is None or (isinstance(value, str) and value == "") or value == []:
            continue
        return Resolved(convert(value, source) if convert else value, source)
    return Resolved(default, "default")


def parse_bool(value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{source}={value!r} is not a boolean.\nFix: use true or false.")


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    value = env.get("CI", "")
    return value.strip().lower() not in ("", "0", "false", "no")
