"""Loading cassettes cheaply (issue 14): the GC paused during the parse, the load cache."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest
import yaml

from pytest_llm import CassetteError
from pytest_llm.cassette import _load
from pytest_llm.cassette._format import CassetteFile, Interaction, dump, load
from pytest_llm.cassette._session import Cassette


def _interaction(i: int) -> Interaction:
    return Interaction(
        {
            "request": {
                "method": "POST",
                "url": "http://llm.test/v1/chat/completions",
                "headers": {"content-type": "application/json"},
                "json": {"model": "m", "messages": [{"role": "user", "content": f"q{i} " * 20}]},
            },
            "response": {
                "status": 200,
                "headers": {"content-type": "application/json"},
                "json": {"choices": [{"message": {"content": f"answer {i}\n" * 5}}]},
            },
            "meta": {"model": "m"},
        }
    )


def _write(path: Path, n: int) -> Path:
    path.write_text(dump(CassetteFile(path, {}, [_interaction(i) for i in range(n)])))
    return path


@pytest.fixture
def big(tmp_path: Path) -> Path:
    path = _write(tmp_path / "big.yaml", 200)
    assert path.stat().st_size >= _load.CACHE_MIN_BYTES
    return path


def _seen(path: Path) -> list[tuple[object, int | None, bytes, bytes]]:
    return [
        (it.data, it.line, it.request_body(), it.reply().body) for it in load(path).interactions
    ]


def test_a_big_cassette_is_cached_and_reads_back_the_same(big: Path) -> None:
    _load.enabled = False
    try:
        plain = _seen(big)
    finally:
        _load.enabled = True
    assert not (big.parent / ".pytest-llm-cache").exists()
    first = _seen(big)  # parses, writes the cache
    cached = _load.cache_path(big)
    assert cached.is_file()
    assert (cached.parent / ".gitignore").read_text().splitlines()[-1] == "*"
    second = _seen(big)  # reads the cache
    assert plain == first == second
    assert [row[1] for row in second[:2]] == [8, 33]  # the lines of "- request:"
    assert sorted(p.name for p in cached.parent.iterdir()) == [".gitignore", "big.yaml.marshal"]


def test_the_cache_follows_the_yaml(big: Path) -> None:
    load(big)
    _write(big, 201)
    assert len(load(big).interactions) == 201
    assert len(load(big).interactions) == 201  # from the rewritten cache


def test_a_broken_cache_is_ignored(big: Path) -> None:
    load(big)
    cached = _load.cache_path(big)
    blob = cached.read_bytes()
    for broken in (blob[: len(blob) // 2], b"junk"):  # cut short; a wrong header
        cached.write_bytes(broken)
        assert len(load(big).interactions) == 200
        assert len(cached.read_bytes()) == len(blob)  # re-parsed and rewritten


def test_small_cassettes_get_no_cache(tmp_path: Path) -> None:
    path = _write(tmp_path / "small.yaml", 2)
    assert len(Cassette(path).open().file.interactions) == 2  # type: ignore[union-attr]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.yaml"]


def test_the_gc_is_paused_during_the_parse_and_restored_after(
    big: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    states: list[bool] = []
    real = _load._from_events  # every parse goes through it (sections, whole files)

    def spy(text: str | bytes) -> object:
        states.append(gc.isenabled())
        return real(text)

    monkeypatch.setattr(_load, "_from_events", spy)
    assert gc.isenabled()
    load(big)
    assert len(states) > 1  # the header, then each request
    assert not any(states)
    assert gc.isenabled()
    states.clear()
    big.write_text("format: [unclosed\n")
    with pytest.raises(CassetteError, match="is not valid YAML"):
        load(big)
    assert states == [False]
    assert gc.isenabled()


def test_gc_left_off_by_the_caller_stays_off(big: Path) -> None:
    gc.disable()
    try:
        load(big)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_concurrent_loads_restore_the_gc_once_all_are_done(big: Path) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                assert len(load(big).interactions) == 200
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert gc.isenabled()


# -- the event reader: PyYAML's safe loader's result, faster ---------------------------

TRICKY = {
    "scalars": (
        "a: 1\nb: -0x1F\nc: 0o17\nd: 1_000\ne: 1.5e3\nf: .inf\ng: -.Inf\nh: .nan\n"
        "i: yes\nj: No\nk: on\nl: ~\nm: null\nn: ''\no: '1'\np: \"true\"\nq: 2001-12-14\n"
        "r: 2001-12-14t21:59:43.10-05:00\ns: 12:30:00\nt: 0b101\nu: +12\nv:\nw: 1e3\n"
    ),
    "blocks": "text: |\n  line 1\n  line 2\nfolded: >-\n  a\n  b\nkeep: |+\n  x\n\n",
    "flow": "events: [{data: '{\"a\": 1}', event: m}, {data: '[DONE]'}]\nempty: {}\nnone: []\n",
    "nested": "- - 1\n  - [2, {3: three, 4.5: x, true: y, null: z}]\n- {}\n",
    "duplicate keys": "a: 1\na: 2\n",
    "plain root": "just text\n",
    "number root": "42\n",
    "empty": "",
    "comments only": "# nothing\n",
    "explicit empty document": "---\n...\n",
    "non-specific tag": "a: ! 12\nb: ! [1]\n",
    "unicode": "name: \"caf\\u00e9 \\U0001F600\"\nraw: 'déjà vu'\n",
    # left to the safe loader
    "anchor and alias": "a: &x {k: 1}\nb: *x\n",
    "merge key": "base: &b {k: 1}\nderived:\n  <<: *b\n  j: 2\n",
    "explicit tags": "a: !!str 12\nb: !!binary aGk=\nc: !!float 1\n",
    "complex key": "? [1, 2]\n: pair\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "syntax error": "a: [1, 2\nb: 3\n",
    "bad indentation": "a:\n  b: 1\n c: 2\n",
    "unknown tag": "a: !python/object:os.system ls\n",
    "tab": "a:\n\t- 1\n",
}


def _safe(text: str) -> tuple[str, object]:
    try:
        return "ok", yaml.load(text, Loader=_load.Loader)
    except yaml.YAMLError as exc:
        return "error", f"{type(exc).__name__}: {exc}"


def _ours(text: str) -> tuple[str, object]:
    try:
        return "ok", _load.parse(text)
    except yaml.YAMLError as exc:
        return "error", f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("text", list(TRICKY.values()), ids=list(TRICKY))
def test_the_event_reader_gives_what_the_safe_loader_gives(text: str) -> None:
    ours, theirs = _ours(text), _safe(text)
    assert ours == theirs
    assert repr(ours) == repr(theirs)  # types too: 1 is not 1.0 or True, '1' is not 1


def test_every_cassette_in_the_repository_reads_the_same() -> None:
    root = Path(__file__).parent.parent
    files = sorted({*root.glob("**/cassettes/**/*.yaml"), *root.glob("**/cassettes/**/*.yml")})
    assert len(files) >= 5
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert repr(_ours(text)) == repr(_safe(text)), path


def test_the_event_reader_reads_cassettes_without_the_safe_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It is really used (the safe loader is never asked), and leaves to it what it
    does not handle itself."""
    if _load.CParser is None:
        pytest.skip("PyYAML without libyaml: the safe loader reads everything")
    text = _write(tmp_path / "c.yaml", 3).read_text()
    expected = yaml.load(text, Loader=_load.Loader)
    asked: list[str] = []
    real = yaml.load

    def spy(stream: str, Loader: type) -> object:
        asked.append(stream)
        return real(stream, Loader=Loader)

    monkeypatch.setattr(_load.yaml, "load", spy)
    assert _load.parse(text) == expected
    assert asked == []
    assert _load.parse(TRICKY["anchor and alias"]) == {"a": {"k": 1}, "b": {"k": 1}}
    assert asked == [TRICKY["anchor and alias"]]
