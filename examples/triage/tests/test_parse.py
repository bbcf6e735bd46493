"""Parsing what models really send back: no model and no cassette needed.

The shapes are the ones small models produce when nothing constrains them: bare
JSON, JSON in a code fence, JSON with chatter around it, labels in the wrong case.
"""

from __future__ import annotations

import pytest

from triage import InvalidTriageError, NoJSONError, Triage, extract_json_object, parse_triage

EXPECTED = Triage(category="billing", priority="high", summary="Refund a double charge.")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            '{"category": "billing", "priority": "high", "summary": "Refund a double charge."}',
            id="bare",
        ),
        pytest.param(
            '```json\n{"category": "billing", "priority": "high",\n'
            ' "summary": "Refund a double charge."}\n```',
            id="json-fence",
        ),
        pytest.param(
            'Sure! Here is the triage:\n```\n{"category": "billing", "priority": "high", '
            '"summary": "Refund a double charge."}\n```\nLet me know if you need more.',
            id="bare-fence-with-prose",
        ),
        pytest.param(
            'The ticket is {"category": "billing", "priority": "high", '
            '"summary": "Refund a double charge."} as requested.',
            id="inline-in-prose",
        ),
        pytest.param(
            '{"category": "Billing", "priority": " HIGH ", "summary": " Refund a double charge. "}',
            id="label-spelling",
        ),
        pytest.param(
            'Note {this} first. {"category": "billing", "priority": "high", '
            '"summary": "Refund a double charge."}',
            id="stray-brace-before",
        ),
    ],
)
def test_parse_triage_accepts_what_models_send(text: str) -> None:
    assert parse_triage(text) == EXPECTED


def test_feature_request_written_with_a_space_is_accepted() -> None:
    got = parse_triage(
        '{"category": "Feature Request", "priority": "low", "summary": "Dark mode."}'
    )
    assert got.category == "feature_request"


def test_prose_only_raises_no_json_error_with_the_raw_text() -> None:
    text = "This looks like a billing issue with high priority."
    with pytest.raises(NoJSONError, match="holds no JSON object") as info:
        parse_triage(text)
    assert info.value.raw == text


def test_truncated_object_raises_no_json_error() -> None:
    # What max_tokens does to an answer: the object never closes.
    with pytest.raises(NoJSONError):
        parse_triage('{"category": "bug", "priority": "high", "summary": "The app cra')


def test_label_outside_the_fixed_set_raises_invalid_triage_error() -> None:
    text = '{"category": "shipping", "priority": "high", "summary": "Where is my parcel?"}'
    with pytest.raises(InvalidTriageError, match=r"category: Input should be 'billing'") as info:
        parse_triage(text)
    assert info.value.data == {
        "category": "shipping",
        "priority": "high",
        "summary": "Where is my parcel?",
    }
    assert info.value.raw == text


def test_missing_summary_raises_invalid_triage_error() -> None:
    with pytest.raises(InvalidTriageError, match="summary: Field required"):
        parse_triage('{"category": "bug", "priority": "low"}')


def test_a_json_array_is_not_an_object() -> None:
    with pytest.raises(NoJSONError):
        extract_json_object('["billing", "high"]')
