"""Prompts as versioned files: loading, strict rendering, A/B split, and the prompt's
version travelling with the call into CallInfo, events, metrics and cassette metadata."""

from __future__ import annotations

import logging
import textwrap
from collections import Counter
from pathlib import Path

import pytest
import yaml
from client_helpers import route

import pytest_llm
from pytest_llm.client import ResilientClient, Route, call_info
from pytest_llm.client._prompts import PROMPT_HEADER, Prompt, PromptError, PromptLibrary

V1 = """\
version: 1
model: gpt-4o-mini
temperature: 0
system: You classify support tickets.
user: "Ticket: {ticket}"
"""
V2 = """\
version: 2
model: gpt-4o-mini
temperature: 0.2
max_tokens: 50
system: |-
  You classify support tickets for {product}.
  Answer as JSON.
user: |-
  Ticket: {ticket}
  Literal braces stay: {{"category": "..."}}
response_format:
  type: json_object
"""


@pytest.fixture
def prompts(tmp_path: Path) -> PromptLibrary:
    folder = tmp_path / "prompts" / "triage"
    folder.mkdir(parents=True)
    (folder / "v1.yaml").write_text(V1)
    (folder / "v2.yaml").write_text(V2)
    (folder / "notes.txt").write_text("not a prompt")
    return PromptLibrary(tmp_path / "prompts")


def write(tmp_path: Path, text: str, name: str = "v1.yaml") -> Path:
    folder = tmp_path / "p" / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_latest_version_and_render(prompts):
    p = prompts.get("triage")
    assert (p.id, p.variables) == ("triage@v2", ("product", "ticket"))
    assert prompts.versions("triage") == [1, 2]
    assert prompts.names() == ["triage"]
    assert p.render(product="Acme", ticket="I was charged twice") == {
        "model": "gpt-4o-mini",
        "messages": [
            {
                "role": "system",
                "content": "You classify support tickets for Acme.\nAnswer as JSON.",
            },
            {
                "role": "user",
                "content": 'Ticket: I was charged twice\nLiteral braces stay: {"category": "..."}',
            },
        ],
        "temperature": 0.2,
        "max_tokens": 50,
        "response_format": {"type": "json_object"},
        "extra_headers": {PROMPT_HEADER: "triage@v2"},
    }
    assert prompts.get("triage", 1).render(ticket="x")["messages"][1]["content"] == "Ticket: x"


def test_a_value_with_braces_is_not_a_template(prompts):
    """A user's text is inserted once, never re-formatted: its braces stay literal."""
    out = prompts.get("triage", 1).messages(ticket="{product} {0} {__class__}")
    assert out[1]["content"] == "Ticket: {product} {0} {__class__}"


def test_missing_variable_names_it(prompts):
    with pytest.raises(PromptError) as err:
        prompts.get("triage").render(ticket="x")
    assert str(err.value).endswith(
        "v2.yaml: variable 'product' is not supplied (the template uses product, ticket).\n"
        "Fix: pass product=... to render()."
    )


