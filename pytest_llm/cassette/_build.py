"""Which cassette a test gets: its file name, and its options resolved from every source.

Loaded when a test first uses a cassette (the fixtures module stays light for
start-up), with the cassette itself (:mod:`._session`).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .._errors import ConfigError
from .._marks import markers
from .._pytest_facts import plugins_fixture
from .._resolve import Resolved, option
from .._settings import (
    CONFIG_KEYS,
    ENV,
    MARKER_KEYWORDS,
    allow_network,
    cassette_base,
    in_ci,
)
from .._text import did_you_mean
from ._session import Cassette  # at import, not per test (a relative import in a function)

if TYPE_CHECKING:
    from ._redact import Redactor

__all__ = [
    "build_cassette",
    "cassette_config",
    "cassette_name",
    "cassette_path",
    "config_fixture_needed",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-\[\]=,+@]+")
_MAX_NAME = 100


def cassette_name(item: pytest.Item, nodeid: str | None = None) -> str:
    """``TestClass.test_name[param]``, made file-safe; long ids shortened to a stable hash.

    A name over 100 characters, or one with characters a file name cannot hold, keeps
    its (safe) start and ends in 10 hex digits of a hash of the full id, inside the
    brackets when it has parameters: ``test_x[a_b-1f2e3d4c5b]``.
    """
    parts = (item.nodeid if nodeid is None else nodeid).split("::")[1:]
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


def cassette_path(
    item: pytest.Item, cassette_dir: str, nodeid: str | None = None, folders: _Folders | None = None
) -> Path:
    """``<cassette dir>/<test module's path, no suffix>/<cassette_name(item)>``; the
    folder is worked out once per module and directory in a session (``nodeid`` and
    ``folders``: the item's and the session's, when the caller has them at hand; pytest
    works a node id out anew at each ask)."""
    if folders is None:
        folders = _shared(item.config).folders
    folder = folders.get((item.path, cassette_dir))
    if folder is None:
        root = item.config.rootpath
        try:
            module = item.path.relative_to(root)
        except ValueError:
            module = Path(item.path.name)
        base = cassette_base(item.config, cassette_dir)
        folder = folders[item.path, cassette_dir] = base / module.with_suffix("")
    return folder / cassette_name(item, nodeid)


def _path_of(item: pytest.Item, cassette_dir: str, nodeid: str, shared: _PerConfig) -> Path:
    """:func:`cassette_path`, the folder of the previous test's module taken again
    without hashing its path (a module's tests share the one ``item.path`` object)."""
    where = item.path
    last = shared.last
    if last is not None and last[0] is where and last[1] == cassette_dir:
        folder = last[2]
    else:
        folder = cassette_path(item, cassette_dir, nodeid, shared.folders).parent
        shared.last = (where, cassette_dir, folder)
    return _child(folder, cassette_name(item, nodeid))


def _join(folder: Path, name: str) -> Path:
    return folder / name


_child: Callable[[Path, str], Path] = getattr(Path, "_make_child_relpath", _join)
"""``folder / name`` for a ``name`` that is one plain part (a cassette's file name is
made so: no separator, never ``.`` or ``..``): pathlib's own shortcut for that, which
parses nothing (a private method: where a Python has none, ``/``)."""


def _vcrpy_path(item: pytest.Item) -> Path:
    """Where pytest-recording keeps the same test's cassette, for migration.

    Its default name is ``[Class.]test_name`` with ``<>?%*:|"'/\\`` made ``-``.
    """
    cls = getattr(item, "cls", None)
    name = f"{cls.__name__}.{item.name}" if cls is not None else item.name
    for ch in "<>?%*:|\"'/\\":
        name = name.replace(ch, "-")
    return item.path.parent / "cassettes" / item.path.stem / f"{name}.yaml"


def _marker_kwargs(item: pytest.Item) -> dict[str, Any]:
    marks = markers(item, "llm_cassette")
    for mark in marks:
        if mark.args or mark.kwargs:
            break
    else:
        return {}  # a bare marker (the usual ``pytestmark``) or none: nothing to check
    kwargs: dict[str, Any] = {}
    for mark in reversed(marks):
        if mark.args:
            if len(mark.args) > 1:
                raise ConfigError(
                    f"llm_cassette marker takes one positional argument (path), got {len(mark.args)}."
                )
            kwargs["path"] = mark.args[0]
        kwargs.update(mark.kwargs)
    _check_keys(kwargs, MARKER_KEYWORDS, "llm_cassette marker got an unknown keyword", "use one of")
    return kwargs


def _check_keys(given: dict[str, Any], allowed: tuple[str, ...], what: str, fix: str) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        bad = unknown[0]
        raise ConfigError(
            f"{what} {bad!r}.{did_you_mean(bad, allowed)}\nFix: {fix} {', '.join(sorted(allowed))}."
        )


@dataclass(frozen=True)
class CassetteOptions:
    """A test's cassette options, each resolved once from every source it has."""

    record: Resolved[str]
    cassette_dir: str
    ignore: list[str]
    allow_playback_repeats: bool
    replay_timing: Any
    check_unused: bool | None
    allow_network: bool
    match: str = "strict"
    null_as_absent: bool = False
    keep_headers: tuple[str, ...] = ()
    model_aliases: dict[str, str] | None = None
    keep_host: bool = False

    @classmethod
    def of(
        cls, config: pytest.Config, marker: dict[str, Any], fixture: dict[str, Any]
    ) -> CassetteOptions:
        def get(name: str) -> Any:
            return option(config, name, marker=marker, fixture=fixture).value

        # ignore= (marker, else fixture) and the ini's llm_ignore_paths both add to the
        # defaults (the cassette adds DEFAULT_IGNORE): they combine instead of choosing
        chosen = marker.get("ignore", fixture.get("ignore"))
        return cls(
            record=option(config, "record", marker=marker, fixture=fixture),
            cassette_dir=str(get("cassette_dir")),
            ignore=[*(chosen or ()), *config.getini("llm_ignore_paths")],
            allow_playback_repeats=bool(get("allow_playback_repeats")),
            replay_timing=get("replay_timing"),
            check_unused=get("check_unused"),
            allow_network=allow_network(config),
            match=str(get("match")),
            null_as_absent=bool(get("null_as_absent")),
            keep_headers=tuple(get("keep_headers") or ()),
            model_aliases=get("model_aliases"),
            keep_host=bool(get("keep_host")),
        )

    def blocked(self) -> str | None:
        """Why recording is off although asked for: the CI rule."""
        record = self.record
        if record.value != "none" and record.source != "command line" and in_ci():
            return (
                f"CI is set and record mode {record.value!r} came from the {record.source}; "
                "in CI, recording needs --llm-record given on the command line"
            )
        return None


class _PerConfig:
    """What every test of a session shares, worked out by its first cassette: the
    redactor (from ini options only), each test module's cassette folder, and the
    options of tests that set none (no marker keywords, an empty
    ``llm_cassette_config``), per value of the environment variables they read, since
    a test may set them."""

    def __init__(self) -> None:
        self.redactor: Redactor | None = None
        self.options: dict[tuple[object, ...], _Shared] = {}
        self.folders: _Folders = {}
        """(test module, cassette dir) -> the module's cassette folder."""
        self.last: tuple[Path, str, Path] | None = None
        """The last test's module path (the object), cassette dir and folder."""
        self.config_fixture: dict[object, bool] = {}
        """A test's parent node (module, class) -> whether ``llm_cassette_config`` is
        overridden where its tests see it (:func:`cassette_config`)."""


_Folders = dict[tuple[Path, str], Path]


class _Shared:
    """Options shared by the tests that set none, and the :meth:`~Cassette.template`
    their tests' cassettes are made from (of a cassette made for the first, never used)."""

    __slots__ = ("opts", "template")

    def __init__(self, opts: CassetteOptions) -> None:
        self.opts = opts
        self.template: dict[str, Any] | None = None


_per_config = pytest.StashKey[_PerConfig]()


def _shared(config: pytest.Config) -> _PerConfig:
    shared = config.stash.get(_per_config, None)
    if shared is None:
        shared = config.stash[_per_config] = _PerConfig()
    return shared


def _options(
    config: pytest.Config, marker: dict[str, Any], fixture: dict[str, Any], shared: _PerConfig
) -> tuple[CassetteOptions, _Shared | None]:
    """The test's options, and for a test that sets none what it shares with the others."""
    if marker or fixture:
        return CassetteOptions.of(config, marker, fixture), None
    cache = shared.options
    env = environ(_ENV_NAMES)
    common = cache.get(env)
    if common is None:
        common = cache[env] = _Shared(CassetteOptions.of(config, marker, fixture))
    return common.opts, common


_ENV_NAMES = tuple(ENV.values())


def environ(names: tuple[str, ...]) -> tuple[object, ...]:
    """What ``tuple(map(os.environ.get, names))`` tells apart, read in one look at the
    mapping ``os.environ`` keeps (the values as it stores them: bytes on POSIX). Each
    ``os.environ.get`` of an unset name raises and catches a ``KeyError`` in Python, and
    every replayed test reads seven. Where ``os.environ`` was replaced (a test's
    ``mock.patch``), it is asked name by name, as before."""
    env = os.environ
    if type(env) is os._Environ:  # the process's own mapping, not a stand-in
        keys = _env_keys.get(names)
        if keys is None:
            keys = _env_keys[names] = tuple(map(env.encodekey, names))
        return tuple(map(env._data.get, keys))  # type: ignore[attr-defined]
    return tuple(map(env.get, names))


_env_keys: dict[tuple[str, ...], tuple[Any, ...]] = {}


def _redactor(config: pytest.Config, shared: _PerConfig) -> Redactor:
    """One per session: its rules come from ini options, and it keeps no state."""
    if shared.redactor is None:
        from ._redact import Redactor

        shared.redactor = Redactor.build(
            extra_headers=config.getini("llm_redact_headers"),
            extra_patterns=config.getini("llm_secret_patterns"),
            allow=config.getini("llm_secret_allow"),
        )
    return shared.redactor


def cassette_config(
    request: pytest.FixtureRequest | None, item: pytest.Item, shared: _PerConfig
) -> dict[str, Any]:
    """The test's ``llm_cassette_config``: asked of pytest where it may differ from the
    plugin's own (which returns ``{}``): :func:`config_fixture_needed`. Elsewhere the
    default, ``{}``, without a fixture set up per test (in ``--setup-show`` the fixture
    then appears only where it is overridden or named). ``request`` ``None``: the
    caller has no request, having found the fixture not needed.
    """
    if request is None or not config_fixture_needed(item, request.fixturenames, shared):
        return {}
    value: dict[str, Any] = request.getfixturevalue(_CONFIG)
    return value


def config_fixture_needed(
    item: pytest.Item, names: list[str], shared: _PerConfig | None = None
) -> bool:
    """Whether the test's ``llm_cassette_config`` must be asked of pytest: the test names
    it (``names``: its fixtures' names, as an argument, a dependency of one, a
    parametrized name), or a conftest, module or class overrides it. Overrides are
    looked up once per module or class (the fixtures a test sees are those of its
    parents), by pytest's fixture manager; if that cannot tell, pytest is asked."""
    if _CONFIG in names:
        return True
    if shared is None:
        shared = _shared(item.config)
    parent = item.parent
    overridden = shared.config_fixture.get(parent)
    if overridden is None:
        overridden = shared.config_fixture[parent] = not plugins_fixture(item, _CONFIG)
    return overridden


_CONFIG = "llm_cassette_config"


def build_cassette(
    request: pytest.FixtureRequest | None, item: pytest.Item | None = None
) -> Cassette:
    """The test's cassette, opened (``item``: ``request.node``, when the caller has it;
    ``request`` ``None``: the test's ``llm_cassette_config`` is not needed, see
    :func:`config_fixture_needed`)."""
    if item is None:
        assert request is not None
        item = request.node
    cfg = item.config
    nodeid = item.nodeid
    shared = _shared(cfg)
    config_fixture = cassette_config(request, item, shared)
    marker = _marker_kwargs(item)
    opts, common = _options(cfg, marker, config_fixture, shared)
    exists: bool | None = None
    st: os.stat_result | None = None
    if "path" in marker:
        path = Path(marker["path"])
        if not path.is_absolute():
            path = cassette_base(cfg, opts.cassette_dir) / path
    else:
        path = _path_of(item, opts.cassette_dir, nodeid, shared)
        st = _stat(path)
        exists = st is not None
        if not exists and _vcrpy_path(item).exists():
            path, exists = _vcrpy_path(item), True
    if config_fixture:
        _check_keys(
            config_fixture, CONFIG_KEYS, "llm_cassette_config() returned an unknown key", "use"
        )
    redactor = _redactor(cfg, shared)
    hint = f"pytest --llm-record={{mode}} '{nodeid}'"
    blocked = opts.blocked()
    if common is not None and blocked is None:  # the options the session's tests share
        template = common.template
        if template is None:
            template = common.template = _cassette(
                path, opts, redactor, hint, nodeid, None
            ).template()
        cassette = Cassette.from_template(template, path, test=nodeid, rerecord_hint=hint)
    else:
        cassette = _cassette(path, opts, redactor, hint, nodeid, blocked)
    return cassette.open(exists=exists, stat=st)


def _cassette(
    path: Path,
    opts: CassetteOptions,
    redactor: Redactor,
    hint: str,
    nodeid: str,
    blocked: str | None,
) -> Cassette:
    return Cassette(
        path,
        record=opts.record.value,
        ignore=opts.ignore,
        allow_playback_repeats=opts.allow_playback_repeats,
        replay_timing=opts.replay_timing,
        redactor=redactor,
        rerecord_hint=hint,
        test=nodeid,
        record_blocked=blocked,
        check_unused=opts.check_unused,
        allow_network=opts.allow_network,
        match=opts.match,
        null_as_absent=opts.null_as_absent,
        keep_headers=opts.keep_headers,
        model_aliases=opts.model_aliases,
        keep_host=opts.keep_host,
    )


def _stat(path: Path) -> os.stat_result | None:
    """``path``'s ``os.stat``, ``None`` where ``path.exists()`` says no: one system call
    answers whether the cassette exists and, to the load cache, whether it is the file
    its folder's cache entry was made from."""
    try:
        return os.stat(path)
    except OSError as exc:
        if exc.errno in _MISSING:
            return None
        if path.exists():  # raises, or says False, as this Python's pathlib does
            raise
        return None
    except ValueError:  # an embedded NUL: pathlib's answer
        return None


_MISSING = frozenset((errno.ENOENT, errno.ENOTDIR))
"""Errors for which ``Path.exists()`` answers ``False`` in every Python (others: asked)."""
