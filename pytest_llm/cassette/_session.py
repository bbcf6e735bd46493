"""A cassette in use: replays, records, explains misses, writes atomically.

Several tests may share one file (``@pytest.mark.llm_cassette("shared/chat.yaml")``),
in one process or in several (pytest-xdist). Each recorded interaction names the
test that recorded it (``meta.test``, its node id), and a cassette is written under
a lock on its folder, merged with the file as it is on disk then: ``once`` and
``new`` add this test's recordings to everyone else's; ``all`` replaces only this
test's own (and those that name no test, recorded before tests were named).
A file that cannot be read is replaced by ``once`` and ``all``, and kept beside it
as ``NAME.yaml.broken`` (``NAME.yaml.2.broken``, ... : never overwritten).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, TypedDict, Unpack
from urllib.parse import urlsplit

from .._aliases import parse_alias_option
from .._clock import Clock, current_clock
from .._errors import CassetteError, CassetteMiss, CassetteNotFound, CassetteUnused
from .._exchange import NOT_JSON, Exchange, Forward, Next, Outcome, Reply
from .._flow import router
from .._handler import Handler
from .._providers import model_and_usage, sdk_of
from .._settings import MATCH_MODES, RECORD_MODES, check_record_mode
from .._values import choice, parse_timing
from ._fields import NOISY_REQUEST_HEADERS, header_map
from ._format import CassetteFile, Interaction, dump, load, wire_digest, write_atomic
from ._match import DEFAULT_IGNORE, IgnorePaths, json_diff, match_key
from ._redact import Redactor

__all__ = ["RECORD_MODES", "Cassette", "CassetteKeywords", "parse_timing", "use_cassette"]

PROMPT_HEADER = "x-pytest-llm-prompt"
"""Names a request's prompt file (``name@vN``): recorded as metadata, not as a header."""


