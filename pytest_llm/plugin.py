"""The pytest plugin (entry point ``llm``): thin hooks over the parts that do the work.

Every pytest run of a project with pytest-llm installed imports this module, whether
or not a test uses it, so it and what it imports stay small: the options table
(:mod:`pytest_llm._settings`), the guard (:mod:`pytest_llm._guard`) and nothing else.
The fixtures below are declarations whose bodies live beside what they serve and load
with the first test that asks for one; the per-test hooks (outcomes, reports, samples)
are registered only once a test uses the plugin (:mod:`pytest_llm._hooks`);
``--llm-conformance`` loads the conformance suite's side only when given.
``tests/test_startup.py`` holds the list of what may load.

No ``pytest_plugins`` here: pytest looks each entry of it up among the entry points of
every installed distribution, a scan of all their metadata files at every start-up.
The pytest-recording switch is installed from ``pytest_load_initial_conftests``.

PYTEST_DONT_REWRITE: pytest rewrites the asserts of every module of a plugin's package
it imports, reading, parsing and compiling each anew when bytecode is not written; the
modules loaded at start-up say so, as they have no asserts worth rewriting.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest

from . import _settings

if TYPE_CHECKING:
    from pathlib import Path

    from ._clock import VirtualClock
    from .cassette import Cassette
    from .fake import FakeProvider
    from .faults import FaultPlan
    from .transport import LLMServer

_stack_key = pytest.StashKey[contextlib.ExitStack]()
_sessions: list[pytest.Config] = []
"""Configured sessions in this process (pytester runs one inside another)."""

USES_PLUGIN = frozenset(
    {"llm_cassette", "llm_cassette_config", "llm_faults", "llm_clock", "llm_fake", "llm_server"}
)
"""Fixtures that make a test one "that uses the plugin" (so do its markers)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    _settings.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    _settings.validate(config)
    for line in _settings.MARKERS:
        config.addinivalue_line("markers", line)
    from ._guard import guard_session
    from .transport._common import on_first_use

    _sessions.append(config)
    on_block = lambda: _arm(config)  # noqa: E731 - the guard blocked, or a handler became active

    def first_use() -> None:  # each test's first handler: arm once, then stop listening
        _arm(config)
        _forget(first_use)

    stack = guard_session(config, allow_network=_settings.allow_network(config), on_block=on_block)
    on_first_use.append(first_use)
    stack.callback(_forget, first_use)
    config.stash[_stack_key] = stack
    if config.getoption("llm_report") or _settings.xdist_controller(config):
        _arm(config)  # asked for a report, or the reports come from workers
    spec = config.getoption("llm_conformance")
    if spec:
        from .conformance._plugin import configure

        configure(config, spec)


def _forget(listener: Callable[[], None]) -> None:
    from .transport._common import on_first_use

    if listener in on_first_use:
        on_first_use.remove(listener)


def pytest_unconfigure(config: pytest.Config) -> None:
    stack = config.stash.get(_stack_key, None)
    if stack is not None:
        stack.close()
    if config in _sessions:
        _sessions.remove(config)
    if not _sessions:
        from .transport._socket import restore_all

        restore_all()


@pytest.hookimpl(trylast=True)
def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """pytest does not walk the session's cassette folder where it would collect nothing
    in it (:mod:`pytest_llm._collect`). Asked about every entry of the tree, so only a
    path of that folder's name loads the module; trylast: pytest's own rules first."""
    name = config.stash.get(_cassettes_name, None)
    if name is None:
        value = str(_settings.session_value(config, "cassette_dir")[0])
        name = config.stash[_cassettes_name] = os.path.basename(os.path.normpath(value))
    if collection_path.name != name:
        return None
    from ._collect import prune

    return prune(collection_path, config)


