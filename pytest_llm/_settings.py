"""The options table, and what a pytest start-up needs of it.

Every option is one row of :data:`OPTIONS`: its flag, ini option, environment
variable, marker keyword and config key all come from it. Precedence: CLI >
environment > marker > fixture (``llm_cassette_config``) > ini > default; resolved
per test by :func:`pytest_llm._resolve.option`, for the session (no marker, no
fixture) by :func:`session_value`.

This module loads at every pytest start-up (the plugin's options come from it), so it
holds what an unused run needs and nothing more: the table, the start-up checks
(:func:`validate`) and the session's values. The per-test resolution
(:mod:`pytest_llm._resolve`) loads with the first test that uses the plugin; reading
and checking a value given (:mod:`pytest_llm._values`, with the errors and the
did-you-mean helper) with the first value given; and its records are plain classes (a
dataclass builds its methods with ``exec`` when the module loads).
PYTEST_DONT_REWRITE: no asserts to rewrite here (see :mod:`pytest_llm.plugin`).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pytest


__all__ = [
    "CONFIG_KEYS",
    "DUMMY_KEY",
    "ENV",
    "GUARD_MODES",
    "MARKERS",
    "MARKER_KEYWORDS",
    "MATCH_MODES",
    "OPTIONS",
    "RECORD_MODES",
    "VCR_RECORD_MODES",
    "Option",
    "add_options",
    "allow_network",
    "cassette_base",
    "check_record_mode",
    "given",
    "in_ci",
    "session_mode",
    "session_value",
    "validate",
    "xdist_controller",
]

RECORD_MODES = ("none", "once", "new", "all")
"""none: replay only; once: record missing cassettes; new: add missing interactions;
all: re-record everything."""
GUARD_MODES = ("llm-hosts", "all", "off")
"""What ``llm_guard`` keeps tests without a cassette from reaching (see ``_guard``)."""

VCR_RECORD_MODES = {
    "none": "none",
    "once": "once",
    "new_episodes": "new",
    "all": "all",
    "rewrite": "all",
    "any": "new",
}
"""vcrpy / pytest-recording record mode -> pytest-llm's (``--record-mode``, the ``vcr``
marker's ``record_mode``)."""

DUMMY_KEY = "pytest-llm-replay-key"
"""Put in ``OPENAI_API_KEY`` when it is unset and nothing is recorded: clients need a key
to be built, and replay (or the fake, or the loopback server) never sends it anywhere."""


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    value = env.get("CI", "")
    return value.strip().lower() not in ("", "0", "false", "no")


def check_record_mode(value: Any, source: str = "record") -> str:
    """``value`` if it is a record mode, else a :class:`ConfigError` naming ``source``."""
    if value in RECORD_MODES:  # every cassette asks: no import for a valid mode (a
        # relative import in a function asks the module's spec for its parent each time)
        return str(value)
    from ._values import choice

    return choice(value, source, RECORD_MODES, "record mode")


MATCH_MODES = ("strict", "migrate")
"""strict: the body is part of the match; migrate: it is not, and differences are drift."""


def _record_mode_arg(value: str) -> str:
    try:
        return check_record_mode(value, source="")
    except ValueError as exc:  # the ConfigError above
        raise argparse.ArgumentTypeError(str(exc)) from None


