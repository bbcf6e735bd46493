"""Reading a cassette's YAML cheaply: the GC paused, the C parser, a derived cache.

Parsing is most of a cassette's load time, and most of that, for a big file, was
Python's cyclic garbage collector walking the growing document again and again
(the parse allocates only acyclic dicts, lists and strings, which reference
counting frees on its own). So the parse runs with the collector paused.

The document is built straight from libyaml's events (:func:`parse`) instead of
through PyYAML's constructor, which walks a node graph with generators: half the
time for a small cassette. Anything that reader does not handle exactly as PyYAML's
safe loader would (anchors, aliases, explicit tags, merge keys, complex keys, several
documents, a syntax error) sends the text to the safe loader instead, so the result,
and every error, is PyYAML's.

A cassette of :data:`CACHE_MIN_BYTES` or more also gets a derived copy of its parsed
document beside it, ``.pytest-llm-cache/<name>.marshal``, keyed by the YAML's
sha256: the next load reads that (about five times faster than the parse) as
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

__all__ = ["CACHE_DIR", "CACHE_MIN_BYTES", "cache_path", "gc_paused", "parse", "read_document"]

CACHE_DIR = ".pytest-llm-cache"
CACHE_MIN_BYTES = 64 * 1024
"""Smaller cassettes parse in a few milliseconds: no cache file for them."""

enabled = True
"""Off: the plain path (the GC running, no cache), kept for benchmarks/cassette_load.py."""

Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

CParser: Any = getattr(yaml, "CParser", None) or getattr(
    getattr(yaml, "_yaml", None), "CParser", None
)
"""libyaml's event parser; ``None`` in a PyYAML built without it (the safe loader then)."""

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
    del raw  # one copy of the file at a time: the peak is the document's
    with gc_paused():
        doc = parse(text)
        lines = lines_of(text)
        del text
        extra = derive(doc) if digest is not None else None
    if digest is not None:
        _write_cache(cached, digest, (doc, lines, extra))
    return doc, lines, extra


def parse(text: str) -> Any:
    """``yaml.load(text, Loader=Loader)``: the same objects, the same errors, faster."""
    if CParser is not None:
        try:
            return _from_events(text)
        except Exception:  # whatever it is, the safe loader says it (or reads it)
            pass
    return yaml.load(text, Loader=Loader)


class _Unsupported(Exception):
    """Something :func:`_from_events` leaves to PyYAML's safe loader."""


_RESOLVERS: dict[Any, list[tuple[str, Any]]] = yaml.resolver.Resolver.yaml_implicit_resolvers
_CONSTRUCT = yaml.constructor.SafeConstructor.yaml_constructors
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp")
)
_plain_values: dict[str, Any] = {}
_constructor = yaml.constructor.SafeConstructor()


def _plain(value: str) -> Any:
    """A plain (unquoted) scalar as the safe loader resolves it: ``200``, ``null``, ``yes``.

    Remembered (they repeat: keys, statuses, header values), strings included."""
    out = _plain_values.get(value, _plain_values)
    if out is not _plain_values:
        return out
    candidates = _RESOLVERS.get(value[:1], []) + _RESOLVERS.get(None, [])
    tag = next((tag for tag, regexp in candidates if regexp.match(value)), None)
    if tag is None:
        out = value  # a string: most keys and words
    elif tag in _PLAIN_TAGS:
        out = _CONSTRUCT[tag](_constructor, yaml.nodes.ScalarNode(tag, value))
    else:
        raise _Unsupported(tag)  # a merge key (<<) or the value key (=)
    if len(_plain_values) < 8192 and len(value) <= 64:
        _plain_values[value] = out
    return out


def _from_events(text: str) -> Any:
    events = yaml.events
    scalar, map_start, seq_start = (
        events.ScalarEvent,
        events.MappingStartEvent,
        events.SequenceStartEvent,
    )
    map_end, seq_end = events.MappingEndEvent, events.SequenceEndEvent
    parser = CParser(text)
    try:
        get: Callable[[], Any] = parser.get_event
        get()  # StreamStartEvent
        event = get()
        if type(event) is events.StreamEndEvent:
            return None  # no document at all, as yaml.load
        if type(event) is not events.DocumentStartEvent:
            raise _Unsupported(event)
        no_key: Any = _Unsupported  # a sentinel: no key seen yet in this mapping
        stack: list[tuple[Any, Any]] = []
        node: Any = None  # the open dict or list
        key = no_key
        while True:
            event = get()
            kind = type(event)
            if kind is scalar:
                if event.anchor is not None or event.tag not in (None, "!"):
                    raise _Unsupported(event)
                value = _plain(event.value) if event.implicit[0] else event.value
            elif kind is map_start or kind is seq_start:
                if event.anchor is not None or event.tag not in (None, "!"):
                    raise _Unsupported(event)
                stack.append((node, key))
                node, key = ({} if kind is map_start else []), no_key
                continue
            elif kind is map_end or kind is seq_end:
                value = node
                node, key = stack.pop()
            else:  # an alias
                raise _Unsupported(event)
            if node is None:
                break  # the document's root
            if type(node) is list:
                node.append(value)
            elif key is no_key:
                if type(value) is dict or type(value) is list:
                    raise _Unsupported(value)  # a complex key
                key = value
            else:
                node[key] = value
                key = no_key
        if type(get()) is not events.DocumentEndEvent or type(get()) is not events.StreamEndEvent:
            raise _Unsupported("more than one document")
        return value
    finally:
        parser.dispose()


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