_cassettes_name = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser) -> None:
    # Runs before conftests are imported: they may use pytest-recording's surface, and
    # clients built at import time need a key to construct (replay never sends it).
    from ._vcr_shim import install

    install(early_config, parser)
    if os.environ.get("OPENAI_API_KEY") or _settings.session_mode(early_config) != "none":
        return
    os.environ["OPENAI_API_KEY"] = _settings.DUMMY_KEY

    def restore() -> None:
        if os.environ.get("OPENAI_API_KEY") == _settings.DUMMY_KEY:
            del os.environ["OPENAI_API_KEY"]

    early_config.add_cleanup(restore)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Attach per-test work to the tests that use the plugin, and to no other."""
    from ._guard import guard_error_key

    guard_error = config.stash.get(guard_error_key, None)
    armed = False
    fast: bool | None = None  # whether the cassette's fast path may be used at all
    parents: dict[object, bool] = {}
    chain: dict[object, frozenset[str]] = {}
    inserted: set[int] = set()
    requests = False  # whether a cassette takes pytest's fixture path (its request hook)
    for item in items:
        names = getattr(item, "fixturenames", None)
        if guard_error is not None and names is not None:
            names.insert(0, "_llm_config_error")
        # the names of its markers and its parents': each parent's walked once
        parent = item.parent
        marks = chain.get(parent)
        if marks is None:
            marks = chain[parent] = _mark_names(parent)
        mine = item.own_markers
        if mine:
            marks = marks.union([mark.name for mark in mine])
        cassette = "llm_cassette" in marks
        samples = "llm_samples" in marks
        if not (cassette or samples or (names and USES_PLUGIN.intersection(names))):
            continue
        if samples or not armed:
            _arm(config, samples=samples)
            armed = True
        if cassette and names is not None:
            if "llm_cassette" not in names:
                names.insert(0, "llm_cassette")  # first: before the test's own fixtures
                inserted.add(id(names))  # the parametrized tests of a function share it
            if id(names) in inserted:  # not named by the test or one of its fixtures
                if fast is None:
                    fast = guard_error is None and _fast_path_allowed(config)
                if fast and type(item).setup is _function_setup:
                    own = parents.get(parent)
                    if own is None:
                        from ._pytest_facts import plugins_fixture

                        own = parents[parent] = plugins_fixture(item, "llm_cassette")
                    if own:
                        item.setup = partial(_setup_first, item)  # type: ignore[method-assign,arg-type]
                        continue
        if not requests and names and "llm_cassette" in names:
            requests = True  # this test's cassette takes pytest's fixture path
    if requests:
        _arm_requests(config)


def _mark_names(node: Any) -> frozenset[str]:
    """The names of the markers of ``node`` and of its parents (what
    ``Node.iter_markers`` yields for a test, less the test's own markers)."""
    names: set[str] = set()
    while node is not None:
        for mark in node.own_markers:
            names.add(mark.name)
        node = node.parent
    return frozenset(names)


def _arm_requests(config: pytest.Config) -> None:
    from ._hooks import arm_requests

    arm_requests(config)


def _fast_path_allowed(config: pytest.Config) -> bool:
    """Whether a marked test's cassette may be activated without pytest's fixture
    machinery (``cassette._fixtures.setup_first``): only where nothing can tell. Not
    under ``--setup-show``, ``--setup-only`` or ``--setup-plan`` (their ``SETUP F
    llm_cassette`` lines), nor when a plugin or conftest other than pytest's own,
    anyio's (which wraps async fixtures only) and ours implements
    ``pytest_fixture_setup`` or ``pytest_fixture_post_finalizer``: it would see the
    fixture set up, or not."""
    option = config.option
    if (
        getattr(option, "setupshow", False)
        or getattr(option, "setuponly", False)
        or getattr(option, "setupplan", False)
    ):
        return False
    from ._pytest_facts import hook_origin

    hook = config.pluginmanager.hook
    for impl in (
        *hook.pytest_fixture_setup.get_hookimpls(),
        *hook.pytest_fixture_post_finalizer.get_hookimpls(),
    ):
        if hook_origin(impl) not in _FIXTURE_HOOKS_KNOWN:
            return False
    return True


_FIXTURE_HOOKS_KNOWN = frozenset(
    {
        "_pytest.fixtures",
        "_pytest.setuponly",  # only under --setup-show / --setup-only
        "_pytest.setupplan",  # only under --setup-plan
        "anyio.pytest_plugin",  # async fixtures only (the cassette's is not)
        "pytest_llm._hooks.FixtureRequests",  # the cassette fixture's request
    }
)


_function_setup = pytest.Function.setup


def _setup_first(item: pytest.Function) -> None:
    """A marked test's ``setup``: its cassette activated in the fixture's place, then
    pytest's (``cassette._fixtures.setup_first``, loaded by the first test)."""
    __tracebackhide__ = True
    global _fast_body
    body = _fast_body
    if body is None:
        from .cassette._fixtures import setup_first

        body = _fast_body = setup_first
    body(item)


_fast_body: Callable[[pytest.Function], None] | None = None


def _arm(config: pytest.Config, *, samples: bool = False) -> None:
    if not samples and config.stash.get(_armed_key, False):
        return  # each test's first handler asks again (the transports' first use)
    from ._hooks import arm

    arm(config, samples=samples)
    config.stash[_armed_key] = True


_armed_key = pytest.StashKey[bool]()


def pytest_assertrepr_compare(op: str, left: object, right: object) -> list[str] | None:
    """Explain ``text == IContains("paris") & NotContains("berlin")`` when it fails."""
    import sys

    if "pytest_llm.assertions._matchers" not in sys.modules:
        return None  # no matcher exists unless that module was imported
    from .assertions._matchers import matcher_repr_compare

    return matcher_repr_compare(op, left, right)


# -- fixtures: declared here, each body beside what it serves (loaded on first use) -----


@pytest.fixture
def _llm_config_error(request: pytest.FixtureRequest) -> None:
    from ._guard import guard_error_key

    raise request.config.stash[guard_error_key]


@pytest.fixture
def llm_clock() -> Iterator[VirtualClock]:
    """Virtual time for the test: every wait of pytest-llm and the openai SDK returns at
    once and is recorded in ``llm_clock.sleeps`` (see docs/clock.md)."""
    from ._clock_fixture import llm_clock

    yield from llm_clock()


@pytest.fixture
def llm_cassette_config() -> dict[str, Any]:
    """Override in a conftest to set cassette options for a directory of tests."""
    return {}


@pytest.fixture
def llm_cassette() -> Iterator[Cassette]:
    """The test's cassette, active for the whole test: replays, or records when asked.

    A test marked ``llm_cassette`` gets it without asking. The cassette governs the
    test instead of the guard (``llm_guard``). Its options from ``llm_cassette_config``
    are asked of pytest where that fixture is overridden or named by the test; elsewhere
    they are the default's (none), without a fixture set up per test for them.
    """
    # No ``request`` argument: for it pytest makes a ``RequestFixtureDef`` twice per
    # test, each with an ``inspect.signature``. The fixture's own request is handed
    # over by the armed ``pytest_fixture_setup`` hook (:mod:`pytest_llm._hooks`); the
    # same object pytest passed as ``request``.
    global _cassette_body, _setup_request
    request = _setup_request
    _setup_request = None
    if request is None:  # the hook is not armed yet (only a dynamic getfixturevalue)
        request = _request_of_setup()
    body = _cassette_body
    if body is None:  # loaded by the first test that asks (kept: a relative import in
        # a function asks the module's spec for its parent package each time)
        from .cassette._fixtures import llm_cassette

        body = _cassette_body = llm_cassette
    yield from body(request)


_setup_request: pytest.FixtureRequest | None = None
"""The request of the ``llm_cassette`` being set up (set by ``_hooks.FixtureRequests``
right before its body runs, taken at once)."""


def _request_of_setup() -> pytest.FixtureRequest:
    """The fixture's request where the hook is not armed: a session whose first use of
    the fixture is a ``request.getfixturevalue("llm_cassette")`` no collected test
    announced. Found among the callers' locals (pytest's ``pytest_fixture_setup``
    holds it), then the hooks are armed, so the session's later tests take the hook."""
    import sys

    frame = sys._getframe(1)
    while frame is not None:
        found = frame.f_locals.get("request")
        if isinstance(found, pytest.FixtureRequest) and found.fixturename == "llm_cassette":
            _arm(found.config)
            _arm_requests(found.config)
            return found
        frame = frame.f_back  # type: ignore[assignment]
    from ._errors import ConfigError

    raise ConfigError(
        "pytest-llm could not find the test the llm_cassette fixture is set up for.\n"
        "Fix: mark the test with @pytest.mark.llm_cassette or name llm_cassette among "
        "its arguments."
    )


_cassette_body: Callable[[pytest.FixtureRequest], Iterator[Cassette]] | None = None


@pytest.fixture
def llm_fake_config() -> dict[str, Any]:
    """Override in a conftest to set ``llm_fake`` options for a directory of tests.

    The keys are :class:`~pytest_llm.FakeProvider`'s keywords, e.g.
    ``{"strict": True, "dimensions": 8}``.
    """
    return {}


@pytest.fixture
def llm_fake(
    request: pytest.FixtureRequest, llm_fake_config: dict[str, Any]
) -> Iterator[FakeProvider]:
    """An OpenAI-compatible fake provider, active for the whole test.

    Script replies with ``llm_fake.add(...)``; read what was asked in
    ``llm_fake.requests``. At teardown the test fails if a strict-mode miss was
    swallowed by the code under test, or if scripted replies were never used.
    """
    from .fake._fixtures import llm_fake

    yield from llm_fake(request, llm_fake_config)


@pytest.fixture
def llm_faults(request: pytest.FixtureRequest, llm_clock: VirtualClock) -> Iterator[FaultPlan]:
    """The test's fault plan, on the virtual clock; at the end every scripted fault must
    have been used (see docs/faults.md)."""
    from .faults._fixtures import llm_faults

    yield from llm_faults(request, llm_clock)


@pytest.fixture
def llm_server(request: pytest.FixtureRequest) -> Iterator[LLMServer]:
    """A real HTTP server on 127.0.0.1 serving the request chain (faults, cassettes, fake).

    Sets each SDK's base URL variable to it (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``,
    ``GOOGLE_GEMINI_BASE_URL``; and each ``*_API_KEY`` to a dummy if unset) for the
    test, so subprocesses and clients built in the test use it.
    """
    from .transport._fixtures import llm_server

    yield from llm_server(request)
