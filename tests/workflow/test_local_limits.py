"""What the local runtime holds back so that one caller cannot take the machine: the disk under
``TDA_HOME`` keeps ``MIN_FREE_DISK_BYTES`` free (a job that would go below fails at once, saying
why; one that cannot write a chunk is not started), and at most ``MAX_RUNNING_JOBS`` jobs run at
once (each holds threads of the interpreter: a flood of them ran the process out). Through the
``api`` handler, as ``tda serve`` answers, and through the gRPC shim's large streams."""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest

from tda_local.apigw import json_body
from tda_local.workflows import LocalWorkflows
from testdata.v1 import test_data_pb2 as pb
from testdata.v1 import test_data_pb2_grpc as pb_grpc

from .runtime import api_call as call
from .runtime import settled

CHUNK_RECORDS = 1000
ROOM = 8 << 20  # what a test leaves a job of the disk's free space: ≈16 chunks of users

pytestmark = pytest.mark.usefixtures("fresh_calls")


@pytest.fixture(scope="module")
def workflow_env() -> dict[str, str]:
    return {"JOB_CHUNK_RECORDS": str(CHUNK_RECORDS)}


def jobs_in(store: Path) -> set[str]:
    return (
        {p.name for p in store.iterdir() if p.name.startswith("job-")} if store.is_dir() else set()
    )


def leave_room(monkeypatch: pytest.MonkeyPatch, store: Path, room: int) -> None:
    """Set the reserve so that ``room`` bytes of the disk's free space are left to write."""
    monkeypatch.setenv("MIN_FREE_DISK_BYTES", str(shutil.disk_usage(store).free - room))


def test_no_job_starts_when_the_disk_is_down_to_its_reserve(
    workflows: LocalWorkflows, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = jobs_in(store)
    leave_room(monkeypatch, store, -(1 << 20))  # already 1 MiB below it
    refused = call("POST", "/v1/jobs", {"entity": "user", "count": 5000, "seed": 1})
    assert refused["statusCode"] == 507, json_body(refused)
    error = json_body(refused)["error"]
    assert "MIN_FREE_DISK_BYTES" in error and "tda jobs gc" in error
    assert str(store) not in error  # the server's paths are its own
    assert jobs_in(store) == before and workflows.calls == []  # nothing started, nothing left


def test_a_job_the_disk_cannot_hold_fails_at_once_saying_why(
    workflows: LocalWorkflows, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200,000 users (≈100 MB) with 8 MiB to write in: the first chunk past the reserve fails
    the job, not retried (a full disk does not empty itself in the seconds a retry waits)."""
    leave_room(monkeypatch, store, ROOM)
    request = {"entity": "user", "count": 200_000, "seed": 2, "output_format": "NDJSON"}
    submitted = call("POST", "/v1/jobs", request, {"max_concurrency": "1"})
    assert submitted["statusCode"] == 202, json_body(submitted)
    job_id = json_body(submitted)["job_id"]
    status = settled(job_id)
    assert status["status"] == "FAILED"
    assert status["error"]["error"] == "StorageFullError"
    assert "MIN_FREE_DISK_BYTES" in status["error"]["cause"]
    written = [event["store"]["index"] for _, event in workflows.calls if "store" in event]
    assert len(written) == len(set(written)) < 200_000 // CHUNK_RECORDS  # none retried
    # One chunk at a time: every chunk before the one that met the reserve is whole; that one
    # left nothing (not even a temporary file).
    kept = sorted(int(p.name[6:11]) for p in (store / job_id).glob("*chunk-*.ndjson*"))
    assert kept == written[:-1]


@pytest.mark.parametrize("room", [-(1 << 20), ROOM], ids=["before-it-starts", "part-way"])
def test_a_large_stream_meets_a_full_disk_as_resource_exhausted(
    stub: pb_grpc.TestDataServiceStub, store: Path, monkeypatch: pytest.MonkeyPatch, room: int
) -> None:
    before = jobs_in(store)
    leave_room(monkeypatch, store, room)
    request = pb.GenerateRequest(request_id="full", entity="user", count=200_000, seed=3)
    with pytest.raises(grpc.RpcError) as refused:
        list(stub.GenerateDataStream(request))
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "MIN_FREE_DISK_BYTES" in (refused.value.details() or "")
    for _ in range(100):  # a stream's job is removed once the call ends, however it ends
        if jobs_in(store) == before:
            break
        time.sleep(0.1)
    assert jobs_in(store) == before


def test_the_local_runtime_runs_so_many_jobs_at_once(
    stub: pb_grpc.TestDataServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_RUNNING_JOBS", "1")
    big = {"entity": "user", "count": 1_000_000, "seed": 4}
    first = call("POST", "/v1/jobs", big, {"max_concurrency": "1"})
    assert first["statusCode"] == 202
    job_id = json_body(first)["job_id"]
    try:
        refused = call("POST", "/v1/jobs", {**big, "seed": 5})
        assert refused["statusCode"] == 429 and refused["headers"]["retry-after"]
        assert "MAX_RUNNING_JOBS" in json_body(refused)["error"]
        stream = pb.GenerateRequest(request_id="busy", entity="cart", count=5000, seed=6)
        with pytest.raises(grpc.RpcError) as busy:
            list(stub.GenerateDataStream(stream))
        assert busy.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        said = busy.value.details() or ""
        assert said.startswith("the stream's job could not start: ") and "MAX_RUNNING_JOBS" in said
    finally:
        assert call("DELETE", f"/v1/jobs/{job_id}")["statusCode"] == 200
    again = call("POST", "/v1/jobs", {**big, "count": 10, "seed": 7})  # its place is free
    assert again["statusCode"] == 202
    assert settled(json_body(again)["job_id"])["status"] == "SUCCEEDED"


def test_a_burst_of_submits_starts_no_more_jobs_than_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Submits arriving together (as the job routes' threads take them) are counted one after
    another: two of twelve start, not one for each submit that counted before another marked."""
    monkeypatch.setenv("MAX_RUNNING_JOBS", "2")
    together = threading.Barrier(12)

    def submit(seed: int) -> dict[str, Any]:
        together.wait()
        body = {"entity": "user", "count": 1_000_000, "seed": 100 + seed}
        return call("POST", "/v1/jobs", body, {"max_concurrency": "1"})

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(submit, range(12)))
    started = [json_body(a)["job_id"] for a in answers if a["statusCode"] == 202]
    try:
        assert sorted(a["statusCode"] for a in answers) == [202] * 2 + [429] * 10
    finally:
        for job_id in started:
            assert call("DELETE", f"/v1/jobs/{job_id}")["statusCode"] == 200
