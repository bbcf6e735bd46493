"""Prompts as versioned files: ``prompts/<name>/v<N>.yaml``, rendered strictly.

A prompt file holds ``version``, ``model``, ``temperature``, ``system``, a ``user``
template and optionally ``response_format`` and ``max_tokens``. Templates use
``{variable}`` fields only (no attribute or index access, no format specs: a template
is data, not code); rendering with a missing or an extra variable is an error that
names it. The rendered request carries the prompt's identity (``name@vN``) in the
``x-pytest-llm-prompt`` header: the resilient client copies it into ``CallInfo.prompt``
(events, metrics) and a recording cassette into the interaction's metadata, then drops
it, so a reviewer sees which prompt version each recording came from.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..assertions._base import did_you_mean
from ._errors import ClientConfigError

__all__ = ["PROMPT_HEADER", "Prompt", "PromptError", "PromptLibrary", "prompt_of"]

PROMPT_HEADER = "x-pytest-llm-prompt"
"""Request header naming the prompt (``name@vN``); recorded as metadata, never matched."""

_KEYS = ("version", "model", "temperature", "system", "user", "response_format", "max_tokens")
_REQUIRED = ("version", "model", "user")
_FILE = re.compile(r"v(\d+)\.ya?ml")


class PromptError(ClientConfigError):
    """A prompt file or a render that is wrong; the message names the file or field."""


def _fields(template: str, where: str) -> tuple[str, ...]:
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise PromptError(
            f"{where}: the template does not parse ({exc}).\n"
            "Fix: write variables as {name} and literal braces as {{ and }}."
        ) from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raw = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise PromptError(
                f"{where}: {raw} is not a plain variable (templates allow {{name}} only: no "
                "attribute or index access, no conversions or format specs).\n"
                "Fix: pass the finished value as its own variable, e.g. {customer_name}."
            )
        if name not in names:
            names.append(name)
    return tuple(names)


@dataclass(frozen=True)
class Prompt:
    """One version of one prompt, loaded from its file."""

    name: str
    version: int
    model: str
    user: str
    system: str | None = None
    temperature: float | None = None
    response_format: dict[str, Any] | None = None
    max_tokens: int | None = None
    path: Path | None = None
    variables: tuple[str, ...] = field(default=())
    """The variables the templates use, in order of first use."""

    @property
    def id(self) -> str:
        """``name@vN``: what events, metrics and cassette metadata show."""
        return f"{self.name}@v{self.version}"

    def _where(self) -> str:
        return str(self.path) if self.path is not None else f"prompt {self.id}"

    def messages(self, **variables: Any) -> list[dict[str, str]]:
        """The chat messages, with every variable filled in (strictly)."""
        missing = [v for v in self.variables if v not in variables]
        extra = sorted(set(variables) - set(self.variables))
        if missing:
            raise PromptError(
                f"{self._where()}: variable {missing[0]!r} is not supplied (the template "
                f"uses {', '.join(self.variables)}).\nFix: pass {missing[0]}=... to render()."
            )
        if extra:
            hint = did_you_mean(extra[0], self.variables)
            raise PromptError(
                f"{self._where()}: variable {extra[0]!r} is not used by the template{hint}\n"
                f"Fix: pass only {', '.join(self.variables) or 'no variables'}, or add "
                f"{{{extra[0]}}} to the template in a new version."
            )
        values = {k: str(v) for k, v in variables.items()}
        out: list[dict[str, str]] = []
        if self.system:
            out.append({"role": "system", "content": self.system.format_map(values)})
        out.append({"role": "user", "content": self.user.format_map(values)})
        return out

    def render(self, **variables: Any) -> dict[str, Any]:
        """Keyword arguments for ``chat.completions.create``: model, messages, the
        prompt's settings and the header that names it."""
        kwargs: dict[str, Any] = {"model": self.model, "messages": self.messages(**variables)}
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        if self.response_format is not None:
            kwargs["response_format"] = self.response_format
        kwargs["extra_headers"] = {PROMPT_HEADER: self.id}
        return kwargs

    @classmethod
    def from_file(cls, path: str | Path, name: str | None = None) -> Prompt:
        """Load and check one prompt file (``.../<name>/v<N>.yaml``)."""
        path = Path(path)
        name = name or path.parent.name
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PromptError(
                f"{path}: no such prompt file.\nFix: create it, or check the prompt name and "
                "version."
            ) from None
        except yaml.YAMLError as exc:
            raise PromptError(f"{path}: not valid YAML ({exc}).\nFix: correct the YAML.") from None
        if not isinstance(doc, dict):
            raise PromptError(
                f"{path}: a prompt file is a mapping of {', '.join(_KEYS)}, not "
                f"{type(doc).__name__}.\nFix: write version: 1, model: ..., user: ..."
            )
        for key in doc:
            if key not in _KEYS:
                raise PromptError(
                    f"{path}: unknown key {key!r}{did_you_mean(str(key), _KEYS)}\n"
                    f"Fix: use only {', '.join(_KEYS)}."
                )
        for key in _REQUIRED:
            if doc.get(key) is None:
                raise PromptError(
                    f"{path}: the {key!r} key is missing.\nFix: add {key}: ... (the file name "
                    "says the version: v2.yaml holds version: 2)."
                )
        version = doc["version"]
        match = _FILE.fullmatch(path.name)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise PromptError(
                f"{path}: version {version!r} is not a whole number 1 or more.\n"
                "Fix: write version: 1 (and name the file v1.yaml)."
            )
        if match is not None and int(match.group(1)) != version:
            raise PromptError(
                f"{path}: the file says version {version}, its name says v{match.group(1)}.\n"
                f"Fix: rename the file to v{version}.yaml, or set version: {match.group(1)}."
            )
        for key in ("model", "user", "system"):
            if key in doc and doc[key] is not None and not isinstance(doc[key], str):
                raise PromptError(f"{path}: {key!r} must be text.\nFix: write {key}: |- ...")
        temperature = doc.get("temperature")
        if temperature is not None and (
            isinstance(temperature, bool) or not isinstance(temperature, int | float)
        ):
            raise PromptError(
                f"{path}: temperature {temperature!r} is not a number.\nFix: e.g. temperature: 0.2"
            )
        fmt = doc.get("response_format")
        if fmt is not None and not isinstance(fmt, dict):
            raise PromptError(
                f"{path}: response_format must be a mapping.\n"
                "Fix: e.g. response_format: {type: json_object}"
            )
        variables = _fields(doc.get("system") or "", f"{path}: system")
        variables += tuple(v for v in _fields(doc["user"], f"{path}: user") if v not in variables)
        return cls(
            name=name,
            version=version,
            model=doc["model"],
            user=doc["user"],
            system=doc.get("system"),
            temperature=None if temperature is None else float(temperature),
            response_format=fmt,
            max_tokens=doc.get("max_tokens"),
            path=path,
            variables=variables,
        )

    def __repr__(self) -> str:
        return f"Prompt({self.id}, model={self.model!r}, variables={list(self.variables)})"


