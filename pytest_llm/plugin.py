"""The pytest plugin (entry point ``llm``): options, markers, fixtures, reports.

Heavy parts (YAML, the HTTP adapters) are imported only when a test uses a cassette,
so the plugin costs next to nothing in a run that does not.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._errors import CassetteError, ConfigError, ReplayInterrupt
from ._settings import in_ci, parse_bool, resolve

if TYPE_CHECKING:
    from .cassette import Cassette

RECORD_MODES = ("none", "once", "new", "all")
DUMMY_KEY = "pytest-llm-replay-key"

_report_key = pytest.StashKey[dict[str, pytest.TestReport]]()
_cassette_key = pytest.StashKey["Cassette"]()


# The conformance suite keeps its options and hooks in its own plugin module.
pytest_plugins = ["pytest_llm.conformance._plugin"]


def _record_mode(value: str) -> str:
    if value not in RECORD_MODES:
        import difflib

        near = difflib.get_close_matches(value, RECORD_MODES, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a record mode{hint}; use one of: {', '.join(RECORD_MODES)}"
        )
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llm", "pytest-llm: record and replay LLM traffic")
    group.addoption(
        "--llm-record",
        type=_record_mode,
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
        action="store_true",
        default=None,
        help="let requests that no cassette answers reach the real network (not recorded).",
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "llm_cassette(path=None, *, record=None, ignore=None, allow_playback_repeats=None, "
        "replay_timing=None, check_unused=None): record or replay this test's LLM traffic.",
    )
    config.addinivalue_line(
        "markers",
        "llm_samples(n=5, *, min_pass_rate=0.8, pass_at=(), early_stop=True): run the test n "
        "times; it passes when at least min_pass_rate of the samples pass.",
    )
    config.pluginmanager.register(_Summary(config), "llm-summary")
    from ._report import SamplesReport

    config.pluginmanager.register(
        SamplesReport(config, config.getoption("llm_report")), "llm-report"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Runs before conftests are imported: clients built at import time need a key to
    # construct, and replay never sends it.
    if os.environ.get("OPENAI_API_KEY") or _session_mode(early_config) != "none":
        return
    os.environ["OPENAI_API_KEY"] = DUMMY_KEY

    def restore() -> None:
        if os.environ.get("OPENAI_API_KEY") == DUMMY_KEY:
            del os.environ["OPENAI_API_KEY"]

    early_config.add_cleanup(restore)


def _session_mode(config: pytest.Config) -> str:
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


# -- cassette naming ------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-\[\]=,+@]+")
_MAX_NAME = 100


def cassette_name(item: pytest.Item) -> str:
    """``TestClass.test_name[param]``, made file-safe; long ids shortened to a stable hash.

    A name over 100 characters, or one with characters a file name cannot hold, keeps
    its (safe) start and ends in 10 hex digits of a hash of the full id, inside the
    brackets when it has parameters: ``test_x[a_b-1f2e3d4c5b]``.
    """
    parts = item.nodeid.split("::")[1:]
    name = ".".join(parts) or item.name
    safe = _UNSAFE.sub("_", name)
    if len(safe) > _MAX_NAME or safe != name:
        # shortened or sanitised: a hash of the full id keeps names distinct
        # (test_x[a b] and test_x[a/b] must not share a file)
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        base, bracket, param = safe.partition("[")
        if bracket and len(base) < _MAX_NAME - 20:
            room = _MAX_NAME - len(base) - len("[-]") - len(digest)
            safe = f"{base}[{param.removesuffix(']')[:room]}-{digest}]"
        else:
            safe = f"{safe[: _MAX_NAME - len(digest) - 1]}-{digest}"
    return safe + ".yaml"


def cassette_path(item: pytest.Item, cassette_dir: str) -> Path:
    root = item.config.rootpath
    try:
        module = item.path.relative_to(root)
    except ValueError:
        module = Path(item.path.name)
    base = Path(cassette_dir)
    if not base.is_absolute():
        base = root / base
    return base / module.with_suffix("") / cassette_name(item)


def _vcrpy_path(item: pytest.Item) -> Path:
    """Where pytest-recording keeps the same test's cassette, for migration.

    Its default name is ``[Class.]test_name`` with ``<>?%*:|"'/\\`` made ``-``.
    """
    cls = getattr(item, "cls", None)
    name = f"{cls.__name__}.{item.name}" if cls is not None else item.name
    for ch in "<>?%*:|\"'/\\":
        name = name.replace(ch, "-")
    return item.path.parent / "cassettes" / item.path.stem / f"{name}.yaml"


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture
def llm_cassette_config() -> dict[str, Any]:
    """Override in a conftest to set cassette options for a directory of tests."""
    return {}


def _marker_kwargs(item: pytest.Item) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for mark in reversed(list(item.iter_markers("llm_cassette"))):
        if mark.args:
            if len(mark.args) > 1:
                raise ConfigError(
                    f"llm_cassette marker takes one positional argument (path), got {len(mark.args)}."
                )
            kwargs["path"] = mark.args[0]
        kwargs.update(mark.kwargs)
    allowed = {
        "path",
        "record",
        "ignore",
        "allow_playback_repeats",
        "replay_timing",
        "check_unused",
    }
    unknown = set(kwargs) - allowed
    if unknown:
        import difflib

        bad = sorted(unknown)[0]
        near = difflib.get_close_matches(bad, allowed, n=1)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise ConfigError(
            f"llm_cassette marker got an unknown keyword {bad!r}.{hint}\n"
            f"Fix: use one of {', '.join(sorted(allowed))}."
        )
    return kwargs


_CONFIG_KEYS = frozenset(
    {"record", "cassette_dir", "ignore", "allow_playback_repeats", "replay_timing", "check_unused"}
)


def _check_mode(value: Any, source: str) -> str:
    try:
        return _record_mode(str(value))
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _build_cassette(request: pytest.FixtureRequest, config_fixture: dict[str, Any]) -> Cassette:
    from .cassette import DEFAULT_IGNORE, Cassette, Redactor

    item = request.node
    cfg = item.config
    marker = _marker_kwargs(item)
    record = resolve(
        "record",
        cli=cfg.getoption("llm_record"),
        marker=marker,
        fixture=config_fixture,
        ini=cfg.getini("llm_record"),
        default="none",
        convert=_check_mode,
    )
    blocked = None
    if record.value != "none" and record.source != "command line" and in_ci():
        blocked = (
            f"CI is set and record mode {record.value!r} came from the {record.source}; "
            "in CI, recording needs --llm-record given on the command line"
        )
    cdir = resolve(
        "cassette_dir",
        cli=cfg.getoption("llm_cassette_dir"),
        fixture=config_fixture,
        ini=cfg.getini("llm_cassette_dir"),
        default="cassettes",
    ).value
    timing = resolve(
        "replay_timing",
        cli=cfg.getoption("llm_replay_timing"),
        marker=marker,
        fixture=config_fixture,
        ini=cfg.getini("llm_replay_timing"),
        default=None,
    ).value

    def flag(name: str) -> bool:
        return bool(
            resolve(
                name,
                marker=marker,
                fixture=config_fixture,
                ini=cfg.getini(f"llm_{name}"),
                default=False,
                convert=parse_bool,
            ).value
        )

    if "path" in marker:
        path = Path(marker["path"])
        if not path.is_absolute():
            base = Path(cdir)
            path = (base if base.is_absolute() else cfg.rootpath / base) / path
    else:
        path = cassette_path(item, cdir)
        if not path.exists() and _vcrpy_path(item).exists():
            path = _vcrpy_path(item)
    unknown = sorted(set(config_fixture) - _CONFIG_KEYS)
    if unknown:
        import difflib

        near = difflib.get_close_matches(unknown[0], _CONFIG_KEYS, n=1)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise ConfigError(
            f"llm_cassette_config() returned an unknown key {unknown[0]!r}.{hint}\n"
            f"Fix: use {', '.join(sorted(_CONFIG_KEYS))}."
        )
    chosen = marker.get("ignore")
    if chosen is None:
        chosen = config_fixture.get("ignore")
    ignore = list(DEFAULT_IGNORE if chosen is None else chosen)
    ignore += list(cfg.getini("llm_ignore_paths"))
    redactor = Redactor.build(
        extra_headers=cfg.getini("llm_redact_headers"),
        extra_patterns=cfg.getini("llm_secret_patterns"),
        allow=cfg.getini("llm_secret_allow"),
    )
    nodeid = item.nodeid
    hint = f"pytest --llm-record={{mode}} '{nodeid}'"
    cassette = Cassette(
        path,
        record=record.value,
        ignore=ignore,
        allow_playback_repeats=flag("allow_playback_repeats"),
        replay_timing=timing,
        redactor=redactor,
        rerecord_hint=hint,
        record_blocked=blocked,
        check_unused=flag("check_unused"),
    )
    return cassette


@pytest.fixture
def llm_cassette(
    request: pytest.FixtureRequest, llm_cassette_config: dict[str, Any]
) -> Iterator[Cassette]:
    """The test's cassette, active for the whole test: replays, or records when asked."""
    from ._flow import router

    cassette = _build_cassette(request, llm_cassette_config)
    cassette.open()
    item = request.node
    item.stash[_cassette_key] = cassette
    allow_net = resolve(
        "allow_network",
        cli=item.config.getoption("llm_allow_network"),
        ini=item.config.getini("llm_allow_network"),
        default=False,
        convert=parse_bool,
    ).value
    cassette.allow_network = bool(allow_net)
    mp = pytest.MonkeyPatch()
    if not cassette.recording and not os.environ.get("OPENAI_API_KEY"):
        mp.setenv("OPENAI_API_KEY", DUMMY_KEY)
    with router.activate(cassette):
        if cassette.recording or allow_net:
            with router.allow_network():
                yield cassette
        else:
            yield cassette
    mp.undo()
    reports = item.stash.get(_report_key, {})
    failed = any(r.failed for r in reports.values())
    cassette.close(failed=failed)
    if cassette.misses and not failed:
        # The application caught the miss; the test must still fail on it.
        pytest.fail(cassette.misses[0], pytrace=False)
    checking = cassette.check_unused and not failed and not cassette.recording
    if checking and cassette.unused():
        pytest.fail(cassette.explain_unused(), pytrace=False)


