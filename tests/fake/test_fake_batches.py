"""``llm_fake``'s Files and Batch APIs through the plain openai SDK: the batch's life on
the virtual clock, validation like the real service, expiry, failures, cancellation."""

from __future__ import annotations

import json

import openai
import pytest

from pytest_llm import ConfigError


def jsonl(lines: list[dict]) -> bytes:
    return "".join(json.dumps(x) + "\n" for x in lines).encode()


def line(cid: str, content: str = "hi", url: str = "/v1/chat/completions", **body) -> dict:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **body}
    return {"custom_id": cid, "method": "POST", "url": url, "body": body}


@pytest.fixture
def sdk(llm_fake) -> openai.OpenAI:
    return openai.OpenAI(base_url="http://llm.test/v1", max_retries=0)


def submit(sdk: openai.OpenAI, lines: list[dict], endpoint: str = "/v1/chat/completions"):
    f = sdk.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    return sdk.batches.create(input_file_id=f.id, endpoint=endpoint, completion_window="24h")


def results(sdk: openai.OpenAI, file_id: str | None) -> list[dict]:
    if file_id is None:
        return []
    return [json.loads(x) for x in sdk.files.content(file_id).text.splitlines()]


def test_upload_and_read_back(sdk, llm_fake):
    data = jsonl([line("a")])
    f = sdk.files.create(file=("requests.jsonl", data), purpose="batch")
    assert (f.id, f.filename, f.purpose, f.bytes) == (
        "file-fake0001",
        "requests.jsonl",
        "batch",
        len(data),
    )
    assert sdk.files.retrieve(f.id).bytes == len(data)
    assert sdk.files.content(f.id).content == data
    with pytest.raises(openai.NotFoundError, match="No such file: 'file-nope'"):
        sdk.files.retrieve("file-nope")


def test_a_batch_runs_on_the_clock_and_answers_with_the_fake(sdk, llm_fake, llm_clock):
    llm_fake.batches.configure(duration=60)
    llm_fake.add("Paris.", contains="capital")
    batch = submit(sdk, [line("q1", "capital of France?"), line("q2", "hello")])
    assert batch.status == "validating"
    assert sdk.batches.retrieve(batch.id).status == "in_progress"
    llm_clock.advance(59)
    assert sdk.batches.retrieve(batch.id).status == "in_progress"
    llm_clock.advance(1)
    done = sdk.batches.retrieve(batch.id)
    assert done.status == "completed"
    assert done.request_counts.model_dump() == {"total": 2, "completed": 2, "failed": 0}
    assert done.completed_at == batch.created_at + 60
    out = results(sdk, done.output_file_id)
    assert [r["custom_id"] for r in out] == ["q1", "q2"]
    assert out[0]["response"]["status_code"] == 200
    reply = openai.types.chat.ChatCompletion.model_validate(out[0]["response"]["body"])
    assert reply.choices[0].message.content == "Paris."
    assert done.error_file_id is None
    assert done.usage.input_tokens > 0
    assert llm_fake.batches.polls == 3


def test_responses_and_embeddings_batches(sdk, llm_fake, llm_clock):
    llm_fake.batches.configure(duration=0)
    r = submit(
        sdk,
        [
            {
                "custom_id": "r",
                "method": "POST",
                "url": "/v1/responses",
                "body": {"model": "gpt-4.1-mini", "input": "hi"},
            }
        ],
        "/v1/responses",
    )
    e = submit(
        sdk,
        [
            {
                "custom_id": "e",
                "method": "POST",
                "url": "/v1/embeddings",
                "body": {"model": "text-embedding-3-small", "input": "hi", "dimensions": 4},
            }
        ],
        "/v1/embeddings",
    )
    r_out = results(sdk, sdk.batches.retrieve(r.id).output_file_id)
    e_out = results(sdk, sdk.batches.retrieve(e.id).output_file_id)
    assert r_out[0]["response"]["body"]["object"] == "response"
    assert len(e_out[0]["response"]["body"]["data"][0]["embedding"]) == 4


