"""The ``llm_cassette`` fixture takes no ``request`` argument (issue 14): pytest made a
``RequestFixtureDef``, with an ``inspect.signature``, twice per test for it. The armed
``pytest_fixture_setup`` hook hands the fixture the request pytest would have passed;
where the hook is not armed yet, the fixture finds it among its callers. The same
cassette, item and options either way."""

from __future__ import annotations

import pytest

COUNTING = """
import pytest
from _pytest import fixtures

made = []
_init = fixtures.RequestFixtureDef.__init__


def _counting(self, request):
    made.append(request.fixturename)
    _init(self, request)


fixtures.RequestFixtureDef.__init__ = _counting


@pytest.fixture
def requests_seen(request):
    made.clear()  # what this fixture's own request made does not count
    yield


def pytest_unconfigure(config):
    print(f"request fixturedefs made: {made}")
"""

TESTS = """
import os

import openai
import pytest

client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], max_retries=0)


def ask(n):
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"hi {n}"}]
    ).choices[0].message.content


@pytest.mark.llm_cassette
@pytest.mark.parametrize("n", range(3))
def test_marked(n, requests_seen, request):
    assert ask(n)
    cassette = request.getfixturevalue("llm_cassette")
    assert cassette.test == request.node.nodeid
    assert cassette.path.name.startswith("test_marked")


@pytest.mark.parametrize("n", range(2))
def test_named(n, llm_cassette, request):
    assert ask(n)
    assert llm_cassette.test == request.node.nodeid


class TestOverridden:
    @pytest.fixture
    def llm_cassette_config(self):
        return {"allow_playback_repeats": True}

    def test_config_reaches_it(self, llm_cassette, request):
        assert ask(0) == ask(0)
        assert llm_cassette.test == request.node.nodeid
"""


def test_a_replayed_test_makes_no_request_fixturedef_for_the_cassette(
    llm_project: pytest.Pytester,
) -> None:
    """Before: two per replayed test (``execute`` and ``pytest_fixture_setup`` each ask
    for ``request``). After: none; the fixture gets its own test, a named or marked one,
    and an overridden ``llm_cassette_config`` (repeats allowed) still reaches it."""
    llm_project.makeconftest(COUNTING)
    llm_project.makepyfile(test_app=TESTS)
    llm_project.runpytest_subprocess("-p", "no:cacheprovider", "--llm-record=once").assert_outcomes(
        passed=6
    )
    result = llm_project.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=6)
    # the tests' own ``request`` arguments (and requests_seen's) are theirs, not ours
    made = next(line for line in result.outlines if line.startswith("request fixturedefs made:"))
    assert "llm_cassette" not in made, made


def test_a_fixture_asked_for_dynamically_before_any_hook_is_armed(
    llm_project: pytest.Pytester,
) -> None:
    """No collected test announces the cassette (no marker, no argument): the hooks are
    not armed when the test asks for it with ``getfixturevalue``. The fixture finds its
    request among its callers (the same object), arms the hooks, and the next test's
    cassette comes through the hook."""
    llm_project.makeconftest(
        """
        from pytest_llm import plugin

        fallback = []
        _found = plugin._request_of_setup


        def _counting():
            request = _found()
            fallback.append(request.node.name)
            return request


        plugin._request_of_setup = _counting


        def pytest_unconfigure(config):
            print(f"found by the fallback: {fallback}")
        """
    )
    llm_project.makepyfile(
        test_dyn="""
        import os

        import openai

        client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], max_retries=0)

        def test_first(request):
            cassette = request.getfixturevalue("llm_cassette")
            assert cassette.test == request.node.nodeid
            assert client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "one"}]
            ).choices[0].message.content

        def test_second(request):
            cassette = request.getfixturevalue("llm_cassette")
            assert cassette.test == request.node.nodeid
            assert client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "two"}]
            ).choices[0].message.content
        """
    )
    llm_project.runpytest_subprocess("-p", "no:cacheprovider", "--llm-record=once").assert_outcomes(
        passed=2
    )
    result = llm_project.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=2)
    assert "found by the fallback: ['test_first']" in result.outlines


def test_the_fallback_without_a_fixture_request_among_the_callers() -> None:
    """Nothing in the callers' frames is the fixture's request: a ConfigError that
    says what to do, not a wrong test."""
    from pytest_llm import plugin
    from pytest_llm._errors import ConfigError

    request = "llm_cassette"  # noqa: F841 - a local named request that is no request
    with pytest.raises(ConfigError, match="could not find the test the llm_cassette"):
        plugin._request_of_setup()