@pytest.fixture(autouse=True)
def _llm_cassette_marker(request: pytest.FixtureRequest) -> Iterator[None]:
    has_cassette = request.node.get_closest_marker("llm_cassette") is not None
    if has_cassette:
        request.getfixturevalue("llm_cassette")
    with _guard(request.node, off=has_cassette or "llm_cassette" in request.fixturenames):
        yield


@contextlib.contextmanager
def _guard(item: pytest.Item, *, off: bool = False) -> Iterator[None]:
    """Keep a test without a cassette from calling a hosted LLM API unrecorded.

    A test with a cassette is governed by its cassette (``off``).
    """
    cfg = item.config
    mode = "off" if off else str(cfg.getini("llm_guard") or "llm-hosts")
    allow = resolve(
        "allow_network",
        cli=cfg.getoption("llm_allow_network"),
        ini=cfg.getini("llm_allow_network"),
        default=False,
        convert=parse_bool,
    ).value
    from ._flow import router

    previous = router.host_guard
    guard = None
    if mode != "off" and not allow:
        from ._guard import GUARD_MODES, LLM_HOSTS, Guard
        from .transport._patch import install_socket_guard

        if mode not in GUARD_MODES:
            raise ConfigError(
                f"ini option llm_guard={mode!r} is not a guard mode.\n"
                f"Fix: use one of {', '.join(GUARD_MODES)}."
            )
        install_socket_guard()
        guard = Guard(mode, (*LLM_HOSTS, *cfg.getini("llm_hosts")), where=f"test {item.nodeid}")
    router.host_guard = guard
    try:
        if allow and not off:
            # --llm-allow-network: what no fake or fault answers may reach the network
            with router.allow_network():
                yield
        else:
            yield
    finally:
        router.host_guard = previous