def test_an_expiring_batch_splits_answers_and_expired_requests(sdk, llm_fake, llm_clock):
    llm_fake.batches.configure(duration=10, expire_after=1)
    batch = submit(sdk, [line("a"), line("b"), line("c")])
    llm_clock.advance(10)
    done = sdk.batches.retrieve(batch.id)
    assert done.status == "expired"
    assert done.expired_at is not None
    assert [r["custom_id"] for r in results(sdk, done.output_file_id)] == ["a"]
    errors = results(sdk, done.error_file_id)
    assert [(r["custom_id"], r["error"]["code"]) for r in errors] == [
        ("b", "batch_expired"),
        ("c", "batch_expired"),
    ]
    assert done.request_counts.failed == 2


def test_requests_can_fail_on_their_own(sdk, llm_fake, llm_clock):
    llm_fake.batches.configure(
        duration=0, fail=lambda cid, body: (429, "slow down") if cid == "b" else None
    )
    done = sdk.batches.retrieve(submit(sdk, [line("a"), line("b")]).id)
    (err,) = results(sdk, done.error_file_id)
    assert err["custom_id"] == "b"
    assert err["response"]["status_code"] == 429
    assert err["response"]["body"]["error"]["message"] == "slow down"


def test_a_strict_miss_inside_a_batch_is_raised_not_swallowed(sdk, llm_fake, llm_clock):
    llm_fake.configure(strict=True)
    llm_fake.batches.configure(duration=0)
    batch = submit(sdk, [line("b", "unknown")])
    # the miss answers the poll with an error no SDK retries (pytest_llm._miss)
    with pytest.raises(
        openai.APIStatusError, match=r"no reply for POST /v1/chat/completions .*'unknown'"
    ):
        sdk.batches.retrieve(batch.id)
    assert llm_fake.misses[0].startswith("llm_fake has no reply for POST /v1/chat/completions")
    llm_fake.misses.clear()


@pytest.mark.parametrize(
    ("lines", "code", "line_no"),
    [
        ([line("a"), line("a")], "duplicate_custom_id", 2),
        ([line("a"), line("b", url="/v1/responses")], "mismatched_endpoint", 2),
        (
            [{"method": "POST", "url": "/v1/chat/completions", "body": {}}],
            "missing_required_parameter",
            1,
        ),
    ],
)
def test_invalid_input_fails_the_batch_with_line_numbers(sdk, llm_fake, lines, code, line_no):
    batch = submit(sdk, lines)
    assert batch.status == "failed"
    (error,) = batch.errors.data
    assert (error.code, error.line) == (code, line_no)


def test_a_line_that_is_not_json(sdk, llm_fake):
    f = sdk.files.create(file=("in.jsonl", b'{"custom_id": "a"\n'), purpose="batch")
    batch = sdk.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert [(e.code, e.line) for e in batch.errors.data] == [("invalid_json_line", 1)]


def test_limits_and_purpose(sdk, llm_fake):
    llm_fake.batches.configure(max_requests=1, max_bytes=10_000)
    assert submit(sdk, [line("a"), line("b")]).errors.data[0].code == "too_many_requests"
    with pytest.raises(openai.BadRequestError, match="File is too large"):
        sdk.files.create(file=("big.jsonl", b"x" * 10_001), purpose="batch")
    f = sdk.files.create(file=("x.jsonl", jsonl([line("a")])), purpose="fine-tune")
    batch = sdk.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.errors.data[0].code == "invalid_file_purpose"
    with pytest.raises(openai.NotFoundError):
        sdk.batches.create(
            input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h"
        )
    with pytest.raises(openai.NotFoundError, match="No such batch"):
        sdk.batches.retrieve("batch_nope")


def test_cancel(sdk, llm_fake, llm_clock):
    llm_fake.batches.configure(duration=100)
    batch = submit(sdk, [line("a"), line("b")])
    cancelled = sdk.batches.cancel(batch.id)
    assert cancelled.status == "cancelled"
    errors = results(sdk, cancelled.error_file_id)
    assert {r["error"]["code"] for r in errors} == {"batch_cancelled"}
    llm_clock.advance(200)
    assert sdk.batches.retrieve(batch.id).status == "cancelled"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"duraton": 5}, r"duraton.*did you mean 'duration'"),
        ({"duration": -1}, r"duration=-1\): seconds until a batch completes"),
        ({"expire_after": "2"}, r"expire_after='2'\): a whole number"),
        ({"fail": 3}, r"fail=3\): a dict custom_id"),
    ],
)
def test_bad_configuration(llm_fake, kwargs, message):
    with pytest.raises(ConfigError, match=f"(?s){message}.*Fix: "):
        llm_fake.batches.configure(**kwargs)
