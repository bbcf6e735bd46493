"""The examples of the resilient client's docs (``docs/client*.md``) run as they are.

Every fenced ``python`` block of those pages that defines a ``test_*`` function is one
test here: the block is executed in a fresh namespace and its test is called with the
fixtures it names (``llm_fake``, ``llm_faults``, ``llm_clock``, ``caplog``, ...), so the
asserts in the docs are checked on every run. When such a block prints, the ``text``
block right after it is what it must print, character for character: the outputs the
docs show are real outputs.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = (
    "client.md",
    "client-retry.md",
    "client-timeouts.md",
    "client-breaker.md",
    "client-routes.md",
    "client-streaming.md",
    "client-structured.md",
    "client-observability.md",
    "client-tokens.md",
    "client-prompts.md",
    "client-injection.md",
    "client-batches.md",
)
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_TEST = re.compile(r"^(?:async )?def (test_\w+)\(", re.MULTILINE)


@dataclass(frozen=True)
class Example:
    page: str
    line: int
    name: str
    code: str
    output: str | None
    """What the block prints (the ``text`` block after it), if it prints."""

    def __str__(self) -> str:
        return f"{self.page}:{self.line}:{self.name}"


def examples(page: str) -> list[Example]:
    path = DOCS / page
    if not path.exists():  # reported by test_every_client_page_has_a_runnable_example
        return []
    text = path.read_text()
    blocks = list(_FENCE.finditer(text))
    found = []
    for i, block in enumerate(blocks):
        lang, code = block.group(1), block.group(2)
        names = _TEST.findall(code)
        if lang != "python" or not names:
            continue
        assert len(names) == 1, f"{page}: one test per example block, found {names}"
        output = None
        if "print(" in code:
            after = blocks[i + 1] if i + 1 < len(blocks) else None
            if (
                after is None
                or after.group(1) != "text"
                or text[block.end() : after.start()].strip()
            ):
                raise AssertionError(
                    f"{page}: the example {names[0]} prints; a ```text block with its "
                    "output must follow it directly"
                )
            output = after.group(2)
        line = text.count("\n", 0, block.start()) + 2
        found.append(Example(page, line, names[0], code, output))
    return found


ALL = [example for page in PAGES for example in examples(page)]


def test_every_client_page_has_a_runnable_example() -> None:
    """Each page of the client's docs shows at least one example that runs here."""
    pages = {example.page for example in ALL}
    assert pages == set(PAGES)


def test_example_names_are_unique() -> None:
    names = [example.name for example in ALL]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("example", ALL, ids=str)
def test_docs_example(example: Example, request: pytest.FixtureRequest) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_{example.name}"}
    exec(compile(example.code, f"docs/{example.page}:{example.line}", "exec"), namespace)
    function = namespace[example.name]
    assert callable(function)
    kwargs = {
        name: request.getfixturevalue(name) for name in inspect.signature(function).parameters
    }
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        function(**kwargs)
    if example.output is not None:
        assert out.getvalue() == example.output
    else:
        assert out.getvalue() == ""


def _error(make: Callable[[], object]) -> str:
    with pytest.raises(Exception) as caught:  # any error: its text is what is checked
        make()
    return str(caught.value)


def test_errors_shown_in_the_docs_are_real(llm_fake: Any, llm_clock: Any) -> None:
    """Error messages the pages quote outside an example are what the client raises."""
    from pydantic import BaseModel

    from pytest_llm.client import ResilientClient

    class Ticket(BaseModel):
        category: str
        urgent: bool
        priority: int

    client = ResilientClient(["gpt-4o-mini"], clock=llm_clock, max_reasks=1)
    llm_fake.add({"category": "billing", "urgent": True, "priority": "high"}, times=2)
    shown = {
        "client.md": [
            _error(lambda: ResilientClient(max_retry=3)),
            _error(lambda: client.with_options(seed=3)).splitlines()[0],
        ],
        "client-structured.md": [
            _error(
                lambda: client.chat.completions.parse(
                    messages=[{"role": "user", "content": "I was charged twice!"}],
                    response_format=Ticket,
                )
            ),
        ],
    }
    for page, messages in shown.items():
        text = (DOCS / page).read_text()
        for message in messages:
            assert message in text, f"{page} does not show this real message:\n{message}"
