"""Real cassettes from public suites (tests/data/third_party/README.md) replay unchanged.

llm-anthropic's are vcrpy's default layout holding streamed Anthropic responses;
pydantic-ai's were written through its ``vcr.register_serializer`` serializer, with
JSON bodies as ``parsed_body``. Each is replayed through the real SDK, sending the
request each interaction recorded, and what the SDK parses is compared with the
recorded response read independently of pytest-llm (plain YAML and JSON).
"""

from __future__ import annotations

import gzip
import inspect
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import pytest_llm
from pytest_llm.cli import main as cli

DATA = Path(__file__).parent / "data" / "third_party"

# the recordings name models that have since been deprecated; the SDK says so on use
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")


def raw_interactions(path: Path) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert "format" not in doc  # vcrpy's file, not ours
    return list(doc["interactions"])


def request_json(item: dict[str, Any]) -> dict[str, Any]:
    rq = item["request"]
    if "parsed_body" in rq:
        return dict(rq["parsed_body"])
    return dict(json.loads(rq["body"]))


def _sse_text(item: dict[str, Any]) -> str:
    body = item["response"]["body"]["string"]
    return gzip.decompress(body).decode() if isinstance(body, bytes) else str(body)


def streamed_text(item: dict[str, Any]) -> str:
    """The text deltas of a recorded Anthropic stream, read from the raw SSE body."""
    text = []
    for line in _sse_text(item).splitlines():
        if line.startswith("data: "):
            event = json.loads(line[len("data: ") :])
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                text.append(delta["text"])
    return "".join(text)


@pytest.fixture
def copy(tmp_path: Path) -> Any:
    def copy(rel: str) -> Path:
        dest = tmp_path / Path(rel).name
        shutil.copy(DATA / rel, dest)
        return dest

    return copy


LLM_ANTHROPIC = ["test_prompt", "test_tools", "test_schema_prompt"]


@pytest.mark.parametrize("name", LLM_ANTHROPIC)
def test_llm_anthropic_cassettes_replay_through_the_anthropic_sdk(name: str, copy: Any) -> None:
    path = copy(f"llm-anthropic/{name}.yaml")
    before = path.read_bytes()
    items = raw_interactions(path)
    assert replay_anthropic(path, items) == "vcrpy"
    assert path.read_bytes() == before  # replay never rewrites


def replay_anthropic(path: Path, items: list[dict[str, Any]]) -> str:
    """Send each recorded request through the anthropic SDK; the streamed text must be
    the recorded one. Returns the format the cassette was read as."""
    anthropic = pytest.importorskip("anthropic")
    known = set(inspect.signature(anthropic.Anthropic().messages.create).parameters)
    client = anthropic.Anthropic(api_key="sk-ant-test-key", max_retries=0)
    with pytest_llm.use_cassette(path, check_unused=True) as cassette:
        for item in items:
            body = request_json(item)
            params = {k: v for k, v in body.items() if k in known}
            extra = {k: v for k, v in body.items() if k not in known}  # newer/older fields
            text = []
            for event in client.messages.create(**params, extra_body=extra):
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    text.append(event.delta.text)
            assert "".join(text) == streamed_text(item)
    assert cassette.file is not None
    assert len(cassette.file.interactions) == len(items)
    return cassette.file.source_format


def test_llm_anthropic_tool_use_stream_gives_the_recorded_tool_calls(copy: Any) -> None:
    anthropic = pytest.importorskip("anthropic")
    path = copy("llm-anthropic/test_tools.yaml")
    first = raw_interactions(path)[0]
    body = request_json(first)
    client = anthropic.Anthropic(api_key="sk-ant-test-key", max_retries=0)
    # llm-anthropic's cassette as published: its second request (the turn after the
    # tool results) is that project's test, not this one
    with pytest_llm.use_cassette(path, check_unused=False):
        params = {k: v for k, v in body.items() if k != "temperature"}
        with client.messages.stream(
            **{k: v for k, v in params.items() if k != "stream"},
            extra_body={"temperature": body["temperature"]},
        ) as stream:
            message = stream.get_final_message()
    calls = [b for b in message.content if b.type == "tool_use"]
    recorded = [
        json.loads(line[6:])["content_block"]
        for line in _sse_text(first).splitlines()
        if line.startswith("data: ") and '"content_block_start"' in line
    ]
    assert [(c.id, c.name) for c in calls] == [
        (b["id"], b["name"]) for b in recorded if b["type"] == "tool_use"
    ]
    assert len(calls) == 2


