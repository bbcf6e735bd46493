"""Which cassette a test gets: its file name, and its options resolved from every source.

Loaded when a test first uses a cassette (the fixtures module stays light for
start-up).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .._errors import ConfigError
from .._settings import check_record_mode, in_ci, parse_bool, resolve
from .._text import did_you_mean

if TYPE_CHECKING:
    from ._session import Cassette

__all__ = ["build_cassette", "cassette_name", "cassette_path"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-\[\]=,+@]+")
_MAX_NAME = 100

MARKER_KEYWORDS = (
    "path",
    "record",
    "ignore",
    "allow_playback_repeats",
    "replay_timing",
    "check_unused",
)
CONFIG_KEYS = (
    "record",
    "cassette_dir",
    "ignore",
    "allow_playback_repeats",
    "replay_timing",
    "check_unused",
)


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
    _check_keys(kwargs, MARKER_KEYWORDS, "llm_cassette marker got an unknown keyword", "use one of")
    return kwargs


def _check_keys(given: dict[str, Any], allowed: tuple[str, ...], what: str, fix: str) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        bad = unknown[0]
        raise ConfigError(
            f"{what} {bad!r}.{did_you_mean(bad, allowed)}\nFix: {fix} {', '.join(sorted(allowed))}."
        )


def _check_mode(value: Any, source: str) -> str:
    return check_record_mode(str(value), source)


def build_cassette(request: pytest.FixtureRequest, config_fixture: dict[str, Any]) -> Cassette:
    from ._redact import Redactor
    from ._session import Cassette

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
    _check_keys(config_fixture, CONFIG_KEYS, "llm_cassette_config() returned an unknown key", "use")
    chosen = marker.get("ignore")
    if chosen is None:
        chosen = config_fixture.get("ignore")
    # both add to DEFAULT_IGNORE (the cassette adds it): the marker's or fixture's, and the ini's
    ignore = [*(chosen or ()), *cfg.getini("llm_ignore_paths")]
    redactor = Redactor.build(
        extra_headers=cfg.getini("llm_redact_headers"),
        extra_patterns=cfg.getini("llm_secret_patterns"),
        allow=cfg.getini("llm_secret_allow"),
    )
    return Cassette(
        path,
        record=record.value,
        ignore=ignore,
        allow_playback_repeats=flag("allow_playback_repeats"),
        replay_timing=timing,
        redactor=redactor,
        rerecord_hint=f"pytest --llm-record={{mode}} '{item.nodeid}'",
        record_blocked=blocked,
        check_unused=flag("check_unused"),
    )