class Option:
    """One option, said once: where it can be given, its default, its help.

    ``where`` names its sources: ``cli`` (``--llm-<name>``; the keywords ``cli`` go to
    argparse), ``ini`` (of type ``kind``, named ``ini_name`` or ``llm_<name>``), ``env``
    (``PYTEST_LLM_<NAME>``), ``marker`` (a keyword of the ``llm_cassette`` marker, a key
    of ``llm_cassette_config`` and a keyword of ``Cassette`` and ``use_cassette``) and
    ``config`` (a key of ``llm_cassette_config`` only). A ``bool`` option's flag has a
    ``--no-`` form and its values are read as booleans; ``convert`` checks and converts
    any other value given.
    """

    __slots__ = (
        "cli",
        "config",
        "convert",
        "default",
        "env",
        "help",
        "ini",
        "ini_help",
        "ini_key",
        "marker",
        "name",
    )

    def __init__(
        self,
        name: str,
        help: str,
        where: str,
        default: Any = None,
        kind: Literal["string", "bool", "linelist"] = "string",
        convert: Callable[[Any, str], Any] | None = None,
        ini_help: str = "",
        ini_name: str = "",
        **cli: Any,
    ) -> None:
        self.name = name
        self.help = help
        self.default = default
        if kind == "bool":
            cli["action"] = argparse.BooleanOptionalAction
            convert = _bool
        self.convert = convert
        self.cli = cli if "cli" in where else None
        self.ini = kind if "ini" in where else None
        self.ini_help = ini_help or help
        self.ini_key = ini_name or f"llm_{name}"
        self.env = "env" in where
        self.marker = "marker" in where
        self.config = "config" in where

    def __repr__(self) -> str:
        return f"Option({self.name!r})"


def _bool(value: Any, source: str) -> bool:
    if isinstance(value, bool):  # a bool ini option, typed by pytest
        return value
    from ._values import parse_bool

    return parse_bool(value, source)


def _verdicts_mode(value: Any, source: str) -> str:
    from ._verdicts import check_mode

    return check_mode(value, source)


def _model_aliases(value: Any, source: str) -> dict[str, str]:
    from ._aliases import parse_alias_option

    return parse_alias_option(value, source)


def _record_mode(value: Any, source: str) -> str:
    return check_record_mode(str(value), source)


def _match_mode(value: Any, source: str) -> str:
    from ._values import choice

    return choice(value, source, MATCH_MODES, "match mode")


def _timing(value: Any, source: str) -> Any:
    """A replay timing's check (``validate``); the cassette parses it when it opens."""
    from ._values import parse_timing

    parse_timing(value, source)
    return value


_GUARD_HELP = (
    "tests without a cassette: llm-hosts (default) blocks hosted LLM APIs, all blocks "
    "every non-loopback connection, off blocks nothing"
)

