"""No credential ever reaches a written cassette."""

from __future__ import annotations

import json
import string
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pytest_llm
from loopback import LoopbackServer
from pytest_llm.cassette import REDACTED, Redactor

ALNUM = string.ascii_letters + string.digits

secrets = st.one_of(
    st.text(ALNUM, min_size=24, max_size=48).map(lambda s: "sk-" + s),
    st.text(ALNUM, min_size=24, max_size=48).map(lambda s: "sk-proj-" + s),
    st.text(string.ascii_uppercase + string.digits, min_size=16, max_size=16).map(
        lambda s: "AKIA" + s
    ),
    st.text(ALNUM, min_size=36, max_size=40).map(lambda s: "ghp_" + s),
)

places = st.sampled_from(
    [
        "authorization",
        "api-key",
        "x-api-key",
        "custom-header",
        "query-key",
        "query-other",
        "body",
        "body-nested",
    ]
)


@pytest.fixture(scope="module")
def server() -> LoopbackServer:
    with LoopbackServer() as s:
        yield s  # type: ignore[misc]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(secret=secrets, place=places)
def test_generated_secrets_never_appear_in_a_written_file(
    secret: str, place: str, server: LoopbackServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("rec") / "c.yaml"
    headers = {"content-type": "application/json"}
    params: dict[str, str] = {}
    body: dict[str, object] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    if place == "authorization":
        headers["authorization"] = f"Bearer {secret}"
    elif place in ("api-key", "x-api-key", "custom-header"):
        headers[place] = secret
    elif place == "query-key":
        params["api_key"] = secret
    elif place == "query-other":
        params["q"] = secret
    elif place == "body":
        body["note"] = secret
    else:
        body["messages"] = [{"role": "user", "content": f"my key is {secret}, keep it"}]
    message = ""
    try:
        with pytest_llm.use_cassette(path, record="once"):
            httpx.post(
                f"{server.base_url}/chat/completions", params=params, headers=headers, json=body
            )
    except pytest_llm.SecretFound as exc:
        message = str(exc)
    refused = bool(message)
    assert secret not in message
    written = path.read_text() if path.exists() else ""
    assert secret not in written
    assert secret[:12] not in written
    # known credential carriers are redacted and written; anything else is refused
    assert refused == (place in ("custom-header", "query-other", "body", "body-nested"))
    assert not list(path.parent.glob("*.tmp"))


def test_refusal_names_the_field_and_keeps_the_old_cassette(
    tmp_path: Path, server: LoopbackServer
) -> None:
    path = tmp_path / "c.yaml"
    with pytest_llm.use_cassette(path, record="once"):
        httpx.post(f"{server.base_url}/chat/completions", json={"model": "m", "messages": []})
    before = path.read_text()
    key = "sk-" + "Z" * 30
    with pytest.raises(pytest_llm.SecretFound) as info, pytest_llm.use_cassette(path, record="all"):
        httpx.post(
            f"{server.base_url}/chat/completions",
            headers={"x-trace": key},
            json={"model": "m", "messages": []},
        )
    assert str(info.value).splitlines() == [
        f"pytest-llm refused to write {path}: interactions[0].request.headers.x-trace holds something "
        "shaped like an OpenAI key (sk-Z…ZZ, 33 characters).",
        "Nothing was written; the existing cassette, if any, is unchanged.",
        "Fix: if it is a credential, redact it (add the header to the ini option llm_redact_headers, "
        "or stop sending it); if it is not a secret, allow it with the ini option llm_secret_allow = <regex>.",
    ]
    assert info.value.field == "interactions[0].request.headers.x-trace"
    assert path.read_text() == before


def test_redacted_headers_and_query_still_match_on_replay(
    tmp_path: Path, server: LoopbackServer
) -> None:
    path = tmp_path / "c.yaml"
    with pytest_llm.use_cassette(path, record="once"):
        httpx.post(
            f"{server.base_url}/chat/completions",
            params={"api-version": "2024-10-01", "api-key": "first-key-value"},
            headers={"api-key": "first", "openai-organization": "org-1"},
            json={"model": "m", "messages": []},
        )
    text = path.read_text()
    assert "first" not in text
    assert "org-1" not in text
    assert "api-version=2024-10-01" in text
    assert f"api-key={REDACTED}" in text
    with pytest_llm.use_cassette(path):
        r = httpx.post(
            f"{server.base_url}/chat/completions",
            params={"api-version": "2024-10-01", "api-key": "another-key"},
            headers={"api-key": "second"},
            json={"model": "m", "messages": []},
        )
    assert r.status_code == 200


def test_extra_patterns_and_allow_list() -> None:
    red = Redactor.build(extra_patterns=[r"tok_[0-9]{8}"], allow=[r"^sk-test-"])
    assert red.scan({"a": "tok_12345678"}) == (
        "a",
        "llm_secret_patterns[0] (tok_[0-9]{8})",
        "tok_…78, 12 characters",
    )
    assert red.scan({"a": "sk-test-" + "x" * 30}) is None
    with pytest.raises(
        pytest_llm.ConfigError, match=r"secret pattern '\(' is not a valid regular expression"
    ):
        Redactor.build(extra_patterns=["("])


def test_response_headers_are_redacted_too(tmp_path: Path, server: LoopbackServer) -> None:
    server.extra_headers = lambda: [
        ("openai-organization", "org-secret-123"),
        ("set-cookie", "__cf_bm=abcdef; path=/"),
    ]
    path = tmp_path / "c.yaml"
    try:
        with pytest_llm.use_cassette(path, record="once"):
            httpx.post(f"{server.base_url}/chat/completions", json={"model": "m", "messages": []})
    finally:
        server.extra_headers = None
    text = path.read_text()
    assert "org-secret-123" not in text
    assert "__cf_bm" not in text
    assert "      openai-organization: REDACTED\n" in text
    assert "set-cookie" not in text  # changes on every call: not recorded unless kept


# -- key patterns: whole tokens, bounded lengths (no hits inside base64) ---------------

KEYS = {
    "OpenAI key": [
        "sk-" + "a1B2c3D4" * 6,  # legacy, 48 characters after sk-
        "sk-proj-" + "Ab3_-x9Z" * 19,  # project key, ~160 characters
        "sk-svcacct-" + "Zz9_" * 20,
    ],
    "Anthropic key": ["sk-ant-api03-" + "Qw3-rT5_" * 12],
    "Google API key": ["AIza" + "SyD4-k_9" * 4 + "abc"],
    "GitHub token": ["ghp_" + "aB3dE5gH7j" * 4],
    "AWS access key": ["AKIA" + "IOSFODNN7EXAMPLE"],
}


@pytest.mark.parametrize(
    ("name", "key"), [(name, key) for name, keys in KEYS.items() for key in keys]
)
@pytest.mark.parametrize(
    "around", ["{}", '"{}"', "Bearer {}", "key={}&alt=sse", "api_key: {}\n", "({})", "{}."]
)
def test_real_key_shapes_are_found_wherever_they_stand(name: str, key: str, around: str) -> None:
    hit = Redactor().scan({"text": around.format(key)})
    assert hit is not None
    field, found, masked = hit
    size = int(masked.split(", ")[1].split()[0])
    if found == "bearer token":  # the header value as a whole, when a pattern before won
        assert (around, size) == ("Bearer {}", len("Bearer " + key))
    else:
        assert (field, found, size) == ("text", name, len(key))


def urlsafe_b64(seed: int, n: int = 3000) -> str:
    import base64
    import random

    rng = random.Random(seed)
    return base64.urlsafe_b64encode(rng.randbytes(n)).decode()


@pytest.mark.parametrize("token", ["sk-", "sk-proj-", "sk-ant-api03-", "AIza", "ghp_", "AKIA"])
@pytest.mark.parametrize("where", ["middle", "after_plus", "after_slash"])
def test_key_prefixes_inside_base64_are_not_keys(token: str, where: str) -> None:
    """Gemini sends images and audio as urlsafe base64 in inlineData: 'sk-' and 'AIza'
    turn up inside it, followed by more base64 letters. Not keys."""
    data = urlsafe_b64(len(token))
    cut = 1000
    glue = {"middle": "", "after_plus": "+", "after_slash": "/"}[where]
    inner = data[:cut] + glue + token + data[cut : cut + 60] + data[cut + 60 :]
    body = {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": inner}}]}]}
    assert Redactor().scan(body) is None


def test_a_base64_blob_that_starts_like_a_key_is_too_long_to_be_one() -> None:
    blob = "sk-" + urlsafe_b64(7, 600).replace("-", "x")
    assert Redactor().scan({"data": blob}) is None
    # the same characters, as long as a real key, are one
    assert Redactor().scan({"data": blob[:60]}) is not None


def test_cassettes_check_finds_no_key_in_inline_base64_but_finds_a_real_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from pytest_llm.cli import main as cli

    data = urlsafe_b64(1)
    data = data[:500] + "sk-" + data[500:]  # the false positive that was reported
    doc = {
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": "https://generativelanguage.googleapis.com/v1beta/models/g:generateContent",
                    "headers": {"content-type": ["application/json"]},
                    "body": json.dumps({"contents": [{"parts": [{"inlineData": {"data": data}}]}]}),
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"content-type": ["application/json"]},
                    "body": {"string": '{"candidates":[]}'},
                },
            }
        ],
        "version": 1,
    }
    path = tmp_path / "gemini.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert cli(["cassettes", "check", str(path)]) == 0
    assert capsys.readouterr().out == "checked 1 cassette (1 interaction): no problems\n"
    key = "sk-proj-" + "Ab3_x9Z" * 10
    path.write_text(path.read_text().replace('"candidates":[]', f'"note":"{key}"'))
    assert cli(["cassettes", "check", str(path)]) == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        f"{path}:10: interactions[0].response.json.note holds something shaped like an "
        "OpenAI key (sk-p…9Z, 78 characters)"
    )


