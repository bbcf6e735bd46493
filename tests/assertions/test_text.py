# ruff: noqa: RUF001  (fullwidth letters are the point of these tests)
from __future__ import annotations

import re

import pytest

from pytest_llm._errors import ConfigError
from pytest_llm.assertions import (
    LLMAssertionError,
    TextAssertionError,
    assert_contains,
    assert_contains_all,
    assert_contains_any,
    assert_matches,
    assert_not_contains,
)


def message(excinfo: pytest.ExceptionInfo[BaseException]) -> list[str]:
    return str(excinfo.value).splitlines()


class TestAssertContains:
    def test_returns_offset_of_first_hit(self) -> None:
        assert assert_contains("Paris, then Paris again", "Paris") == 0
        assert assert_contains("In Paris", "Paris") == 3

    def test_failure_is_an_assertion_error_with_case_hint(self) -> None:
        with pytest.raises(TextAssertionError) as excinfo:
            assert_contains("The capital of France is paris.", "Paris")
        assert isinstance(excinfo.value, AssertionError)
        assert isinstance(excinfo.value, LLMAssertionError)
        assert message(excinfo) == [
            "assert_contains: 'Paris' not found in the output",
            "  output (31 chars): 'The capital of France is paris.'",
            "  hint: found 'paris' at offset 25 with ignore_case=True",
        ]

    def test_ignore_case_uses_casefold(self) -> None:
        assert assert_contains("STRASSE 5", "straße", ignore_case=True) == 0
        with pytest.raises(TextAssertionError):
            assert_contains("STRASSE 5", "straße")

    def test_normalize_collapses_whitespace_and_strips_markdown(self) -> None:
        text = "The capital of **France** is\n\n  Paris."
        assert assert_contains(text, "France is Paris", normalize=True) == 17
        with pytest.raises(TextAssertionError) as excinfo:
            assert_contains(text, "France is Paris")
        assert message(excinfo)[-1] == (
            "  hint: found 'France** is\\n\\n  Paris' at offset 17 with normalize=True"
        )

    def test_individual_normalisations(self) -> None:
        assert assert_contains("a\t\tb", "a b", collapse_whitespace=True) == 0
        assert assert_contains("ﬁle №5", "file No5", nfkc=True) == 0
        assert assert_contains("see [the docs](http://x)", "see the docs", strip_markdown=True) == 0
        with pytest.raises(TextAssertionError):
            assert_contains("ﬁle", "file", collapse_whitespace=True)

    def test_whole_word(self) -> None:
        assert assert_contains("the cat sat", "cat", whole_word=True) == 4
        assert assert_contains("use C++ here", "C++", whole_word=True) == 4
        with pytest.raises(TextAssertionError) as excinfo:
            assert_contains("concatenate", "cat", whole_word=True)
        assert message(excinfo) == [
            "assert_contains: 'cat' not found in the output (whole_word)",
            "  output (11 chars): 'concatenate'",
            "  hint: found 'cat' at offset 3 with whole_word=False",
        ]

    def test_hint_names_closest_passage(self) -> None:
        with pytest.raises(TextAssertionError) as excinfo:
            assert_contains("The capital is Parsi.", "Paris")
        assert message(excinfo)[-1] == "  hint: the closest passage is 'Parsi.' at offset 15"

    def test_long_output_is_cut(self) -> None:
        text = "x" * 300
        with pytest.raises(TextAssertionError) as excinfo:
            assert_contains(text, "y")
        assert message(excinfo)[1] == f"  output (300 chars): {'x' * 120!r}... (180 more chars)"

    @pytest.mark.parametrize(
        ("value", "fix"),
        [
            (None, "a message with tool calls has content None"),
            (b"bytes", "decode it first"),
            ({"choices": []}, "pass response.choices[0].message.content"),
            (42, "pass the message text"),
        ],
    )
    def test_non_string_output_is_a_config_error(self, value: object, fix: str) -> None:
        with pytest.raises(
            ConfigError, match="assert_contains expects the model output as a str"
        ) as excinfo:
            assert_contains(value, "x")
        assert fix in str(excinfo.value)
        assert not isinstance(excinfo.value, AssertionError)

    def test_bad_needles(self) -> None:
        with pytest.raises(ConfigError, match="empty needle"):
            assert_contains("x", "")
        with pytest.raises(ConfigError, match="expects the text to look for as a str, got int"):
            assert_contains("x", 5)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match=r"the needle '   ' is empty once normalised"):
            assert_contains("x", "   ", collapse_whitespace=True)


