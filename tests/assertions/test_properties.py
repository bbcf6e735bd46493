"""Property tests: extraction survives every wrapping; matchers and asserts agree."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llm._errors import ConfigError
from pytest_llm.assertions import (
    Contains,
    ContainsAll,
    ContainsAny,
    JSONNotFoundError,
    Matches,
    NotContains,
    assert_contains,
    assert_contains_all,
    assert_contains_any,
    assert_matches,
    assert_not_contains,
    extract_json,
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
containers = st.one_of(
    st.lists(json_values, max_size=4), st.dictionaries(st.text(max_size=8), json_values, max_size=4)
)
# Prose a model writes around JSON: no brackets, braces, quotes or backticks.
prose = st.text(
    alphabet=st.characters(
        categories=("L", "N", "Zs"), include_characters=".,!?:;-\n", exclude_characters="`~"
    ),
    min_size=1,
    max_size=40,
).filter(str.strip)
dumps = st.sampled_from(
    [
        lambda v: json.dumps(v),
        lambda v: json.dumps(v, indent=2),
        lambda v: json.dumps(v, ensure_ascii=False),
    ]
)


@given(value=json_values, dump=dumps, pad=st.sampled_from(["", " ", "\n", "\n\n  "]))
def test_bare_json_is_the_whole_message(value: Any, dump: Callable[[Any], str], pad: str) -> None:
    found = extract_json(pad + dump(value) + pad)
    assert found.value == value
    assert found.strategy == "whole"
    assert found.source == dump(value)


@given(
    value=json_values,
    dump=dumps,
    fence=st.sampled_from(["```", "````", "~~~"]),
    label=st.sampled_from(["", "json", "JSON", "jsonc"]),
    before=st.one_of(st.just(""), prose),
    after=st.one_of(st.just(""), prose),
)
def test_fenced_json_with_or_without_label_and_prose(
    value: Any, dump: Callable[[Any], str], fence: str, label: str, before: str, after: str
) -> None:
    text = f"{before}\n{fence}{label}\n{dump(value)}\n{fence}\n{after}"
    found = extract_json(text)
    assert found.value == value
    assert found.strategy in ("fence", "whole")  # a bare fence around `null` etc. is still a fence
    assert json.loads(text[found.start : found.end]) == value


@given(value=containers, dump=dumps, before=prose, after=prose)
def test_json_in_prose(value: Any, dump: Callable[[Any], str], before: str, after: str) -> None:
    text = f"{before} {dump(value)} {after}"
    found = extract_json(text)
    assert found.value == value
    assert found.strategy == "scan"
    assert text[found.start : found.end] == dump(value)


@given(value=containers, dump=dumps, cut=st.integers(min_value=1))
@settings(max_examples=200)
def test_repair_never_crashes_on_truncated_output(
    value: Any, dump: Callable[[Any], str], cut: int
) -> None:
    text = dump(value)
    prefix = text[: cut % (len(text) + 1)]
    try:
        found = extract_json(prefix, repair=True)
    except JSONNotFoundError:
        return
    # whatever was recovered is real JSON again
    assert json.loads(json.dumps(found.value)) == found.value


@given(value=json_values, dump=dumps)
def test_repair_leaves_valid_json_alone(value: Any, dump: Callable[[Any], str]) -> None:
    found = extract_json(dump(value), repair=True)
    assert found.value == value
    assert found.repairs == ()


# --- matchers and assert_* agree ----------------------------------------------

alphabet = st.sampled_from([*"aAbB\u00df ss\t\n*_#\uff22.\u0301\u00e9", "e\u0301"])
texts = st.lists(alphabet, max_size=20).map("".join)
needles = st.lists(alphabet, min_size=1, max_size=4).map("".join)
options = st.fixed_dictionaries(
    {},
    optional={
        "ignore_case": st.booleans(),
        "normalize": st.booleans(),
        "collapse_whitespace": st.booleans(),
        "nfkc": st.booleans(),
        "strip_markdown": st.booleans(),
        "whole_word": st.booleans(),
    },
)


def outcome(call: Callable[[], object]) -> str:
    try:
        call()
    except AssertionError:
        return "fail"
    except ConfigError:
        return "config"
    return "pass"


def matcher_outcome(build: Callable[[], object], text: str) -> str:
    try:
        matcher = build()
    except ConfigError:
        return "config"
    return "pass" if text == matcher else "fail"


@given(text=texts, needle=needles, opts=options)
@settings(max_examples=300)
def test_contains_matcher_agrees_with_assert(text: str, needle: str, opts: dict[str, bool]) -> None:
    expected = outcome(lambda: assert_contains(text, needle, **opts))
    assert matcher_outcome(lambda: Contains(needle, **opts), text) == expected
    negated = {"pass": "fail", "fail": "pass", "config": "config"}[expected]
    assert outcome(lambda: assert_not_contains(text, needle, **opts)) == negated
    assert matcher_outcome(lambda: NotContains(needle, **opts), text) == negated
    if expected != "config":
        assert (text == ~Contains(needle, **opts)) == (negated == "pass")


@given(text=texts, needle=needles)
def test_contains_is_substring_search(text: str, needle: str) -> None:
    assert (text == Contains(needle)) == (needle in text)
    assert (text == Contains(needle, ignore_case=True)) == (needle.casefold() in text.casefold())
    if needle in text:
        assert assert_contains(text, needle) == text.index(needle)


@given(text=texts, picks=st.lists(needles, min_size=1, max_size=3), opts=options)
def test_any_all_matchers_agree_with_asserts(
    text: str, picks: list[str], opts: dict[str, bool]
) -> None:
    assert matcher_outcome(lambda: ContainsAny(*picks, **opts), text) == outcome(
        lambda: assert_contains_any(text, picks, **opts)
    )
    assert matcher_outcome(lambda: ContainsAll(*picks, **opts), text) == outcome(
        lambda: assert_contains_all(text, picks, **opts)
    )


@given(
    text=texts,
    needle=needles,
    mode=st.sampled_from(["search", "match", "fullmatch"]),
    opts=options,
)
def test_matches_matcher_agrees_with_assert(
    text: str, needle: str, mode: str, opts: dict[str, bool]
) -> None:
    pattern = re.escape(needle) + "+"
    expected = outcome(lambda: assert_matches(text, pattern, mode=mode, **opts))  # type: ignore[arg-type]
    assert matcher_outcome(lambda: Matches(pattern, mode=mode, **opts), text) == expected  # type: ignore[arg-type]
    if not opts:
        reference = getattr(re, mode)(pattern, text) is not None
        assert expected == ("pass" if reference else "fail")


@pytest.mark.parametrize("value", [None, 1, b"x", ["x"]])
def test_non_strings_fail_matchers_and_error_asserts(value: object) -> None:
    assert value != Contains("x")
    assert outcome(lambda: assert_contains(value, "x")) == "config"
