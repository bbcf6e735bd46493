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
and every error, is PyYAML's. The sections a cassette in pytest-llm's own layout is
made of are read faster still, line by line (:func:`_block`: no event objects),
and anything outside that layout goes to the event reader.

A cassette of :data:`CACHE_MIN_BYTES` or more also gets a derived copy of its parsed
document beside it, ``.pytest-llm-cache/<name>.marshal``, keyed by the YAML's
sha256: the next load reads that (about five times faster than the parse) as
long as the YAML is byte for byte the same, and re-parses and rewrites it when the
YAML changed. Smaller cassettes (a suite's one per test) share one cache file per
folder, ``.pytest-llm-cache/small.marshal``: per file, its sha256, what opening it
computed and the replies built from it, and the file's stat when that can stand for
its bytes (:func:`_trusted`: then it is not even read); read once per process, written when the
process ends (or the folder leaves memory), merged with what other processes wrote
under a lock. The cache directory holds a ``.gitignore`` of ``*``, so it is never
committed; it is written atomically (safe under pytest-xdist), and a cache that
cannot be read or written is ignored. The YAML stays the only source of truth.

A cassette in the layout pytest-llm writes is not even parsed whole (:func:`scan`):
a scan of the lines that start at columns 0-3 cuts it into interactions and their
sections, only the sections a lookup needs (the request, but for its headers, which
libyaml checks once per distinct text; ``meta.test`` and ``meta.request_digest`` from
their lines) are parsed when it opens, the requests of many interactions by one call,
and the syntax of the others is checked without building anything (by one pattern
when a section keeps to the shapes the writer gives it, else by libyaml, in C); a
response is parsed when it is first replayed, from the file's bytes, which are kept
instead of any parsed copy. Whatever the scan is not sure of (another layout,
anchors, aliases or tags, a problem the full reader reports) goes to the full reader,
so results and errors are the same.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import hashlib
import marshal
import os
import re
import struct
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "CACHE_DIR",
    "CACHE_MIN_BYTES",
    "File",
    "FileChanged",
    "Layout",
    "cache_path",
    "flush",
    "forget",
    "gc_paused",
    "parse",
    "read",
    "read_document",
    "remember",
    "scan",
]

CACHE_DIR = ".pytest-llm-cache"
CACHE_MIN_BYTES = 64 * 1024
"""Smaller cassettes parse in a few milliseconds: no cache file for them."""

enabled = True
"""Off: the plain path (the GC running, no cache), kept for benchmarks/cassette_load.py."""

lazy = True
"""Off: every file parsed whole (:func:`read_document`), for benchmarks/cassette_load.py."""


class PyYAML:
    """PyYAML and what the readers take from it, made on first need (:func:`pyyaml`):
    importing it costs ~10 ms, and a process whose cassettes all come from the caches
    never needs it."""

    def __init__(self) -> None:
        import yaml

        self.yaml = yaml
        self.Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        self.CParser: Any = getattr(yaml, "CParser", None) or getattr(
            getattr(yaml, "_yaml", None), "CParser", None
        )
        """libyaml's event parser; ``None`` in a PyYAML built without it (the safe loader then)."""
        self.Error: type[Exception] = yaml.YAMLError
        self.resolvers: dict[Any, list[tuple[str, Any]]] = (
            yaml.resolver.Resolver.yaml_implicit_resolvers
        )
        self.construct = yaml.constructor.SafeConstructor.yaml_constructors
        self.constructor = yaml.constructor.SafeConstructor()
        self.ScalarNode = yaml.nodes.ScalarNode


_pyyaml: PyYAML | None = None


def pyyaml() -> PyYAML:
    """PyYAML, imported on the first call."""
    global _pyyaml
    if _pyyaml is None:
        _pyyaml = PyYAML()
    return _pyyaml


def yaml_error() -> type[Exception]:
    """``yaml.YAMLError`` (for an ``except`` clause: PyYAML is imported on the first)."""
    return pyyaml().Error


def __getattr__(name: str) -> Any:
    """``Loader``, ``CParser`` and ``yaml``, from :func:`pyyaml` (imported on first use)."""
    if name in ("Loader", "CParser"):
        return getattr(pyyaml(), name)
    if name == "yaml":
        return pyyaml().yaml
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_tags_made: tuple[bytes, bytes] | None = None
_stamped: list[ModuleType] = [sys.modules[__name__]]
"""The modules whose code computes what the caches hold: this one and those
:func:`stamp_code` adds (the cassette format's, which imports this one)."""


def stamp_code(*modules: ModuleType) -> None:
    """Count ``modules``' code in the caches' stamp: a cache that code did not write is
    not used."""
    global _tags_made
    _stamped.extend(m for m in modules if m not in _stamped)
    _tags_made = None


def _tags() -> tuple[bytes, bytes]:
    """The first line of a big cassette's cache file and of a folder's: the cache's
    format, Python's and marshal's versions, and a stamp of the code that computes what
    the caches hold (each module's size and modification time): an upgrade or an edit
    of the reader makes every cache written before it unused."""
    global _tags_made
    if _tags_made is None:
        stamp = hashlib.sha256()
        for module in _stamped:
            try:
                st = os.stat(str(module.__file__))
                stamp.update(f"{module.__name__} {st.st_size} {st.st_mtime_ns};".encode())
            except OSError:
                stamp.update(f"{module.__name__} ?;".encode())
        tail = (
            f"py{sys.version_info[0]}.{sys.version_info[1]} marshal {marshal.version} "
            f"code {stamp.hexdigest()[:16]}\n"
        )
        _tags_made = (
            f"pytest-llm cassette cache 2 {tail}".encode(),
            f"pytest-llm small cassette cache 2 {tail}".encode(),
        )
    return _tags_made


_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


class gc_paused:  # used as a function: ``with gc_paused():``
    """The cyclic GC off while inside; nested and concurrent uses share one pause.
    (A class, not a generator: it is entered once per load and per parsed section.)"""

    __slots__ = ()

    def __enter__(self) -> None:
        global _gc_depth, _gc_was_enabled
        with _gc_lock:
            if _gc_depth == 0:
                _gc_was_enabled = gc.isenabled()
                gc.disable()
            _gc_depth += 1

    def __exit__(self, *exc: object) -> None:
        global _gc_depth
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                gc.enable()


def cache_path(path: Path) -> Path:
    return path.parent / CACHE_DIR / f"{path.name}.marshal"


def read(
    path: Path,
    lines_of: Callable[[str], list[int]],
    derive: Callable[[Any], Any],
    facts_of: FactsOf,
    peek: Mapping[str, Sequence[str]] = {},
    stat: os.stat_result | None = None,
) -> Layout | tuple[Any, list[int], Any]:
    """The cassette as a :class:`Layout` (:func:`scan`), else as :func:`read_document` reads it.

    ``stat``: the file's ``os.stat``, taken by the caller just now: a small cassette
    whose folder cache entry trusts that very stat is not even opened (:func:`_trusted`).
    """
    if not enabled or not lazy:
        return read_document(path, lines_of, derive)
    if stat is not None and stat.st_size < CACHE_MIN_BYTES:
        where = os.fspath(path)
        head, name = _split(where)
        layout = _trusted(where, _folder(head), stat, name)
        if layout is not None:
            return layout
    fd = os.open(path, _O_READ)
    try:
        return _read_open(path, fd, lines_of, derive, facts_of, peek)
    finally:
        os.close(fd)


