"""The ``api`` function under Lambda's 6 MB response cap, through Mangum with the chunk store on
S3 (moto's): a 10K-record chunk of every entity and format is a 307 to a presigned URL, and any
other response over the limit is stored and answered by a 303 to where it lies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlparse

import boto3
import pytest

from tda_local import lambdas
from tda_local.apigw import http_event, json_body
from tda_local.workflows import LocalWorkflows

from ..conftest import ENTITIES
from . import runtime

BUCKET = "tda-api-limits"
LAMBDA_RESPONSE_BYTES = 6 * 1024 * 1024
FORMATS = ("JSON", "NDJSON", "CSV", "SQL")


@pytest.fixture(scope="module")
def workflow_env() -> dict[str, str]:
    return {"TDA_CHUNK_STORE": f"s3://{BUCKET}/jobs", "JOB_CHUNK_RECORDS": "10000"}


@pytest.fixture(scope="module")
def s3(workflows: LocalWorkflows) -> Iterator[Any]:
    client = boto3.client("s3", region_name="us-east-1")  # moto's, while the runtime runs
    client.create_bucket(Bucket=BUCKET)
    yield client


def fetched(s3: Any, url: str) -> bytes:
    """What a client following the redirect gets: the presigned URL's object."""
    parsed = urlparse(url)
    assert (parsed.query and "Signature" in parsed.query) or "X-Amz-Signature" in parsed.query
    bucket, _, key = parsed.path.lstrip("/").partition("/")
    if not parsed.netloc.startswith(BUCKET):  # path-style
        return bytes(s3.get_object(Bucket=bucket, Key=unquote(key))["Body"].read())
    return bytes(s3.get_object(Bucket=BUCKET, Key=unquote(parsed.path.lstrip("/")))["Body"].read())


def invoke(method: str, path: str, body: Any = None) -> dict[str, Any]:
    response: dict[str, Any] = lambdas.invoke("api", http_event(method, path, body))
    assert len(json.dumps(response)) < LAMBDA_RESPONSE_BYTES, (method, path)
    return response


def settled(job_id: str) -> dict[str, Any]:
    return runtime.settled(job_id, invoke)


@pytest.mark.parametrize("entity", ENTITIES)
def test_a_10k_chunk_of_every_format_is_a_redirect_to_s3(
    workflows: LocalWorkflows, s3: Any, entity: str
) -> None:
    largest = 0
    for fmt in FORMATS:
        request = {"entity": entity, "count": 10_000, "seed": 3, "output_format": fmt}
        submitted = invoke("POST", "/v1/jobs", request)
        assert submitted["statusCode"] == 202, json_body(submitted)
        status = settled(json_body(submitted)["job_id"])
        assert status["status"] == "SUCCEEDED", status
        job_id = status["job_id"]
        answer = invoke("GET", f"/v1/jobs/{job_id}/chunks/0")
        assert answer["statusCode"] == 307
        data = fetched(s3, answer["headers"]["location"])
        records = data.count(b"\n") if fmt == "NDJSON" else None
        assert records in (None, 10_000)
        if fmt == "JSON":
            assert len(json.loads(data)) == 10_000
        largest = max(largest, len(data))
    if entity == "order":
        assert largest > LAMBDA_RESPONSE_BYTES  # what would not fit a Lambda response


def test_a_response_over_the_limit_is_stored_and_pointed_to(s3: Any) -> None:
    body = {
        "entity": "note",
        "count": 1000,
        "seed": 1,
        "schema": {"fields": [{"name": "text", "type": "STRING", "required": True}]},
        "constraints": {"field_constraints": {"text": {"min_length": 5000, "max_length": 5000}}},
    }
    answer = invoke("POST", "/v1/generate", body)
    assert answer["statusCode"] == 303
    note = json_body(answer)
    assert note["status"] == 200 and note["bytes"] > 4_000_000
    whole = json.loads(fetched(s3, answer["headers"]["location"]))
    assert whole["record_count"] == 1000 and len(json.loads(whole["data"])) == 1000
    small = invoke("POST", "/v1/generate", {"entity": "cart", "count": 3, "seed": 1})
    assert small["statusCode"] == 200  # under the limit: answered as it is


def as_caller(event: dict[str, Any], arn: str) -> dict[str, Any]:
    """The event as API Gateway sends it once its IAM authorizer has vouched for ``arn``."""
    event["requestContext"]["authorizer"] = {"iam": {"userArn": arn, "accountId": "1"}}
    return event


def test_a_caller_may_run_only_so_many_jobs_at_once(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_RUNNING_JOBS_PER_CALLER", "1")
    alice, bob = "arn:aws:iam::1:user/alice", "arn:aws:iam::1:user/bob"
    big = {"entity": "user", "count": 1_000_000, "seed": 9}

    def submit(caller: str, body: dict[str, Any]) -> dict[str, Any]:
        event = as_caller(http_event("POST", "/v1/jobs", body, {"max_concurrency": "1"}), caller)
        response: dict[str, Any] = lambdas.invoke("api", event)
        return response

    first = submit(alice, big)
    assert first["statusCode"] == 202
    job_id = json_body(first)["job_id"]
    refused = submit(alice, {**big, "seed": 10})
    assert refused["statusCode"] == 429 and refused["headers"]["retry-after"] == "30"
    assert "MAX_RUNNING_JOBS_PER_CALLER" in json_body(refused)["error"]
    other = submit(bob, {**big, "seed": 11})  # another caller is not held back
    assert other["statusCode"] == 202
    for running in (job_id, json_body(other)["job_id"]):
        assert invoke("DELETE", f"/v1/jobs/{running}")["statusCode"] == 200
    again = submit(alice, {**big, "count": 10, "seed": 12})  # her job ended: her place is free
    assert again["statusCode"] == 202
    assert settled(json_body(again)["job_id"])["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    ("bucket", "code"),
    [("tda-no-such-bucket", "NoSuchBucket"), (BUCKET, "SlowDown")],
)
def test_a_chunk_store_that_cannot_be_read_is_a_503_saying_so_not_a_500(
    s3: Any, monkeypatch: pytest.MonkeyPatch, bucket: str, code: str
) -> None:
    # Every jobs route reads the store first (a submit counts the caller's running jobs): a
    # bucket gone or S3 throttling answered "internal error" with nothing to act on.
    from botocore.exceptions import ClientError

    from tda.adapters import aws_clients

    monkeypatch.setenv("TDA_CHUNK_STORE", f"s3://{bucket}/jobs")
    submitted = invoke("POST", "/v1/jobs", {"entity": "cart", "count": 10, "seed": 1})
    job_id = json_body(submitted).get("job_id", "tda-0123456789abcdef")
    if code == "SlowDown":  # moto does not throttle: S3's answer, as botocore raises it
        answer = {"Error": {"Code": code, "Message": "Please reduce your request rate."}}

        def throttled(*args: Any, **kwargs: Any) -> Any:
            raise ClientError(answer, "GetObject")

        for method in ("get_object", "list_objects_v2"):
            monkeypatch.setattr(aws_clients.client("s3"), method, throttled)
    for method, path in [
        ("POST", "/v1/jobs"),
        ("GET", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/jobs/{job_id}/chunks/0"),
    ]:
        response = invoke(
            method, path, {"entity": "cart", "count": 10} if method == "POST" else None
        )
        body = json_body(response)
        assert response["statusCode"] == 503, (path, body)
        assert body["error"] == f"the job store cannot be read now ({code}); try again later"
        assert response["headers"]["retry-after"] == "5"