def test_extra_variable_names_it_with_a_suggestion(prompts):
    with pytest.raises(
        PromptError,
        match=r"variable 'tickets' is not used by the template; did you mean 'ticket'\?",
    ):
        prompts.get("triage", 1).render(ticket="x", tickets="y")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "version: 1\nmodel: m\nuser: hi\ntemprature: 0.1\n",
            r"v1.yaml: unknown key 'temprature'; did you mean 'temperature'\?\nFix: use only version, model",
        ),
        ("model: m\nuser: hi\n", r"v1.yaml: the 'version' key is missing.\nFix: add version: ..."),
        ("version: 1\nmodel: m\n", r"v1.yaml: the 'user' key is missing"),
        (
            "version: 2\nmodel: m\nuser: hi\n",
            r"v1.yaml: the file says version 2, its name says v1.\nFix: rename the file to v2.yaml",
        ),
        ("version: one\nmodel: m\nuser: hi\n", r"version 'one' is not a whole number"),
        (
            "version: 1\nmodel: m\nuser: '{x.__class__}'\n",
            r"v1.yaml: user: \{x.__class__\} is not a plain variable",
        ),
        ("version: 1\nmodel: m\nuser: '{x!r}'\n", r"\{x!r\} is not a plain variable"),
        ("version: 1\nmodel: m\nuser: '{0}'\n", r"\{0\} is not a plain variable"),
        ("version: 1\nmodel: m\nuser: 'oops {'\n", r"the template does not parse"),
        ("- a list\n", r"a prompt file is a mapping"),
        (
            "version: 1\nmodel: m\nuser: hi\ntemperature: hot\n",
            r"temperature 'hot' is not a number",
        ),
    ],
)
def test_bad_prompt_files_name_the_file_and_the_fix(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(PromptError, match=message) as err:
        Prompt.from_file(path)
    assert str(err.value).startswith(str(path))
    assert "\nFix: " in str(err.value)


def test_unknown_prompt_and_version(prompts):
    with pytest.raises(PromptError, match=r"no prompt named 'triag'; did you mean 'triage'\?"):
        prompts.get("triag")
    with pytest.raises(PromptError, match=r"no version 3 of 'triage' \(versions: 1, 2\)"):
        prompts.get("triage", 3)
    with pytest.raises(PromptError, match=r"no such directory"):
        PromptLibrary("/nonexistent/prompts")


def test_ab_split_is_deterministic_and_weighted(prompts):
    split = {1: 80, 2: 20}
    picks = [prompts.choose("triage", f"user-{i}", split).version for i in range(4000)]
    again = [prompts.choose("triage", f"user-{i}", split).version for i in range(4000)]
    assert picks == again  # the same key always gets the same version
    share = Counter(picks)[2] / len(picks)
    assert 0.17 < share < 0.23
    # moving 10 points of weight to v2 only moves keys from v1 to v2, never back
    wider = [prompts.choose("triage", f"user-{i}", {1: 70, 2: 30}).version for i in range(4000)]
    assert all(b == 2 for a, b in zip(picks, wider, strict=True) if a == 2)
    with pytest.raises(PromptError, match=r"the split maps versions to weights above 0"):
        prompts.choose("triage", "k", {})


# -- the version travels with the call -------------------------------------------------


def test_the_prompt_version_reaches_call_info_events_and_metrics(prompts, llm_fake, caplog):
    prometheus_client = pytest.importorskip("prometheus_client")
    from pytest_llm.client import Telemetry

    registry = prometheus_client.CollectorRegistry()
    client = ResilientClient(routes=[route("gpt-4o-mini")], telemetry=Telemetry(registry=registry))
    llm_fake.add({"category": "billing"})
    caplog.set_level(logging.DEBUG, logger="pytest_llm.client")
    reply = client.chat.completions.create(
        **prompts.get("triage").render(product="Acme", ticket="x")
    )
    assert call_info(reply).prompt == "triage@v2"
    assert llm_fake.requests.last.exchange.header(PROMPT_HEADER) == "triage@v2"
    events = [r.llm for r in caplog.records if getattr(r, "llm", {}).get("event") == "call"]
    assert [e["prompt"] for e in events] == ["triage@v2"]
    value = registry.get_sample_value(
        "llm_prompt_calls_total", {"prompt": "triage@v2", "outcome": "success"}
    )
    assert value == 1.0
    plain = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert call_info(plain).prompt is None


def test_the_cassette_metadata_names_the_prompt_version(prompts, tmp_path, loopback):
    """Recorded from a real loopback server: the header becomes metadata and is not
    stored (nor matched) as a header; the replay matches without it."""
    path = tmp_path / "c.yaml"
    kwargs = prompts.get("triage").render(product="Acme", ticket="printer on fire")
    client = ResilientClient(
        routes=[Route("gpt-4o-mini", base_url=loopback.base_url, api_key="sk-x")]
    )
    with pytest_llm.use_cassette(path, record="once"):
        client.chat.completions.create(**kwargs)
    assert loopback.requests[0]["headers"][PROMPT_HEADER] == "triage@v2"
    doc = yaml.safe_load(path.read_text())
    interaction = doc["interactions"][0]
    assert interaction["meta"]["prompt"] == "triage@v2"
    assert PROMPT_HEADER not in interaction["request"]["headers"]
    loopback.stop()
    v1 = {**kwargs, "extra_headers": {PROMPT_HEADER: "triage@v1"}}  # the header is not matched
    with pytest_llm.use_cassette(path, record="none"):
        reply = client.chat.completions.create(**v1)
    assert reply.choices[0].message.content.startswith("Echo:")


def test_parse_calls_carry_the_prompt_version_too(prompts, llm_fake):
    from pydantic import BaseModel

    class Ticket(BaseModel):
        category: str

    client = ResilientClient(routes=[route("gpt-4o-mini")])
    llm_fake.add({"category": "billing"})
    kwargs = prompts.get("triage", 1).render(ticket="x")
    result = client.chat.completions.parse(**kwargs, response_format=Ticket)
    assert result.choices[0].message.parsed == Ticket(category="billing")
    assert call_info(result).prompt == "triage@v1"