class PromptLibrary:
    """The prompts under a directory: ``<directory>/<name>/v<N>.yaml``.

    >>> prompts = PromptLibrary("prompts")
    >>> reply = client.chat.completions.create(**prompts.get("triage").render(ticket=text))
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise PromptError(
                f"PromptLibrary({str(directory)!r}): no such directory.\n"
                "Fix: pass the folder that holds <name>/v<N>.yaml files."
            )
        self._loaded: dict[tuple[str, int], Prompt] = {}

    def names(self) -> list[str]:
        return sorted(
            p.name for p in self.directory.iterdir() if p.is_dir() and self.versions(p.name)
        )

    def versions(self, name: str) -> list[int]:
        folder = self.directory / name
        if not folder.is_dir():
            return []
        found = (_FILE.fullmatch(p.name) for p in folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m is not None)

    def get(self, name: str, version: int | None = None) -> Prompt:
        """A prompt by name: the given version, or the highest one."""
        versions = self.versions(name)
        if not versions:
            raise PromptError(
                f"{self.directory / name}: no prompt named {name!r}"
                f"{did_you_mean(name, self.names())}\nFix: create "
                f"{self.directory / name / 'v1.yaml'}, or use one of: "
                f"{', '.join(self.names()) or 'none yet'}."
            )
        chosen = versions[-1] if version is None else version
        if chosen not in versions:
            raise PromptError(
                f"{self.directory / name}: no version {chosen} of {name!r} (versions: "
                f"{', '.join(map(str, versions))}).\nFix: use one of those, or add "
                f"v{chosen}.yaml."
            )
        key = (name, chosen)
        if key not in self._loaded:
            folder = self.directory / name
            path = next(
                p
                for p in folder.iterdir()
                if (m := _FILE.fullmatch(p.name)) and int(m[1]) == chosen
            )
            self._loaded[key] = Prompt.from_file(path, name)
        return self._loaded[key]

    def choose(self, name: str, key: str, split: Mapping[int, float]) -> Prompt:
        """The version for ``key`` (a user id, a ticket id) under an A/B ``split``
        (``{1: 90, 2: 10}``, weights): the same key always gets the same version."""
        if not split or any(w < 0 for w in split.values()) or sum(split.values()) <= 0:
            raise PromptError(
                f"choose({name!r}, split={dict(split)!r}): the split maps versions to "
                "weights above 0.\nFix: e.g. split={1: 50, 2: 50}."
            )
        digest = hashlib.sha256(f"{name}\0{key}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64 * sum(split.values())
        for version, weight in sorted(split.items()):
            if point < weight:
                return self.get(name, version)
            point -= weight
        return self.get(name, max(split))

    def __repr__(self) -> str:
        return f"PromptLibrary({str(self.directory)!r})"


def prompt_of(kwargs: Mapping[str, Any]) -> str | None:
    """The ``name@vN`` a request carries in its ``x-pytest-llm-prompt`` header, if any."""
    headers = kwargs.get("extra_headers")
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == PROMPT_HEADER and isinstance(value, str):
            return value
    return None
