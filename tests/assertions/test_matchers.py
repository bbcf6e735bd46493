# ruff: noqa: SIM300  (text == matcher, with the output first, is the API under test)
from __future__ import annotations

import pytest

from pytest_llm._errors import ConfigError
from pytest_llm.assertions import (
    AllOf,
    AnyOf,
    Contains,
    ContainsAll,
    ContainsAny,
    IContains,
    INotContains,
    Matches,
    Not,
    NotContains,
    matcher_repr_compare,
)


def test_matchers_compare_with_strings_from_either_side() -> None:
    assert "The capital is Paris" == IContains("paris")
    assert IContains("paris") == "The capital is Paris"
    assert "The capital is Paris" != Contains("paris")
    assert "x" == NotContains("y")
    assert "Y" != INotContains("y")


def test_composition() -> None:
    matcher = IContains("paris") & NotContains("berlin")
    assert isinstance(matcher, AllOf)
    assert "Paris, not Lyon" == matcher
    assert "Paris and berlin" != matcher
    either = Contains("Paris") | Contains("Lyon")
    assert isinstance(either, AnyOf)
    assert "Lyon" == either
    assert "Nice" != either
    negated = ~Matches(r"\d")
    assert isinstance(negated, Not)
    assert "no digits" == negated
    assert "4 digits" != negated


def test_reprs_are_readable_and_parenthesised() -> None:
    matcher = (Contains("a") | Contains("b")) & ~Matches(r"\d+", mode="fullmatch")
    assert repr(matcher) == (
        "(Contains('a') | Contains('b')) & ~Matches('\\\\d+', mode='fullmatch')"
    )
    assert repr(Contains("a") | Contains("b") & Contains("c")) == (
        "Contains('a') | Contains('b') & Contains('c')"
    )
    assert repr(IContains("x", whole_word=True)) == "IContains('x', whole_word=True)"
    assert repr(IContains("x", ignore_case=False)) == "IContains('x', ignore_case=False)"
    assert repr(Contains("x", ignore_case=True)) == "Contains('x', ignore_case=True)"
    assert repr(ContainsAll("a", "b", normalize=True)) == (
        "ContainsAll('a', 'b', collapse_whitespace=True, nfkc=True, strip_markdown=True)"
    )
    assert repr(~(Contains("a") & Contains("b"))) == "~(Contains('a') & Contains('b'))"


def test_and_flattens() -> None:
    matcher = Contains("a") & Contains("b") & Contains("c")
    assert isinstance(matcher, AllOf)
    assert len(matcher.parts) == 3


def test_non_strings_never_match_and_never_raise() -> None:
    assert None != Contains("x")  # noqa: E711
    assert 5 != (Contains("x") | NotContains("y"))
    assert 5 != ~Contains("x")


def test_matchers_are_not_hashable() -> None:
    with pytest.raises(TypeError):
        hash(Contains("x"))


def test_bad_arguments_fail_at_construction() -> None:
    with pytest.raises(ConfigError, match="empty needle"):
        Contains("")
    with pytest.raises(ConfigError, match="invalid regular expression"):
        Matches("(")
    with pytest.raises(ConfigError, match="needs at least one needle"):
        ContainsAny()


def test_any_all_and_options() -> None:
    assert "a Lyon b" == ContainsAny("Paris", "lyon", ignore_case=True)
    assert "Paris Lyon" == ContainsAll("Paris", "Lyon")
    assert "Paris" != ContainsAll("Paris", "Lyon")
    assert "**Paris**  France" == Contains("Paris France", normalize=True)
    assert "Parisian" != Contains("Paris", whole_word=True)


class TestReprCompare:
    def test_explains_each_part(self) -> None:
        lines = matcher_repr_compare(
            "==", "The capital is Berlin.", IContains("paris") & NotContains("Berlin")
        )
        assert lines == [
            "'The capital is Berlin.' == IContains('paris') & NotContains('Berlin')",
            "FAIL IContains('paris') & NotContains('Berlin'): 0 of 2 parts match",
            "  FAIL IContains('paris'): 'paris' not found in the output (ignore_case)",
            "  FAIL NotContains('Berlin'): forbidden 'Berlin' found at offset 15",
            "    offset 15: 'The capital is Berlin.'",
            "                               ^^^^^^",
        ]

    def test_matcher_on_the_left(self) -> None:
        lines = matcher_repr_compare("==", Contains("x"), "abc")
        assert lines == [
            "Contains('x') == 'abc'",
            "FAIL Contains('x'): 'x' not found in the output",
        ]

    def test_not_equal_explains_why_it_matched(self) -> None:
        lines = matcher_repr_compare("!=", "abc", ~Contains("x") & Contains("a"))
        assert lines == [
            "'abc' != ~Contains('x') & Contains('a')",
            "the output matches, but should not:",
            "PASS ~Contains('x') & Contains('a'): 2 of 2 parts match",
            "  PASS ~Contains('x'): Contains('x') did not match: 'x' not found in the output",
            "  PASS Contains('a'): 'a' found at offset 0",
        ]

    def test_non_string_is_one_line(self) -> None:
        assert matcher_repr_compare("==", None, Contains("a") | Contains("b")) == [
            "None == Contains('a') | Contains('b')",
            "FAIL Contains('a') | Contains('b'): expected a str, got NoneType: None",
        ]

    @pytest.mark.parametrize(
        ("op", "left", "right"),
        [("<", "a", Contains("a")), ("==", "a", "b"), ("==", Contains("a"), Contains("b"))],
    )
    def test_other_comparisons_are_left_to_pytest(
        self, op: str, left: object, right: object
    ) -> None:
        assert matcher_repr_compare(op, left, right) is None


def test_pytest_shows_the_explanation(run_failing) -> None:  # type: ignore[no-untyped-def]
    result = run_failing(
        """
from pytest_llm.assertions import IContains, NotContains

def test_answer():
    answer = "The capital is Berlin."
    assert answer == IContains("paris") & NotContains("Berlin")
"""
    )
    result.stdout.fnmatch_lines(
        [
            '>       assert answer == IContains("paris") & NotContains("Berlin")',
            "E       AssertionError: assert 'The capital is Berlin.' == IContains('paris') & NotContains('Berlin')",
            "E         FAIL IContains('paris') & NotContains('Berlin'): 0 of 2 parts match",
            "E           FAIL IContains('paris'): 'paris' not found in the output (ignore_case)",
            "E           FAIL NotContains('Berlin'): forbidden 'Berlin' found at offset 15",
            "E             offset 15: 'The capital is Berlin.'",
            "E                                        ^^^^^^",
        ],
        consecutive=True,
    )