class Cassette(Handler):
    """One cassette file, active on the request chain while in use.

    ``record`` is the mode: ``none`` replays only; ``once`` records a cassette that
    does not exist yet; ``new`` replays what matches and records the rest; ``all``
    records everything afresh.
    """

    order = 200
    miss_type = CassetteMiss
    unused_type = CassetteUnused

    def __init__(
        self,
        path: str | Path,
        *,
        record: str = "none",
        ignore: Iterable[str] = (),
        allow_playback_repeats: bool = False,
        replay_timing: Any = None,
        redactor: Redactor | None = None,
        rerecord_hint: str | None = None,
        test: str | None = None,
        record_blocked: str | None = None,
        allow_network: bool = False,
        check_unused: bool | None = None,
        clock: Clock | None = None,
        match: str = "strict",
        null_as_absent: bool = False,
        keep_headers: Iterable[str] = (),
        keep_host: bool = False,
        model_aliases: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = path if isinstance(path, Path) else Path(path)
        self.record = check_record_mode(record)
        if record_blocked:
            self.record = "none"  # the mode asked for is ignored: replay exactly as none
        self.ignore = _ignore_paths(tuple(ignore), null_as_absent)
        """``ignore`` is added to :data:`DEFAULT_IGNORE`, like ``llm_ignore_paths``."""
        self.match = choice(match, "match", MATCH_MODES, "match mode")
        """``migrate``: the body is left out of the match (vcrpy's default) and each
        difference is kept in :attr:`drift` instead of failing the request."""
        self.allow_playback_repeats = allow_playback_repeats
        self.timing = parse_timing(replay_timing)
        self.redactor = redactor or Redactor.build()
        self.rerecord_hint = rerecord_hint
        self.test = test
        """The node id of the test using it, written into what it records (``meta.test``)."""
        self.record_blocked = record_blocked
        """Why recording is off although asked for (e.g. ``CI`` is set without the flag);
        the cassette then replays with mode ``none``."""
        self.allow_network = allow_network
        """Requests with no match go to the real network, unrecorded, instead of failing."""
        self.check_unused = (
            self.check_unused and self.match != "migrate" if check_unused is None else check_unused
        )
        """At the end, fail if a recorded interaction of this test was never replayed (not
        given: the handlers' default, :attr:`Handler.check_unused`, except in ``migrate``
        mode, whose vcrpy semantics do not check unless asked)."""
        self.keep_headers = (
            (keep_headers,) if isinstance(keep_headers, str) else tuple(keep_headers)
        )
        """Volatile response headers (``date``, request ids, ...) recorded anyway; ``*``: all."""
        self.keep_host = keep_host
        """Record a loopback URL's host and port instead of ``localhost``."""
        self.model_aliases: dict[str, str] = (
            parse_alias_option(dict(model_aliases), "model_aliases") if model_aliases else {}
        )
        """Model names that match each other (name -> its group), opt-in."""
        self._clock = clock
        self._start()

    def _start(self) -> None:
        """The state of one use (each cassette its own, empty): set after the options by
        :meth:`__init__` and by :meth:`like`. Whatever a cassette changes while in use
        goes here, never among the options, which :meth:`from_template` copies as they are."""
        super().__init__()
        self.drift: list[dict[str, Any]] = []
        """In ``migrate`` mode: each replayed request whose body differs from the recording."""
        self._lock = threading.Lock()
        self.file: CassetteFile | None = None
        self._index: dict[str, list[int]] | None = None
        """Match key (with its sample) -> the recordings it replays, in order; worked
        out on the first lookup that needs it (:meth:`_groups`)."""
        self._keys: list[str] = []
        self._exact: dict[tuple[str, str, str, bytes], int] = {}
        self._digest: dict[tuple[str, str, str, str], int] = {}
        self._cursor: dict[int, int] = {}
        """A group's first recording -> how many of the group were replayed."""
        self._played: set[int] = set()
        self._new: list[Interaction | None] = []
        self.sample: int | None = None
        """Set by ``llm_samples``: each sample replays its own recordings."""
        self.written: Path | None = None
        self.not_written: str | None = None
        self.broken: CassetteError | None = None
        """Why the file could not be read, when ``once``/``all`` replace it."""
        self.set_aside: Path | None = None
        """Where the unreadable file was kept when this cassette replaced it."""
        self._mine = False
        """The file holds interactions of this test (:meth:`owns`)."""

    def template(self) -> dict[str, Any]:
        """This cassette's options and empty state, for :meth:`from_template` (a dict:
        the cassette itself is not kept, and no handler outlives its test). Only from a
        cassette never used."""
        return dict(self.__dict__)

    @classmethod
    def from_template(
        cls, template: dict[str, Any], path: Path, *, test: str | None, rerecord_hint: str | None
    ) -> Cassette:
        """A new cassette with a :meth:`template`'s options, for ``path`` and ``test``:
        what :meth:`__init__` would make of the same keywords, without checking and
        parsing them again (every replayed test of a session mostly shares its options)."""
        new = object.__new__(cls)
        state = new.__dict__
        state.update(template)
        state["path"] = path
        state["test"] = test
        state["rerecord_hint"] = rerecord_hint
        if new.model_aliases:  # the one option a cassette holds in a mutable value
            state["model_aliases"] = dict(new.model_aliases)
        new._start()
        return new

    @property
    def clock(self) -> Clock:
        return self._clock or current_clock()

    # -- lifecycle ------------------------------------------------------------

    def open(self, *, exists: bool | None = None, stat: os.stat_result | None = None) -> Cassette:
        """Read the file, if there is one (``exists``: the caller just looked; ``stat``:
        what it saw, the file's ``os.stat``)."""
        if self.path.exists() if exists is None else exists:
            try:
                self.file = load(self.path, redactor=self.redactor, stat=stat)
            except CassetteError as exc:
                if self.record not in ("once", "all"):
                    raise  # replay, or new (which keeps what it cannot read): the error
                self.broken = exc  # recorded afresh; kept aside when written (close)
                return self
            self._mine = any(map(self.owns, self.file.interactions))
            if self.record != "all":
                self._map_bytes(self.file.interactions)
        return self

    def owns(self, it: Interaction) -> bool:
        """Whether ``it`` is this test's to replace: recorded by it, or naming no test."""
        test = it.test
        return test is None or test == self.test

    @property
    def recording(self) -> bool:
        """Whether requests without a match go to the real network and are recorded."""
        if self.record_blocked:
            return False
        if self.record in ("new", "all"):
            return True
        if self.record != "once":
            return False
        # once: a cassette that does not exist yet, or a shared one without this test's
        return self.file is None or not self._mine

    @property
    def interactions(self) -> list[Interaction]:
        """The cassette as it stands: what was loaded (unless re-recording) plus this run's."""
        old = self.file.interactions if (self.file and self.record != "all") else []
        return [*old, *self.recorded]

    @property
    def recorded(self) -> list[Interaction]:
        """Interactions recorded in this run."""
        return [i for i in self._new if i is not None]

    def _map_bytes(self, items: list[Interaction]) -> None:
        """The fast path: the SDKs send compact JSON in the order the cassette keeps, so
        the wire bytes usually equal the stored body; equal bytes (and URL) mean an
        equal canonical key, without parsing and re-serialising per request."""
        paths: dict[str, str] = {}  # one string per URL path, not one per interaction
        for n, it in enumerate(items):
            parts = urlsplit(it.url)
            path = paths.setdefault(parts.path or "/", parts.path or "/")
            self._exact.setdefault((it.method, path, parts.query, it.request_body()), n)
            # the file sorts a body's keys; the digest of the bytes as the SDK sent
            # them (meta.request_digest) finds it as cheaply
            digest = it.wire_digest
            if digest is not None:
                self._digest.setdefault((it.method, path, parts.query, digest), n)

    def _groups(self) -> dict[str, list[int]]:
        """The index: each recording's canonical match key (with its sample) -> the
        recordings that share it, in order. Worked out once, when first needed: a
        cassette of one recording replayed by the same bytes never needs it."""
        index = self._index
        if index is None:
            index = {}
            items = self.file.interactions if self.file is not None else []
            keys = [self._key_of_recorded(it) for it in items]
            for n, (key, it) in enumerate(zip(keys, items, strict=True)):
                index.setdefault(_sampled(key, it.sample), []).append(n)
            self._keys = keys
            self._index = index
        return index

    def _key_of_recorded(self, it: Interaction) -> str:
        """The lookup key of a recording, without its sample."""
        ex = Exchange(it.method, it.url, [], it.request_body())
        return self._match_key(ex, it.request_json())

    def _match_key(self, ex: Exchange, body_json: Any) -> str:
        """The canonical match key of a request (:func:`match_key`), as a short digest:
        the index holds one per recording, and a canonical body can be long."""
        body_json, body = self._unalias(body_json), ex.body
        if self.match == "migrate":
            body_json, body = NOT_JSON, b""
        key = match_key(
            ex.method, ex.path, self.redactor.query(ex.query), body_json, body, self.ignore
        )
        return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()

    def _unalias(self, body_json: Any) -> Any:
        """The body with its ``model`` named by its alias group (``model_aliases``)."""
        if self.model_aliases and isinstance(body_json, dict):
            model = body_json.get("model")
            if isinstance(model, str) and model in self.model_aliases:
                return {**body_json, "model": self.model_aliases[model]}
        return body_json

    def _hits(self, ex: Exchange) -> list[int] | None:
        """The recordings ``ex`` may replay, in order (``None``: none)."""
        parts = urlsplit(ex.url)
        n = self._exact.get((ex.method, parts.path or "/", parts.query, ex.body))
        if n is None and self._digest:
            n = self._digest.get((ex.method, parts.path or "/", parts.query, wire_digest(ex.body)))
        if n is None:
            return self._groups().get(self._key_of(ex))
        items = self.file.interactions if self.file is not None else []
        if self._index is None and len(items) == 1:
            # the one recording is its own group: it replays if the sample is its own
            same = _sampled("", items[0].sample) == _sampled("", self.sample)
            return [0] if same else None
        index = self._groups()
        return index.get(_sampled(self._keys[n], self.sample))

    def _key_of(self, ex: Exchange) -> str:
        return _sampled(self._match_key(ex, ex.json), self.sample)

    # -- the chain ------------------------------------------------------------

    def handle(self, exchange: Exchange, nxt: Next) -> Outcome:
        if self.record != "all":
            reply = self._lookup(exchange)
            if reply is not None:
                return reply
        if not self.recording:
            if self.allow_network:
                return nxt(exchange)  # --llm-allow-network: through, not recorded
            raise self._miss(exchange)
        outcome = nxt(exchange)
        if isinstance(outcome, Forward) and outcome.on_reply is None:
            outcome.on_reply = self._recorder(exchange)
        return outcome

    def _lookup(self, ex: Exchange) -> Reply | None:
        if self.file is None:
            return None
        hits = self._hits(ex)
        if not hits:
            return None
        with self._lock:
            pos = self._cursor.get(hits[0], 0)
            if pos >= len(hits):
                if not self.allow_playback_repeats:
                    return None
                pos = len(hits) - 1
            self._cursor[hits[0]] = pos + 1
            n = hits[pos]
            self._played.add(n)
        it = self.file.interactions[n]
        if self.match == "migrate":
            self._note_drift(n, it, ex)
        return it.reply(self.timing)

    def _note_drift(self, n: int, it: Interaction, ex: Exchange) -> None:
        """How the request's body differs from the recording it replayed (migrate mode)."""
        rec_json = it.request_json()
        if rec_json is NOT_JSON or ex.json is NOT_JSON:
            if it.request_body() == ex.body:
                return
            diff = ["body: the raw (non-JSON) bodies differ"]
        else:
            diff = json_diff(self.ignore.strip(rec_json), self.ignore.strip(ex.json))
        if not diff:
            return
        entry = {
            "cassette": str(self.path),
            "interaction": n,
            "line": it.line,
            "request": f"{ex.method} {ex.path}",
            "differences": diff,
        }
        if self.sample is not None:
            entry["sample"] = self.sample
        with self._lock:
            self.drift.append(entry)

    def _recorder(self, ex: Exchange) -> Any:
        with self._lock:
            slot = len(self._new)
            self._new.append(None)
        sample = self.sample
        t0 = self.clock.monotonic()
        started = self.clock.now()

        def on_reply(reply: Reply) -> None:
            it = Interaction.from_traffic(
                ex,
                reply,
                url=self.redactor.url(ex.url),
                headers={
                    k: v
                    for k, v in _redacted_headers(ex.headers, self.redactor).items()
                    if k not in NOISY_REQUEST_HEADERS
                    and not k.startswith("x-stainless-")
                    and k != PROMPT_HEADER  # kept as metadata instead
                },
                meta=_interaction_meta(ex, reply, self.clock.monotonic() - t0, started),
                redact=self.redactor.header_value,
                keep_headers=self.keep_headers,
                keep_host=self.keep_host,
            )
            if sample is not None:
                it.data = {"sample": sample, **it.data}
            if self.test is not None:
                it.data["meta"] = {"test": self.test, **it.data.get("meta", {})}
            with self._lock:
                self._new[slot] = it

        return on_reply

    # -- misses ---------------------------------------------------------------

    def _miss(self, ex: Exchange) -> CassetteMiss:
        msg = self.explain_miss(ex)
        self.misses.append(msg)
        return self.miss_error(msg)

    def miss_error(self, message: str) -> CassetteMiss:
        return CassetteNotFound(message) if self.file is None else CassetteMiss(message)

    def _fix_lines(self, *, new: bool) -> list[str]:
        lines = []
        if self.record_blocked:
            lines.append(f"recording is off: {self.record_blocked}")
        if new:
            how = (
                self.rerecord_hint.format(mode="once")
                if self.rerecord_hint
                else f"use_cassette({str(self.path)!r}, record='once')"
            )
            return [*lines, f"fix: record it with: {how}"]
        if self.rerecord_hint:
            lines.append(
                f"fix: if the change is intended, re-record: {self.rerecord_hint.format(mode='all')}"
            )
            lines.append(
                "     (or keep the old recordings and add this one: "
                f"{self.rerecord_hint.format(mode='new')})"
            )
        else:
            lines.append(
                f"fix: if the change is intended, re-record with use_cassette({str(self.path)!r}, "
                "record='all') (or record='new' to keep the old recordings and add this one)"
            )
        return lines

    def explain_miss(self, ex: Exchange) -> str:
        req = f"{ex.method} {_path_q(ex.path, self.redactor.query(ex.query))}"
        if self.sample is not None:
            req += f" (llm_samples sample {self.sample})"
        body = _preview(ex)
        if self.file is None:
            return "\n".join(
                [
                    f"pytest-llm: cassette not found: {self.path} (record mode: {self.record})",
                    f"  request: {req}",
                    *([f"  body:    {body}"] if body else []),
                    *self._fix_lines(new=True),
                ]
            )
        items = self.file.interactions
        lines = [
            f"pytest-llm: no recorded response matches this request (record mode: {self.record})",
            f"  request:  {req}",
            *([f"  body:     {body}"] if body else []),
            f"  cassette: {self.path} ({len(items)} interaction{'' if len(items) == 1 else 's'})",
        ]
        key = self._key_of(ex)
        used = self._groups().get(key) if self.record != "all" else None
        if used:
            n = len(used)
            what = "the recorded response" if n == 1 else f"all {n} recorded responses"
            lines.append(
                f"{what} for this exact request {'was' if n == 1 else 'were'} already used: "
                "a test that repeats a request needs one recording per call."
            )
            if self.record_blocked:
                lines.append(f"recording is off: {self.record_blocked}")
            how = self.rerecord_hint.format(mode="new") if self.rerecord_hint else "record='new'"
            lines.append(
                f"fix: record the extra call with: {how} "
                "(or replay the last response again with allow_playback_repeats=True)"
            )
            return "\n".join(lines)
        lines.extend(self._nearest(ex))
        lines.extend(self._fix_lines(new=False))
        return "\n".join(lines)

    def _nearest(self, ex: Exchange, limit: int = 3) -> list[str]:
        items = self.file.interactions if self.file else []
        scored: list[tuple[int, int, list[str]]] = []
        req_json = self.ignore.strip(ex.json) if ex.json is not NOT_JSON else NOT_JSON
        req_query = _query(self.redactor.query(ex.query))
        for n, it in enumerate(items):
            diff: list[str] = []
            # the parts of the match key besides the body: method, sample, path, query
            if it.method != ex.method:
                diff.append(f"method: {it.method!r} != {ex.method!r}")
            sample = it.sample
            if sample != self.sample:
                diff.append(f"sample: {_sample(sample)} != {_sample(self.sample)}")
            rec = Exchange(it.method, it.url, [])
            if rec.path != ex.path:
                diff.append(f"path: {rec.path!r} != {ex.path!r}")
            rec_query = _query(self.redactor.query(rec.query))
            if rec_query != req_query:
                diff.append(f"query: {rec_query!r} != {req_query!r}")
            rec_json = it.request_json()
            if rec_json is NOT_JSON and req_json is NOT_JSON:
                if it.request_body() != ex.body:
                    diff.append("body: the raw (non-JSON) bodies differ")
            elif rec_json is NOT_JSON:
                diff.append("body: the recorded body is not JSON, the request's is")
            elif req_json is NOT_JSON:
                diff.append(
                    f"body: the recorded body is JSON, the request's is not: {ex.body[:60]!r}"
                )
            else:
                diff.extend(json_diff(self.ignore.strip(rec_json), req_json))
            scored.append((len(diff), n, diff))
        if not scored:
            return ["the cassette holds no interactions to compare with."]
        scored.sort(key=lambda s: (s[0], s[1]))
        out = ["nearest recorded requests (recorded != request):"]
        for count, n, diff in scored[:limit]:
            it = items[n]
            at = f" (line {it.line})" if it.line else ""
            what = "difference" if count == 1 else "differences"
            out.append(
                f"  interactions[{n}]{at}: {it.method} {Exchange(it.method, it.url, []).path}, {count} {what}"
            )
            out.extend(f"      {d}" for d in diff[:8])
            if len(diff) > 8:
                out.append(f"      ... and {len(diff) - 8} more")
        return out

    # -- teardown -------------------------------------------------------------

    def unused(self) -> list[tuple[int, Interaction]]:
        """Recorded interactions that no request in this run replayed."""
        if self.file is None or self.record == "all":
            return []
        items = self.file.interactions
        if len(self._played) == len(items):  # each one replayed (the usual end)
            return []
        return [  # a shared file's other tests replay their own
            (n, it) for n, it in enumerate(items) if n not in self._played and self.owns(it)
        ]

    def explain_unused(self) -> str:
        unused = self.unused()
        n = len(unused)
        what = "1 recorded interaction" if n == 1 else f"{n} recorded interactions"
        lines = [f"pytest-llm: {what} in {self.path} {'was' if n == 1 else 'were'} never used:"]
        for n, it in unused[:10]:
            at = f" (line {it.line})" if it.line else ""
            lines.append(f"  interactions[{n}]{at}: {it.method} {it.url}")
        if len(unused) > 10:
            lines.append(f"  ... and {len(unused) - 10} more")
        lines.append(
            "fix: remove them by re-recording with --llm-record=all, or drop the check "
            "(check_unused=False)."
        )
        return "\n".join(lines)

    def checks_unused(self) -> bool:
        """Not while recording: what was not replayed is being recorded afresh."""
        return self.check_unused and not self.recording

    def scopes(self, stack: contextlib.ExitStack) -> None:
        super().scopes(stack)
        if self._networked():
            stack.enter_context(router.allow_network())

    def scoped_alone(self) -> bool:
        return type(self).scopes is Cassette.scopes and not self._networked()

    def _networked(self) -> bool:
        """Whether requests without a match may reach the real network (:meth:`scopes`)."""
        return self.recording or self.allow_network

    def close(self, *, failed: bool = False) -> Path | None:
        """Write what was recorded; returns the path written, if any."""
        if not self._new:  # nothing recorded (every replay)
            return None
        new = self.recorded
        if not new:
            return None
        existed = self.file is not None or self.broken is not None
        if self.record == "all" and existed and failed:
            self.not_written = f"{self.path} was not re-recorded because the test failed; the old cassette is kept."
            return None
        with _writing(self.path.parent):
            # the file as it is now: other tests (other workers) may have written it
            old, meta = self._on_disk()
            meta.pop("converted_from", None)
            meta.setdefault("recorded_at", _iso(self.clock.now()))
            first = new[0].data.get("meta", {})
            for k in ("sdk", "http"):
                if first.get(k):
                    meta[k] = first[k]
            out = CassetteFile(self.path, meta, [*old, *new])
            self.redactor.check(
                {"meta": out.meta, "interactions": [i.data for i in out.interactions]},
                path=str(self.path),
            )
            mode = _file_mode(self.path)
            if self.broken is not None and self.path.exists():
                self.set_aside = _set_aside(self.path)
            write_atomic(self.path, dump(out))
            os.chmod(self.path, mode)  # the temporary file's 0600 would stay otherwise
        self.written = self.path
        return self.path

    def _on_disk(self) -> tuple[list[Interaction], dict[str, Any]]:
        """What the file holds now that the write keeps: everything, except with ``all``
        this test's own interactions (:meth:`owns`); and the file's metadata."""
        if not self.path.exists():
            return [], {}
        try:
            current = load(self.path, redactor=self.redactor)
        except CassetteError as exc:
            self.broken = exc  # unreadable now: replaced, and kept aside
            return [], {}
        self.broken = None  # (another worker replaced it since this test opened it)
        items = current.interactions
        if self.record == "all":
            items = [it for it in items if not self.owns(it)]
            if not items:
                return [], {}
        return items, dict(current.meta)

    def __repr__(self) -> str:
        n = len(self.file.interactions) if self.file else 0
        return f"<Cassette {str(self.path)!r} record={self.record!r} interactions={n}>"


# -- helpers --------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _ignore_paths(ignore: tuple[str, ...], null_as_absent: bool) -> IgnorePaths:
    """One per set of paths: the tests of a session mostly share theirs (it keeps no
    state), and parsing them was a good part of making a cassette."""
    return IgnorePaths(dict.fromkeys([*DEFAULT_IGNORE, *ignore]), drop_nulls=null_as_absent)


_write_lock = threading.Lock()


@contextlib.contextmanager
def _writing(folder: Path) -> Iterator[None]:
    """One writer at a time for the cassettes of ``folder``: the threads of this
    process, and the processes of a pytest-xdist run (a lock on the folder itself,
    which leaves no file behind)."""
    folder.mkdir(parents=True, exist_ok=True)
    with _write_lock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no flock (Windows): this process only
            yield
            return
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock


def _set_aside(path: Path) -> Path:
    """Keep an unreadable cassette beside it, never over an earlier one."""
    n = 1
    while True:
        aside = path.with_name(f"{path.name}.broken" if n == 1 else f"{path.name}.{n}.broken")
        if not aside.exists():
            os.replace(path, aside)
            return aside
        n += 1


def _file_mode(path: Path) -> int:
    """The mode a cassette is written with: the file's own when it exists, else what
    the umask gives a new file (cassettes are committed and shared, not private)."""
    with contextlib.suppress(OSError):
        return path.stat().st_mode & 0o7777
    return 0o666 & ~_umask()


def _umask() -> int:
    # /proc says it without changing it; os.umask can only be read by setting it
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _redacted_headers(headers: list[tuple[str, str]], red: Redactor) -> dict[str, Any]:
    return header_map([(k, red.header_value(k.lower(), v)) for k, v in headers])


def _sampled(key: str, sample: Any) -> str:
    """An index key with the ``llm_samples`` sample it belongs to, if any."""
    return key if sample is None else f"#{sample} {key}"


def _query(pairs: list[tuple[str, str]]) -> str:
    """A query string as matching sees it (its order does not count)."""
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _sample(sample: Any) -> str:
    return "none" if sample is None else str(sample)


def _path_q(path: str, query: list[tuple[str, str]]) -> str:
    if not query:
        return path
    return path + "?" + "&".join(f"{k}={v}" for k, v in query)


def _preview(ex: Exchange, limit: int = 200) -> str:
    if not ex.body:
        return ""
    if ex.json is not NOT_JSON:
        text = json.dumps(ex.json, ensure_ascii=False, separators=(",", ":"))
    else:
        text = repr(ex.body[:limit])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _iso(dt: Any) -> str:
    return str(dt.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _sdk_of(ex: Exchange) -> str | None:
    return sdk_of(ex.headers)  # "anthropic 2.14.0", "google-genai 3.6.1", "openai 2.54.0"


def _http_of(ex: Exchange) -> str | None:
    if not ex.library:
        return None
    try:
        return f"{ex.library} {metadata.version(ex.library)}"
    except metadata.PackageNotFoundError:
        return ex.library


def _usage_of(reply: Reply) -> tuple[str | None, Any]:
    model, usage = None, None
    docs: list[Any] = []
    if reply.events is not None:
        for ev in reply.events:
            if ev.data[:1] == "{":
                with contextlib.suppress(ValueError):
                    docs.append(json.loads(ev.data))
    elif reply.body[:1] == b"{":
        with contextlib.suppress(ValueError):
            docs.append(json.loads(reply.body))
    for doc in docs:  # a stream's usage may come in parts (Anthropic: start, then delta)
        doc_model, doc_usage = model_and_usage(doc)
        model = doc_model or model
        if isinstance(usage, dict) and isinstance(doc_usage, dict):
            usage = {**usage, **doc_usage}
        else:
            usage = doc_usage or usage
    return model, usage


def _interaction_meta(ex: Exchange, reply: Reply, duration: float, started: Any) -> dict[str, Any]:
    model, usage = _usage_of(reply)
    if model is None and isinstance(ex.json, dict):
        model = ex.json.get("model")
    meta: dict[str, Any] = {}
    if model:
        meta["model"] = model
    if usage:
        meta["usage"] = usage
    meta["duration"] = round(duration, 4)
    meta["recorded_at"] = _iso(started)
    prompt = ex.header(PROMPT_HEADER)
    if prompt:
        meta["prompt"] = prompt  # the prompt file version the request came from
    sdk, http = _sdk_of(ex), _http_of(ex)
    if sdk:
        meta["sdk"] = sdk
    if http:
        meta["http"] = http
    return meta


class CassetteKeywords(TypedDict, total=False):
    """The keywords of :func:`use_cassette`: :class:`Cassette`'s own, but those the
    plugin sets for a test (``rerecord_hint``, ``test``, ``record_blocked``)."""

    record: str
    ignore: Iterable[str]
    allow_playback_repeats: bool
    replay_timing: Any
    allow_network: bool
    check_unused: bool | None
    redactor: Redactor | None
    clock: Clock | None
    match: str
    null_as_absent: bool
    keep_headers: Iterable[str]
    keep_host: bool
    model_aliases: Mapping[str, Any] | None


@contextlib.contextmanager
def use_cassette(path: str | Path, **options: Unpack[CassetteKeywords]) -> Iterator[Cassette]:
    """Record or replay LLM traffic outside pytest (scripts, notebooks, benchmarks).

    ``with pytest_llm.use_cassette("cassettes/demo.yaml", record="once"): ...``; the
    keywords are :class:`Cassette`'s (:class:`CassetteKeywords`).
    """
    cassette = Cassette(path, **options).open()
    with cassette:
        yield cassette