class TestAssertNotContains:
    def test_passes_when_absent(self) -> None:
        assert assert_not_contains("Paris is lovely", "Berlin") is None

    def test_hit_shows_offset_and_context_with_carets(self) -> None:
        text = "The capital of Germany is not the answer; Berlin is. We asked about France."
        with pytest.raises(TextAssertionError) as excinfo:
            assert_not_contains(text, "Berlin")
        assert message(excinfo) == [
            "assert_not_contains: forbidden 'Berlin' found at offset 42",
            f"  output (75 chars): {text!r}",
            "  offset 42: '...of Germany is not the answer; Berlin is. We asked about France.'",
            "                                               ^^^^^^",
        ]

    def test_several_hits(self) -> None:
        with pytest.raises(TextAssertionError) as excinfo:
            assert_not_contains("berlin\nBERLIN", "Berlin", ignore_case=True)
        assert message(excinfo) == [
            "assert_not_contains: forbidden 'Berlin' found 2 times, at offsets 0, 7 (ignore_case)",
            "  output (13 chars): 'berlin\\nBERLIN'",
            "  offset 0: 'berlin\\nBERLIN'",
            "             ^^^^^^",
            "  offset 7: 'berlin\\nBERLIN'",
            "                     ^^^^^^",
        ]

    def test_offsets_refer_to_the_original_text_after_normalising(self) -> None:
        text = "**Ｂｅｒｌｉｎ**   is big"
        with pytest.raises(TextAssertionError) as excinfo:
            assert_not_contains(text, "berlin is", normalize=True, ignore_case=True)
        lines = message(excinfo)
        assert lines[0].startswith("assert_not_contains: forbidden 'berlin is' found at offset 2 ")
        assert lines[2] == "  offset 2: '**Ｂｅｒｌｉｎ**   is big'"
        # wide characters take two columns: carets cover the whole hit
        assert lines[3] == " " * 15 + "^" * 19


class TestAnyAll:
    def test_any_returns_first_needle_found(self) -> None:
        assert assert_contains_any("It is Lyon", ["Paris", "Lyon"]) == "Lyon"

    def test_any_failure_lists_needles(self) -> None:
        with pytest.raises(TextAssertionError) as excinfo:
            assert_contains_any("It is Marseille", ["Paris", "Lyon"])
        assert message(excinfo) == [
            "assert_contains_any: none of 2 needles found in the output: 'Paris', 'Lyon'",
            "  output (15 chars): 'It is Marseille'",
        ]

    def test_all_returns_offsets(self) -> None:
        assert assert_contains_all("a b c", ["c", "a"]) == {"c": 4, "a": 0}

    def test_all_failure_lists_missing_and_found(self) -> None:
        with pytest.raises(TextAssertionError) as excinfo:
            assert_contains_all("hello world", ["hello", "y", "World"])
        assert message(excinfo) == [
            "assert_contains_all: 2 of 3 needles missing from the output: 'y', 'World'",
            "  output (11 chars): 'hello world'",
            "  found: 'hello' at offset 0",
            "  hint: found 'world' at offset 6 with ignore_case=True",
        ]

    def test_a_str_instead_of_a_list_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="got the str 'abc'; wrap it in a list"):
            assert_contains_any("abc", "abc")
        with pytest.raises(ConfigError, match="got no needles"):
            assert_contains_all("abc", [])


class TestAssertMatches:
    def test_returns_match(self) -> None:
        match = assert_matches("Distance: 12 km", r"(\d+) km")
        assert match.group(1) == "12"

    @pytest.mark.parametrize(
        ("mode", "passes"), [("search", True), ("match", False), ("fullmatch", False)]
    )
    def test_modes(self, mode: str, passes: bool) -> None:
        if passes:
            assert assert_matches("abc 12", r"\d+", mode=mode).group() == "12"  # type: ignore[arg-type]
        else:
            with pytest.raises(TextAssertionError):
                assert_matches("abc 12", r"\d+", mode=mode)  # type: ignore[arg-type]

    def test_fullmatch_failure_hints_at_search(self) -> None:
        with pytest.raises(TextAssertionError) as excinfo:
            assert_matches("abc 12 km", r"\d+ km", mode="fullmatch")
        assert message(excinfo) == [
            r"assert_matches: /\d+ km/ (fullmatch) does not match the output",
            "  output (9 chars): 'abc 12 km'",
            "  hint: a search finds '12 km' at offset 4, but mode='fullmatch' needs the whole output",
        ]

    def test_ignore_case_and_compiled_patterns(self) -> None:
        assert assert_matches("PARIS", re.compile("paris"), ignore_case=True).group() == "PARIS"
        assert assert_matches("PARIS", "paris", flags=re.IGNORECASE).group() == "PARIS"

    def test_whole_word_and_normalize(self) -> None:
        assert assert_matches("**Paris**  is", r"Paris is", normalize=True).group() == "Paris is"
        with pytest.raises(TextAssertionError, match=r"\(whole_word\)"):
            assert_matches("Parisian", r"Paris", whole_word=True)

    def test_bad_pattern_and_mode(self) -> None:
        with pytest.raises(ConfigError) as excinfo:
            assert_matches("x", "(abc")
        assert str(excinfo.value) == (
            "assert_matches: invalid regular expression /(abc/: "
            "missing ), unterminated subpattern at position 0"
        )
        with pytest.raises(ConfigError) as excinfo:
            assert_matches("x", "x", mode="fulmatch")  # type: ignore[arg-type]
        assert str(excinfo.value) == (
            "assert_matches: unknown mode 'fulmatch' (did you mean 'fullmatch'?); "
            "use one of 'search', 'match', 'fullmatch'"
        )
