from __future__ import annotations

import pytest

from pytest_llm._errors import ConfigError
from pytest_llm.assertions import (
    JSONMatch,
    JSONMismatchError,
    JSONNotFoundError,
    assert_json,
    extract_json,
)


class TestStrategies:
    def test_whole_message(self) -> None:
        found = extract_json('  {"a": 1}\n')
        assert (found.value, found.strategy, found.start, found.end) == ({"a": 1}, "whole", 2, 10)
        assert found.source == '{"a": 1}'

    def test_whole_message_scalar(self) -> None:
        assert extract_json(" 42 ").value == 42
        assert extract_json('"just a string"').value == "just a string"

    @pytest.mark.parametrize("fence", ["```", "````", "~~~"])
    @pytest.mark.parametrize("label", ["", "json", "JSON"])
    def test_fences(self, fence: str, label: str) -> None:
        text = f'Here you go:\n{fence}{label}\n{{"a": [1, 2]}}\n{fence}\nAnything else?'
        found = extract_json(text)
        assert found.value == {"a": [1, 2]}
        assert found.strategy == "fence"
        assert found.label == label.lower()
        assert text[found.start : found.end] == '{"a": [1, 2]}'

    def test_four_backtick_fence_holds_a_three_backtick_string(self) -> None:
        text = '````json\n{"md": "```x```"}\n````'
        assert extract_json(text).value == {"md": "```x```"}

    def test_json_labelled_fence_wins_over_other_labels(self) -> None:
        text = "```python\n[1]\n```\nand\n```json\n[2]\n```"
        found = extract_json(text)
        assert found.value == [2]
        assert [c.value for c in found.candidates] == [[2], [1]]

    def test_unlabelled_fence_wins_over_a_python_one(self) -> None:
        found = extract_json("```python\n[1]\n```\n```\n[2]\n```")
        assert (found.value, found.label) == ([2], "")

    def test_prose_around(self) -> None:
        text = 'Sure! The result is {"city": "Paris"}. Let me know.'
        found = extract_json(text)
        assert (found.value, found.strategy, found.start, found.end) == (
            {"city": "Paris"},
            "scan",
            20,
            37,
        )

    def test_longest_value_in_prose_wins_and_all_are_candidates(self) -> None:
        text = 'As noted in [1], here: {"a": {"b": [1, 2, 3]}} and also {"c": 1}'
        found = extract_json(text)
        assert found.value == {"a": {"b": [1, 2, 3]}}
        assert [c.value for c in found.candidates] == [{"a": {"b": [1, 2, 3]}}, {"c": 1}, [1]]

    def test_nan_is_not_json(self) -> None:
        with pytest.raises(JSONNotFoundError):
            extract_json('{"a": NaN}')

    def test_repr(self) -> None:
        assert repr(extract_json("[1]")) == "JSONMatch(strategy='whole', start=0, end=3, value=[1])"


class TestRepair:
    @pytest.mark.parametrize(
        ("text", "value", "repairs"),
        [
            ('{"a": 1, "b": [1, 2,],}', {"a": 1, "b": [1, 2]}, ("trailing-comma",)),
            ("{'a': 'it\\'s \"x\"'}", {"a": 'it\'s "x"'}, ("single-quotes",)),
            ('{"ok": True, "v": None}', {"ok": True, "v": None}, ("python-literals",)),
            ('{"a": [1, 2', {"a": [1, 2]}, ("truncation",)),
            ('{"name": "Par', {"name": "Par"}, ("truncation",)),
            ('{"a": 1, "na', {"a": 1}, ("trailing-comma", "truncation")),
            ('{"a": 1, "b":', {"a": 1}, ("trailing-comma", "truncation")),
            ("[1, 2, tr", [1, 2, True], ("truncation",)),
            ('{"x": 1.', {"x": 1}, ("truncation",)),
            ('{"s": "a\\', {"s": "a"}, ("truncation",)),
        ],
    )
    def test_repairs(self, text: str, value: object, repairs: tuple[str, ...]) -> None:
        found = extract_json(text, repair=True)
        assert found.value == value
        assert found.repairs == repairs
        with pytest.raises(JSONNotFoundError):
            extract_json(text)

    def test_truncated_fence(self) -> None:
        found = extract_json('Result:\n```json\n{"items": [{"id": 1}, {"id": 2', repair=True)
        assert found.value == {"items": [{"id": 1}, {"id": 2}]}
        assert found.strategy == "fence"

    def test_repaired_outer_value_beats_a_strict_inner_fragment(self) -> None:
        text = 'Data: {"a": [{"b": 1}, {"c": 2'
        assert extract_json(text).value == {"b": 1}
        assert extract_json(text, repair=True).value == {"a": [{"b": 1}, {"c": 2}]}

    def test_valid_json_is_untouched(self) -> None:
        found = extract_json('{"a": "it\'s"}', repair=True)
        assert found.repairs == ()


