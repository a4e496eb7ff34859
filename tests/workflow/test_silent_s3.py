"""The chunk store on an S3 endpoint that takes connections and never answers: a job's status
is answered 503 after three bounded attempts. With botocore's defaults (60 s
a read, five attempts) the request held its thread for five minutes, past API Gateway's 30 s
and the api function's own timeout, and then answered 500: a timeout's error carries
``response=None``, which the store's error mapping did not expect (a chunk write failed the same
way, an AttributeError the workflow does not retry, not a ChunkWriteError)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tda_local import lambdas
from tda_local.apigw import http_event

from ..silent_server import SilentServer


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SilentServer]:
    """The chunk store on a silent S3 endpoint (S3 alone: Step Functions is not sent there)."""
    silent = SilentServer()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": silent.url,
        "TDA_CHUNK_STORE": "s3://silent/jobs",
    }.items():
        monkeypatch.setenv(name, value)
    yield silent
    silent.close()


def test_a_job_status_on_a_silent_s3_store_is_a_503_after_three_bounded_tries(
    server: SilentServer,
) -> None:
    answers: list[Any] = []
    asking = threading.Thread(
        target=lambda: answers.append(
            lambdas.invoke("api", http_event("GET", "/v1/jobs/job-20261206-silent"))
        ),
        daemon=True,  # before: it held on for five minutes
    )
    asking.start()
    asking.join(120)
    assert answers, "no answer in 120 s: the request waited on the store"
    [answer] = answers
    assert answer["statusCode"] == 503, answer
    # The caller is told what and why, not where (the log has the key).
    assert json.loads(answer["body"])["error"] == (
        "the job store cannot be read now (ReadTimeoutError); try again later"
    )
    assert len(server.held) == 3  # botocore's standard retries: three attempts, not five


def test_a_write_to_a_silent_s3_store_raises_the_error_the_workflow_retries(
    server: SilentServer,
) -> None:
    """The job's plan step writes its record: on a silent store, a ``ChunkWriteError`` (the
    name the ASL's Retry lists) after three bounded attempts, not an AttributeError."""
    raised: list[BaseException] = []

    def plan() -> None:
        request = {"domain": "ecommerce", "entity": "cart", "count": 20_000, "seed": 1}
        try:
            lambdas.invoke("jobs", {"action": "plan", "job_id": "job-1", "request": request})
        except Exception as exc:  # what Lambda reports as the errorType
            raised.append(exc)

    planning = threading.Thread(target=plan, daemon=True)
    planning.start()
    planning.join(120)
    assert raised, "the plan step neither failed nor ended in 120 s"
    assert type(raised[0]).__name__ == "ChunkWriteError", repr(raised[0])
    assert "s3://silent/jobs/job-1/" in str(raised[0]) and "timeout" in str(raised[0]).lower()
    assert len(server.held) == 3
