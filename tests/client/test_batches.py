"""``client.batches.run``: the JSONL, the upload, the batch, the polling on the virtual
clock with backoff, results by custom_id with failures typed, batch prices; offline on
``llm_fake``'s Files and Batch APIs, in milliseconds."""

from __future__ import annotations

import json

import openai
import pytest
from client_helpers import route

from pytest_llm import faults
from pytest_llm.client import ClientConfigError, DeadlineExceeded, Price, ResilientClient
from pytest_llm.client._batches import BatchError, BatchItemError
from pytest_llm.fake import DEFAULT_REPLY

PRICE = Price(input=0.15, output=0.60)


def requests(n: int) -> list[dict]:
    return [
        {
            "custom_id": f"ticket-{i}",
            "body": {
                "messages": [{"role": "user", "content": f"Classify ticket {i}"}],
                "max_tokens": 20,
            },
        }
        for i in range(n)
    ]


@pytest.fixture
def client() -> ResilientClient:
    return ResilientClient(routes=[route("gpt-4o-mini", price=PRICE)], max_retries=2, seed=3)


def test_a_batch_job_end_to_end(client, llm_fake, llm_clock):
    llm_fake.batches.configure(duration=120)
    llm_fake.add("billing", contains="ticket 0")
    llm_fake.add("bug", contains="ticket 1")
    result = client.batches.run(requests(3), model="gpt-4o-mini", metadata={"job": "nightly"})
    assert result.status == "completed"
    assert [i.response.choices[0].message.content for i in result.items.values()] == [
        "billing",
        "bug",
        DEFAULT_REPLY,
    ]
    assert isinstance(result["ticket-0"].response, openai.types.chat.ChatCompletion)
    # polled on the virtual clock: 5 s doubling until the batch completed at 120 s
    assert llm_clock.sleeps == [5.0, 10.0, 20.0, 40.0, 80.0]
    assert result.waits == llm_clock.sleeps
    assert result.polls == llm_fake.batches.polls == 5
    # the input file the provider got: one JSONL line per request, the model filled in
    (upload,) = [f for f in llm_fake.batches.files.values() if f.purpose == "batch"]
    lines = [json.loads(x) for x in upload.data.decode().splitlines()]
    assert [x["custom_id"] for x in lines] == ["ticket-0", "ticket-1", "ticket-2"]
    assert {x["url"] for x in lines} == {"/v1/chat/completions"}
    assert {x["body"]["model"] for x in lines} == {"gpt-4o-mini"}
    (batch,) = llm_fake.batches.batches.values()
    assert batch.metadata == {"job": "nightly"}
    # costs at half the route's price
    item = result["ticket-0"]
    full = PRICE.cost(item.usage)
    assert item.cost == pytest.approx(full / 2)
    assert result.cost == pytest.approx(sum(PRICE.cost(i.usage) for i in result.items.values()) / 2)


def test_a_batch_that_expires_part_way(client, llm_fake, llm_clock):
    llm_fake.batches.configure(duration=30, expire_after=2)
    result = client.batches.run(requests(5), model="gpt-4o-mini", poll_interval=10)
    assert result.status == "expired"
    assert sorted(result.succeeded) == ["ticket-0", "ticket-1"]
    assert {k: v.error.kind for k, v in result.failed.items()} == {
        "ticket-2": "expired",
        "ticket-3": "expired",
        "ticket-4": "expired",
    }
    assert result["ticket-4"].error.code == "batch_expired"
    assert llm_clock.sleeps == [10.0, 20.0]


def test_requests_that_fail_are_typed_not_dropped(client, llm_fake, llm_clock):
    llm_fake.batches.configure(duration=1, fail={"ticket-1": (400, "Invalid 'max_tokens'.")})
    result = client.batches.run(requests(3), model="gpt-4o-mini")
    assert result.status == "completed"
    assert result["ticket-1"].error == BatchItemError("http", "Invalid 'max_tokens'.", 400, None)
    assert result["ticket-1"].response is None
    assert sorted(result.succeeded) == ["ticket-0", "ticket-2"]
    assert list(result.items) == ["ticket-0", "ticket-1", "ticket-2"]  # input order
    assert result["ticket-1"].cost == 0.0


def test_a_rejected_input_file_is_a_batch_error(client, llm_fake, llm_clock):
    """The provider validates the file: a batch it fails raises with its reasons."""
    llm_fake.batches.configure(max_requests=2)
    with pytest.raises(
        BatchError, match=r"batch batch_fake0001 failed: The batch has 3 requests; the limit is 2"
    ) as err:
        client.batches.run(requests(3), model="gpt-4o-mini")
    assert err.value.batch.status == "failed"
    assert llm_clock.sleeps == []


