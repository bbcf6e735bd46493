# ruff: noqa: RUF001  (fullwidth letters are the point of these tests)
from __future__ import annotations

import pytest

from pytest_llm.assertions._normalize import normalize_text


@pytest.mark.parametrize(
    ("markdown", "plain"),
    [
        ("**bold** and __strong__", "bold and strong"),
        ("*it* and _em_ but snake_case_name", "it and em but snake_case_name"),
        ("***both***", "both"),
        ("~~gone~~", "gone"),
        ("`code` here", "code here"),
        ("[the docs](https://example.com/x)", "the docs"),
        ("![a cat](cat.png)", "a cat"),
        ("# Title\n## Sub ##", "Title\nSub"),
        ("> quoted\n> > nested", "quoted\nnested"),
        ("- one\n* two\n3. three", "one\ntwo\nthree"),
        ("- [x] done", "done"),
        ("```python\nprint(1)\n```\n", "print(1)\n"),
        ("a\n\n---\n\nb", "a\n\n\nb"),
        ("<b>bold</b> <br/>", "bold "),
        (r"2 \* 3", "2 * 3"),
        ("a < b and c > d", "a < b and c > d"),
    ],
)
def test_strip_markdown(markdown: str, plain: str) -> None:
    assert normalize_text(markdown, strip_markdown=True).text == plain


def test_spans_map_back_to_the_original() -> None:
    original = "**Ｐａｒｉｓ**\n\n  is   ﬁne"
    mapped = normalize_text(
        original, casefold=True, nfkc=True, strip_markdown=True, collapse_whitespace=True
    )
    assert mapped.text == "paris is fine"
    start = mapped.text.index("fine")
    s, e = mapped.span(start, start + 4)
    assert original[s:e] == "ﬁne"
    s, e = mapped.span(0, 5)
    assert original[s:e] == "Ｐａｒｉｓ"


def test_casefold_expands_characters_but_keeps_spans() -> None:
    mapped = normalize_text("Maße", casefold=True)
    assert mapped.text == "masse"
    assert mapped.span(2, 4) == (2, 3)  # "ss" comes from "ß"


def test_nfkc_keeps_combining_marks_with_their_base() -> None:
    original = "cafe\u0301 ok"
    mapped = normalize_text(original, nfkc=True)
    assert mapped.text == "café ok"
    assert mapped.span(3, 4) == (3, 5)


def test_nfkc_matches_whole_text_normalisation_for_hangul_jamo() -> None:
    # Conjoining jamo compose across starters: the text must still equal whole-text NFKC.
    import unicodedata

    original = "x\u1100\u1161\u11a8y"
    mapped = normalize_text(original, nfkc=True)
    assert mapped.text == unicodedata.normalize("NFKC", original)
    assert mapped.span(0, len(mapped.text)) == (0, len(original))


def test_identity_when_nothing_is_asked() -> None:
    mapped = normalize_text("  A  b  ")
    assert mapped.text == "  A  b  "
    assert mapped.span(2, 3) == (2, 3)
