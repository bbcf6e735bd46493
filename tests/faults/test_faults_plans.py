"""Plans: sequences, targeting, seeded chance, faults over recorded replies, the end check."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from faults_support import BASE_URL, HTTP, STREAM_TIMEOUT, Upstream, stream_chunks

from loopback import LoopbackServer
from pytest_llm import VirtualClock, use_cassette
from pytest_llm.faults import (
    FaultNotApplicable,
    FaultPlan,
    MalformedJSON,
    RateLimited,
    ServerError,
    Stall,
    UnusedFaults,
    malform,
)

_client = HTTP.Client()  # one for the module: building a client costs more than a request


def post(path: str = "/chat/completions", model: str = "gpt-4o-mini", **body: Any) -> Any:
    """One request with no retries: the status shows which fault (if any) answered."""
    return _client.post(
        BASE_URL + path,
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], **body},
    )


def statuses(n: int, **kwargs: Any) -> list[int]:
    return [post(**kwargs).status_code for _ in range(n)]


def test_fail_twice_then_pass(llm_faults: FaultPlan, up: Upstream) -> None:
    llm_faults.add(RateLimited(retry_after=7), times=2)
    assert statuses(4) == [429, 429, 200, 200]


def test_rules_added_in_turn_make_a_sequence(llm_faults: FaultPlan, up: Upstream) -> None:
    llm_faults.sequence(RateLimited(), None, "server_error", ServerError(503))
    assert statuses(5) == [429, 200, 500, 503, 200]
    assert [str(a) for a in llm_faults.log] == [
        f"POST {BASE_URL}/chat/completions (model 'gpt-4o-mini'): RateLimited()",
        f"POST {BASE_URL}/chat/completions (model 'gpt-4o-mini'): passed on",
        f"POST {BASE_URL}/chat/completions (model 'gpt-4o-mini'): ServerError()",
        f"POST {BASE_URL}/chat/completions (model 'gpt-4o-mini'): ServerError(status=503)",
        f"POST {BASE_URL}/chat/completions (model 'gpt-4o-mini'): passed on",
    ]


def test_faults_target_by_path_and_model(llm_faults: FaultPlan, up: Upstream) -> None:
    llm_faults.add(ServerError(503), path="/embeddings", times=None, required=False)
    llm_faults.add(RateLimited(), model="gpt-4o", times=None, required=False)
    llm_faults.add(ServerError(502), model=re.compile(r"o\d-.*"), times=None, required=False)
    assert post().status_code == 200  # gpt-4o-mini on chat: no rule targets it
    assert post(model="gpt-4o").status_code == 429
    assert post(model="o3-mini").status_code == 502
    assert post("/embeddings", input="x").status_code == 503
    assert post("/responses", model="gpt-4o").status_code == 429
    llm_faults.add(ServerError(500), path=re.compile(r"^/v1/resp"), required=False)
    assert post("/responses").status_code == 500


def test_same_seed_same_faults_other_seed_other_faults(up: Upstream) -> None:
    def run(seed: int) -> list[int]:
        with VirtualClock(), FaultPlan(seed=seed) as plan:
            plan.add(ServerError(503), probability=0.5)
            return statuses(40)

    first = run(1234)
    assert first == run(1234)
    assert first != run(4321)
    assert set(first) == {200, 503}


def test_random_picks_among_faults_by_the_seed(up: Upstream) -> None:
    def run(seed: int) -> list[int]:
        with VirtualClock(), FaultPlan(seed=seed) as plan:
            plan.random(RateLimited(), ServerError(502), ServerError(503), probability=0.75)
            return statuses(60)

    got = run(7)
    assert got == run(7)
    assert set(got) == {200, 429, 502, 503}


def test_seed_can_be_set_on_the_fixture(llm_faults: FaultPlan, up: Upstream) -> None:
    llm_faults.seed = 99
    llm_faults.add(ServerError(), probability=0.5)
    got = statuses(20)
    llm_faults.seed = 99  # resets the generator
    assert statuses(20) == got


# -- faults over recorded replies ---------------------------------------------------------


@pytest.fixture
def recording(tmp_path: Path, loopback: LoopbackServer) -> tuple[Path, str, list[Any]]:
    """A cassette recorded from a real streamed answer over a loopback socket."""
    path = tmp_path / "stream.yaml"
    with use_cassette(path, record="once"):
        chunks = stream_chunks(False, base_url=loopback.base_url)
    return path, loopback.base_url, chunks


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_stall_after_the_3rd_chunk_of_the_real_recording(
    recording: tuple[Path, str, list[Any]], is_async: bool
) -> None:
    path, base_url, live = recording
    with VirtualClock() as clock, FaultPlan(Stall(after_chunk=3, seconds=45)), use_cassette(path):
        replayed = stream_chunks(is_async, base_url=base_url, timeout=60)
    assert [c.model_dump() for c in replayed] == [c.model_dump() for c in live]
    assert clock.sleeps == [45.0]
    with (
        pytest.raises(STREAM_TIMEOUT) as info,
        VirtualClock() as clock,
        FaultPlan(Stall(after_chunk=3, seconds=45)),
        use_cassette(path),
    ):
        stream_chunks(is_async, base_url=base_url, timeout=20)
    assert len(info.value.chunks) == 3  # type: ignore[attr-defined]
    assert clock.sleeps == [20.0]


def test_malformed_json_over_a_recorded_reply(tmp_path: Path, loopback: LoopbackServer) -> None:
    path = tmp_path / "c.yaml"
    prompt = '{"a": 1, "b": [true, null]}'
    with use_cassette(path, record="once"):
        live = post_to(loopback.base_url, prompt)
    with (
        pytest.raises(FaultNotApplicable) as info,
        FaultPlan(MalformedJSON("single_quotes")),
        use_cassette(path),
    ):
        post_to(loopback.base_url, prompt)
    assert "needs the content to be valid JSON to start from" in str(info.value)
    assert live.startswith("Echo: ")  # the loopback echoes; the content is not JSON
    with (
        FaultPlan(MalformedJSON("truncated", at=0.5)),
        use_cassette(path, allow_playback_repeats=True),
    ):
        assert post_to(loopback.base_url, prompt) == malform(live, "truncated")


def post_to(base_url: str, prompt: str) -> str:
    with HTTP.Client() as client:
        r = client.post(
            base_url + "/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": prompt}]},
        )
    return str(r.json()["choices"][0]["message"]["content"])


def test_a_live_reply_cannot_be_changed_and_says_so(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    with (
        pytest.raises(FaultNotApplicable) as info,
        FaultPlan(Stall(after_chunk=1)),
        use_cassette(tmp_path / "c.yaml", record="once"),
    ):
        post_to(loopback.base_url, "hi")  # answered with a 418 that has no choices
    assert str(info.value).splitlines() == [
        f"Stall(after_chunk=1) needs a recorded or fake reply to change, but POST "
        f"{loopback.base_url}/chat/completions went to the real network (recording or "
        "--llm-allow-network); a live response cannot be changed on its way.",
        "Fix: record the cassette first, then replay it with the fault; or answer with the "
        "fake provider (llm_fake).",
    ]


# -- the end check, outside pytest ----------------------------------------------------------


def test_plan_as_context_manager_checks_that_every_fault_was_used(up: Upstream) -> None:
    with pytest.raises(UnusedFaults) as info, FaultPlan() as plan:
        plan.add(RateLimited(retry_after=7), times=2)
        plan.add(ServerError(503), model="gpt-4o")
        plan.add(ServerError(), probability=0.5)  # chance: never required
        post()
    assert str(info.value).splitlines() == [
        "FaultPlan: 2 scripted faults were not used:",
        "  RateLimited(retry_after=7): used 1 of 2 times",
        "  ServerError(status=503) (model='gpt-4o'): used 0 of 1 time",
        "Requests the plan saw: 1:",
        f"  1. POST {BASE_URL}/chat/completions (model 'gpt-4o-mini'): RateLimited(retry_after=7)",
        "Fix: make the test send the requests the plan expects (check path= and model=), lower "
        "times=, or pass required=False to add() for a fault that may not fire.",
    ]


def test_an_error_inside_the_block_skips_the_end_check(up: Upstream) -> None:
    with pytest.raises(ZeroDivisionError), FaultPlan(RateLimited()):
        1 / 0  # noqa: B018


# -- what users see, through pytest ----------------------------------------------------------


def test_a_failing_randomized_test_prints_its_seed(faults_project: pytest.Pytester) -> None:
    faults_project.makepyfile(
        test_app="""
        from faults_support import BASE_URL, HTTP, upstream
        from pytest_llm.faults import ServerError

        def test_flaky_provider(llm_faults):
            llm_faults.seed = 1234
            llm_faults.add(ServerError(503), probability=0.5)
            with upstream(), HTTP.Client() as client:
                codes = [client.post(BASE_URL + "/embeddings", json={"model": "m"}).status_code
                         for _ in range(3)]
            assert codes == [200, 200, 200]
        """
    )
    result = faults_project.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- pytest-llm faults -*",
            "fault plan seed: 1234 (rerun with PYTEST_LLM_SEED=1234 for the same faults)",
            "  1. POST http://llm.test/v1/embeddings (model 'm'): passed on",
            "  2. POST http://llm.test/v1/embeddings (model 'm'): ServerError(status=503)",
            "  3. POST http://llm.test/v1/embeddings (model 'm'): ServerError(status=503)",
            "*= short test summary info =*",
        ],
        consecutive=True,
    )


def test_the_seed_comes_from_the_environment_and_must_be_an_int(
    faults_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults_project.makepyfile(
        test_app="""
        def test_seed(llm_faults):
            assert llm_faults.seed == 42
        """
    )
    monkeypatch.setenv("PYTEST_LLM_SEED", "42")
    faults_project.runpytest().assert_outcomes(passed=1)
    monkeypatch.setenv("PYTEST_LLM_SEED", "4x2")
    result = faults_project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_seed _*",
            "PYTEST_LLM_SEED='4x2': the seed must be an int.",
            "Fix: set a whole number, e.g. PYTEST_LLM_SEED=1234, or unset it.",
        ],
        consecutive=True,
    )


def test_the_default_seed_is_stable_for_a_test(faults_project: pytest.Pytester) -> None:
    faults_project.makepyfile(
        test_app="""
        import zlib

        def test_one(llm_faults):
            assert llm_faults.seed == zlib.crc32(b"test_app.py::test_one")
        """
    )
    faults_project.runpytest().assert_outcomes(passed=1)


def test_unused_scripted_faults_fail_the_test_at_teardown(faults_project: pytest.Pytester) -> None:
    faults_project.makepyfile(
        test_app="""
        from faults_support import BASE_URL, HTTP, upstream
        from pytest_llm.faults import RateLimited, ServerError

        def test_retries(llm_faults):
            llm_faults.add(RateLimited(retry_after=7), times=2)
            llm_faults.add("server_error", status=503, path="/embeddings")
            with upstream(), HTTP.Client() as client:
                client.post(BASE_URL + "/chat/completions", json={"model": "m"})
        """
    )
    result = faults_project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_retries _*",
            "llm_faults: 2 scripted faults were not used:",
            "  RateLimited(retry_after=7): used 1 of 2 times",
            "  ServerError(status=503) (path='/embeddings'): used 0 of 1 time",
            "Requests the plan saw: 1:",
            "  1. POST http://llm.test/v1/chat/completions (model 'm'): RateLimited(retry_after=7)",
            "Fix: make the test send the requests the plan expects (check path= and model=), lower "
            "times=, or pass required=False to add() for a fault that may not fire.",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(
        ["ERROR test_app.py::test_retries - Failed: llm_faults: 2 scripted faults were ..."]
    )


def test_a_test_that_fails_anyway_is_not_also_blamed_for_unused_faults(
    faults_project: pytest.Pytester,
) -> None:
    faults_project.makepyfile(
        test_app="""
        from pytest_llm.faults import RateLimited

        def test_broken(llm_faults):
            llm_faults.add(RateLimited())
            assert 1 == 2
        """
    )
    result = faults_project.runpytest()
    result.assert_outcomes(failed=1)
    assert "not used" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*- pytest-llm faults -*",
            "fault plan:",
            "  no request reached the plan",
        ]
    )


def test_a_fault_error_the_app_swallowed_still_fails_the_test(
    faults_project: pytest.Pytester,
) -> None:
    faults_project.makepyfile(
        test_app="""
        from faults_support import BASE_URL, HTTP, upstream
        from pytest_llm.faults import Stall

        def test_swallows(llm_faults):
            llm_faults.add(Stall(after_chunk=5))
            with upstream(), HTTP.Client() as client:
                try:
                    client.post(BASE_URL + "/chat/completions", json={"model": "m"})
                except BaseException:
                    pass
        """
    )
    result = faults_project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "Stall(after_chunk=5) cannot apply to POST http://llm.test/v1/chat/completions: "
            "after_chunk=5 is past the end; the reply has 1 chunk (valid: after_chunk=0..0).",
            "Fix: pass after_chunk=0 or less, or target a longer reply.",
        ],
        consecutive=True,
    )


def test_llm_faults_works_under_xdist(faults_project: pytest.Pytester) -> None:
    faults_project.makepyfile(
        test_app="""
        import pytest
        from faults_support import BASE_URL, HTTP, upstream
        from pytest_llm.faults import ServerError

        @pytest.mark.parametrize("n", range(4))
        def test_fails_with_its_seed(llm_faults, n):
            llm_faults.seed = 5
            llm_faults.add(ServerError(), probability=1.0)
            with upstream(), HTTP.Client() as client:
                assert client.post(BASE_URL + "/embeddings", json={"model": "m"}).status_code == 200
        """
    )
    result = faults_project.runpytest("-n", "2")
    result.assert_outcomes(failed=4)
    assert result.stdout.str().count("fault plan seed: 5 (rerun with PYTEST_LLM_SEED=5") == 4
