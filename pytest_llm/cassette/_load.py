"""Reading a cassette's YAML cheaply: the GC paused, the C parser, a derived cache.

Parsing is most of a cassette's load time, and most of that, for a big file, was
Python's cyclic garbage collector walking the growing document again and again
(the parse allocates only acyclic dicts, lists and strings, which reference
counting frees on its own). So the parse runs with the collector paused.

A cassette of :data:`CACHE_MIN_BYTES` or more also gets a derived copy of its parsed
document beside it, ``.pytest-llm-cache/<name>.marshal``, keyed by the YAML's
sha256: the next load reads that (tens of times faster than any YAML parser) as
long as the YAML is byte for byte the same, and re-parses and rewrites it when the
YAML changed. The cache directory holds a ``.gitignore`` of ``*``, so it is never
committed; it is written atomically (safe under pytest-xdist), and a cache that
cannot be read or written is ignored. The YAML stays the only source of truth.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import marshal
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CACHE_DIR", "CACHE_MIN_BYTES", "cache_path", "gc_paused", "read_document"]

CACHE_DIR = ".pytest-llm-cache"
CACHE_MIN_BYTES = 64 * 1024
"""Smaller cassettes parse in a few milliseconds: no cache file for them."""

enabled = True
"""Off: the plain path (the GC running, no cache), kept for benchmarks/cassette_load.py."""

Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG = (
    f"pytest-llm cassette cache 1 py{sys.version_info[0]}.{sys.version_info[1]} "
    f"marshal {marshal.version}\n"
).encode()

_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic GC off while inside; nested and concurrent uses share one pause."""
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                gc.enable()


def cache_path(path: Path) -> Path:
    return path.parent / CACHE_DIR / f"{path.name}.marshal"


def read_document(
    path: Path,
    lines_of: Callable[[str], list[int]],
    derive: Callable[[Any], Any] = lambda doc: None,
) -> tuple[Any, list[int], Any]:
    """The parsed YAML document, ``lines_of(text)`` and ``derive(doc)``, cached together.

    ``derive`` computes what loading would compute from the document anyway (e.g. the
    body bytes), so a cache hit skips that too; it runs only when a cache is written
    and returns ``None`` for a document it does not understand.
    Raises :class:`UnicodeDecodeError` and :class:`yaml.YAMLError` as the parse does.
    """
    if not enabled:
        text = path.read_text(encoding="utf-8")
        return yaml.load(text, Loader=Loader), lines_of(text), None
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).digest() if len(raw) >= CACHE_MIN_BYTES else None
    cached = cache_path(path)
    if digest is not None:
        hit = _read_cache(cached, digest)
        if isinstance(hit, tuple) and len(hit) == 3:
            return hit
    text = raw.decode("utf-8")
    with gc_paused():
        doc = yaml.load(text, Loader=Loader)
        lines = lines_of(text)
        extra = derive(doc) if digest is not None else None
    if digest is not None:
        _write_cache(cached, digest, (doc, lines, extra))
    return doc, lines, extra


def _read_cache(cached: Path, digest: bytes) -> Any:
    try:
        with open(cached, "rb") as fh:
            head = fh.read(len(_TAG) + len(digest))
            if head != _TAG + digest:
                return None
            blob = fh.read()
        with gc_paused():
            return marshal.loads(blob)
    except (OSError, ValueError, EOFError, TypeError):
        return None


def _write_cache(cached: Path, digest: bytes, doc: Any) -> None:
    try:
        blob = marshal.dumps(doc)
    except ValueError:  # a type marshal does not know (a YAML timestamp): no cache
        return
    tmp = None
    try:
        folder = cached.parent
        folder.mkdir(exist_ok=True)
        ignore = folder / ".gitignore"
        if not ignore.exists():
            with contextlib.suppress(FileExistsError), open(ignore, "x", encoding="utf-8") as fh:
                fh.write("# derived from the cassettes beside it by pytest-llm; never commit\n*\n")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{cached.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(_TAG + digest)
            out.write(blob)
        os.replace(tmp, cached)
        tmp = None
    except OSError:
        pass  # a read-only checkout: the YAML is parsed every time, as before
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