def test_control_calls_are_retried_on_the_clock(client, llm_fake, llm_faults, llm_clock):
    llm_faults.add(faults.ServerError(503), times=1)  # the upload fails once
    llm_fake.batches.configure(duration=0)
    result = client.batches.run(requests(1), model="gpt-4o-mini")
    assert result.status == "completed"
    assert len(llm_clock.sleeps) == 2  # one backoff after the 503, one poll
    assert llm_clock.sleeps[1] == 5.0
    assert len([f for f in llm_fake.batches.files.values() if f.purpose == "batch"]) == 1


def test_polling_stops_at_the_timeout(client, llm_fake, llm_clock):
    llm_fake.batches.configure(duration=3600)
    with pytest.raises(
        DeadlineExceeded,
        match=r"batch batch_fake0001 is still in_progress after 75 s of polling \(timeout=100\)",
    ):
        client.batches.run(requests(1), model="gpt-4o-mini", timeout=100)
    assert llm_clock.sleeps == [5.0, 10.0, 20.0, 40.0]


def test_the_poll_interval_is_capped(client, llm_fake, llm_clock):
    llm_fake.batches.configure(duration=1000)
    client.batches.run(requests(1), model="gpt-4o-mini", poll_interval=100, max_poll_interval=300)
    assert llm_clock.sleeps == [100.0, 200.0, 300.0, 300.0, 300.0]


# -- bad input, caught before anything is uploaded ----------------------------------------


@pytest.mark.parametrize(
    ("reqs", "kwargs", "message"),
    [
        ([], {}, r"no requests"),
        ([{"custom_id": "a", "body": {}}], {}, r"request 'a' has no model.\nFix: add 'model'"),
        (
            [
                {"custom_id": "a", "body": {"model": "m"}},
                {"custom_id": "a", "body": {"model": "m"}},
            ],
            {},
            r"custom_id 'a' is used twice \(request 1\)",
        ),
        ([{"body": {"model": "m"}}], {}, r"request 0 has custom_id None"),
        (["hello"], {}, r"request 0 is 'hello', not"),
        ([{"custom_id": "a", "body": {"model": "m", "stream": True}}], {}, r"asks for stream=True"),
        (
            [{"custom_id": "a", "url": "/v1/embeddings", "body": {"model": "m"}}],
            {},
            r"has url '/v1/embeddings', the batch's endpoint is '/v1/chat/completions'",
        ),
        (requests(1), {"endpoint": "/v1/images"}, r"endpoint='/v1/images'\): not a batch endpoint"),
        (requests(1), {"poll_interval": 0}, r"poll_interval=0\): seconds between polls"),
    ],
)
def test_bad_batch_input(client, llm_fake, reqs, kwargs, message):
    with pytest.raises(ClientConfigError, match=message) as err:
        client.batches.run(reqs, **kwargs)
    assert "\nFix: " in str(err.value)
    assert llm_fake.batches.files == {}  # nothing uploaded


def test_over_the_request_limit(client, llm_fake):
    client.batches.max_requests = 3
    with pytest.raises(
        ClientConfigError, match=r"4 requests; a batch holds at most 3.\nFix: split"
    ):
        client.batches.run(requests(4), model="m")


def test_over_the_size_limit_says_how_many_fit(client, llm_fake):
    client.batches.max_bytes = 1000
    with pytest.raises(ClientConfigError) as err:
        client.batches.run(requests(20), model="gpt-4o-mini")
    first, fix = str(err.value).splitlines()
    assert first.startswith("batches.run(): the input file is ")
    assert first.endswith("bytes; the limit is 1,000.")
    assert fix.startswith("Fix: split the requests into smaller batches (about ")
    assert llm_fake.batches.files == {}


def test_a_dict_of_bodies_is_accepted(client, llm_fake, llm_clock):
    llm_fake.batches.configure(duration=0)
    result = client.batches.run(
        {"a": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}}
    )
    assert list(result.items) == ["a"]
    assert result["a"].ok


def test_the_async_client_runs_batches_on_the_virtual_clock(llm_fake, llm_clock):
    import asyncio

    from pytest_llm.client import AsyncResilientClient

    llm_fake.batches.configure(duration=20, fail={"ticket-0": (400, "bad request")})
    client = AsyncResilientClient(routes=[route("gpt-4o-mini", price=PRICE)])
    result = asyncio.run(client.batches.run(requests(2), model="gpt-4o-mini"))
    assert result.status == "completed"
    assert llm_clock.sleeps == [5.0, 10.0, 20.0]
    assert result["ticket-0"].error.kind == "http"
    assert result["ticket-1"].response.choices[0].message.content == DEFAULT_REPLY
