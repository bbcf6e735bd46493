"""Model names that answer for each other, opt-in: ``{"gpt-4o-mini":
"gpt-4o-mini-2024-07-18"}`` (as a provider serves an alias with its dated snapshot).

One definition for the fake (``llm_fake.aliases``) and cassette matching
(``model_aliases``): each name maps to the name of its group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import ConfigError

__all__ = ["alias_groups", "parse_alias_option"]

_EXAMPLE = "{'gpt-4o-mini': 'gpt-4o-mini-2024-07-18'}"


def alias_groups(
    names: Any, where: str, fix: str, groups: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``groups`` (name -> group) with ``names`` (name -> alias or list of aliases) merged
    in; a name in two groups joins them. Bad input is a :class:`ConfigError` naming
    ``where`` and the ``fix``."""
    if not isinstance(names, Mapping):
        raise ConfigError(
            f"{where}: expected a mapping of model names, got {names!r}.\nFix: {fix}."
        )
    out = dict(groups or {})
    for name, others in names.items():
        more: list[Any] = (
            [others]
            if isinstance(others, str)
            else list(others)
            if isinstance(others, list | tuple)
            else []
        )
        if (
            not isinstance(name, str)
            or not name
            or not more
            or not all(isinstance(m, str) and m for m in more)
        ):
            raise ConfigError(
                f"{where}: {name!r}: {others!r} is not a model name or a list of them.\nFix: {fix}."
            )
        group = out.get(name, name)
        for member in more:
            old = out.get(member, member)
            for k, v in list(out.items()):
                if v == old:
                    out[k] = group
            out[member] = group
        out[name] = group
    return out


def parse_alias_option(value: Any, source: str) -> dict[str, str]:
    """The ``model_aliases`` option: a mapping (marker, ``llm_cassette_config``,
    ``use_cassette``) or ini lines ``gpt-4o-mini = gpt-4o-mini-2024-07-18, ...``."""
    fix = (
        f"model_aliases={_EXAMPLE}, or in the ini: "
        "llm_model_aliases = gpt-4o-mini = gpt-4o-mini-2024-07-18"
    )
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Sequence) and not isinstance(value, str):
        names: dict[str, list[str]] = {}
        for line in value:
            name, eq, rest = str(line).partition("=")
            others = [o.strip() for o in rest.split(",") if o.strip()]
            if not eq or not name.strip() or not others:
                raise ConfigError(
                    f"{source}: {line!r} is not 'name = alias[, alias...]'.\nFix: {fix}."
                )
            names.setdefault(name.strip(), []).extend(others)
        value = names
    return alias_groups(value, source, fix)