PYDANTIC_AI = ["test_openai_instructions", "test_compatible_api_with_tool_calls_without_id"]


@pytest.mark.parametrize("name", PYDANTIC_AI)
def test_pydantic_ai_parsed_body_cassettes_replay_through_the_openai_sdk(
    name: str, copy: Any
) -> None:
    import openai

    path = copy(f"pydantic-ai/{name}.yaml")
    items = raw_interactions(path)
    assert all("parsed_body" in it["request"] for it in items)
    with pytest_llm.use_cassette(path, check_unused=True):
        for item in items:
            body = request_json(item)
            base = item["request"]["uri"].rsplit("/chat/completions", 1)[0]
            client = openai.OpenAI(base_url=base, api_key="sk-test-key", max_retries=0)
            reply = client.chat.completions.create(**body)
            assert reply.model_dump(mode="json", exclude_unset=True) == _as_sdk_sees(
                item["response"]["parsed_body"]
            )


def _as_sdk_sees(doc: dict[str, Any]) -> dict[str, Any]:
    import openai.types.chat as chat

    return chat.ChatCompletion.model_validate(doc).model_dump(mode="json", exclude_unset=True)


def test_parsed_body_is_read_not_replayed_empty(copy: Any) -> None:
    """The body pytest-llm reads is the recorded structure, so a changed request misses
    with a diff instead of replaying an empty body."""
    import openai

    path = copy("pydantic-ai/test_openai_instructions.yaml")
    body = request_json(raw_interactions(path)[0])
    body["messages"][-1]["content"] = "What is the capital of Spain?"
    base = raw_interactions(path)[0]["request"]["uri"].rsplit("/chat/completions", 1)[0]
    client = openai.OpenAI(base_url=base, api_key="sk-test-key", max_retries=0)
    with pytest.raises(pytest_llm.CassetteMiss) as miss, pytest_llm.use_cassette(path):
        client.chat.completions.create(**body)
    assert (
        "messages[1].content: 'What is the capital of France?' != 'What is the capital of Spain?'"
        in str(miss.value)
    )


def test_third_party_cassettes_convert_and_pass_the_check(
    copy: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = [copy(f"llm-anthropic/{n}.yaml") for n in LLM_ANTHROPIC]
    paths += [copy(f"pydantic-ai/{n}.yaml") for n in PYDANTIC_AI]
    # as published: Cloudflare cookies and an organization name in response headers
    assert cli(["cassettes", "check", *map(str, paths)]) == 1
    found = capsys.readouterr().out.splitlines()
    assert [line.split(": ", 1)[1].split(" (")[0] for line in found[:-2]] == [
        "interactions[0].response.headers.set-cookie is a credential header with a real value",
        "interactions[1].response.headers.set-cookie is a credential header with a real value",
        "interactions[0].response.headers.set-cookie is a credential header with a real value",
        "interactions[0].response.headers.openai-organization is a credential header with a "
        "real value",
    ]
    assert found[-2] == "checked 5 cassettes (7 interactions): 4 problems"
    assert cli(["cassettes", "convert", *map(str, paths)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == "converted 5 cassettes (7 interactions)"
    assert cli(["cassettes", "check", *map(str, paths)]) == 0
    assert capsys.readouterr().out == "checked 5 cassettes (7 interactions): no problems\n"
    for p in paths:
        assert p.with_name(p.name + ".vcrpy").exists()
        assert yaml.safe_load(p.read_text())["format"] == "pytest-llm-cassette"
    # the converted files replay the same through the SDK
    for p in paths[:3]:
        original = raw_interactions(p.with_name(p.name + ".vcrpy"))
        assert replay_anthropic(p, original) == "pytest-llm-cassette"
