"""Per-session work done once (issue 14): what every cassette of a session shares is
worked out by the first, and what a test can still change is still read per test."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from loopback import LoopbackServer


def test_cassettes_share_the_sessions_redactor_and_options_yet_see_a_tests_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)  # with CI set, an env record mode is ignored
    pytester.makeini("[pytest]\nllm_redact_headers = x-team-token\n")
    pytester.makepyfile(
        """
        import pytest

        seen = []

        @pytest.fixture
        def record_all(monkeypatch):
            monkeypatch.setenv("PYTEST_LLM_RECORD", "all")

        @pytest.mark.parametrize("n", [1, 2])
        def test_plain(llm_cassette, n):
            seen.append(llm_cassette)
            assert llm_cassette.record == "none"
            assert "x-team-token" in llm_cassette.redactor.headers

        def test_env_set_by_the_test(record_all, llm_cassette):
            assert llm_cassette.record == "all"

        @pytest.mark.llm_cassette(allow_playback_repeats=True)
        def test_marker_keywords(llm_cassette):
            assert llm_cassette.allow_playback_repeats
            assert llm_cassette.record == "none"

        def test_after(llm_cassette):
            assert llm_cassette.record == "none"
            first, second = seen
            assert first.redactor is second.redactor is llm_cassette.redactor
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


# -- per-test work made cheap, not dropped ------------------------------------------------


def test_per_test_patching_makes_its_wrappers_once_and_leaves_nothing_patched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every test's handler patches the transports and its end restores them (issue 8);
    the wrappers it sets are made by the first test of the process, later ones only set
    them: the same objects each time, and all originals back after each."""
    import sys

    import httpx

    from pytest_llm import FakeProvider
    from pytest_llm.transport import _http, _patch

    made: list[str] = []
    real_wrap = _http._wrap

    def counting(attr: str, *args: object) -> object:
        made.append(attr)
        return real_wrap(attr, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(_http, "_wrap", counting)
    monkeypatch.setattr(_http, "_wrappers", {})
    original = httpx.HTTPTransport.handle_request
    seen = []
    for _ in range(4):
        with FakeProvider(check_unused=False):
            assert "httpx" in _patch.patched()
            seen.append(httpx.HTTPTransport.handle_request)
        assert not set(_patch.HTTP_TARGETS) & set(_patch.patched())
        assert httpx.HTTPTransport.handle_request is original
        assert not any(type(f).__name__ == "_WhenImported" for f in sys.meta_path)
    assert seen[0] is not original
    assert all(wrapper is seen[0] for wrapper in seen)
    assert made.count("handle_request") == sum(m in sys.modules for m in _patch.LIBRARIES)
    assert len(made) == len(_http._wrappers)  # none after the first test


def test_a_library_imported_between_tests_is_wrapped_for_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The wrappers are kept per class and original: one that changed (another tool put
    its own in, a library imported afresh) gets a wrapper of its own."""
    import httpx

    from pytest_llm import FakeProvider
    from pytest_llm.transport import _http

    monkeypatch.setattr(_http, "_wrappers", {})

    def replaced(self: object, request: object) -> object:
        raise AssertionError("not called")

    with FakeProvider(check_unused=False):
        first = httpx.HTTPTransport.handle_request
    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", replaced)
    with FakeProvider(check_unused=False):
        second = httpx.HTTPTransport.handle_request
        assert second is not first
        assert second.__pytest_llm_original__ is replaced  # type: ignore[attr-defined]
    assert httpx.HTTPTransport.handle_request is replaced


