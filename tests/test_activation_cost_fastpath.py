"""A marked test's cassette activated in its fixture's place, without pytest's fixture
machinery (issue 14): for a test the ``llm_cassette`` marker gives its cassette, pytest
looked the inserted fixture up, made a ``SubRequest``, ran the ``pytest_fixture_setup``
hooks and the finalizers, per test. Where nothing can tell, the test's ``setup`` now
activates it first and ends it as the fixture would; everywhere else, the fixture path
as before. The same order, values, errors and lines either way."""

from __future__ import annotations

import re
import textwrap

import pytest

PROBE = """
import os

import pytest
from _pytest import fixtures

from pytest_llm._clock import VirtualClock, current_clock

executed = []
_execute = fixtures.FixtureDef.execute


def _counting(self, request):
    # set up by pytest's machinery (a later getfixturevalue finds it in funcargs)
    if self.argname == "llm_cassette" and "llm_cassette" not in request.node.funcargs:
        executed.append(request.node.name)
    return _execute(self, request)


fixtures.FixtureDef.execute = _counting
events = []


def virtual():
    return "virtual" if isinstance(current_clock(), VirtualClock) else "real"


@pytest.fixture(scope="module")
def module_fixture():
    events.append(f"module setup: {virtual()}")
    yield
    events.append(f"module teardown: {virtual()}")


@pytest.fixture
def function_fixture(request):
    events.append(f"{request.node.name} function setup: {virtual()}")
    cassette = request.getfixturevalue("llm_cassette")
    yield cassette
    events.append(f"{request.node.name} function teardown: {virtual()}")


if os.environ.get("FIXTURE_PATH"):
    # a plugin that watches fixtures: the cassette must go through them
    def pytest_fixture_post_finalizer(fixturedef, request):
        pass


def pytest_unconfigure(config):
    print(f"cassette fixture executed for: {executed}")
    for line in events:
        print(f"event: {line}")
"""

MODULE_HEAD = """
import os

import openai
import pytest

pytestmark = pytest.mark.llm_cassette

client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], max_retries=0)


def ask(text):
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
    ).choices[0].message.content
"""
"""A marked test module's head: its client, on the loopback server."""

TESTS = (
    MODULE_HEAD
    + """

def test_plain():
    assert ask("one")


def test_fixtures(module_fixture, function_fixture, request):
    assert ask("two")
    cassette = request.getfixturevalue("llm_cassette")
    assert cassette is function_fixture  # the same, activated once
    assert cassette.test == request.node.nodeid


@pytest.mark.parametrize("n", range(2))
def test_param(n, function_fixture):
    assert ask(f"param {n}")
    assert function_fixture.path.name == f"test_param[{n}].yaml"
"""
)


def _run(project: pytest.Pytester, *args: str, fixture_path: bool = False) -> pytest.RunResult:
    if fixture_path:
        project._monkeypatch.setenv("FIXTURE_PATH", "1")  # type: ignore[attr-defined]
    else:
        project._monkeypatch.delenv("FIXTURE_PATH", raising=False)  # type: ignore[attr-defined]
    return project.runpytest_subprocess("-p", "no:cacheprovider", "-s", *args)


def _lines(result: pytest.RunResult, prefix: str) -> list[str]:
    return [line for line in result.outlines if line.startswith(prefix)]


def test_a_marked_test_gets_its_cassette_without_the_fixture_machinery(
    llm_project: pytest.Pytester,
) -> None:
    """Before: pytest executed the ``llm_cassette`` fixture for every marked test. After:
    for none (nor for the one that asks for it with ``getfixturevalue``, which gets the
    same active cassette), and the order of the cassette, a function fixture and a module
    fixture is the fixture path's: the cassette active in both of the function fixture's
    ends and neither of the module fixture's."""
    llm_project.makeconftest(PROBE)
    llm_project.makepyfile(test_app=TESTS)
    _run(llm_project, "--llm-record=once").assert_outcomes(passed=4)

    fast = _run(llm_project)
    fast.assert_outcomes(passed=4)
    assert _lines(fast, "cassette fixture executed for:") == ["cassette fixture executed for: []"]

    slow = _run(llm_project, fixture_path=True)
    slow.assert_outcomes(passed=4)
    assert _lines(slow, "cassette fixture executed for:") == [
        "cassette fixture executed for: "
        "['test_plain', 'test_fixtures', 'test_param[0]', 'test_param[1]']"
    ]
    assert (
        _lines(fast, "event:")
        == _lines(slow, "event:")
        == [
            "event: module setup: virtual",
            "event: test_fixtures function setup: virtual",
            "event: test_fixtures function teardown: virtual",
            "event: test_param[0] function setup: virtual",
            "event: test_param[0] function teardown: virtual",
            "event: test_param[1] function setup: virtual",
            "event: test_param[1] function teardown: virtual",
            "event: module teardown: real",
        ]
    )