class TestErrors:
    def test_no_json_lists_what_was_tried(self) -> None:
        text = "Sorry, I can't help with that."
        with pytest.raises(JSONNotFoundError) as excinfo:
            extract_json(text)
        assert str(excinfo.value).splitlines() == [
            "extract_json: no JSON found in the output (30 chars)",
            f"  output: {text!r}",
            "  tried the whole message: Expecting value: line 1 column 1 (char 0)",
            "  tried the prose: no '{' or '[' starts a valid JSON value",
        ]
        assert isinstance(excinfo.value, AssertionError)

    def test_broken_fence_and_repair_hint(self) -> None:
        text = 'Here:\n```json\n{"a": 1,}\n```'
        with pytest.raises(JSONNotFoundError) as excinfo:
            extract_json(text)
        assert str(excinfo.value).splitlines()[2:] == [
            "  tried the whole message: Expecting value: line 1 column 1 (char 0)",
            "  tried ```json fence at offset 6: Expecting property name enclosed in double "
            "quotes: line 1 column 9 (char 8)",
            "  tried the prose: no '{' or '[' starts a valid JSON value",
            "  hint: repair=True would recover it from a ```json fence, chars 14..23 "
            "(fixes: trailing-comma)",
        ]

    def test_non_string(self) -> None:
        with pytest.raises(ConfigError, match="extract_json expects the model output as a str"):
            extract_json({"a": 1})


class TestAssertJson:
    def test_returns_value(self) -> None:
        assert assert_json('```json\n{"a": 1}\n```') == {"a": 1}
        assert assert_json('{"a": 1}', {"a": 1.0}) == {"a": 1}

    def test_null_can_be_expected(self) -> None:
        assert assert_json("null", None) is None
        with pytest.raises(JSONMismatchError):
            assert_json("0", None)

    def test_diff_lists_every_difference_with_paths(self) -> None:
        text = '{"city": "Lyon", "tags": ["a"], "n": true, "extra": 1}'
        with pytest.raises(JSONMismatchError) as excinfo:
            assert_json(text, {"city": "Paris", "tags": ["a", "b"], "n": 1, "x y": None})
        assert str(excinfo.value).splitlines() == [
            "assert_json: the JSON from the whole message, chars 0..54 differs from expected "
            "in 6 places",
            '  $.city: got "Lyon", expected "Paris"',
            "  $.tags: got 1 item, expected 2",
            '  $.tags[1]: missing item (expected "b")',
            "  $.n: got true (boolean), expected 1 (number)",
            "  $['x y']: missing (expected null)",
            "  $.extra: unexpected key (got 1)",
        ]
        assert len(excinfo.value.differences) == 6

    def test_diff_is_capped(self) -> None:
        with pytest.raises(JSONMismatchError) as excinfo:
            assert_json("[" + ",".join("0" * 1 for _ in range(15)) + "]", list(range(1, 16)))
        lines = str(excinfo.value).splitlines()
        assert len(lines) == 12
        assert lines[-1] == "  ... and 5 more"

    def test_repaired_json_says_so(self) -> None:
        with pytest.raises(JSONMismatchError) as excinfo:
            assert_json('{"a": 1,}', {"a": 2}, repair=True)
        assert str(excinfo.value).splitlines()[0] == (
            "assert_json: the JSON from the whole message, chars 0..9 (repaired: trailing-comma) "
            "differs from expected in 1 place"
        )


def test_match_is_a_frozen_dataclass() -> None:
    found = extract_json("[1]")
    assert isinstance(found, JSONMatch)
    with pytest.raises(AttributeError):
        found.value = 2  # type: ignore[misc]
