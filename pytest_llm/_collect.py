"""pytest skips the session's cassette folder where walking it could collect nothing.

A project's committed cassettes are one YAML file per test, in the folder
``llm_cassette_dir`` names (``cassettes`` by default) under the rootdir: 2,000 replayed
tests are 2,000 files, and pytest asks every one of them whether to ignore it and
whether some plugin collects it, and makes a node per folder, for no item. The
plugin's ``pytest_ignore_collect`` (trylast: pytest's own rules, ``--ignore``,
``collect_ignore`` and ``norecursedirs`` decide first) asks :func:`prune` about a
path only when it has that folder's name; the folder is skipped only when skipping
it cannot change what any run shows:

- every registered implementation of the hooks that make nodes of a folder's entries
  (:data:`COLLECTING`) is pytest's own, and of those that watch each entry or node
  walked (:data:`WATCHING`) pytest's own, pytest-llm's or one read to act on nothing
  such a folder holds (:data:`WATCHERS_READ`); a conftest that applies to the folder
  is loaded before pytest asks about it (pytest loads a folder's conftests before
  walking it);
- a walk of the folder finds nothing pytest's own collectors would take: no file
  ending in ``.py`` (test modules, ``conftest.py``, ``__init__.py`` packages, doctest
  modules), no file matching ``--doctest-glob`` (``test*.txt`` by default; a glob
  with a path separator is not decided here), no symlinked folder, no
  ``.hypothesis`` folder, and no error reading it (pytest reports it, as before);
- no id under the folder is in pytest's last-failed cache (a passed report of one of
  its folders would have cleared it).

Paths given on the command line (and their parents) are never asked about by pytest,
so ``pytest cassettes/...`` behaves as before. Elsewhere: ``None``, and pytest decides.
PYTEST_DONT_REWRITE: no asserts here (see :mod:`pytest_llm.plugin`).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ._pytest_facts import hook_origin
from ._settings import cassette_base, session_value

if TYPE_CHECKING:
    import pytest

__all__ = ["COLLECTING", "WATCHERS_READ", "WATCHING", "cassette_root", "prune"]

COLLECTING = (
    "pytest_collect_directory",
    "pytest_collect_file",
    "pytest_pycollect_makemodule",
    "pytest_make_collect_report",
)
"""Hooks that make nodes of a folder's entries: pytest's own only."""

WATCHING = ("pytest_ignore_collect", "pytest_collectstart", "pytest_collectreport")
"""Hooks that see each entry, or each folder's node, of a walked folder."""

WATCHERS_READ = frozenset(
    {
        # pytest-xdist's worker (in each worker, execnet runs xdist/remote.py as
        # ``__channelexec__``): sends on the collect reports that did not pass
        "xdist.remote.WorkerInteractor",
        "__channelexec__.WorkerInteractor",
        "xdist.looponfail.WorkerFailSession",  # notes the collect reports that failed
        "_hypothesis_pytestplugin",  # warns about a ``.hypothesis`` folder only
    }
)
"""Plugins outside pytest whose implementations of :data:`WATCHING` were read (a module,
or a class whose instance is the plugin): each acts on nothing a folder this module
skips holds (a folder with nothing to collect reports nothing but passes; none holds a
``.hypothesis`` folder)."""

_OURS = ("_pytest.", "pytest_llm.")


def cassette_root(config: pytest.Config) -> Path:
    """The session's cassette folder: ``llm_cassette_dir`` (command line, environment,
    ini, ``cassettes``), relative to the rootdir, where every test's cassette path
    starts unless its ``llm_cassette_config`` names another folder
    (:func:`pytest_llm.cassette._build.cassette_path`)."""
    return cassette_base(config, str(session_value(config, "cassette_dir")[0]))


def prune(path: Path, config: pytest.Config) -> bool | None:
    """``True`` (pytest skips ``path``) when ``path`` is the session's cassette folder
    and walking it could collect nothing; else ``None``: pytest decides as before."""
    if path != cassette_root(config) or not _only_pytest_collects(config):
        return None
    takes = _taken_by_doctest(config)
    if takes is None or _failed_before(path, config) or not _nothing_taken(path, takes):
        return None
    return True


def _only_pytest_collects(config: pytest.Config) -> bool:
    """Whether every implementation of :data:`COLLECTING` is pytest's own, and of
    :data:`WATCHING` pytest's, pytest-llm's or in :data:`WATCHERS_READ`."""
    hook = config.pluginmanager.hook
    for name in COLLECTING:
        for impl in getattr(hook, name).get_hookimpls():
            if not hook_origin(impl).startswith("_pytest."):
                return False
    for name in WATCHING:
        for impl in getattr(hook, name).get_hookimpls():
            origin = hook_origin(impl)
            if not origin.startswith(_OURS) and origin not in WATCHERS_READ:
                return False
    return True


def _taken_by_doctest(config: pytest.Config) -> Callable[[str], object] | None:
    """What tells whether the doctest plugin takes a file of a name, the name given
    ``os.path.normcase``-d: ``--doctest-glob`` (else ``test*.txt``) matched on the name
    as pytest's ``fnmatch_ex`` does for a glob without a path separator (by
    ``fnmatch.fnmatch``); ``None`` where a glob has one."""
    globs = config.getoption("doctestglob", None) or ["test*.txt"]
    if any("/" in glob or os.sep in glob for glob in globs):
        return None
    either = "|".join(f"(?:{fnmatch.translate(os.path.normcase(glob))})" for glob in globs)
    return re.compile(either).match


def _failed_before(path: Path, config: pytest.Config) -> bool:
    """Whether pytest's last-failed cache names the folder or anything under it."""
    cache = getattr(config, "cache", None)
    if cache is None:
        return False
    failed = cache.get("cache/lastfailed", {})
    if not failed:
        return False
    try:
        node = path.relative_to(config.rootpath).as_posix()
    except ValueError:
        return True
    return any(key == node or key.startswith((node + "/", node + "::")) for key in failed)


def _nothing_taken(folder: Path, doctest: Callable[[str], object]) -> bool:
    """Whether a walk of ``folder`` finds nothing pytest's own collectors would take."""
    normcase = os.path.normcase
    todo = [os.fspath(folder)]
    try:
        while todo:
            with os.scandir(todo.pop()) as entries:
                for entry in entries:
                    name = entry.name
                    if entry.is_dir():
                        if entry.is_symlink() or name == ".hypothesis":
                            return False
                        todo.append(entry.path)
                    elif name.endswith(".py") or doctest(normcase(name)):
                        return False
    except OSError:
        return False
    return True