OPTIONS: tuple[Option, ...] = (
    Option(
        "record",
        "none (default): replay only, network blocked; once: record cassettes that do "
        "not exist; new: add missing interactions; all: re-record everything.",
        "cli ini env marker",
        default="none",
        convert=_record_mode,
        ini_help="default record mode (the CLI flag and env win)",
        type=_record_mode_arg,
        metavar="{none,once,new,all}",
    ),
    Option(
        "cassette_dir",
        "where cassettes live, relative to the rootdir (default: cassettes).",
        "cli ini env config",
        default="cassettes",
        ini_help="cassette directory, relative to the rootdir",
        metavar="DIR",
    ),
    Option(
        "allow_network",
        "let requests that no cassette answers reach the real network (not recorded); "
        "--no-llm-allow-network undoes the environment variable or ini option.",
        "cli ini env",
        default=False,
        kind="bool",
        ini_help="let unanswered requests reach the network",
    ),
    Option(
        "guard",
        _GUARD_HELP + " (wins over the ini option).",
        "cli ini",
        default="llm-hosts",
        ini_help=_GUARD_HELP,
        choices=GUARD_MODES,
    ),
    Option(
        "ignore",
        "JSON paths left out of request matching, added to the default volatile fields",
        "ini marker",
        default=(),
        kind="linelist",
        ini_name="llm_ignore_paths",
    ),
    Option(
        "match",
        "how requests match recordings: strict (default) compares method, path, query and "
        "the JSON body; migrate matches method, path and query in recorded order, as vcrpy "
        "did, and reports each body difference as drift (docs/migration.md).",
        "cli ini env marker",
        default="strict",
        convert=_match_mode,
        ini_help="strict (default) or migrate",
        choices=MATCH_MODES,
    ),
    Option(
        "null_as_absent",
        "match a JSON null as an absent key ('content': null recorded, left out today).",
        "cli ini env marker",
        default=False,
        kind="bool",
    ),
    Option(
        "allow_playback_repeats",
        "replay the last match again once all are used",
        "ini marker",
        default=False,
        kind="bool",
    ),
    Option(
        "replay_timing",
        "replay streams with their recorded timing: off (default), real, or a scale such as 0.1.",
        "cli ini env marker",
        ini_help="off, real, or a scale",
        metavar="off|real|SCALE",
    ),
    Option(
        "report",
        "write the pass rates of llm_samples tests (and the verdicts) to PATH as JSON (versioned).",
        "cli",
        metavar="PATH",
    ),
    Option(
        "verdicts",
        "verdicts on how tests' clients retried (docs/verdicts.md): report (default) shows "
        "them in the summary and --llm-report, fail also fails a flagged test, off skips them.",
        "cli ini env",
        default="report",
        convert=_verdicts_mode,
        ini_help="off, report (default) or fail",
        choices=("off", "report", "fail"),
    ),
    Option(
        "model_aliases",
        "model names that match each other in recordings, opt-in (a recording for "
        "gpt-4o-mini answers gpt-4o-mini-2024-07-18): a mapping, or ini lines "
        "'name = alias, ...'",
        "ini marker",
        kind="linelist",
        convert=_model_aliases,
    ),
    Option(
        "keep_headers",
        "volatile response headers to record anyway (date, request ids, ...; * for all)",
        "ini marker",
        default=(),
        kind="linelist",
    ),
    Option(
        "keep_host",
        "record a loopback URL's host and port instead of localhost",
        "ini marker",
        default=False,
        kind="bool",
    ),
    Option(
        "check_unused",
        "fail a test that leaves recorded interactions unused (default: on, except with "
        "match=migrate; never while recording)",
        "ini marker",  # default None, not given: Handler.check_unused, off in migrate mode
        kind="bool",
    ),
    Option(
        "hosts",
        "more host patterns (fnmatch) that llm_guard treats as LLM APIs",
        "ini",
        kind="linelist",
    ),
    Option("redact_headers", "extra headers to redact", "ini", kind="linelist"),
    Option("secret_patterns", "extra regexes of key-shaped strings", "ini", kind="linelist"),
    Option(
        "secret_allow", "regexes of key-shaped strings that are not secrets", "ini", kind="linelist"
    ),
    Option(
        "conformance",
        "run the 57 behavioural contracts against the client adapter(s) that "
        "MODULE.FACTORY() returns, and print the verdict table.",
        "cli",
        metavar="MODULE:FACTORY",
    ),
)
"""Every option of pytest-llm: the command line, ini, environment, marker and config
fixture are all made from this table (see docs/options.md)."""

OPTION = {o.name: o for o in OPTIONS}
MARKER_KEYWORDS = ("path", *(o.name for o in OPTIONS if o.marker))
"""The ``llm_cassette`` marker's keywords (``path`` may also be its one argument)."""
CONFIG_KEYS = tuple(o.name for o in OPTIONS if o.marker or o.config)
"""The keys ``llm_cassette_config()`` may return."""


def add_options(parser: pytest.Parser) -> None:
    """The command-line and ini options (the plugin's ``pytest_addoption``), from the table."""
    group = parser.getgroup("llm", "pytest-llm: record and replay LLM traffic")
    for o in OPTIONS:
        if o.cli is not None:
            flag = "--llm-" + o.name.replace("_", "-")
            group.addoption(flag, default=None, help=o.help, **o.cli)
    for o in OPTIONS:
        if o.ini is None:
            continue
        default: Any = {"bool": False, "linelist": []}.get(o.ini, "")
        if o.name == "guard" or (o.default is None and o.ini == "bool"):
            default = o.default  # an unset ini option must not hide the option's default
        parser.addini(o.ini_key, o.ini_help, type=o.ini, default=default)


def given(value: Any) -> bool:
    """Whether a source gave a value (``None``, ``""`` and ``[]`` are no value): the
    precedence rule takes the first source that did (:func:`first_given`)."""
    return not (value is None or (isinstance(value, str) and value == "") or value == [])


