"""Malformed JSON, variant by variant: the exact text each one produces, and its limits."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llm.faults import VARIANTS, malform
from pytest_llm.faults._malformed import FIELD_VARIANTS, MalformedInput

DOC = '{"label": "bug", "priority": 2, "tags": ["ui", "it\'s"], "urgent": true}'
PRETTY = '{\n  "a": 1,\n  "b": {"c": null}\n}'


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("fenced", f"```json\n{DOC}\n```"),
        (
            "prose",
            f"Sure! Here is the JSON you asked for:\n\n{DOC}\n\nLet me know if you need anything else.",
        ),
        ("trailing_comma", DOC[:-1] + ",}"),
        (
            "single_quotes",
            "{'label': 'bug', 'priority': 2, 'tags': ['ui', 'it\\'s'], 'urgent': true}",
        ),
        ("truncated", '{"label": "bug", "priority": 2, "ta'),
        ("wrong_types", DOC.replace('"bug"', '["bug"]')),
        ("missing_field", '{"priority": 2, "tags": ["ui", "it\'s"], "urgent": true}'),
        ("extra_field", DOC[:-1] + ', "note": "not in the schema"}'),
    ],
)
def test_each_variant_on_a_compact_object(variant: str, expected: str) -> None:
    assert malform(DOC, variant) == expected


def test_variants_keep_a_pretty_printed_layout() -> None:
    assert malform(PRETTY, "trailing_comma") == '{\n  "a": 1,\n  "b": {"c": null},\n}'
    assert malform(PRETTY, "missing_field", field="b.c") == '{\n  "a": 1,\n  "b": {}\n}'
    assert malform(PRETTY, "truncated", at=0.25) == '{\n  "a":'


@pytest.mark.parametrize(
    ("value", "wrong"),
    [
        (2, "2"),
        (1.5, "1.5"),
        (True, "true"),
        ("bug", ["bug"]),
        (["ui", 3], "ui, 3"),
        ({"x": 1}, '{"x": 1}'),
        (None, "null"),
    ],
)
def test_wrong_types_turn_each_type_into_another(value: object, wrong: object) -> None:
    out = json.loads(malform(json.dumps({"f": value}), "wrong_types", field="f"))
    assert out == {"f": wrong}


@pytest.mark.parametrize(
    ("text", "variant", "kwargs", "message"),
    [
        (
            "hi",
            "missing_field",
            {},
            "missing_field needs the content to be valid JSON to start from; "
            "it is not (Expecting value: line 1 column 1 (char 0)): 'hi'",
        ),
        ("[1, 2]", "extra_field", {}, "extra_field needs a JSON object, the text is an array"),
        (
            "12",
            "trailing_comma",
            {},
            "trailing_comma needs an object or array, the text is a number",
        ),
        (
            "[1, 2]",
            "single_quotes",
            {},
            "single_quotes of '[1, 2]' would still be valid JSON: '[1, 2]'",
        ),
        ("12", "truncated", {}, "truncated of '12' would still be valid JSON: '1'"),
        (
            "{}",
            "missing_field",
            {},
            "missing_field needs an object with at least one field, got {}",
        ),
        (
            DOC,
            "missing_field",
            {"field": "tag"},
            "no field 'tag' at the top level (did you mean 'tags'?); fields there: label, priority, tags, urgent",
        ),
        (PRETTY, "wrong_types", {"field": "b.x"}, "no field 'x' at b; fields there: c"),
        (
            DOC,
            "extra_field",
            {"field": "label"},
            "the object already has a field 'label'; pick a new name with field=",
        ),
    ],
)
def test_text_that_cannot_take_the_variant_says_why(
    text: str, variant: str, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(MalformedInput) as info:
        malform(text, variant, **kwargs)
    assert str(info.value) == message


json_objects = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=6,
    ),
    min_size=1,
    max_size=5,
)


@given(doc=json_objects, variant=st.sampled_from(VARIANTS), indent=st.sampled_from([None, 2]))
def test_every_variant_breaks_any_object(
    doc: dict[str, object], variant: str, indent: int | None
) -> None:
    text = json.dumps(doc, indent=indent)
    out = malform(text, variant)
    assert out != text
    if variant in FIELD_VARIANTS:
        assert json.loads(out) != doc  # valid JSON, not the same document
    else:
        with pytest.raises(ValueError):
            json.loads(out)
