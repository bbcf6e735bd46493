"""What a replayed test costs beside its setup and its cassette (issue 14, hreport): the
per-test hooks pytest-llm registers, the router's log the verdicts watch, and the
markers read at collection."""

from __future__ import annotations

import pytest

HOOKS_CONFTEST = """
import pytest

NAMES = (
    "pytest_runtest_setup",
    "pytest_runtest_teardown",
    "pytest_runtest_makereport",
    "pytest_runtest_logreport",
)


def _ours(config):
    hook = config.hook
    for name in NAMES:
        ours = [
            impl.plugin_name
            for impl in getattr(hook, name).get_hookimpls()
            if impl.plugin_name.startswith("llm-")
        ]
        print(name, ours)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    _ours(session.config)


def pytest_unconfigure(config):
    if not hasattr(config, "workerinput") and getattr(config.option, "numprocesses", None):
        print("controller:")
        _ours(config)
"""

TESTS = """
import os

import openai
import pytest

client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], max_retries=0)


@pytest.mark.llm_cassette
@pytest.mark.parametrize("n", range(3))
def test_ask(n):
    assert client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"hi {n}"}]
    ).choices[0].message.content
"""


def test_a_replayed_test_runs_four_hooks_of_pytest_llm(llm_project: pytest.Pytester) -> None:
    """Per test: the verdicts' setup wrapper, the patches' hand-over at teardown, the
    report wrapper. The verdicts' teardown wrapper (the router's log put back) is gone:
    the teardown report puts it back; so is the report logging hook (four takers looked
    at each logged report): they look at each report as it is made."""
    llm_project.makeconftest(HOOKS_CONFTEST)
    llm_project.makepyfile(test_app=TESTS)
    result = llm_project.runpytest("-p", "no:cacheprovider", "-s", "--llm-record=once")
    result.assert_outcomes(passed=3)
    lines = result.outlines
    at = lines.index("pytest_runtest_setup ['llm-verdicts']")
    assert lines[at + 1 : at + 4] == [
        "pytest_runtest_teardown ['llm-cassette-hooks']",
        "pytest_runtest_makereport ['llm-outcomes']",
        "pytest_runtest_logreport []",
    ]
    # what the cassettes wrote is still taken, once per test
    assert "recorded 3 interactions into 3 cassettes:" in result.outlines


def test_the_xdist_controller_takes_the_logged_reports(llm_project: pytest.Pytester) -> None:
    """The controller makes no report: its takers look at the workers' logged reports,
    each once (three cassettes written, three lines)."""
    pytest.importorskip("xdist")
    llm_project.makeconftest(HOOKS_CONFTEST)
    llm_project.makepyfile(test_app=TESTS)
    result = llm_project.runpytest_subprocess(
        "-p", "no:cacheprovider", "-s", "-n", "2", "--llm-record=once"
    )
    result.assert_outcomes(passed=3)
    lines = result.outlines
    logged = lines[lines.index("controller:") + 4]
    assert logged.startswith("pytest_runtest_logreport [")
    assert "'llm-logged-reports'" in logged
    assert "'llm-outcomes'" not in logged
    assert "recorded 3 interactions into 3 cassettes:" in result.outlines
    assert sum(line.startswith("  cassettes/") for line in result.outlines) == 3


ROUTER_CONFTEST = """
import pytest

from pytest_llm._flow import router

seen = []


@pytest.fixture
def during_teardown():
    yield
    seen.append(("teardown", router.log is not None))


def pytest_runtest_logfinish(nodeid):
    seen.append(("after", router.log is not None))


def pytest_sessionfinish(session):
    seen.append(("end", router.log is not None))


def pytest_unconfigure(config):
    print(f"router log: {seen}")
"""


def test_the_routers_log_is_put_back_after_each_watched_test(pytester: pytest.Pytester) -> None:
    """The watch holds the router's log through every fixture's teardown and lets go of
    it with the teardown report; an Exit in a teardown (no teardown report) still puts
    it back at the session's end."""
    pytester.makeconftest(ROUTER_CONFTEST)
    pytester.makepyfile(
        """
        import pytest

        def test_watched(llm_fake, during_teardown):
            pass

        def test_plain(during_teardown):
            pass

        @pytest.fixture
        def leave():
            yield
            pytest.exit("stop here")

        def test_left(llm_fake, leave):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-s")
    assert (
        "router log: [('teardown', True), ('after', False), ('teardown', False), "
        "('after', False), ('end', False)]" in result.outlines
    )


def test_the_markers_read_at_collection_are_every_parents(pytester: pytest.Pytester) -> None:
    """Each parent's markers are read once for all its tests: a marker on the module,
    on a class or on the test itself makes it one that uses the plugin, and the
    names are those pytest's ``iter_markers`` gives."""
    pytester.makeconftest(
        """
        import pytest
        from pytest_llm import plugin

        @pytest.hookimpl(trylast=True)
        def pytest_collection_modifyitems(items):
            for item in items:
                names = plugin._mark_names(item.parent).union(
                    m.name for m in item.own_markers
                )
                assert names == {m.name for m in item.iter_markers()}, item.nodeid
                print(item.name, "llm_cassette" in item.fixturenames)
        """
    )
    pytester.makepyfile(
        test_marks="""
        import pytest

        pytestmark = pytest.mark.filterwarnings("ignore")

        class TestMarked:
            pytestmark = pytest.mark.llm_cassette

            def test_in_class(self):
                pass

        class TestPlain:
            def test_plain(self):
                pass

        @pytest.mark.llm_cassette
        @pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.slow)])
        def test_own(n):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-s", "--co", "-q")
    lines = result.outlines
    at = lines.index("test_in_class True")
    assert lines[at : at + 4] == [
        "test_in_class True",
        "test_plain False",
        "test_own[1] True",
        "test_own[2] True",
    ]