ERRORS = (
    MODULE_HEAD
    + """

def test_never_recorded():
    assert ask("new")


def test_unused():
    if os.environ.get("RECORDING"):
        ask("first")
    assert ask("second")


def test_swallowed():
    try:
        ask("not recorded" if not os.environ.get("RECORDING") else "recorded")
    except Exception:
        pass


@pytest.mark.llm_cassette(recrod="once")
def test_bad_keyword():
    pass


def test_fails():
    assert ask("fine") == "nope"
"""
)


def _normal(result: pytest.RunResult) -> list[str]:
    """The lines a user sees, without the run's duration (nor the width it takes)."""
    return [
        re.sub(r" in [0-9.]+s( \([0-9:]+\))?", " in Ns", line).strip("= ")
        for line in result.outlines
    ]


def test_errors_show_as_the_fixture_path_shows_them(llm_project: pytest.Pytester) -> None:
    """A cassette missing in replay, a recording left unused, a miss the test swallowed, a
    marker keyword the cassette does not know, a failed test: every line the same with
    the fast path as with the fixture path (and the fast path taken)."""
    llm_project.makeconftest(PROBE)
    llm_project.makepyfile(test_errors=ERRORS)
    llm_project._monkeypatch.setenv("RECORDING", "1")  # type: ignore[attr-defined]
    _run(llm_project, "--llm-record=once", "-k", "unused or swallowed or fails")
    llm_project._monkeypatch.delenv("RECORDING")  # type: ignore[attr-defined]
    llm_project.path.joinpath("cassettes", "test_errors", "test_never_recorded.yaml").unlink(
        missing_ok=True
    )

    fast = _run(llm_project, "-rA")
    slow = _run(llm_project, "-rA", fixture_path=True)
    assert _lines(fast, "cassette fixture executed for:") == ["cassette fixture executed for: []"]
    assert len(_lines(slow, "cassette fixture executed for:")[0]) > 40
    drop = ("cassette fixture executed for:",)
    assert [line for line in _normal(fast) if not line.startswith(drop)] == [
        line for line in _normal(slow) if not line.startswith(drop)
    ]
    fast.assert_outcomes(passed=2, failed=2, errors=3)  # two pass, then fail their teardown
    fast.stdout.fnmatch_lines(
        [
            "ERROR test_errors.py::test_unused - Failed: pytest-llm: 1 recorded interactio*",
            "ERROR test_errors.py::test_swallowed - Failed: pytest-llm: no recorded respon*",
            "ERROR test_errors.py::test_bad_keyword - llm_cassette marker got an unknown k*",
            "FAILED test_errors.py::test_never_recorded - pytest-llm: cassette not found: *",
        ],
        consecutive=False,
    )


