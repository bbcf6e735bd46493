"""The examples of the issue 10 pages (cache, semantic cache, limits, budgets,
coalescing, Redis) run as they are, the way ``test_docs_examples.py`` runs the other
client pages: every ``python`` block defining a ``test_*`` function is called with the
fixtures it names, and what it prints must equal the ``text`` block after it.

Besides the project's fixtures, examples may take ``redis_url``: a real
``redis-server`` on a private loopback port, emptied for each example.
"""

from __future__ import annotations

import contextlib
import inspect
import io
from collections.abc import Iterator

import pytest
from redis_server import RedisServer, redis_available
from test_docs_examples import DOCS, Example, examples

PAGES = (
    "client-cache.md",
    "client-semantic-cache.md",
    "client-limits.md",
    "client-budgets.md",
    "client-coalescing.md",
    "client-redis.md",
)
ALL = [example for page in PAGES for example in examples(page)]


@pytest.fixture(scope="module")
def _redis() -> Iterator[RedisServer]:
    if not redis_available():  # pragma: no cover - CI installs it
        pytest.skip("redis-server is not installed")
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(_redis: RedisServer) -> str:
    import redis

    redis.Redis.from_url(_redis.url).flushall()
    return _redis.url


def test_every_state_page_has_a_runnable_example() -> None:
    assert {example.page for example in ALL} == set(PAGES)


def test_state_example_names_are_unique() -> None:
    names = [example.name for example in ALL]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("example", ALL, ids=str)
def test_state_docs_example(example: Example, request: pytest.FixtureRequest) -> None:
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
    assert out.getvalue() == (example.output or "")


def test_the_pages_are_in_the_nav_and_linked_from_the_client_page() -> None:
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    client = (DOCS / "client.md").read_text()
    for page in PAGES:
        assert f": {page}" in nav, f"{page} is not in mkdocs.yml"
        assert f"]({page}" in client, f"docs/client.md does not link {page}"
