"""pytest-recording's configuration mapped onto pytest-llm's: what the ``vcr`` fixture
of :mod:`pytest_llm._vcr_shim` does once a test is marked ``vcr``, its fixture value,
and the summary of what did not map. Loaded with the first such test, not at start-up.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._settings import VCR_RECORD_MODES as RECORD_MODES

if TYPE_CHECKING:
    from .cassette._session import Cassette

__all__ = [
    "VcrCassette",
    "VcrSummary",
    "cassette_dir",
    "cassette_name",
    "report_unmapped",
    "translate",
    "vcr",
]

_VCRPY_MODE = {"none": "none", "once": "once", "new": "new_episodes", "all": "all"}

_SAME = frozenset({"decode_compressed_response", "serializer", "allow_playback_repeats"})
"""Keys whose behaviour pytest-llm has anyway (bodies are always decoded; YAML)."""


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


def report_unmapped(rep: pytest.TestReport, unmapped: list[str]) -> None:
    if rep.when == "teardown":
        rep.llm_vcr = {"unmapped": unmapped}  # type: ignore[attr-defined]


def cassette_dir(request: pytest.FixtureRequest) -> str:
    """The ``vcr_cassette_dir`` fixture's value."""
    path = Path(str(request.node.path))
    return str(path.parent / "cassettes" / path.stem)


def cassette_name(request: pytest.FixtureRequest) -> str:
    """The ``default_cassette_name`` fixture's value."""
    marker = request.node.get_closest_marker("default_cassette")
    if marker is not None and marker.args:
        return str(marker.args[0])
    cls = request.cls
    name = f"{cls.__name__}.{request.node.name}" if cls is not None else request.node.name
    for ch in "<>?%*:|\"'/\\":
        name = name.replace(ch, "-")
    return name


def vcr(request: pytest.FixtureRequest) -> Iterator[VcrCassette | None]:
    """The body of the ``vcr`` fixture (declared in :mod:`pytest_llm._vcr_shim`)."""
    markers = list(request.node.iter_markers("vcr"))
    if not markers or request.config.getoption("disable_recording", False):
        yield None
        return
    from ._outcome import annotate

    config = request.getfixturevalue("vcr_config")
    directory = request.getfixturevalue("vcr_cassette_dir")
    name = request.getfixturevalue("default_cassette_name")
    keywords, unmapped, redact = translate(config, markers, Path(directory), name)
    item = request.node
    item.add_marker(pytest.mark.llm_cassette(**keywords))
    annotate(item, lambda rep: report_unmapped(rep, unmapped))
    cassette = request.getfixturevalue("llm_cassette")
    if redact:
        cassette.redactor = cassette.redactor.with_headers(redact)
    yield VcrCassette(cassette)


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
