"""Matching internals: canonical keys, ignored paths, diffs, the SSE parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llm._flow import NOT_JSON
from pytest_llm._sse import SSEEvent, SSEParser, encode_event
from pytest_llm.cassette._match import IgnorePaths, json_diff, match_key, parse_path

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


def key(body: object, ignore: IgnorePaths | None = None) -> str:
    return match_key("POST", "/v1/chat/completions", [], body, b"", ignore or IgnorePaths([]))


def test_parse_path() -> None:
    assert parse_path("messages[*].name") == ["messages", "*", "name"]
    assert parse_path("$.a.b[0][-1]") == ["a", "b", 0, -1]


def test_key_order_does_not_matter_but_values_do() -> None:
    assert key({"a": 1, "b": [1, {"x": 1, "y": 2}]}) == key({"b": [1, {"y": 2, "x": 1}], "a": 1})
    assert key({"a": 1}) != key({"a": 2})
    assert key({"a": 1}) != key({"a": 1.5})
    assert key({"a": [1, 2]}) != key({"a": [2, 1]})


def test_ignored_paths_drop_only_what_they_name() -> None:
    ign = IgnorePaths(["user", "messages[*].name", "metadata.trace", "tools[-1]"])
    doc = {
        "user": "u1",
        "messages": [{"role": "user", "name": "x", "content": "hi"}],
        "metadata": {"trace": "t", "keep": 1},
        "tools": [1, 2, 3],
    }
    assert ign.strip(doc) == {
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"keep": 1},
        "tools": [1, 2],
    }
    assert doc["user"] == "u1"  # the request itself is untouched


@given(json_values, json_values)
def test_equal_keys_iff_equal_values(a: object, b: object) -> None:
    assert (key(a) == key(b)) == (json_diff(a, b) == [])


@given(json_values)
def test_diff_of_a_value_with_itself_is_empty(a: object) -> None:
    assert json_diff(a, a) == []


def test_json_diff_lines() -> None:
    rec = {"model": "m", "messages": [{"role": "user", "content": "old"}], "temperature": 0.2}
    req = {
        "model": "m",
        "messages": [{"role": "user", "content": "new"}, {"role": "user", "content": "x"}],
        "n": 2,
    }
    assert json_diff(rec, req) == [
        "messages[0].content: 'old' != 'new'",
        "messages: 1 items != 2 items",
        "temperature: 0.2 != <absent>",
        "n: <absent> != 2",
    ]
    assert json_diff({"a": True}, {"a": 1}) == ["a: True != 1"]


def test_non_json_bodies_match_by_bytes() -> None:
    ign = IgnorePaths([])
    a = match_key("POST", "/f", [], NOT_JSON, b"abc", ign)
    assert a == match_key("POST", "/f", [], NOT_JSON, b"abc", ign)
    assert a != match_key("POST", "/f", [], NOT_JSON, b"abd", ign)


@pytest.mark.parametrize("split", [1, 2, 3, 7, 1000])
def test_sse_parser_is_independent_of_chunk_boundaries(split: int) -> None:
    raw = b'event: a\r\ndata: {"x": 1}\r\n\r\n: comment\ndata: line1\ndata: line2\n\nid: 7\ndata: [DONE]\n\n'
    parser = SSEParser()
    events: list[SSEEvent] = []
    for i in range(0, len(raw), split):
        events.extend(parser.feed(raw[i : i + split]))
    events.extend(parser.flush())
    assert [(e.event, e.data, e.id) for e in events] == [
        ("a", '{"x": 1}', None),
        (None, "line1\nline2", None),
        (None, "[DONE]", "7"),
    ]
    again = SSEParser()
    assert [e.data for e in again.feed(b"".join(encode_event(e) for e in events))] == [
        e.data for e in events
    ]
