"""A cold load's check of the sections it does not parse (issue 14): a lazy section in
the shape the writer gives it is known to be read by libyaml without asking it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llm.cassette import _load
from pytest_llm.cassette._format import CassetteFile, Interaction, dump, load


def _libyaml_reads(text: bytes) -> bool:
    try:
        _load.pyyaml().CParser(text).raw_parse()
    except yaml.YAMLError:
        return False
    return True


def _known(text: bytes) -> bool:
    return _load._PLAIN_SECTION.fullmatch(text) is not None


RESPONSE = (
    b"  response:\n"
    b"    status: 200\n"
    b"    headers:\n"
    b"      content-type: application/json\n"
    b"      openai-version: '2020-10-01'\n"
    b"    json:\n"
    b"      id: chatcmpl-1\n"
    b"      choices:\n"
    b"      - index: 0\n"
    b"        message:\n"
    b"          role: assistant\n"
    b"          content: |-\n"
    b"            Line one: with a colon, 'quotes' and # signs.\n"
    b"\n"
    b"              indented more\n"
    b"          refusal: null\n"
    b"        logprobs: null\n"
    b"      - index: 1\n"
    b"        tool_calls: []\n"
    b"      usage:\n"
    b"        prompt_tokens: 38\n"
    b"      tags:\n"
    b"      - a b, c\n"
    b"      - -1.5\n"
    b"      - ''\n"
    b"      - 'it''s'\n"
    b"      - nested:\n"
    b"          k: v\n"
    b"        more: {}\n"
    b"      - list:\n"
    b"        - x\n"
    b"      - text: |+\n"
    b"          kept\n"
    b"\n"
    b"      end: ~\n"
)
META = (
    b"  meta:\n"
    b"    model: gpt-4o-mini-2024-07-18\n"
    b"    usage:\n"
    b"      total_tokens: 69\n"
    b"    duration: 0.0001\n"
    b"    recorded_at: '2026-12-01T11:10:10Z'\n"
    b"    sdk: openai 3.57.0\n"
    b"    request_digest: b9c0c49b21a7aef29df6445e/f5d6a3466247b96e7ff635c7\n"
)


@pytest.mark.parametrize("text", [RESPONSE, META], ids=["response", "meta"])
def test_the_sections_the_writer_writes_are_known_without_libyaml(text: bytes) -> None:
    assert _known(text)
    assert _libyaml_reads(text)


# each breaks one thing a line must be followed by (or holds): libyaml refuses them all
BROKEN = {
    "a value, then a line further right": b"    a: b\n      c: d\n",
    "a value, then an entry at its column": b"    a: b\n    - c\n",
    "a mapping, then an entry at its key's column": b"    a:\n      b: c\n    - d\n",
    "a literal, then an entry at its key's column": b"    a: |-\n      x\n    - d\n",
    "a scalar entry, then a line further right": b"    a:\n    - b\n      c: d\n",
    "an entry's key and value, then a line further right": b"    a:\n    - b: c\n        d: e\n",
    "an entry's key and value, then an entry at its key's column": (
        b"    a:\n    - b: c\n      - d\n"
    ),
    "an entry's mapping, then an entry at its key's column": (
        b"    a:\n    - b:\n        c: d\n      - e\n"
    ),
    "an entry's literal, then an entry at its key's column": (
        b"    a:\n    - b: |-\n        x\n      - e\n"
    ),
    "a literal, then a line further right": b"    a: |-\n      x\n     y: z\n",
    "a mapping value in a value": b"    a: b: c\n",
    "a control character": b"    a: b\x01c\n",
    "a control character in a literal": b"    a: |-\n      x\n      y\x01\n",
    "a line between two columns": b"    a:\n      b: c\n     d: e\n",
    "a key of 1,100 characters": b"    " + b"k" * 1100 + b": v\n",
}


@pytest.mark.parametrize("body", list(BROKEN.values()), ids=list(BROKEN))
def test_what_libyaml_refuses_is_not_known(body: bytes) -> None:
    text = b"  response:\n" + body
    assert not _libyaml_reads(text)
    assert not _known(text)


# libyaml reads these, but they are outside the pattern: libyaml is asked, as before
ASKED = {
    "a key over nothing at its end": b"    a:\n",
    "a quoted string over two lines": b"    a: 'b\n      c'\n",
    "a tab": b"    a:\tb\n",
    "no line end": b"    a: b",
    "a mapping three columns right": b"    a:\n       b: c\n",
    "a sequence two columns right of its key": b"    a:\n      - b\n",
    "a comment": b"    # c\n    a: b\n",
    "a double-quoted value": b'    a: "b"\n',
    "a literal with an indentation indicator": b"    a: |2\n        x\n",
    "a non-ASCII value": "    a: caf\u00e9\n".encode(),
}


@pytest.mark.parametrize("body", list(ASKED.values()), ids=list(ASKED))
def test_what_the_pattern_does_not_know_libyaml_is_asked_about(body: bytes) -> None:
    text = b"  response:\n" + body
    assert _libyaml_reads(text)
    assert not _known(text)


_KEYS = st.sampled_from(["a", "k-1", "_x", "null", "yes", "1", "-a", "a b", "a:b", "'q'", "k" * 3])
_VALUES = st.sampled_from(
    ["v", "1", "-1", "-x", "- x", "a: b", "a #b", "#c", "a:b", "'q'", "'it''s'", "'open", "{}",
     "[]", "[a]", "{a: 1}", "|", "|-", "|+", "|2", ">", "&a", "*a", "!t", "%p", "@x", "`x",
     '"d"', "x ", " x", "a,b", "~", "=", "<<", "x\ty", "é", "?", ".5", "(x)", ""]
)  # fmt: skip
_LINES = st.lists(
    st.tuples(
        st.sampled_from([2, 3, 4, 4, 4, 5, 6, 6, 6, 8, 8, 10, 12]),
        st.sampled_from(["", "- ", "- ", "-"]),
        st.one_of(st.none(), _KEYS),
        st.sampled_from([": ", ":", ": ", " : "]),
        _VALUES,
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(lines=_LINES)
def test_what_is_known_libyaml_reads(lines: list[tuple[int, str, Any, str, str]]) -> None:
    """Lines near the writer's shapes, and hand edits of them: what the pattern knows
    to be read, libyaml reads."""
    text = "  response:\n" + "".join(
        " " * indent + dash + ("" if key is None else key + colon) + value + "\n"
        for indent, dash, key, colon, value in lines
    )
    raw = text.encode()
    if _known(raw):
        assert _libyaml_reads(raw), text


def test_a_cold_open_asks_libyaml_about_no_section_in_the_writers_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path is taken (libyaml checks the requests' headers once, nothing
    else); and the facts are those of the check by libyaml."""
    items = [
        Interaction(
            {
                "request": {
                    "method": "POST",
                    "url": "http://llm.test/v1/x",
                    "headers": {"content-type": "application/json"},
                    "json": {"q": i},
                },
                "response": {
                    "status": 200,
                    "headers": {"x-n": str(i)},
                    "json": {"choices": [{"message": {"content": f"a {i}\nb"}}]},
                },
                "meta": {"model": "m", "usage": {"total_tokens": i}},
            }
        )
        for i in range(40)
    ]
    path = tmp_path / "c.yaml"
    path.write_text(dump(CassetteFile(path, {}, items)))
    y = _load.pyyaml()
    parser = y.CParser
    checked: list[bytes] = []

    def counting(text: Any) -> Any:
        checked.append(text)
        return parser(text)

    monkeypatch.setattr(y, "CParser", counting)
    fast = [(it.line, it.request_body(), it.reply().body) for it in load(path).interactions]
    assert len(checked) == 1
    assert checked[0].startswith(b"    headers:")
    _load.forget()
    monkeypatch.setattr(_load, "_PLAIN_SECTION", _NEVER)
    checked.clear()
    slow = [(it.line, it.request_body(), it.reply().body) for it in load(path).interactions]
    assert len(checked) == 41
    assert fast == slow


class _Never:
    def fullmatch(self, text: bytes) -> None:
        return None


_NEVER = _Never()