# -- repeated samples -----------------------------------------------------------------

_sampling_key = pytest.StashKey[bool]()
_samples_key = pytest.StashKey[Any]()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an ``llm_samples`` test n times through the other implementations of this hook."""
    marker = pyfuncitem.get_closest_marker("llm_samples")
    if marker is None or pyfuncitem.stash.get(_sampling_key, False):
        return None
    from .assertions._samples import SamplesFailed, SamplesSpec, run_samples

    spec = SamplesSpec.from_marker(marker.args, dict(marker.kwargs))
    cassette = pyfuncitem.stash.get(_cassette_key, None)

    def run_one(i: int) -> None:
        if cassette is not None:
            cassette.sample = i
        pyfuncitem.stash[_sampling_key] = True
        try:
            pyfuncitem.ihook.pytest_pyfunc_call(pyfuncitem=pyfuncitem)
        finally:
            pyfuncitem.stash[_sampling_key] = False

    try:
        result = run_samples(spec, run_one, (AssertionError, pytest.fail.Exception))
    finally:
        if cassette is not None:
            cassette.sample = None
    pyfuncitem.stash[_samples_key] = result
    if not result.passed:
        first = result.first_failure
        detail = f"\nfirst failure (sample {first.index}): {first.message}" if first else ""
        raise SamplesFailed(result.summary() + detail)
    return True


# -- reports --------------------------------------------------------------------------


def pytest_assertrepr_compare(op: str, left: object, right: object) -> list[str] | None:
    """Explain ``text == IContains("paris") & NotContains("berlin")`` when it fails."""
    import sys

    if "pytest_llm.assertions._matchers" not in sys.modules:
        return None  # no matcher exists unless that module was imported
    from .assertions._matchers import matcher_repr_compare

    return matcher_repr_compare(op, left, right)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    rep = yield
    item.stash.setdefault(_report_key, {})[rep.when] = rep
    exc = call.excinfo
    if exc is not None and _shown_as_message(exc.value):
        # Show the miss itself, not a traceback through the SDK's internals.
        rep.longrepr = _MessageRepr(str(exc.value))  # type: ignore[assignment]
    if rep.when == "call":
        samples = item.stash.get(_samples_key, None)
        if samples is not None:
            rep.llm_samples = samples.as_dict()  # type: ignore[attr-defined]
            rep.sections.append(("llm samples", samples.summary()))
    if rep.when == "teardown":
        cassette = item.stash.get(_cassette_key, None)
        if cassette is not None and (cassette.written or cassette.not_written):
            rep.llm_cassette = {  # type: ignore[attr-defined]
                "path": str(cassette.written or cassette.path),
                "recorded": len(cassette.recorded),
                "not_written": cassette.not_written,
            }
    return rep


def _shown_as_message(exc: BaseException) -> bool:
    """Failures whose message says it all: a traceback would only show our internals."""
    if isinstance(exc, ReplayInterrupt | CassetteError):
        return True
    samples = sys.modules.get("pytest_llm.assertions._samples")
    return samples is not None and isinstance(exc, samples.SamplesFailed)


class _Crash:
    def __init__(self, message: str) -> None:
        self.message = message
        self.path = ""
        self.lineno = 0


class _MessageRepr:
    """A failure shown as its message: in full below FAILURES, one line in the summary."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.reprcrash = _Crash(text.splitlines()[0] if text else "")

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