def _read_open(
    path: Path,
    fd: int,
    lines_of: Callable[[str], list[int]],
    derive: Callable[[Any], Any],
    facts_of: FactsOf,
    peek: Mapping[str, Sequence[str]],
) -> Layout | tuple[Any, list[int], Any]:
    """:func:`read` of the file open as ``fd``: its sha256 first, a chunk at a time (a
    cache hit needs nothing else of it), then, if no cache has it, :func:`scan` of its
    chunks read again: the file's bytes are never all held at once."""
    st = os.fstat(fd)
    size = st.st_size
    # a small cassette's folder cache first: not held at once with the file's bytes
    folder = None
    if size < CACHE_MIN_BYTES:
        where = os.fspath(path)
        head, name = _split(where)
        folder = _folder(head)
        layout = _trusted(where, folder, st, name)
        if layout is not None:
            return layout
    sha = hashlib.sha256()
    for chunk in _chunks(fd, size):
        sha.update(chunk)
    digest = sha.digest()
    stamp = _stamp(st)
    file = File(path, stamp, digest)
    if folder is not None:
        layout = _read_small(
            path,
            folder,
            _chunks(fd, size),
            digest,
            facts_of,
            peek,
            lambda: _stamp(os.fstat(fd)) == stamp,  # not edited while read
            stamp,
        )
        if layout is None:
            return read_document(path, lines_of, derive)
        layout.file = file
        return layout
    key = str(path)
    with _cache_lock:
        kept = _big.pop(key, None)
        if kept is not None and kept[0] == digest:
            _big[key] = kept  # the most recently used, last
            return Layout(kept[1], kept[2], kept[3], None, file)
    cached = cache_path(path)
    hit = _read_cache(cached, digest)
    if isinstance(hit, tuple) and len(hit) == 4 and hit[0] == "document":
        return hit[1], hit[2], hit[3]
    if isinstance(hit, tuple) and len(hit) == 3 and hit[0] == "layout":
        big: Layout | None = Layout(hit[1], hit[2])
    else:
        with gc_paused():
            big = scan(_chunks(fd, size), facts_of, peek)
        if big is None or _stamp(os.fstat(fd)) != stamp:  # (edited while read)
            return read_document(path, lines_of, derive)
        _write_cache(cached, digest, ("layout", big.head, big.items))
    assert big is not None
    big.replies, big.file = {}, file
    with _cache_lock:
        _big[key] = (digest, big.head, big.items, big.replies)
        while len(_big) > BIG_KEPT:
            del _big[next(iter(_big))]
    return big


def read_document(
    path: Path,
    lines_of: Callable[[str], list[int]],
    derive: Callable[[Any], Any] = lambda doc: None,
    raw: bytes | None = None,
    digest: bytes | None = None,
) -> tuple[Any, list[int], Any]:
    """The parsed YAML document, ``lines_of(text)`` and ``derive(doc)``, cached together.

    ``derive`` computes what loading would compute from the document anyway (e.g. the
    body bytes), so a cache hit skips that too; it runs only when a cache is written
    and returns ``None`` for a document it does not understand.
    Raises :class:`UnicodeDecodeError` and :class:`yaml.YAMLError` as the parse does.
    """
    if not enabled:
        text = path.read_text(encoding="utf-8")
        y = pyyaml()
        return y.yaml.load(text, Loader=y.Loader), lines_of(text), None
    if raw is None:
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).digest() if len(raw) >= CACHE_MIN_BYTES else None
    cached = cache_path(path)
    text = raw.decode("utf-8")
    del raw  # one copy of the file at a time: the peak is the document's
    with gc_paused():
        doc = parse(text)
        lines = lines_of(text)
        del text
        extra = derive(doc) if digest is not None else None
    if digest is not None:
        _write_cache(cached, digest, ("document", doc, lines, extra))
    return doc, lines, extra


# -- the layout pytest-llm writes, read without parsing what a lookup does not need ----


class Layout:
    """A cassette read by :func:`scan`: its top-level keys but ``interactions``, parsed,
    and per interaction what ``facts_of`` made of its parsed sections; ``file``, where
    the other sections are read from when used (:func:`section`: an open cassette keeps
    none of the file's bytes). ``replies`` is where a small cassette's replies are kept
    for the load cache (:func:`remember`), by line."""

    __slots__ = ("file", "folder", "head", "items", "replies")

    def __init__(
        self,
        head: dict[str, Any],
        items: list[Any],
        replies: dict[int, Any] | None = None,
        folder: _Folder | None = None,
        file: File | None = None,
    ) -> None:
        self.head = head
        self.items = items
        self.replies = replies
        self.folder = folder
        self.file = file