def test_a_clock_makes_its_jitter_generator_at_the_first_draw(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each replayed test installs a virtual clock for the SDK's sleeps; seeding its
    jitter generator cost more than the rest of the clock, and most tests never retry.
    The draws are those of ``random.Random(seed)`` all the same."""
    import random

    import openai

    from pytest_llm import _clock
    from pytest_llm._clock import VirtualClock

    made: list[int] = []

    class Counting(random.Random):
        def __init__(self, seed: int) -> None:
            made.append(seed)
            super().__init__(seed)

    monkeypatch.setattr(_clock.random, "Random", Counting)
    real = openai._base_client.random
    clock = VirtualClock(seed=7)
    with clock:
        assert openai._base_client.random is not real  # the SDK's jitter is captured
    assert made == []
    with clock:
        first = openai._base_client.random()  # openai: ``from random import random``
        second = clock.jitter.uniform(0, 1)
    assert made == [7]
    expected = random.Random(7)
    assert (first, second) == (expected.random(), expected.uniform(0, 1))


def test_the_dummy_key_of_a_replayed_test_goes_with_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replayed test without ``OPENAI_API_KEY`` (a fixture took the session's away) gets
    a dummy one for the SDK; at the cassette's end the variable is as it was before,
    whatever the test set meanwhile."""
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(
        """
        import os

        import pytest

        from pytest_llm._settings import DUMMY_KEY

        seen = []

        @pytest.fixture(params=[None, ""])
        def key(request, monkeypatch):
            if request.param is None:
                monkeypatch.delenv("OPENAI_API_KEY", raising=False)
            else:
                monkeypatch.setenv("OPENAI_API_KEY", request.param)
            yield
            seen.append(os.environ.get("OPENAI_API_KEY"))  # after the cassette's end

        def test_replayed(key, llm_cassette):
            assert os.environ["OPENAI_API_KEY"] == DUMMY_KEY
            os.environ["OPENAI_API_KEY"] = "sk-mine"

        def test_after():
            assert seen == [None, ""]
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_each_modules_cassette_folder_is_worked_out_once(pytester: pytest.Pytester) -> None:
    """A cassette's path is ``<dir>/<module path>/<test name>.yaml``; the folder part is
    the same for every test of a module, so it is worked out once per module."""
    replayed = """
        import pytest

        @pytest.mark.parametrize("n", [1, 2])
        def test_replayed(llm_cassette, request, n):
            root = request.config.rootpath
            assert llm_cassette.path == root / "cassettes" / {folder!r} / f"test_replayed[{{n}}].yaml"
        """
    last = """
        from pytest_llm.cassette import _build

        def test_folders(request):
            root = request.config.rootpath
            folders = _build._shared(request.config).folders.values()
            assert sorted(str(f.relative_to(root)) for f in folders) == [
                "cassettes/test_a",
                "cassettes/z_sub/test_b",
            ]
        """
    pytester.makepyfile(test_a=replayed.format(folder="test_a"))
    pytester.mkpydir("z_sub")  # collected after test_a.py
    text = textwrap.dedent(replayed.format(folder="z_sub/test_b")) + textwrap.dedent(last)
    pytester.path.joinpath("z_sub", "test_b.py").write_text(text)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=5)


def test_a_one_recording_cassette_replayed_by_its_own_bytes_works_out_no_match_key(
    tmp_path: Path, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a cassette used to work out every recording's canonical match key (parse
    the body, strip ignored paths, sort, hash). A lookup by the bytes the SDK sent finds
    the recording without it; with one recording it is its own group, so no key is
    needed unless a request's bytes differ, or a second recording may share its key."""
    import httpx
    import openai

    from pytest_llm import use_cassette
    from pytest_llm.cassette._session import Cassette

    path = tmp_path / "one.yaml"
    client = openai.OpenAI(api_key="sk-test", base_url=loopback.base_url, max_retries=0)
    messages = [{"role": "user", "content": "hi"}]
    with use_cassette(path, record="once"):
        live = client.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]

    keys: list[object] = []
    real = Cassette._key_of_recorded

    def counting(self: Cassette, it: Any) -> str:
        keys.append(it)
        return real(self, it)

    monkeypatch.setattr(Cassette, "_key_of_recorded", counting)
    with use_cassette(path) as cassette:
        replayed = client.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
    assert replayed.choices[0].message.content == live.choices[0].message.content
    assert keys == []
    assert cassette._index is None
    # the same request in other bytes (keys in another order, spaces) is matched by its
    # key: the recording's is worked out then, and it replays once, as before
    body = json.dumps({"messages": messages, "model": "m"}, indent=1)
    url = f"{loopback.base_url}/chat/completions"
    with use_cassette(path) as cassette:
        again = httpx.post(url, content=body, headers={"content-type": "application/json"})
        assert again.json()["choices"][0]["message"]["content"] == live.choices[0].message.content
        assert httpx.post(url, content=body).status_code == 418  # used up: a miss
        cassette.misses.clear()
    assert len(keys) == 1


def test_each_report_goes_through_one_hook_of_pytest_llm(pytester: pytest.Pytester) -> None:
    """The summary, the JSON report, drift and the verdicts each looked at every report
    with a hook of their own (four calls per report, three reports per test); one hook
    implementation hands each report to all of them, as it is made (no logreport hook
    in a process that makes its reports: tests/test_report_cost.py)."""
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(trylast=True)
        def pytest_collection_finish(session):
            hook = session.config.hook
            for name in ("pytest_runtest_logreport", "pytest_runtest_makereport"):
                ours = [
                    impl.plugin_name
                    for impl in getattr(hook, name).get_hookimpls()
                    if impl.plugin_name.startswith("llm-")
                ]
                print(name, ours)
        """
    )
    pytester.makepyfile(
        """
        def test_fake(llm_fake):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "pytest_runtest_logreport []",
            "pytest_runtest_makereport ['llm-outcomes']",
        ]
    )