def test_a_url_password_is_never_written_or_shown(tmp_path: Path, server: LoopbackServer) -> None:
    """A ``user:password@`` base URL: the cassette keeps the user, not the password, and
    the fault plan's report (printed when a test fails) does the same."""
    from pytest_llm.faults import FaultPlan

    path = tmp_path / "c.yaml"
    url = server.base_url.replace("http://", "http://alice:hunter2-SECRET@", 1)
    with pytest_llm.use_cassette(path, record="once", keep_host=True):
        httpx.post(f"{url}/chat/completions", json={"model": "m", "messages": []})
    written = path.read_text()
    assert "hunter2-SECRET" not in written
    assert "alice:REDACTED@" in written
    with FaultPlan() as plan, pytest_llm.use_cassette(path):
        httpx.post(f"{url}/chat/completions", json={"model": "m", "messages": []})
    report = plan.describe()
    assert "hunter2-SECRET" not in report
    assert "alice:***@" in report


# -- one Redactor per configuration -------------------------------------------------------


def test_cassettes_of_one_configuration_share_one_redactor(tmp_path: Path) -> None:
    from dataclasses import FrozenInstanceError

    from pytest_llm.cassette import Cassette

    a, b = Cassette(tmp_path / "a.yaml"), Cassette(tmp_path / "b.yaml")
    assert a.redactor is b.redactor  # the default rules: one instance
    same = Redactor.build(extra_headers=["X-Team-Token"], allow=["^sk-test-"])
    again = Redactor.build(extra_headers=["x-team-token"], allow=["^sk-test-"])
    c = Cassette(tmp_path / "c.yaml", redactor=same)
    d = Cassette(tmp_path / "d.yaml", redactor=again)
    assert c.redactor is d.redactor
    assert "x-team-token" in c.redactor.headers
    assert c.redactor is not a.redactor
    assert Redactor.build(extra_headers=["x-other"]) is not same
    assert Redactor.build(extra_patterns=["tok_[0-9]{8}"]) is not a.redactor
    with pytest.raises(FrozenInstanceError):
        a.redactor.headers = frozenset()  # type: ignore[misc]
    wider = a.redactor.with_headers(["X-Extra"])
    assert "x-extra" in wider.headers
    assert "x-extra" not in a.redactor.headers
    assert b.redactor.with_headers(["authorization"]) is b.redactor


def test_a_vcr_tests_filter_headers_do_not_reach_the_next_tests_cassette(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="module")
        def vcr_config():
            return {"filter_headers": ["x-vcr-only"]}

        @pytest.mark.vcr
        def test_vcr(vcr, llm_cassette):
            assert "x-vcr-only" in llm_cassette.redactor.headers

        def test_after(llm_cassette):
            assert "x-vcr-only" not in llm_cassette.redactor.headers
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