_O_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def _stamp(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


_STAMP_LEN = 5


class FileChanged(Exception):
    """A cassette's file is no longer the one opened: its sections cannot be read."""


class File:
    """A cassette's file as :func:`read` read it, to read a section from it again when
    first used (:meth:`read`): an open cassette keeps none of the file's bytes.

    The file must still be the one read: the same size, modification and change times,
    inode and device, or else bytes of the same sha256 (a copy, a touch); otherwise
    :class:`FileChanged` (the file was edited or replaced since it was opened) or
    :class:`OSError` (it is gone)."""

    __slots__ = ("digest", "path", "stamp")

    def __init__(self, path: Path | str, stamp: tuple[int, ...], digest: bytes) -> None:
        where = os.fspath(path)  # read again wherever the process went since
        self.path = where if os.path.isabs(where) else os.path.abspath(where)
        self.stamp = stamp
        self.digest = digest

    def read(self, start: int, stop: int) -> bytes:
        """The file's bytes from ``start`` to ``stop``."""
        fd = os.open(self.path, _O_READ)
        try:
            st = os.fstat(fd)
            if _stamp(st) == self.stamp:
                data = _pread(fd, stop - start, start)
                if len(data) == stop - start:
                    return data
            os.lseek(fd, 0, os.SEEK_SET)
            raw = _read_all(fd, st.st_size)
        finally:
            os.close(fd)
        if hashlib.sha256(raw).digest() != self.digest:
            raise FileChanged(f"{self.path} changed since it was opened")
        self.stamp = _stamp(st)
        return raw[start:stop]


CHUNK_MIN = 2048
CHUNK_MAX = 1 << 20


def _chunks(fd: int, size: int) -> Iterator[bytes]:
    """File ``fd``'s bytes from its start, about an eighth of ``size`` at a time (2 KiB
    to 1 MiB): what a load holds of the file at once."""
    n = max(CHUNK_MIN, min(size // 8, CHUNK_MAX))
    offset = 0
    while data := _pread(fd, n, offset):
        yield data
        if len(data) < n:
            return  # a short read: the end of the file
        offset += n


def _read_all(fd: int, size: int) -> bytes:
    """The rest of file ``fd``, ``size`` bytes by its ``fstat`` (one call, and no
    buffer beside the bytes, unless it grew since)."""
    data = os.read(fd, size + 1)
    if len(data) <= size:
        return data
    parts = [data]
    while more := os.read(fd, 1 << 16):
        parts.append(more)
    return b"".join(parts)


def _pread_seek(fd: int, n: int, offset: int) -> bytes:  # pragma: no cover - Windows
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, n)


_pread: Callable[[int, int, int], bytes] = getattr(os, "pread", _pread_seek)


LAZY_SECTIONS = frozenset({"response", "summary", "meta"})
"""An interaction's sections left as text when it opens: parsed when first used."""

FactsOf = Callable[[int, tuple[str, ...], bytes, dict[str, Any]], Any]
"""``facts_of(line, keys, bounds, sections)``: see :func:`scan`."""

_LINE = re.compile(rb"\n {0,3}[^ \n]")
"""A line less indented than an interaction's section contents (4 spaces)."""
_SECTION = re.compile(rb"(?:(- )|  )([A-Za-z_][A-Za-z0-9_]{0,200}):[ \n]")
"""An interaction's first section (``- key:``: group 1 set) or another (``  key:``);
a longer name is the full reader's (the scan's window holds :data:`_ROOM` bytes of
a line at least)."""
_FOOTER = re.compile(rb"\n[A-Za-z]")
_STATUS = re.compile(rb"  response:\n    status: [1-9][0-9][0-9]\n")
_TOKEN_BEFORE = frozenset(b" \t\n[{,")


def scan(
    raw: bytes | Iterator[bytes], facts_of: FactsOf, peek: Mapping[str, Sequence[str]] = {}
) -> Layout | None:
    """``raw`` read as a :class:`Layout`, or ``None``: the full reader's business.

    ``raw`` is the file's bytes, or its chunks in order (:func:`_chunks`): then only a
    window of the file is held at a time, from the interaction being read on.
    The layout is the one :func:`~._format.dump` writes: top-level keys at column 0,
    ``interactions:`` a block list of mappings whose keys (the sections) sit at column
    2 and whose contents are indented further. The lines at columns 0-3 cut the list
    into interactions and sections; the text before and after the list is parsed, and
    so are each interaction's sections but :data:`LAZY_SECTIONS`, together (one parse
    of their text, and of those of the next interactions: :func:`_entries`); the syntax of each of those is checked on its own (by
    :data:`_PLAIN_SECTION`, else by libyaml, in C: no Python objects), so it is known to parse the same when used, and a quoted
    string running on into the next section is caught. The parsed sections are
    handed to ``facts_of(line, keys, bounds, sections)``,
    where ``bounds`` are the offsets of each section in the file and one past the last
    (:func:`pack`). A lazy section named in ``peek`` (``{"meta": ["test"]}``) is
    handed over as a mapping of just those keys, read from their lines when their
    values are one-line plain scalars, else parsed whole.
    ``None`` from it, or anything unusual on the way (anchors, aliases or tags, which
    would tie a section to another; comments or odd indentation between sections; a
    duplicate section; a response not starting with its status; carriage returns)
    gives ``None``: the full reader then reads the file, and reports its problems.
    """
    if pyyaml().CParser is None:
        return None
    win = _Window(iter((raw,)) if isinstance(raw, bytes) else raw)
    try:
        return _scan(win, facts_of, peek)
    except _Unsupported:
        return None


HEAD_MAX = 1 << 20
"""The text before ``interactions:`` that :func:`scan` reads at most (more: the full reader's)."""
_ROOM = 256
"""The bytes :func:`scan` wants in its window from the start of a line on, to read
its key (:data:`_SECTION`), unless the file ends first."""
_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _scan(win: _Window, facts_of: FactsOf, peek: Mapping[str, Sequence[str]]) -> Layout | None:
    more = win.more
    while True:  # the text before the list, and its first line
        start = win.buf.find(b"\ninteractions:\n")
        if start >= 0 and len(win.buf) >= start + 17:
            break
        if len(win.buf) > HEAD_MAX or not more(0):
            if start < 0:
                return None
            break
    buf = win.buf  # (base 0)
    if not buf.startswith(b"- ", start + 15):
        return None
    top = buf[: start + 1]
    state = _ScanState(win, facts_of, peek)
    items = state.items
    names: list[str] = []
    offsets: list[int] = []
    line = buf.count(b"\n", 0, start + 15) + 1  # the first interaction's
    prev = start + 15  # where it starts: the window keeps it, and the line break before
    known = _SECTION_NAMES
    find = _LINE.search  # not finditer: its matcher's state (~1.3 KiB) would stay alive
    section_at = _SECTION.match
    pos = start + 14
    footer = -1
    while True:
        buf, base = win.buf, win.base
        m = find(buf, pos - base)
        if m is None:
            if not more(prev - 1):
                break  # the end of the file
            pos = max(pos, base + len(buf) - 4)  # (a line's start, cut short)
            continue
        at = m.start() + 1
        if len(buf) - at < _ROOM and not win.eof:
            more(prev - 1)
            continue
        if m.end() - at == 1 and buf[at] in _LETTERS:  # the next top-level key
            footer = base + at
            break
        section = section_at(buf, at)
        if section is None:
            return None  # odd indentation, a comment, an indentless list, a tab...
        key = section.group(2)
        at += base
        if section.group(1) is not None and names:  # "- ": the next interaction
            if not state.item(names, offsets, at, line):
                return None
            line += buf.count(b"\n", prev - base, at - base)
            prev = at
            names, offsets = [], []
        name = known.get(key)
        if name is None:
            name = key.decode()
            if len(known) < 256:
                known[key] = name
        names.append(name)
        offsets.append(at)
        pos = at
    if footer < 0:
        footer = win.base + len(win.buf)
    if names and not state.item(names, offsets, footer, line):
        return None
    if not state.flush():
        return None
    while more(footer):  # the rest: top-level keys after the list
        pass
    try:
        head = _read_text(top + win.buf[footer - win.base :])
    except Exception:
        return None
    if not isinstance(head, dict) or "interactions" in head:
        return None
    return Layout(head, items)


class _Window:
    """The part of a file :func:`scan` works on: ``buf`` holds its bytes from offset
    ``base`` on, read a chunk at a time (:meth:`more`). Each chunk is looked at for
    what sends a file to the full reader (carriage returns, node properties)."""

    __slots__ = ("base", "buf", "chunks", "eof", "tail")

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.buf = b""
        self.base = 0
        self.eof = False
        self.tail = b""
        """The file's last two bytes read so far."""

    def more(self, keep: int) -> bool:
        """The next chunk read, the bytes before offset ``keep`` dropped; ``False`` at
        the end of the file. Raises :class:`_Unsupported` for a chunk holding a carriage
        return or a node property."""
        chunk = next(self.chunks, b"")
        if not chunk:
            self.eof = True
            return False
        tail = self.tail
        if (
            b"\r" in chunk
            or _has_node_properties(chunk, tail[-1] if tail else -1)
            or _node_property_before(tail, chunk)
        ):
            raise _Unsupported("a carriage return, an anchor, an alias or a tag")
        self.tail = (tail + chunk[-2:])[-2:]
        drop = keep - self.base
        self.buf = (self.buf[drop:] if drop else self.buf) + chunk
        self.base = keep
        return True


_NEXT_DOCUMENT = b"---\n"
"""Between sections checked in one go, each a document of its own: what runs on past
its section's end (a quoted string, a flow collection) meets this marker and fails, as
at the end of the section checked alone; a block ends at it."""

_SECTION_NAMES: dict[bytes, str] = {}
"""Section names as read (one string each, not one per interaction)."""


BATCH_BYTES = 8192
BATCH_SHARE = 8
"""The text of the parsed sections of consecutive interactions :func:`scan` reads in
one go (:func:`_entries`): up to :data:`BATCH_BYTES`, and up to a ``BATCH_SHARE``-th
of the file's first chunk (a small file's peak stays low). One :func:`_block` call for
many requests costs a third less a request than a call for each."""


class _ScanState:
    """What :func:`scan` shares between the interactions it reads, one at a time; the
    sections to parse wait in ``pending`` until :data:`BATCH_BYTES` of them are there
    (:meth:`flush`), then the facts of each go to ``items``, in order."""

    __slots__ = (
        "batch",
        "facts_of",
        "headers",
        "items",
        "orders",
        "peek",
        "pending",
        "size",
        "win",
    )

    def __init__(self, win: _Window, facts_of: FactsOf, peek: Mapping[str, Sequence[str]]) -> None:
        self.win = win
        self.facts_of = facts_of
        self.peek = peek
        self.orders: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.items: list[Any] = []
        self.pending: list[
            tuple[int, tuple[str, ...], bytes, dict[str, Any], bytes | None, int, bytes | None]
        ] = []
        """Per interaction read but not parsed yet: its line, section names, bounds,
        peeked sections, the text of its parsed sections (``None``: none), their count,
        and the text without its request's headers (:meth:`without_headers`)."""
        self.headers: set[bytes] = set()
        """The request headers whose syntax libyaml checked (:meth:`without_headers`)."""
        self.size = 0
        self.batch = min(BATCH_BYTES, len(win.buf) // BATCH_SHARE)

    def item(self, names: list[str], offsets: list[int], stop: int, line: int) -> bool:
        """The interaction whose sections start at ``offsets`` (``stop``: where it ends,
        in the window) read; ``False``: the full reader's business."""
        raw, base = self.win.buf, self.win.base
        key = tuple(names)
        order = self.orders.get(key)
        if order is None:
            if len(set(key)) != len(key):
                return False  # a key given twice: the full reader keeps the last
            order = self.orders[key] = key
        offsets.append(stop)
        parts = []
        lazy = []
        peeked: dict[str, Any] = {}
        for i, name in enumerate(order):
            begin, end = offsets[i] - base, offsets[i + 1] - base
            if name == "response" and _STATUS.match(raw, begin) is None:
                return False
            if name in LAZY_SECTIONS:
                lazy.append(raw[begin:end])
                wanted = self.peek.get(name)
                if not wanted:
                    continue
                found = _peek(raw, begin, end, wanted)
                if found is not None:
                    peeked[name] = found
                    continue
            parts.append((begin, end))
            first = name
        if lazy and not all(map(_PLAIN_SECTION.fullmatch, lazy)):
            try:  # their syntax, each on its own, in C: each parses when it is used
                pyyaml().CParser(
                    lazy[0] if len(lazy) == 1 else _NEXT_DOCUMENT.join(lazy)
                ).raw_parse()
            except Exception:
                return False
        del lazy  # before the parse below: not held at once
        cut = None
        if not parts:
            text = None
        elif len(parts) == 1:
            text = raw[parts[0][0] : parts[0][1]]
            if first == "request":
                cut = self.without_headers(text)
        else:
            text = b"".join(raw[b:e] for b, e in parts)
        self.pending.append((line, order, pack(offsets), peeked, text, len(parts), cut))
        if text is not None:
            self.size += len(text)
            if self.size >= self.batch:
                return self.flush()
        return True

    def without_headers(self, text: bytes) -> bytes | None:
        """A request's text without its ``headers`` (a lookup does not need them), if
        they are a mapping's entry at column 4 whose syntax libyaml finds right on its
        own (checked once per distinct text: a file's requests mostly share theirs);
        else ``None``. Read by the block reader only, the rest reads as within the
        whole, and so do the headers: each line of the text belongs to the entry it is
        in, an entry ends at the next line at its column or to its left, and what the
        headers hold ends within them (a quoted string running on past them fails
        libyaml's check). The whole text is read when the rest is not the block
        reader's."""
        at = text.find(b"\n    headers:\n")
        if at < 0 or not text.startswith(b"- request:\n    ") or text[15] in _NOT_A_KEY:
            return None  # the request is not a block mapping at column 4
        m = _SUB_END.search(text, at + 13)
        end = len(text) if m is None else m.start() + 1
        headers = text[at + 1 : end]
        if headers not in self.headers:
            try:
                pyyaml().CParser(headers).raw_parse()
            except Exception:
                return None
            if len(self.headers) < 64:
                self.headers.add(headers)
        return text[: at + 1] + text[end:]

    def flush(self) -> bool:
        """The pending interactions parsed (together: :func:`_entries`, else each on its
        own) and their facts added to ``items``; ``False``: the full reader's business."""
        pending, self.pending, self.size = self.pending, [], 0
        together = _entries([p[6] or p[4] for p in pending if p[4] is not None])
        at = 0
        items, facts_of = self.items, self.facts_of
        for line, order, bounds, peeked, text, n, cut in pending:
            if text is None:
                parsed: Any = {}
            elif together is not None:
                parsed = together[at]
                at += 1
            else:
                parsed = None
                if cut is not None:
                    with contextlib.suppress(Exception):  # the block reader's, or the whole
                        parsed = _block(cut)
                try:
                    if parsed is None:
                        parsed = _read_text(text)
                except Exception:
                    return False
                if type(parsed) is list and len(parsed) == 1:
                    parsed = parsed[0]
            if type(parsed) is not dict or len(parsed) != n:
                return False
            if peeked:
                parsed.update(peeked)
            facts = facts_of(line, order, bounds, parsed)
            if facts is None:
                return False
            items.append(facts)
        return True


_KEY_TEXT = rb"[A-Za-z_][A-Za-z0-9_-]{0,200}+"
_VALUE_LINE = (
    rb"(?:(?:[A-Za-z0-9_./(~=;$^]|-[0-9.])[A-Za-z0-9_./()~=;$^+, -]*+"  # plain
    rb"|'[ -&(-~]*+(?:''[ -&(-~]*+)*+'"  # single-quoted
    rb"|\{\}|\[\])\n"
)


def _key_lines(right: bytes) -> bytes:
    """A key ``right`` of column i (nothing, or two columns after ``- ``) and its value:
    one on its line (and then no line further right, nor an entry at the key's
    column), a literal block two columns right (the same after it), or none: a sequence
    at the key's column follows, or a mapping two columns right (and after it, no entry
    at the key's column)."""
    at = b"(?P=i)" + right
    return (
        _KEY_TEXT
        + rb":(?: (?:"
        + (_VALUE_LINE + rb"(?!" + at + rb"[ -])")
        + (rb"|\|[-+]?\n" + at + rb"  [!-~][ -~]*+\n(?:" + at + rb"  [ -~]*+\n|\n)*+")
        + (rb"(?!" + at + rb"[ -]))")
        + (rb"|\n(?:(?=" + at + rb"- )|(?=" + at + rb"  [A-Za-z_])")
        + (rb"(?!(?:" + at + rb" [ -~]*+\n)*+" + at + rb"- )))")
    )


_PLAIN_SECTION = re.compile(
    rb"  [A-Za-z_][A-Za-z0-9_]*:\n(?=    [A-Za-z_])(?:(?P<i>(?:  )++)(?:"
    + _key_lines(b"")
    + rb"|- (?:"
    + _key_lines(b"  ")
    + (rb"|" + _VALUE_LINE + rb"(?!(?P=i) )")  # an entry's scalar: nothing right of it below
    + rb")))*+"
)
"""A lazy section libyaml reads without an error, known without asking it (its check
costs twice this one's): the section's key at column 2 over a block mapping at column
4, every line at an even column and of printable ASCII, each a key (plain, at most 201
characters: libyaml's limit for a key is 1,024) with a one-line value (plain without
``:``, ``#``, quotes, brackets or the other indicators; single-quoted; ``{}``; ``[]``),
a literal block two columns right of its key, nothing (a mapping two columns right of
it, or a sequence at its column), or a sequence entry (``- `` and a scalar or a
mapping's first key). Each line is checked against the one before and after it: what
a line can be followed by (nothing further right after a value; an entry at a column
only within a sequence there) is all that is not local, as every block is two columns
right of its parent: each even column left of a line holds an open mapping. A
``fullmatch`` says yes; no match: libyaml checks the section as before."""

_SUB_END = re.compile(rb"\n {0,4}[^ \n]")
"""The next line at column 4 or to its left: the end of an entry of a mapping at column 4."""
_NOT_A_KEY = frozenset(b" -#\n")


def _entries(texts: list[bytes]) -> list[Any] | None:
    """Each of ``texts`` read by :func:`_block`, by one call for all of them, when each
    is an entry of the interaction list (``- key:`` on its first line, a line break at
    its end): the block reader reads a list of such entries as it reads each one alone,
    one line at a time, and an entry ends at the next one's first line as it ends at the
    end of its text. ``None``: not so, or refused (then each is read on its own)."""
    if len(texts) < 2 or not all(t[:2] == b"- " and t[-1:] == b"\n" for t in texts):
        return None
    try:
        got = _block(b"".join(texts))
    except Exception:
        return None
    return got if type(got) is list and len(got) == len(texts) else None


_PEEK_VALUE = re.compile(rb" ([A-Za-z0-9_./][^\s#'\"]*)\n(?=    [^ ]|\Z)")
"""A key's value on its line, plain and unquoted, with no line of the value below."""


_NEEDLES: dict[str, bytes] = {}
"""``key`` -> the bytes :func:`_peek` looks for: ``\\n    key:``."""


def _peek(raw: bytes, start: int, stop: int, keys: Sequence[str]) -> dict[str, Any] | None:
    """The values of ``keys`` in the section ``raw[start:stop]`` (a mapping whose keys
    are at column 4), where each is absent or a one-line plain scalar; else ``None``."""
    colon = raw.find(b":", start)
    if not raw.startswith(b":\n    ", colon) or raw[colon + 6] == 32:  # (32: a space)
        return None  # not a block mapping under its key with its keys at column 4
    out: dict[str, Any] = {}
    for key in keys:
        needle = _NEEDLES.get(key)
        if needle is None:
            needle = _NEEDLES[key] = b"\n    " + key.encode() + b":"
        at = raw.find(needle, start, stop)
        if at < 0:
            continue
        m = _PEEK_VALUE.match(raw, at + len(needle), stop)
        if m is None or m.group(1)[-1:] == b":":
            return None
        try:
            value = _plain(m.group(1).decode(), remember=False)  # digests: one of a kind
        except Exception:
            return None
        # a test's id: one string for all its interactions (interned strings are freed
        # with their last use: a digest, one of a kind, is not kept by this)
        out[key] = sys.intern(value) if type(value) is str else value
    return out


def pack(bounds: Sequence[int]) -> bytes:
    """Offsets kept by the thousand: 8 bytes each, not a tuple of int objects."""
    return struct.pack(f"<{len(bounds)}Q", *bounds)


def unpack(bounds: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(bounds) // 8}Q", bounds)


def _has_node_properties(raw: bytes, prev: int = -1) -> bool:
    """Whether ``raw`` may hold an anchor, an alias or a tag (``&a``, ``*a``, ``!t``):
    each would tie a section to another or change how it reads. Text that only looks
    like one (``*bold*`` in a message) gives ``True`` too: the full reader is right
    for everything. ``prev``: the byte before ``raw`` in the file (-1: none); a
    property's mark as ``raw``'s last byte is :func:`_node_property_before`'s, once the
    next byte is known."""
    before = _TOKEN_BEFORE
    for ch in b"&*!":
        at = raw.find(ch)
        while at >= 0:
            if (raw[at - 1] in before if at else prev < 0 or prev in before) and raw[
                at + 1 : at + 2
            ].strip():
                return True
            at = raw.find(ch, at + 1)
    return False


def _node_property_before(tail: bytes, chunk: bytes) -> bool:
    """:func:`_has_node_properties` for the last byte of ``tail`` (the file's last
    bytes before ``chunk``), which needed ``chunk``'s first byte to tell."""
    if not tail or tail[-1] not in b"&*!" or not chunk[:1].strip():
        return False
    return len(tail) < 2 or tail[-2] in _TOKEN_BEFORE


def section(file: File, keys: Sequence[str], bounds: bytes, key: str) -> Any:
    """The parsed value of section ``key`` of an interaction :func:`scan` cut out,
    read from ``file`` (:meth:`File.read`: raises :class:`FileChanged` or
    :class:`OSError` when the file is not the one opened any more)."""
    i = keys.index(key)
    start, stop = struct.unpack_from("<2Q", bounds, 8 * i)
    doc = parse_bytes(file.read(start, stop))
    if type(doc) is list and len(doc) == 1:
        doc = doc[0]
    if not isinstance(doc, dict) or key not in doc:
        raise yaml_error()(f"section {key!r} did not read back as a mapping")
    return doc[key]


def parse_bytes(text: bytes) -> Any:
    """:func:`parse` of UTF-8 bytes."""
    with gc_paused():
        y = pyyaml()
        if y.CParser is not None:
            try:
                return _read_text(text)
            except Exception:
                pass
        return y.yaml.load(text, Loader=y.Loader)


def _read_text(text: bytes) -> Any:
    """:func:`_block`, else :func:`_from_events` (which raises what is wrong)."""
    try:
        return _block(text)
    except Exception:  # _Unsupported, or not UTF-8: the event reader decides
        return _from_events(text)


def parse(text: str) -> Any:
    """``yaml.load(text, Loader=Loader)``: the same objects, the same errors, faster."""
    y = pyyaml()
    if y.CParser is not None:
        try:
            return _from_events(text)
        except Exception:  # whatever it is, the safe loader says it (or reads it)
            pass
    return y.yaml.load(text, Loader=y.Loader)


class _Unsupported(Exception):
    """Something :func:`_from_events` leaves to PyYAML's safe loader."""


_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp")
)
_plain_values: dict[str, Any] = {}
_inline_values: dict[str, Any] = {}
"""Values after ``key: `` that :meth:`_Lines.mapping` found to be plain scalars on
their line (the checks passed), remembered as :func:`_plain` read them."""


def _plain(value: str, remember: bool = True) -> Any:
    """A plain (unquoted) scalar as the safe loader resolves it: ``200``, ``null``, ``yes``.

    Remembered (they repeat: keys, statuses, header values), strings included."""
    out = _plain_values.get(value, _plain_values)
    if out is not _plain_values:
        return out
    y = pyyaml()
    candidates = y.resolvers.get(value[:1], []) + y.resolvers.get(None, [])
    tag = next((tag for tag, regexp in candidates if regexp.match(value)), None)
    if tag is None:
        out = value  # a string: most keys and words
    elif tag in _PLAIN_TAGS:
        out = y.construct[tag](y.constructor, y.ScalarNode(tag, value))
    else:
        raise _Unsupported(tag)  # a merge key (<<) or the value key (=)
    if remember and len(_plain_values) < 8192 and len(value) <= 64:
        _plain_values[value] = out
    return out


def _from_events(text: str | bytes) -> Any:
    y = pyyaml()
    events = y.yaml.events
    scalar, map_start, seq_start = (
        events.ScalarEvent,
        events.MappingStartEvent,
        events.SequenceStartEvent,
    )
    map_end, seq_end = events.MappingEndEvent, events.SequenceEndEvent
    parser = y.CParser(text)
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
            tag = _tags()[0]
            head = fh.read(len(tag) + len(digest))
            if head != tag + digest:
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
        _ignore_file(folder)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{cached.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(_tags()[0] + digest)
            out.write(blob)
        os.replace(tmp, cached)
        tmp = None
    except OSError:
        pass  # a read-only checkout: the YAML is parsed every time, as before
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


# -- the block layout pytest-llm writes, read line by line --------------------------------

_NON_PRINTABLE = (
    "[^\x0a\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
"""Left to libyaml: what it refuses in a stream, and tabs, carriage returns, the other
line breaks YAML 1.1 knows (NEL, LS, PS) and byte order marks. Compiled on first need
(:func:`_non_printable`): its wide ranges cost ~5 ms to compile, and a cassette of
printable ASCII, the usual kind, never needs it."""
_PRINTABLE_ASCII = bytes([0x0A, *range(0x20, 0x7F)])
"""The bytes :data:`_NON_PRINTABLE` lets through that are ASCII: a text of only these
needs no search."""


@functools.cache
def _non_printable() -> re.Pattern[str]:
    """:data:`_NON_PRINTABLE`, compiled once, when a text first needs it."""
    return re.compile(_NON_PRINTABLE)


_LITERAL = re.compile(r"\|(?:([1-9])?([-+])?|([-+])([1-9]))\Z")
_SINGLE = re.compile(r"'((?:[^']|'')*)'\Z")
_PLAIN_FIRST = frozenset("-?:,[]{}#&*!|>'\"%@` ")
"""A plain scalar cannot start with these (``-?:`` can, before a non-space: left out)."""


def _block(text: str | bytes) -> Any:
    """``text`` read as the safe loader reads it, if it keeps to the block layout
    :func:`~._format.dump` writes: block mappings and sequences (a sequence under a key
    at the key's column, too), plain, single-quoted and literal scalars, ``{}`` and
    ``[]``, whole-line comments. Anything else raises :class:`_Unsupported`, and
    :func:`_from_events` reads it: flow collections, double quotes, folded scalars,
    plain scalars over several lines, anchors, tags, tabs, errors. No event objects,
    one step per line: about twice as fast as the event reader."""
    if isinstance(text, bytes):
        printable = not text.translate(None, _PRINTABLE_ASCII)  # in C, ~1 ns a byte
        text = text.decode()
    else:
        printable = False
    if (not printable and _non_printable().search(text) is not None) or not text.endswith("\n"):
        raise _Unsupported("not the block layout")
    lines = text.split("\n")
    del text
    lines.pop()
    reader = _Lines(lines)
    del lines  # the reader keeps each line without its indentation, and the indentation
    at = reader.skip(0)
    if at >= reader.n:
        raise _Unsupported("no document")
    reader.at = at
    value = reader.node(reader.ind[at], -1)
    if reader.skip(reader.at) < reader.n:
        raise _Unsupported("text after the document")
    return value


class _Lines:
    __slots__ = ("at", "body", "ind", "n")

    def __init__(self, lines: list[str]) -> None:
        self.body = body = [line.lstrip(" ") for line in lines]
        self.ind = [len(a) - len(b) for a, b in zip(lines, body, strict=True)]
        self.n = len(lines)
        self.at = 0

    def skip(self, at: int) -> int:
        """The first line from ``at`` that is not blank or a comment."""
        body, n = self.body, self.n
        while at < n:
            s = body[at]
            if s and s[0] != "#":
                break
            at += 1
        return at

    def more(self, indent: int) -> int:
        """The next line of the collection at ``indent`` (skipping blanks and comments),
        or -1 where the collection ends: the text's end, or a line to its left."""
        at = self.at = self.skip(self.at)
        if at >= self.n:
            return -1
        nxt = self.ind[at]
        if nxt < indent:
            return -1
        if nxt > indent:
            raise _Unsupported("odd indentation")
        return at

    def node(self, indent: int, parent: int) -> Any:
        """The block collection whose first line (the current one) is at ``indent``."""
        if self.body[self.at][:1] == "-":
            return self.sequence(indent, parent)
        return self.mapping(indent, self.body[self.at])

    def sequence(self, indent: int, parent: int) -> list[Any]:
        out: list[Any] = []
        body = self.body
        while True:
            line = body[self.at]
            if line[:2] != "- ":
                raise _Unsupported("an empty sequence entry")
            rest = line[2:]
            if rest[:1] in _ENTRY_FIRST or rest == "-":
                raise _Unsupported("a nested sequence or an odd entry")
            if _key_end(rest) >= 0:  # a mapping starting on the entry's line
                out.append(self.mapping(indent + 2, rest))
            else:
                self.at += 1
                out.append(self.scalar(rest, indent))
            at = self.at
            if at < self.n and (line := body[at]) and line[0] != "#":  # more(), inline
                if self.ind[at] != indent:
                    if self.ind[at] < indent:
                        return out
                    raise _Unsupported("odd indentation")
            else:
                at = self.more(indent)
                if at < 0:
                    return out
            if body[at][:2] != "- ":
                if indent != parent:
                    raise _Unsupported("a sequence followed by something else")
                return out

    def mapping(self, indent: int, rest: str) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        body, ind, n = self.body, self.ind, self.n
        plain, inline = _plain_values, _inline_values
        while True:
            end = rest.find(": ")
            if end < 0:
                if rest[-1:] != ":":
                    raise _Unsupported("not a key")
                end = len(rest) - 1
                value = ""
            else:
                value = rest[end + 2 :]
                if value[:1] == " ":
                    value = value.lstrip(" ")
            if rest[0] == "'":
                end = _key_end(rest)
                if end < 0:
                    raise _Unsupported("a key")
                value = rest[end + 1 :].lstrip(" ")
            key = plain.get(rest[:end], plain)
            if key is plain:
                key = _key(rest[:end])
            self.at += 1
            if value:
                got = inline.get(value, inline)
                if got is not inline:  # a plain scalar seen before: the usual case
                    out[key] = got
                else:
                    first = value[0]
                    if first == "#":
                        raise _Unsupported("a comment after a key")
                    if first in _PLAIN_FIRST or value[-1] in " :" or ": " in value or " #" in value:
                        out[key] = self.scalar(value, indent)
                    else:  # a plain scalar, inline (going on below: see next)
                        got = plain.get(value, plain)
                        out[key] = got = _plain(value) if got is plain else got
                        if len(value) <= 64 and len(inline) < 8192:
                            inline[value] = got
            else:
                at = self.at = self.skip(self.at)
                if at >= n:
                    out[key] = None
                    return out
                nxt = ind[at]
                if nxt > indent:
                    out[key] = self.node(nxt, indent)
                elif nxt == indent and body[at][:1] == "-":
                    out[key] = self.sequence(indent, indent)  # at the key's column
                else:
                    out[key] = None
            at = self.at
            if at < n and (rest := body[at]) and rest[0] != "#":  # more(), inline
                if ind[at] != indent:
                    if ind[at] < indent:
                        return out
                    raise _Unsupported("odd indentation")  # (a scalar going on, too)
            else:
                at = self.more(indent)
                if at < 0:
                    return out
                rest = body[at]
            if rest[0] == "-":
                raise _Unsupported("a sequence entry among keys")

    def scalar(self, value: str, column: int) -> Any:
        """An inline value; a literal block's lines follow (``column``: its entry's)."""
        first = value[0]
        if first == "|":
            return self.literal(value, column)
        if first == "'":
            m = _SINGLE.match(value)
            if m is None:
                raise _Unsupported("a single-quoted string running on")
            out: Any = m.group(1).replace("''", "'")
        elif value == "{}":
            out = {}
        elif value == "[]":
            out = []
        elif (
            first in _PLAIN_FIRST
            or value[-1] == " "
            or value[-1] == ":"
            or ": " in value
            or " #" in value
        ):
            raise _Unsupported("not a plain scalar on one line")
        else:
            out = _plain(value)
        at = self.at
        if at < self.n:  # a scalar going on, below
            s = self.body[at]
            if s and s[0] != "#" and self.ind[at] > column:
                raise _Unsupported("a scalar over several lines")
        return out

    def literal(self, header: str, column: int) -> str:
        m = _LITERAL.match(header)
        if m is None:
            raise _Unsupported("not a literal block")
        digit = m.group(1) or m.group(4)
        chomp = m.group(2) or m.group(3) or ""
        body, ind, at, n = self.body, self.ind, self.at, self.n
        if digit:
            indent = column + int(digit)
        else:
            if at >= n or not self.body[at]:
                raise _Unsupported("a literal block starting with a blank line")
            indent = self.ind[at]
            if indent <= column:
                raise _Unsupported("an empty literal block")
        text: list[str] = []
        while at < n:
            more = ind[at] - indent  # the line is " " * ind[at] + body[at]
            if more == 0:
                text.append(body[at])
            elif more > 0:
                text.append(" " * more + body[at])
            elif body[at]:
                break
            elif ind[at]:
                raise _Unsupported("a line of spaces in a literal block")
            else:
                text.append("")
            at += 1
        self.at = at
        trail = 0
        while text and text[-1] == "":
            text.pop()
            trail += 1
        if not text:
            raise _Unsupported("an empty literal block")
        if any(s[:1] == " " and not s.strip(" ") for s in text):
            raise _Unsupported("a line of spaces in a literal block")
        out = "\n".join(text)
        if chomp == "-":
            return out
        if chomp == "+":
            return out + "\n" * (trail + 1)
        return out + "\n"


_ENTRY_FIRST = frozenset(("", " ", "-", "?"))
"""A sequence entry starting so is left to the event reader (``- - x``, ``- ? k``)."""


_QUOTED_KEY = re.compile(r"'(?:[^']|'')*'(?=:(?: |\Z))")


def _key_end(s: str) -> int:
    """Where the ``:`` of the key starting ``s`` is; ``-1``: not a key line."""
    if s[:1] == "'":
        m = _QUOTED_KEY.match(s)
        return m.end() if m else -1
    end = s.find(": ")
    if end < 0:
        return len(s) - 1 if s.endswith(":") else -1
    return end


def _key(s: str) -> Any:
    if s[:1] == "'":
        m = _SINGLE.match(s)
        if m is None:
            raise _Unsupported("a key")
        return m.group(1).replace("''", "'")
    if not s or s[0] in _PLAIN_FIRST or s[-1] == " " or " #" in s or s.startswith("<<"):
        raise _Unsupported("not a plain key")
    value = _plain(s)
    if value is not None and type(value) not in (str, int, bool, float):
        raise _Unsupported("a key the safe loader makes into an object (a date)")
    return value


# -- the small cassettes' load cache: one file per cassette folder ---------------------

SMALL_CACHE = "small.marshal"
"""In a folder's :data:`CACHE_DIR`: what opening each of its small cassettes computed."""

FOLDERS_KEPT = 8
"""Folders whose small-cassette cache a process keeps in memory at once (least
recently used first out, written first if it changed): memory stays flat however
many test modules, each with its cassette folder, a session runs."""


class _Folder:
    """The small-cassette cache of one folder, in this process: per file name, a list
    ``[sha256 of the YAML, head, facts, replies, stamp]`` (:class:`Layout`'s, ``replies``
    by line; ``stamp``: the file's :func:`_stamp` when those bytes were hashed, if it can
    be trusted, else ``None``: :func:`_trusted`); read from
    ``.pytest-llm-cache/small.marshal`` when first needed, written back (merged with
    what other processes wrote since) when it changed."""

    __slots__ = ("dirty", "entries", "path", "since", "touched")

    def __init__(self, path: Path, entries: dict[str, list[Any]], since: int | None = None) -> None:
        self.path = path
        self.entries = entries
        self.since = since
        """The change time (``st_ctime_ns``) of the cache file as read, ``None`` if none
        was: a time of the file system's own clock that is past when this process hashes
        a cassette (:func:`_not_racy`)."""
        self.touched: set[str] = set()
        """Files this process read afresh: their entries win over the file's."""
        self.dirty = False


BIG_KEPT = 2
"""Cassettes of :data:`CACHE_MIN_BYTES` or more whose facts and replies a process
keeps in memory for the next test that opens the same file (a shared cassette)."""

_big: dict[str, tuple[bytes, dict[str, Any], list[Any], dict[int, Any]]] = {}
"""Path -> (sha256 of the YAML, head, facts, replies by line), least recently used first."""

_cache_lock = threading.RLock()
_folders: dict[str, _Folder] = {}
"""The folders in memory, least recently used first."""
_dirty: dict[int, _Folder] = {}
"""Folders with changes not written yet (some may have left ``_folders``)."""
_at_exit = False


def _read_small(
    path: Path,
    folder: _Folder,
    raw: bytes | Iterator[bytes],
    digest: bytes,
    facts_of: FactsOf,
    peek: Mapping[str, Sequence[str]],
    unchanged: Callable[[], bool] = lambda: True,
    stamp: tuple[int, ...] | None = None,
) -> Layout | None:
    """A small cassette from its folder's cache while its bytes are the same, else
    :func:`scan` (remembered for the next load, in this process and the next, if the
    file is ``unchanged`` since its digest was taken). ``stamp``: the file's
    :func:`_stamp` as its digest was taken, kept in the entry when it can be trusted
    (:func:`_trusted`)."""
    name = os.path.basename(path)
    entry = folder.entries.get(name)
    if entry is not None and entry[0] == digest:
        if stamp is not None and entry[4] != stamp and _TRUSTS_STAT:
            # the stat not trusted yet: from now on if it is not racy; else the cache is
            # written anyway, and the next process, whose since is later, asks again
            trust = _not_racy(folder, stamp) and unchanged()
            with _cache_lock:
                if trust:
                    entry[4] = stamp  # the next load of these very bytes need not read them
                _changed(folder)
        return Layout(entry[1], entry[2], entry[3], folder)
    with gc_paused():
        layout = scan(raw, facts_of, peek)
    if layout is None or not unchanged():
        return None
    replies: dict[int, Any] = {}
    known = stamp if stamp is not None and _not_racy(folder, stamp) else None
    with _cache_lock:
        folder.entries[name] = [digest, layout.head, layout.items, replies, known]
        folder.touched.add(name)
        _changed(folder)
    layout.replies, layout.folder = replies, folder
    return layout


def remember(folder: _Folder | None, replies: dict[int, Any], line: int, reply: Any) -> None:
    """Keep what a cassette's interaction at ``line`` replies (a tuple of plain values)
    for the next time the same file is opened: by this process, and for a small
    cassette by the next ones too (its folder's cache)."""
    with _cache_lock:
        replies[line] = reply
        if folder is not None:
            _changed(folder)


def forget() -> None:
    """Drop what this process keeps of every cache (not written): as a new process."""
    with _cache_lock:
        _folders.clear()
        _dirty.clear()
        _big.clear()


def _changed(folder: _Folder) -> None:
    global _at_exit
    folder.dirty = True
    _dirty[id(folder)] = folder
    if not _at_exit:
        atexit.register(flush)
        _at_exit = True


def _folder(where: Path | str) -> _Folder:
    where = os.fspath(where)
    # written at exit: wherever the process went since (an absolute path's key does
    # not depend on the working directory: worked out once)
    key = _folder_keys.get(where) or _folder_key(where)
    with _cache_lock:
        if _folders and next(reversed(_folders)) == key:
            return _folders[key]  # already the most recently used
        folder = _folders.pop(key, None)
        if folder is None:
            cached = Path(key, CACHE_DIR, SMALL_CACHE)
            folder = _Folder(cached, *_read_small_cache(cached))
        _folders[key] = folder  # the most recently used, last
        while len(_folders) > FOLDERS_KEPT:
            old = _folders.pop(next(iter(_folders)))
            if old.dirty:
                _write_small(old)
        return folder


_folder_keys: dict[str, str] = {}
"""An absolute folder path as given -> its key (``os.path.abspath``, normalised)."""


def _folder_key(where: str) -> str:
    key = os.path.abspath(where)
    if os.path.isabs(where):
        _folder_keys[where] = key
    return key


RACY_NS = 2_000_000_000
"""How much older than the folder's cache file (:attr:`_Folder.since`) a cassette's
last change must be for its stat to stand for its bytes: more than a file system's
timestamp granularity (FAT's 2 s), and more than two clocks on one machine differ."""

_TRUSTS_STAT = os.name == "posix"
"""Where ``st_ctime`` is the last change (not the creation time, as on Windows)."""


def _not_racy(folder: _Folder, stamp: tuple[int, ...]) -> bool:
    """Whether a file whose stat is ``stamp`` now, hashed now, cannot change later and
    keep that stat (git's "racy clean" rule): every change sets the file's change time
    to the file system's clock then, which is at least :attr:`_Folder.since` (a time
    read before this hash), and ``stamp``'s change time is older than that by more
    than the clock's granularity, so a later change cannot give the same one. A user
    cannot set a change time (``touch``, ``os.utime``, ``cp -p`` set it to now)."""
    since = folder.since
    return _TRUSTS_STAT and since is not None and stamp[2] < since - RACY_NS


def _split(where: str) -> tuple[str, str]:
    """``(os.path.dirname(where), os.path.basename(where))``, in one look at the string
    where a path has one separator and the folder part is plain (every test's cassette
    path); else those two functions."""
    if _ONE_SEP:
        head, _, name = where.rpartition("/")
        if head and not head.endswith("/"):  # else '/x', '//x', 'a//x', 'x': os.path's
            return head, name
    return os.path.dirname(where), os.path.basename(where)


_ONE_SEP = os.sep == "/" and os.altsep is None


def _trusted(where: str, folder: _Folder, st: os.stat_result, name: str) -> Layout | None:
    """A small cassette from its folder's cache without reading it, when its stat is
    the one its entry trusts (:func:`_not_racy` when the entry's bytes were hashed):
    the same size, modification and change times, inode and device; else ``None``."""
    entry = folder.entries.get(name)  # the file's name: os.path.basename(where)
    if entry is None:
        return None
    stamp = entry[4]
    if stamp is None or stamp != _stamp(st):
        return None
    return Layout(entry[1], entry[2], entry[3], folder, File(where, stamp, entry[0]))


def flush() -> None:
    """Write every folder's small-cassette cache that changed (at exit, or when a
    folder leaves memory)."""
    with _cache_lock:
        for folder in list(_dirty.values()):
            _write_small(folder)


def _read_small_cache(cached: Path) -> tuple[dict[str, list[Any]], int | None]:
    """A folder's cache file: its entries, and its change time (``None``: none read)."""
    try:
        with open(cached, "rb") as fh:
            since = os.fstat(fh.fileno()).st_ctime_ns
            tag = _tags()[1]
            if fh.read(len(tag)) != tag:
                return {}, None
            blob = fh.read()
        with gc_paused():
            entries = marshal.loads(blob)
    except (OSError, ValueError, EOFError, TypeError):
        return {}, None
    if type(entries) is not dict:
        return {}, None
    return {
        name: entry
        for name, entry in entries.items()
        if type(entry) is list
        and len(entry) == 5
        and type(entry[0]) is bytes
        and type(entry[1]) is dict
        and type(entry[2]) is list
        and type(entry[3]) is dict
        and (entry[4] is None or (type(entry[4]) is tuple and len(entry[4]) == _STAMP_LEN))
    }, since


def _write_small(folder: _Folder) -> None:
    """Merge ``folder`` into its cache file under a lock on the cache folder (pytest-xdist
    workers write the same file): entries of files that are gone are dropped, a file
    read afresh here replaces the entry on disk, and the replies of one version of a
    file kept by either side are kept."""
    folder.dirty = False
    _dirty.pop(id(folder), None)
    cache_dir = folder.path.parent
    tmp = None
    try:
        cache_dir.mkdir(exist_ok=True)  # not its parents: a folder deleted since stays so
        _ignore_file(cache_dir)
        fd = os.open(cache_dir, os.O_RDONLY)
        try:
            with contextlib.suppress(ImportError):
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX)
            present = set(os.listdir(cache_dir.parent))
            merged = {k: e for k, e in _read_small_cache(folder.path)[0].items() if k in present}
            for name, entry in folder.entries.items():
                if name not in present:
                    continue
                old = merged.get(name)
                if old is not None and old[0] == entry[0]:
                    for line, reply in old[3].items():
                        entry[3].setdefault(line, reply)
                    if entry[4] is None:
                        entry[4] = old[4]  # a stamp another process trusted, same bytes
                elif old is not None and name not in folder.touched:
                    continue  # another process read a newer file than this one knew
                merged[name] = entry
            try:
                blob = marshal.dumps(merged)
            except ValueError:  # a value marshal does not know (a YAML timestamp)
                blob = marshal.dumps({k: e for k, e in merged.items() if _marshals(e)})
            out, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".{SMALL_CACHE}.", suffix=".tmp")
            with os.fdopen(out, "wb") as fh:
                fh.write(_tags()[1])
                fh.write(blob)
            os.replace(tmp, folder.path)
            tmp = None
        finally:
            os.close(fd)  # releases the lock
    except OSError:
        pass  # a read-only or deleted folder: its cassettes are read from the YAML
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _marshals(value: Any) -> bool:
    try:
        marshal.dumps(value)
    except ValueError:
        return False
    return True


def _ignore_file(folder: Path) -> None:
    ignore = folder / ".gitignore"
    if not ignore.exists():
        with contextlib.suppress(FileExistsError), open(ignore, "x", encoding="utf-8") as fh:
            fh.write("# derived from the cassettes beside it by pytest-llm; never commit\n*\n")