def test_the_per_test_hooks_are_armed_once_per_session(pytester: pytest.Pytester) -> None:
    """Each test that uses the plugin, and each test's first handler (the transports'
    first use), asked to register the per-test hooks again; after the first, they are
    there and the ask costs nothing."""
    pytester.makeconftest(
        """
        from pytest_llm import _hooks

        calls = []
        real = _hooks.arm

        def counting(config, *, samples=False):
            calls.append(config)  # this run's (the outer session's handler may ask too)
            real(config, samples=samples)

        _hooks.arm = counting

        def pytest_unconfigure(config):
            _hooks.arm = real
            print(f"\\narmed {sum(c is config for c in calls)} time(s)")
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(3))
        def test_fake(llm_fake, n):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=3)
    assert "armed 1 time(s)" in result.stdout.lines


def test_a_tests_cassette_file_is_looked_for_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building a test's cassette looks for its file (and, when it is not there, for
    pytest-recording's); opening the cassette takes that answer instead of asking the
    file system again. What a test gets is unchanged: no file, pytest-recording's
    file, its own file."""
    pytester.makeini("[pytest]\nllm_cassette_dir = recorded\n")
    pytester.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.llm_cassette
        def test_new(llm_cassette):
            assert llm_cassette.file is None

        @pytest.mark.llm_cassette
        def test_vcr(llm_cassette, request):
            assert llm_cassette.path == request.path.parent / "cassettes" / "test_a" / "test_vcr.yaml"
            assert llm_cassette.file is not None and llm_cassette.file.interactions == []

        @pytest.mark.llm_cassette
        def test_own(llm_cassette, request):
            assert llm_cassette.path == request.config.rootpath / "recorded" / "test_a" / "test_own.yaml"
            assert llm_cassette.file is not None and llm_cassette.file.interactions == []
        """
    )
    for folder, name in (("recorded", "test_own"), ("cassettes", "test_vcr")):
        (pytester.path / folder / "test_a").mkdir(parents=True)
        (pytester.path / folder / "test_a" / f"{name}.yaml").write_text("interactions: []\n")
    looked: list[str] = []
    real = Path.exists

    def exists(self: Path, *args: Any, **kwargs: Any) -> bool:
        if self.suffix == ".yaml" and pytester.path in self.parents:
            looked.append(str(self.relative_to(pytester.path)))
        return real(self, *args, **kwargs)

    from pytest_llm.cassette import _build

    real_stat = _build._stat

    def stat(path: Path) -> Any:  # the test's own file: its stat, for the load cache too
        looked.append(str(path.relative_to(pytester.path)))
        return real_stat(path)

    monkeypatch.setattr(Path, "exists", exists)
    monkeypatch.setattr(_build, "_stat", stat)
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=3)
    assert looked == [
        "recorded/test_a/test_new.yaml",
        "cassettes/test_a/test_new.yaml",  # pytest-recording's place
        "recorded/test_a/test_vcr.yaml",
        "cassettes/test_a/test_vcr.yaml",
        "recorded/test_a/test_own.yaml",
    ]