def first_given(
    sources: list[tuple[Any, str]], default: Any, convert: Callable[[Any, str], Any] | None
) -> tuple[Any, str]:
    """The precedence rule over ``sources`` (value, source name), listed in precedence
    order: the first that gave a value, converted, with its source; else ``default``."""
    for value, source in sources:
        if given(value):
            return (convert(value, source) if convert else value), source
    return default, "default"


def _session_sources(config: pytest.Config, o: Option, cli: Any = None) -> list[tuple[Any, str]]:
    """Where option ``o`` can be given for the whole session, in precedence order (the
    command line, the environment, ini), each value with the name of its source."""
    flag = "--llm-" + o.name.replace("_", "-")
    found: list[tuple[Any, str]] = []
    if o.cli is not None:
        found.append((cli if cli is not None else config.getoption(f"llm_{o.name}"), flag))
    if o.env:
        found.append((os.environ.get(ENV[o.name]), f"environment variable {ENV[o.name]}"))
    if o.ini is not None:
        found.append((config.getini(o.ini_key), f"ini option {o.ini_key}"))
    return found


def cassette_base(config: pytest.Config, cassette_dir: str) -> Path:
    """A cassette folder setting (``llm_cassette_dir``, a marker's ``path`` base) as a
    path: as given where absolute, else under the rootdir."""
    base = Path(cassette_dir)
    return base if base.is_absolute() else config.rootpath / base


def session_value(config: pytest.Config, name: str, cli: Any = None) -> tuple[Any, str]:
    """Option ``name`` for the whole session, converted, and where it came from: the one
    precedence rule over the sources a session has (no marker, no config fixture);
    ``default`` when none gave a value. Per test: :func:`pytest_llm._resolve.option`."""
    o = OPTION[name]
    return first_given(_session_sources(config, o, cli), o.default, o.convert)


def validate(config: pytest.Config) -> None:
    """Check every option's command-line, environment and ini value once, at start-up:
    a mistake is one usage error naming the flag, variable or ini key, not an error in
    every test that uses it."""
    import pytest

    for o in OPTIONS:
        check = _timing if o.name == "replay_timing" else o.convert
        if check is None:
            continue
        for value, source in _session_sources(config, o):
            if not given(value):
                continue
            try:
                check(value, source)
            except Exception as exc:
                from ._errors import ConfigError

                if not isinstance(exc, ConfigError):
                    raise
                raise pytest.UsageError(str(exc)) from None


def session_mode(config: pytest.Config) -> str:
    """The record mode from the command line, environment or ini that the session uses.

    ``none`` if unusable, and ``none`` when the CI rule turns recording off (``CI`` set
    and the mode not from the command line): then the dummy key is needed too.
    """
    cli = getattr(config.known_args_namespace, "llm_record", None)
    try:
        mode, source = session_value(config, "record", cli)
    except ValueError:  # a ConfigError: the plugin reports it at configure
        return "none"
    if not source.startswith("--") and in_ci():
        return "none"
    return str(mode)


def xdist_controller(config: pytest.Config) -> bool:
    """Whether this process is pytest-xdist's controller: it collects nothing, the
    reports come from its workers."""
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def allow_network(config: pytest.Config) -> bool:
    """``--llm-allow-network`` (or its environment variable, or ini option)."""
    return bool(session_value(config, "allow_network")[0])


MARKERS = (
    "llm_cassette(path=None, *, "
    + ", ".join(f"{o.name}=None" for o in OPTIONS if o.marker)
    + "): record or replay this test's LLM traffic.",
    "llm_verdicts(ignore=()): verdicts (docs/verdicts.md) not to judge in this test, "
    "e.g. ignore=['truncated_stream_accepted'] where the test expects the client's error.",
    "llm_samples(n=5, *, min_pass_rate=0.8, pass_at=(), early_stop=True): run the test n "
    "times; it passes when at least min_pass_rate of the samples pass.",
)


ENV = {o.name: f"PYTEST_LLM_{o.name.upper()}" for o in OPTIONS if o.env}
"""Option name -> its environment variable."""
