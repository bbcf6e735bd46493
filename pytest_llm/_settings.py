"""One resolve() for option precedence.

CLI > environment > marker > fixture (``llm_cassette_config``) > ini > default.
Every resolved value remembers where it came from, for error messages and for the
CI rule (in CI, recording needs the flag given on the command line).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._errors import ConfigError
from ._text import did_you_mean

if TYPE_CHECKING:
    import pytest

__all__ = [
    "DUMMY_KEY",
    "ENV",
    "GUARD_MODES",
    "MARKERS",
    "RECORD_MODES",
    "Resolved",
    "add_options",
    "allow_network",
    "check_record_mode",
    "in_ci",
    "parse_bool",
    "resolve",
    "session_mode",
]

RECORD_MODES = ("none", "once", "new", "all")
GUARD_MODES = ("llm-hosts", "all", "off")
"""What ``llm_guard`` keeps tests without a cassette from reaching (see ``_guard``)."""
"""none: replay only; once: record missing cassettes; new: add missing interactions;
all: re-record everything."""

DUMMY_KEY = "pytest-llm-replay-key"
"""Put in ``OPENAI_API_KEY`` when it is unset and nothing is recorded: clients need a key
to be built, and replay (or the fake, or the loopback server) never sends it anywhere."""

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


def check_record_mode(value: Any, source: str = "record") -> str:
    """``value`` if it is a record mode, else a :class:`ConfigError` naming ``source``."""
    if value not in RECORD_MODES:
        hint = did_you_mean(str(value), RECORD_MODES, template=" (did you mean {!r}?)")
        where = f"{source}: " if source else ""
        raise ConfigError(
            f"{where}{value!r} is not a record mode{hint}; use one of: {', '.join(RECORD_MODES)}"
        )
    return str(value)


def _record_mode_arg(value: str) -> str:
    try:
        return check_record_mode(value, source="")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


MARKERS = (
    "llm_cassette(path=None, *, record=None, ignore=None, allow_playback_repeats=None, "
    "replay_timing=None, check_unused=None): record or replay this test's LLM traffic.",
    "llm_samples(n=5, *, min_pass_rate=0.8, pass_at=(), early_stop=True): run the test n "
    "times; it passes when at least min_pass_rate of the samples pass.",
)


def add_options(parser: pytest.Parser) -> None:
    """The command-line and ini options (the plugin's ``pytest_addoption``)."""
    group = parser.getgroup("llm", "pytest-llm: record and replay LLM traffic")
    group.addoption(
        "--llm-record",
        type=_record_mode_arg,
        default=None,
        metavar="{none,once,new,all}",
        help="none (default): replay only, network blocked; once: record cassettes that do "
        "not exist; new: add missing interactions; all: re-record everything.",
    )
    group.addoption(
        "--llm-cassette-dir",
        default=None,
        metavar="DIR",
        help="where cassettes live, relative to the rootdir (default: cassettes).",
    )
    group.addoption(
        "--llm-allow-network",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="let requests that no cassette answers reach the real network (not recorded); "
        "--no-llm-allow-network undoes the environment variable or ini option.",
    )
    group.addoption(
        "--llm-guard",
        choices=GUARD_MODES,
        default=None,
        help="tests without a cassette: llm-hosts (default) blocks hosted LLM APIs, all blocks "
        "every non-loopback connection, off blocks nothing (wins over the ini option).",
    )
    group.addoption(
        "--llm-replay-timing",
        default=None,
        metavar="off|real|SCALE",
        help="replay streams with their recorded timing: off (default), real, or a scale "
        "such as 0.1.",
    )
    group.addoption(
        "--llm-report",
        default=None,
        metavar="PATH",
        help="write the pass rates of llm_samples tests to PATH as JSON (versioned).",
    )
    parser.addini("llm_record", "default record mode (the CLI flag and env win)", default="")
    parser.addini("llm_cassette_dir", "cassette directory, relative to the rootdir", default="")
    parser.addini(
        "llm_allow_network", "let unanswered requests reach the network", type="bool", default=False
    )
    parser.addini("llm_replay_timing", "off, real, or a scale", default="")
    parser.addini(
        "llm_ignore_paths",
        "JSON paths left out of request matching, added to the default volatile fields",
        type="linelist",
        default=[],
    )
    parser.addini(
        "llm_guard",
        "tests without a cassette: llm-hosts (default) blocks hosted LLM APIs, all blocks "
        "every non-loopback connection, off blocks nothing",
        default="llm-hosts",
    )
    parser.addini(
        "llm_hosts",
        "more host patterns (fnmatch) that llm_guard treats as LLM APIs",
        type="linelist",
        default=[],
    )
    parser.addini("llm_redact_headers", "extra headers to redact", type="linelist", default=[])
    parser.addini(
        "llm_secret_patterns", "extra regexes of key-shaped strings", type="linelist", default=[]
    )
    parser.addini(
        "llm_secret_allow",
        "regexes of key-shaped strings that are not secrets",
        type="linelist",
        default=[],
    )
    parser.addini(
        "llm_check_unused",
        "fail a test that leaves recorded interactions unused",
        type="bool",
        default=False,
    )
    parser.addini(
        "llm_allow_playback_repeats",
        "replay the last match again once all are used",
        type="bool",
        default=False,
    )


def session_mode(config: pytest.Config) -> str:
    """The record mode from the command line, environment or ini (``none`` if unusable)."""
    try:
        return str(
            resolve(
                "record",
                cli=getattr(config.known_args_namespace, "llm_record", None),
                ini=config.getini("llm_record"),
                default="none",
            ).value
        )
    except (ConfigError, ValueError):
        return "none"


def allow_network(config: pytest.Config) -> bool:
    """``--llm-allow-network`` (or its environment variable, or ini option)."""
    return bool(
        resolve(
            "allow_network",
            cli=config.getoption("llm_allow_network"),
            ini=config.getini("llm_allow_network"),
            default=False,
            convert=parse_bool,
        ).value
    )