def test_a_test_that_others_set_up_first_takes_the_fixture_path(
    llm_project: pytest.Pytester,
) -> None:
    """Each place the fast path steps aside: ``--setup-show`` (its lines), a conftest's own
    ``llm_cassette`` (it runs), an overridden ``llm_cassette_config`` (it reaches the
    cassette), a plugin that puts a fixture before the cassette after collection (that
    fixture first, as before)."""
    llm_project.makeconftest(
        PROBE
        + """

@pytest.fixture
def first(request):
    events.append(f"{request.node.name} first: {virtual()}")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    for item in items:
        if "before" in item.name:
            item.fixturenames.insert(0, "first")
"""
    )
    llm_project.makepyfile(
        test_app=TESTS.replace("def test_plain():", "def test_plain_before():"),
        test_config="""
        import pytest

        pytestmark = pytest.mark.llm_cassette


        @pytest.fixture
        def llm_cassette_config():
            return {"allow_playback_repeats": True}


        def test_config(request):
            assert request.getfixturevalue("llm_cassette").allow_playback_repeats
        """,
    )
    llm_project.mkdir("own").joinpath("conftest.py").write_text(
        "import pytest\n\n\n@pytest.fixture\ndef llm_cassette(llm_cassette):\n"
        "    llm_cassette.mine = True\n    yield llm_cassette\n"
    )
    llm_project.path.joinpath("own", "test_own.py").write_text(
        "import pytest\n\npytestmark = pytest.mark.llm_cassette\n\n\n"
        "def test_own(request):\n    assert request.getfixturevalue('llm_cassette').mine\n"
    )
    _run(llm_project, "--llm-record=once").assert_outcomes(passed=6)
    result = _run(llm_project)
    result.assert_outcomes(passed=6)
    executed = _lines(result, "cassette fixture executed for:")[0]
    for name in ("test_plain_before", "test_config", "test_own"):
        assert f"'{name}'" in executed, executed
    assert "'test_fixtures'" not in executed, executed
    assert "event: test_plain_before first: real" in result.outlines

    shown = _run(llm_project, "--setup-show", "-k", "test_fixtures")
    shown.assert_outcomes(passed=1)
    assert "        SETUP    F llm_cassette" in shown.outlines
    assert "        TEARDOWN F llm_cassette" in shown.outlines
    assert _lines(shown, "cassette fixture executed for:") == [
        "cassette fixture executed for: ['test_fixtures']"
    ]


def test_the_override_check_without_pytests_fixture_manager() -> None:
    """Where pytest's fixture manager cannot say whose fixture a test sees: the fixture
    path (``False``), not the fast one."""
    from pytest_llm import _pytest_facts

    class Manager:
        def get_plugin(self, name: str) -> None:
            return None

    class Config:
        pluginmanager = Manager()

    class Item:
        config = Config()

    assert _pytest_facts.plugins_fixture(Item(), "llm_cassette") is False  # type: ignore[arg-type]


HOOK_PROBE = """
def _ours(config):
    impls = config.pluginmanager.hook.pytest_fixture_setup.get_hookimpls()
    return any(type(i.plugin).__module__.startswith("pytest_llm") for i in impls)


def pytest_collection_finish(session):
    print(f"request hook after collection: {_ours(session.config)}")


def pytest_unconfigure(config):
    print(f"request hook at the end: {_ours(config)}")
"""


CASES = {
    "marked": """
        @pytest.mark.llm_cassette
        def test_marked():
            assert ask("one")
    """,
    "named": """
        def test_named(llm_cassette):
            assert ask("two")
    """,
    "dynamic": """
        @pytest.mark.llm_cassette
        def test_dynamic(request):
            assert ask("three")
            assert request.getfixturevalue("llm_cassette").test == request.node.nodeid
    """,
}
ASK = """
import os

import openai
import pytest

client = openai.OpenAI(base_url=os.environ["LOOPBACK_URL"], max_retries=0)


def ask(text):
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
    ).choices[0].message.content
"""


@pytest.mark.parametrize(
    ("files", "after_collection", "at_the_end"),
    [
        (["marked"], "False", "False"),
        (["marked", "named"], "True", "True"),
        (["marked", "dynamic"], "False", "True"),
    ],
)
def test_the_fixtures_request_hook_only_once_a_cassette_takes_the_fixture_path(
    llm_project: pytest.Pytester, files: list[str], after_collection: str, at_the_end: str
) -> None:
    """A session whose cassettes all come by the fast path runs no ``pytest_fixture_setup``
    hook of pytest-llm's for each fixture (before: registered with the other per-test
    hooks); a test that names the fixture registers it at collection, a marked test
    that asks for it with ``getfixturevalue`` (its fixture's request found once among
    the callers) as it does."""
    llm_project.makeconftest(HOOK_PROBE)
    for name in files:
        llm_project.makepyfile(**{f"test_{name}": ASK + textwrap.dedent(CASES[name])})
    _run(llm_project, "--llm-record=once").assert_outcomes(passed=len(files))
    result = _run(llm_project)
    result.assert_outcomes(passed=len(files))
    assert _lines(result, "request hook") == [
        f"request hook after collection: {after_collection}",
        f"request hook at the end: {at_the_end}",
    ]
