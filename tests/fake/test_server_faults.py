"""``llm_faults`` over ``llm_fake`` through ``llm_server``: real sockets, scripted faults.

``llm_faults`` runs on the virtual clock (``llm_clock``): the server's scheduled waits
(a stall, a slow start) are recorded there and cost no wall time, while a client in
another process keeps its own real time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from typing import Any

import openai
import pytest

from pytest_llm import FakeProvider, LLMServer, faults
from pytest_llm._clock import VirtualClock
from pytest_llm.faults import FaultPlan

OPENAI_MAJOR = int(openai.__version__.split(".")[0])
USER = [{"role": "user", "content": "What is the capital of France?"}]

SUBPROCESS = textwrap.dedent(
    """
    import json, sys, openai
    client = openai.OpenAI(max_retries=int(sys.argv[1]))  # OPENAI_BASE_URL from llm_server
    try:
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital of France?"}]
        )
        print(json.dumps({"content": reply.choices[0].message.content}))
    except openai.APIStatusError as exc:
        print(json.dumps({"error": type(exc).__name__, "status": exc.status_code,
                          "code": exc.body.get("code") if isinstance(exc.body, dict) else None}))
    """
)


def run_subprocess(max_retries: int = 2) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", SUBPROCESS, str(max_retries)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_subprocess_retries_through_scripted_429s_to_the_scripted_reply(
    llm_fake: FakeProvider, llm_faults: FaultPlan, llm_server: LLMServer
) -> None:
    llm_fake.add("Paris.")
    llm_faults.add(faults.RateLimited(retry_after=0, retry_after_ms=10), times=2)
    assert run_subprocess() == {"content": "Paris."}
    assert len(llm_server.exchanges) == 3
    assert len(llm_fake.requests) == 1


def test_subprocess_gets_the_scripted_fault(
    llm_fake: FakeProvider, llm_faults: FaultPlan, llm_server: LLMServer
) -> None:
    llm_faults.add("insufficient_quota")
    assert run_subprocess(max_retries=0) == {
        "error": "RateLimitError",
        "status": 429,
        "code": "insufficient_quota",
    }
    assert len(llm_server.exchanges) == 1
    assert len(llm_fake.requests) == 0  # the fault answered in front of the fake


def test_stall_on_the_virtual_clock_is_recorded_not_waited(
    llm_fake: FakeProvider, llm_faults: FaultPlan, llm_clock: VirtualClock, llm_server: LLMServer
) -> None:
    llm_fake.add("Paris is the capital of France.")
    llm_faults.add(faults.Stall(after_chunk=3, seconds=30))
    client = openai.OpenAI(base_url=llm_server.base_url, max_retries=0)
    stream = client.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert text == "Paris is the capital of France."
    assert llm_clock.sleeps == [30.0]  # on the clock, not waited (the client has no 30 s)


def test_reset_after_three_chunks_on_the_real_socket(
    llm_fake: FakeProvider, llm_faults: FaultPlan, llm_server: LLMServer
) -> None:
    llm_fake.add("Paris is the capital of France.")
    llm_faults.add(faults.ConnectionReset(after_chunks=3))
    got: list[str | None] = []
    expected = openai.APIConnectionError if OPENAI_MAJOR >= 3 else __import__("httpx").ReadError
    client = openai.OpenAI(base_url=llm_server.base_url, max_retries=0)
    with pytest.raises(expected):
        stream = client.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
    assert got == ["", "Paris", " is"]


def test_read_timeout_waits_for_the_clients_real_timeout(
    llm_faults: FaultPlan, llm_server: LLMServer
) -> None:
    # An endless silence cannot be virtual on a real socket: the server holds the
    # connection until the client (on real time) gives up.
    llm_faults.add("read_timeout")
    client = openai.OpenAI(base_url=llm_server.base_url, max_retries=0, timeout=0.3)
    t0 = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        client.responses.create(model="m", input="x")
    assert time.perf_counter() - t0 >= 0.3  # the client's real timeout, really waited


NODE = r"""
const res = await fetch(process.env.OPENAI_BASE_URL + "/responses", {
  method: "POST",
  headers: {"content-type": "application/json",
            authorization: "Bearer " + process.env.OPENAI_API_KEY},
  body: JSON.stringify({model: "gpt-4.1-mini", input: "Hi from Node", stream: true}),
});
let text = "";
const decoder = new TextDecoder();
for await (const chunk of res.body) text += decoder.decode(chunk);
const deltas = text.split("\n").filter(l => l.startsWith("data: "))
  .map(l => JSON.parse(l.slice(6))).filter(e => e.type === "response.output_text.delta");
console.log(res.status, deltas.map(e => e.delta).join(""));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node on PATH")
def test_node_client_streams_and_meets_a_429(
    llm_fake: FakeProvider, llm_faults: FaultPlan, llm_server: LLMServer
) -> None:
    llm_fake.add("Hello, Node!")
    llm_faults.sequence("rate_limited", None)

    def node() -> str:
        out = subprocess.run(
            ["node", "--input-type=module", "-e", NODE],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return out.stdout

    assert node() == "429 \n"
    assert node() == "200 Hello, Node!\n"
    assert llm_fake.requests.last.last_user_message == "Hi from Node"
