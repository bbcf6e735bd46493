"""pytest-recording's marker, fixtures, flags and hook, answered by pytest-llm.

Registered by :mod:`pytest_llm._vcr_compat` only when pytest-recording is not active.
A test marked ``vcr`` gets the ``vcr`` fixture first; it turns the merged
``vcr_config`` and marker keywords into an ``llm_cassette`` marker (the keywords that
map) and a list of those that do not, then opens the test's ``llm_cassette``.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
import pytest

from ._outcome import annotate

if TYPE_CHECKING:
    from .cassette._session import Cassette

__all__ = ["RECORD_MODES", "VcrCassette", "add_options", "translate"]

RECORD_MODES = {
    "none": "none",
    "once": "once",
    "new_episodes": "new",
    "all": "all",
    "rewrite": "all",
    "any": "new",
}
"""vcrpy / pytest-recording record mode -> pytest-llm's."""

_VCRPY_MODE = {"none": "none", "once": "once", "new": "new_episodes", "all": "all"}

_SAME = frozenset({"decode_compressed_response", "serializer", "allow_playback_repeats"})
"""Keys whose behaviour pytest-llm has anyway (bodies are always decoded; YAML)."""

_hookspec = pluggy.HookspecMarker("pytest")


class Hookspecs:
    """pytest-recording's hook, declared so a conftest implementing it loads."""

    @_hookspec
    def pytest_recording_configure(self, config: pytest.Config, vcr: Any) -> None:
        """Configure the ``VCR`` object (not called: pytest-llm replays without vcrpy)."""


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("recording", "pytest-recording's options, answered by pytest-llm")
    group.addoption(
        "--record-mode",
        default=None,
        choices=tuple(RECORD_MODES),
        help="pytest-recording's record mode, mapped to --llm-record "
        "(new_episodes: new, rewrite: all); --llm-record wins.",
    )
    group.addoption(
        "--block-network",
        action="store_true",
        default=False,
        help="accepted: pytest-llm blocks the network of tests with a cassette anyway.",
    )
    group.addoption(
        "--allowed-hosts", default=None, help="accepted and ignored (see docs/migration.md)."
    )
    group.addoption(
        "--disable-recording",
        action="store_true",
        default=False,
        help="@pytest.mark.vcr tests run without a cassette.",
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "vcr(*cassettes, **vcr_config): pytest-recording's marker, replayed by pytest-llm "
        "(docs/migration.md).",
        "block_network: accepted (pytest-llm blocks the network of tests with a cassette).",
        "default_cassette(name): the cassette file name of a vcr test.",
        "allowed_hosts(hosts): accepted and ignored.",
    ):
        config.addinivalue_line("markers", line)
    mode = config.getoption("record_mode", None)
    if mode and config.getoption("llm_record", None) is None:
        config.option.llm_record = RECORD_MODES[mode]
    if _xdist_controller(config):  # it collects nothing: the reports come from workers
        config.pluginmanager.register(VcrSummary(config), "llm-vcr-summary")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``vcr`` first in every marked test: it sets up the cassette before the test's own
    fixtures (and before autouse fixtures that read ``vcr``, as pytest-recording's do)."""
    if config.getoption("disable_recording", False):
        return
    marked = False
    for item in items:
        if item.get_closest_marker("vcr") is None:
            continue
        marked = True
        names = getattr(item, "fixturenames", None)
        if names is None:
            continue
        if "vcr" in names:
            names.remove("vcr")
        names.insert(0, "vcr")
    if marked:
        from .plugin import arm

        arm(config)
        if not config.pluginmanager.has_plugin("llm-vcr-summary"):
            config.pluginmanager.register(VcrSummary(config), "llm-vcr-summary")


def _xdist_controller(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    """Override in a conftest, as with pytest-recording: the keys that map are used."""
    return {}


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    """pytest-recording's: ``cassettes/<module name>`` beside the test file."""
    path = Path(str(request.node.path))
    return str(path.parent / "cassettes" / path.stem)


@pytest.fixture
def default_cassette_name(request: pytest.FixtureRequest) -> str:
    """pytest-recording's: ``[Class.]test_name``, file-safe, or ``default_cassette(name)``."""
    marker = request.node.get_closest_marker("default_cassette")
    if marker is not None and marker.args:
        return str(marker.args[0])
    cls = request.cls
    name = f"{cls.__name__}.{request.node.name}" if cls is not None else request.node.name
    for ch in "<>?%*:|\"'/\\":
        name = name.replace(ch, "-")
    return name


@pytest.fixture(scope="session")
def record_mode(request: pytest.FixtureRequest) -> str:
    """pytest-recording's ``--record-mode`` (``none`` when not given)."""
    return str(request.config.getoption("record_mode", None) or "none")


@pytest.fixture
def vcr_markers(request: pytest.FixtureRequest) -> list[pytest.Mark]:
    return list(request.node.iter_markers("vcr"))


@pytest.fixture
def vcr(request: pytest.FixtureRequest) -> Iterator[VcrCassette | None]:
    """The test's cassette as pytest-recording's ``vcr`` fixture gives it (``None`` for a
    test without the marker), replaying through pytest-llm."""
    markers = list(request.node.iter_markers("vcr"))
    if not markers or request.config.getoption("disable_recording", False):
        yield None
        return
    config = request.getfixturevalue("vcr_config")
    directory = request.getfixturevalue("vcr_cassette_dir")
    name = request.getfixturevalue("default_cassette_name")
    keywords, unmapped, redact = translate(config, markers, Path(directory), name)
    item = request.node
    item.add_marker(pytest.mark.llm_cassette(**keywords))
    annotate(item, lambda rep: _report_unmapped(rep, unmapped))
    cassette: Cassette = request.getfixturevalue("llm_cassette")
    if redact:
        cassette.redactor.headers = cassette.redactor.headers | redact
    yield VcrCassette(cassette)


def translate(
    config: dict[str, Any], markers: list[pytest.Mark], directory: Path, name: str
) -> tuple[dict[str, Any], list[str], frozenset[str]]:
    """pytest-recording's merged configuration as ``llm_cassette`` keywords.

    Returns the keywords, the keys that have no equivalent, and extra headers to redact.
    The marker's keywords win over ``vcr_config``, as with pytest-recording.
    """
    merged = dict(config or {})
    for mark in reversed(markers):
        merged.update(mark.kwargs)
    keywords: dict[str, Any] = {}
    unmapped: list[str] = []
    redact: set[str] = set()
    if merged.get("cassette_library_dir"):
        directory = Path(str(merged["cassette_library_dir"]))
    suffix = ".yaml"
    if len(name) + len(suffix) > 255:  # pytest-recording shortens long names the same way
        digest = hashlib.md5(name.encode()).hexdigest()
        name = f"{name[: 255 - len(suffix) - len(digest) - 3]}...{digest}"
    path = directory / f"{name}{suffix}"
    extras = [a for mark in markers for a in mark.args]
    if extras:
        first = Path(str(extras[0]))
        first = first if first.is_absolute() else directory / first
        if not path.exists():
            path = first
        if len(extras) > 1 or path != first:
            unmapped.append("more than one cassette per test (@pytest.mark.vcr(path, ...))")
    keywords["path"] = os.fspath(path)
    for key, value in merged.items():
        if key == "record_mode":
            mode = str(getattr(value, "value", value))
            if mode in RECORD_MODES:
                keywords["record"] = RECORD_MODES[mode]
            else:
                unmapped.append(f"record_mode={mode!r}")
        elif key == "filter_headers":
            for h in value or ():
                redact.add(str(h[0] if isinstance(h, list | tuple) else h).lower())
        elif key == "match_on":
            extra = sorted(set(value or ()) - {"method", "path", "query", "body", "uri"})
            if extra:
                unmapped.append(f"match_on {', '.join(extra)}")
        elif key == "allow_playback_repeats":
            keywords["allow_playback_repeats"] = bool(value)
        elif key == "cassette_library_dir" or key in _SAME:
            if key == "serializer" and value not in ("yaml", None):
                unmapped.append(f"serializer={value!r}")
        else:
            unmapped.append(key)
    return keywords, unmapped, frozenset(redact)


def _report_unmapped(rep: pytest.TestReport, unmapped: list[str]) -> None:
    if rep.when == "teardown":
        rep.llm_vcr = {"unmapped": unmapped}  # type: ignore[attr-defined]


class VcrCassette:
    """pytest-recording's ``vcr`` fixture value, over pytest-llm's cassette.

    The counters conftests read (``play_count``, ``play_counts``, ``all_played``,
    ``record_mode``, ``len()``, ``path``) are the cassette's; ``llm_cassette`` is the
    cassette itself.
    """

    def __init__(self, cassette: Cassette) -> None:
        self.llm_cassette = cassette

    @property
    def path(self) -> str:
        return str(self.llm_cassette.path)

    _path = path

    @property
    def record_mode(self) -> str:
        """vcrpy's name of the mode (equal to ``vcr.record_mode.RecordMode`` members)."""
        return _VCRPY_MODE[self.llm_cassette.record]

    @property
    def write_protected(self) -> bool:
        return not self.llm_cassette.recording

    @property
    def play_counts(self) -> Counter[int]:
        return Counter(dict.fromkeys(self.llm_cassette._played, 1))

    @property
    def play_count(self) -> int:
        return len(self.llm_cassette._played)

    @property
    def all_played(self) -> bool:
        return self.play_count == len(self)

    def __len__(self) -> int:
        file = self.llm_cassette.file
        return len(file.interactions) if file is not None else 0

    def __repr__(self) -> str:
        return f"<VcrCassette {self.path!r} record_mode={self.record_mode!r} plays={self.play_count}/{len(self)}>"


class VcrSummary:
    """Names, once, what of pytest-recording's configuration pytest-llm did not use."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tests = 0
        self.unmapped: Counter[str] = Counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        info = getattr(report, "llm_vcr", None)
        if info is None:
            return
        self.tests += 1
        self.unmapped.update(dict.fromkeys(info["unmapped"], 1))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.tests:
            return
        tr = terminalreporter
        hooks = [
            _where(self.config, impl.plugin)
            for impl in self.config.pluginmanager.hook.pytest_recording_configure.get_hookimpls()
        ]
        if not (self.unmapped or hooks):
            return
        tr.ensure_newline()  # after the progress line, not below the title
        tr.section("pytest-llm: pytest-recording settings")
        if self.unmapped:
            tr.write_line("not used (no equivalent in pytest-llm):")
            for key, n in sorted(self.unmapped.items()):
                tr.write_line(f"  {key} ({n} test{'' if n == 1 else 's'})")
        for where in hooks:
            tr.write_line(
                f"pytest_recording_configure in {where} is not called: pytest-llm replays "
                "without vcrpy (its serializers and matchers are not used)"
            )
        tr.write_line("see docs/migration.md for what each maps to")


def _where(config: pytest.Config, plugin: Any) -> str:
    file = getattr(plugin, "__file__", None)
    if not file:
        return str(getattr(plugin, "__name__", plugin))
    try:
        return str(Path(file).relative_to(config.rootpath))
    except ValueError:
        return str(file)
