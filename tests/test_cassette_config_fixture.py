"""``llm_cassette_config`` wherever a user sets it (issue 14: the cassette asks pytest for
the fixture only where it is overridden or named; elsewhere its default, ``{}``, with no
fixture set up per test)."""

from __future__ import annotations

import textwrap

import pytest

# each test prints the folder its cassette is looked for in (no request is made)
SHOW = """
import pathlib

def show(cassette):
    print("DIR", cassette.path.parent.relative_to(pathlib.Path.cwd()).as_posix())
"""


def _dirs(result: pytest.RunResult) -> list[str]:
    return [line.split("DIR ", 1)[1] for line in result.outlines if "DIR " in line]


# a plugin that hides pytest's fixture manager from other plugins (another pytest)
BLIND = """
def pytest_configure(config):
    manager = config.pluginmanager
    get_plugin = manager.get_plugin
    manager.get_plugin = lambda name: None if name == "funcmanage" else get_plugin(name)
"""


@pytest.mark.parametrize("manager", ["answers", "cannot answer"])
def test_every_override_reaches_the_cassette(pytester: pytest.Pytester, manager: str) -> None:
    """A conftest's override for its directory only; a module's, a class's (each over
    the one further out, and extending it through its own name); a fixture that changes
    the value it was given; a parametrized value; the marker's and the argument's form.
    The same where pytest's fixture manager cannot say whether a test sees an override
    (the plugin then asks pytest for the fixture, as before)."""
    pytester.makeconftest(SHOW + (BLIND if manager == "cannot answer" else ""))
    pytester.mkpydir("sub")
    pytester.path.joinpath("sub", "conftest.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.fixture
            def llm_cassette_config():
                return {"cassette_dir": "from_conftest"}
            """
        )
    )
    pytester.path.joinpath("sub", "test_sub.py").write_text(
        textwrap.dedent(
            """
            import pytest
            from conftest import show

            @pytest.mark.llm_cassette
            def test_marked(request):
                show(request.getfixturevalue("llm_cassette"))

            def test_argument(llm_cassette):
                show(llm_cassette)

            class TestExtended:
                @pytest.fixture
                def llm_cassette_config(self, llm_cassette_config):
                    return {**llm_cassette_config, "cassette_dir": "from_class"}

                def test_in_class(self, llm_cassette):
                    show(llm_cassette)
            """
        )
    )
    pytester.makepyfile(
        test_top=textwrap.dedent(
            """
            import pytest
            from conftest import show

            pytestmark = pytest.mark.llm_cassette

            def test_default(request):
                show(request.getfixturevalue("llm_cassette"))

            @pytest.mark.parametrize("llm_cassette_config", [{"cassette_dir": "parametrized"}])
            def test_parametrized(llm_cassette_config, request):
                show(request.getfixturevalue("llm_cassette"))
            """
        ),
        test_changed=textwrap.dedent(
            """
            import pytest
            from conftest import show

            @pytest.fixture
            def elsewhere(llm_cassette_config):
                llm_cassette_config["cassette_dir"] = "changed_by_fixture"

            def test_changed(elsewhere, llm_cassette):
                show(llm_cassette)
            """
        ),
        test_module=textwrap.dedent(
            """
            import pytest
            from conftest import show

            @pytest.fixture
            def llm_cassette_config():
                return {"cassette_dir": "from_module"}

            def test_module(llm_cassette):
                show(llm_cassette)
            """
        ),
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=7)
    assert sorted(_dirs(result)) == [
        "cassettes/test_top",  # the plugin's default
        "changed_by_fixture/test_changed",
        "from_class/sub/test_sub",
        "from_conftest/sub/test_sub",  # the marker's form
        "from_conftest/sub/test_sub",  # the argument's form
        "from_module/test_module",
        "parametrized/test_top",
    ]


def test_setup_show_lists_the_config_fixture_where_it_is_set_up(pytester: pytest.Pytester) -> None:
    """The default's ``{}`` is no fixture per test; an override is set up before the
    cassette and torn down after it, as when the cassette named it as an argument."""
    pytester.makepyfile(
        test_a="""
        import pytest

        pytestmark = pytest.mark.llm_cassette

        def test_default():
            pass

        class TestOverridden:
            @pytest.fixture
            def llm_cassette_config(self):
                return {}

            def test_overridden(self):
                pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--setup-show", "-q")
    result.assert_outcomes(passed=2)
    shown = [line.strip() for line in result.outlines if line.startswith("        ")]
    assert shown == [
        "SETUP    F llm_cassette",
        "test_a.py::test_default (fixtures used: llm_cassette) .",
        "TEARDOWN F llm_cassette",
        "SETUP    F llm_cassette_config",
        "SETUP    F llm_cassette",
        "test_a.py::TestOverridden::test_overridden (fixtures used: llm_cassette) .",
        "TEARDOWN F llm_cassette",
        "TEARDOWN F llm_cassette_config",
    ]