class _Summary:
    """Collects what cassettes were written, from this process or from xdist workers."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.written: list[dict[str, Any]] = []
        self.not_written: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        info = getattr(report, "llm_cassette", None)
        if info:
            (self.not_written if info.get("not_written") else self.written).append(info)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not (self.written or self.not_written):
            return
        tr = terminalreporter
        tr.section("pytest-llm")
        if self.written:
            n = sum(int(w["recorded"]) for w in self.written)
            tr.write_line(
                f"recorded {_plural(n, 'interaction')} into {_plural(len(self.written), 'cassette')}:"
            )
            for w in sorted(self.written, key=lambda w: str(w["path"])):
                tr.write_line(f"  {_rel(self.config, w['path'])} (+{w['recorded']})")
        for w in self.not_written:
            tr.write_line(f"not written: {w['not_written']}")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _rel(config: pytest.Config, path: str) -> str:
    try:
        return str(Path(path).relative_to(config.rootpath))
    except ValueError:
        return path


# -- fixtures that live with their parts -----------------------------------------------
# Each part keeps its fixtures in its own package, in a module that imports nothing heavy
# at the top; they are re-exported here so pytest finds them through the entry point.
from .fake._fixtures import llm_fake, llm_fake_config, llm_server  # noqa: E402, F401
from .faults._fixtures import llm_clock, llm_faults  # noqa: E402, F401
