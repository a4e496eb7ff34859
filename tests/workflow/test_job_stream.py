"""GenerateDataStream above MAX_SYNC_RECORDS with the workflow runtime up: a job whose chunks
stream as they land — the same DataChunks a direct stream sends, in order, whatever order the
Map writes them in; a failed write retried unseen; a cancelled call stops the job.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from tda.app.service import plan_request
from tda.domain.contract import GenerateRequest
from tda.paths.traditional.bulk import stream_output
from tda_local import job_stream, lambdas
from tda_local.apigw import http_event, json_body
from tda_local.workflows import LocalWorkflows
from testdata.v1 import test_data_pb2 as pb
from testdata.v1 import test_data_pb2_grpc as pb_grpc

from .runtime import executions, latest_execution, writing_chunk

CHUNK_RECORDS = 1000


pytestmark = pytest.mark.usefixtures("fresh_calls")


@pytest.fixture(scope="module")
def workflow_env() -> dict[str, str]:
    return {"JOB_CHUNK_RECORDS": str(CHUNK_RECORDS)}


def job_executions(workflows: LocalWorkflows) -> list[dict[str, Any]]:
    return executions(workflows, "JobStateMachine")


def latest_job(workflows: LocalWorkflows) -> str:
    return latest_execution(workflows, "JobStateMachine")


def whole_output(request: dict[str, Any]) -> bytes:
    parsed = GenerateRequest.model_validate(request)
    return b"".join(stream_output(plan_request(parsed), parsed.output_format))


def chunk_writes(workflows: LocalWorkflows, execution_arn: str) -> list[int]:
    """The chunks the job of ``execution_arn`` was invoked to write. Only its own: a job an
    earlier test cancelled (200K users, 40 writers waiting their turn) still has its Map's
    iterations invoked after the cancel (each does no work), and one was counted as this
    test's chunk 50."""
    job_id = execution_arn.rsplit(":", 1)[-1]
    return [
        event["store"]["index"]
        for _, event in workflows.calls
        if event.get("store", {}).get("job_id") == job_id
    ]


def seeded(
    seed: int, matches: Callable[[dict[str, Any]], bool]
) -> Callable[[dict[str, Any]], bool]:
    """``matches`` for the request with ``seed`` alone: a fault armed for this test's job is
    never spent on an earlier test's."""
    return lambda event: event.get("request", {}).get("seed") == seed and matches(event)


def test_a_large_stream_runs_as_a_job_and_sends_each_chunk_as_it_lands(
    workflows: LocalWorkflows, stub: pb_grpc.TestDataServiceStub
) -> None:
    before = len(job_executions(workflows))
    request: dict[str, Any] = {
        "entity": "cart",
        "count": 5500,
        "seed": 11,
        "output_format": "NDJSON",
    }
    chunks = list(stub.GenerateDataStream(pb.GenerateRequest(request_id="big-1", **request)))

    assert len(job_executions(workflows)) == before + 1
    # 5500 records, 1000 per chunk
    assert sorted(chunk_writes(workflows, chunks[-1].metadata.execution_arn)) == list(range(6))
    # The stream contract, unchanged: 50-record parts, numbered, the last one final.
    assert [c.chunk_index for c in chunks] == list(range(110))
    assert {c.record_count for c in chunks} == {50} and {c.request_id for c in chunks} == {"big-1"}
    assert [c.is_final for c in chunks] == [False] * 109 + [True]
    # In order, nothing lost or twice: the whole seeded output.
    assert "".join(c.data for c in chunks).encode() == whole_output(request)
    meta = chunks[-1].metadata
    assert meta.served_via == "workflow" and meta.seed == 11
    assert meta.execution_arn == latest_job(workflows)
    assert dict(meta.scenario_counts) == {"default": 5500}
    # Chunks are read in order, so the job writes one at a time (memory stays at one chunk).
    described = workflows.client().describe_execution(executionArn=meta.execution_arn)
    assert json.loads(described["input"])["max_concurrency"] == 1
    assert meta.coherence_score == pytest.approx(1.0) and meta.generation_time_ms > 0


def test_a_chunk_is_read_back_a_few_parts_at_a_time_by_byte_range(
    workflows: LocalWorkflows, stub: pb_grpc.TestDataServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 3 parts a read: 20 parts a chunk end in a group of 2, the last chunk (6 parts) in 3 + 3.
    monkeypatch.setattr(job_stream, "PARTS_PER_READ", 3)
    request: dict[str, Any] = {"entity": "user", "count": 2300, "seed": 13, "output_format": "JSON"}
    chunks = list(stub.GenerateDataStream(pb.GenerateRequest(**request)))
    assert [c.record_count for c in chunks] == [50] * 46 and chunks[-1].is_final
    records = [record for c in chunks for record in json.loads(c.data)]
    assert records == json.loads(whole_output(request))


def test_a_chunk_write_failing_once_is_retried_and_the_stream_never_sees_it(
    workflows: LocalWorkflows, stub: pb_grpc.TestDataServiceStub
) -> None:
    workflows.inject(
        "TraditionalFunction", "ChunkWriteError", times=1, when=seeded(12, writing_chunk(2))
    )
    request: dict[str, Any] = {
        "entity": "order",
        "count": 3200,
        "seed": 12,
        "output_format": "JSON",
    }
    chunks = list(stub.GenerateDataStream(pb.GenerateRequest(**request)))
    assert sorted(chunk_writes(workflows, chunks[-1].metadata.execution_arn)) == [0, 1, 2, 2, 3]
    # Each JSON DataChunk is a whole array, as from a direct stream.
    records = [record for c in chunks for record in json.loads(c.data)]
    assert records == json.loads(whole_output(request))
    assert sum(c.record_count for c in chunks) == 3200 and chunks[-1].is_final


def test_cancelling_the_call_stops_the_job(
    workflows: LocalWorkflows, stub: pb_grpc.TestDataServiceStub, store: Path
) -> None:
    gate = threading.Event()

    def hold_from_chunk_two(event: dict[str, Any]) -> bool:
        if event.get("store", {}).get("index", 0) >= 2:
            gate.wait(60)  # held until the call has been cancelled and the job stopped
        return False

    workflows.inject("TraditionalFunction", "Never", times=1, when=seeded(19, hold_from_chunk_two))
    request: dict[str, Any] = {
        "entity": "cart",
        "count": 20_000,
        "seed": 19,
        "output_format": "CSV",
    }
    call = stub.GenerateDataStream(pb.GenerateRequest(**request))
    first = next(call)
    assert first.chunk_index == 0 and first.data.startswith("_index,_scenario,cart_id")
    call.cancel()
    execution = latest_job(workflows)
    job_id = execution.rsplit(":", 1)[-1]
    # Cancelling is asynchronous (the shim cancels the job as the call goes away and deletes
    # what it wrote: a stream's job is temporary); the held chunk is let go once it is gone.
    removed = _wait_for(lambda: job(job_id).get("status") is None)
    gate.set()
    assert removed, "the job was not removed"
    client = workflows.client()
    assert _wait_for(
        lambda: client.describe_execution(executionArn=execution)["status"] != "RUNNING"
    )
    # The Map stopped: a stream's job writes one chunk at a time, so chunk 0 (and perhaps 1)
    # landed, chunk 2 was held at the gate and then refused to write for a removed job, and
    # none after it ever started; nothing is left on disk.
    assert set(chunk_writes(workflows, execution)) <= {0, 1, 2}
    assert not (store / job_id).exists() or not list((store / job_id).glob("chunk-*"))


def job(job_id: str) -> dict[str, Any]:
    response = lambdas.invoke("api", http_event("GET", f"/v1/jobs/{job_id}"))
    answer: dict[str, Any] = json_body(response)
    return answer


def _wait_for(condition: Callable[[], bool]) -> bool:
    """Whether ``condition`` came true within a minute (polled; no timing is asserted)."""
    for _ in range(6000):
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_bad_input_above_the_sync_limit_is_refused_before_any_job_starts(
    workflows: LocalWorkflows, stub: pb_grpc.TestDataServiceStub
) -> None:
    before = len(job_executions(workflows))
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.GenerateDataStream(pb.GenerateRequest(entity="spaceship", count=5000)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "entity" in (caught.value.details() or "")
    assert len(job_executions(workflows)) == before


def test_a_small_stream_needs_no_job(
    workflows: LocalWorkflows, stub: pb_grpc.TestDataServiceStub
) -> None:
    before = len(job_executions(workflows))
    chunks = list(stub.GenerateDataStream(pb.GenerateRequest(entity="user", count=120, seed=3)))
    assert [c.record_count for c in chunks] == [50, 50, 20]
    assert len(job_executions(workflows)) == before and workflows.calls == []
    assert chunks[-1].metadata.served_via == "fast_path"  # ranges of the traditional handler


def test_a_stream_is_not_held_behind_the_chunks_of_jobs_nobody_waits_on(
    workflows: LocalWorkflows, stub: pb_grpc.TestDataServiceStub
) -> None:
    """Chunks are written one at a time in this process; a stream's come first. A 200K-order
    stream once made no progress in a minute behind sixteen million-order jobs (the lock went
    to any of their waiting writers as often as to the stream's one)."""
    batch = {"entity": "user", "count": 200_000, "seed": 21}
    submitted = json_body(
        lambdas.invoke("api", http_event("POST", "/v1/jobs", batch, {"max_concurrency": "40"}))
    )

    def landed() -> int:
        status = json_body(
            lambdas.invoke("api", http_event("GET", f"/v1/jobs/{submitted['job_id']}"))
        )
        done: int = status["progress"]["chunks_done"]
        return done

    try:
        while landed() < 3:  # the job's 40 writers are all waiting their turn
            time.sleep(0.05)
        before = landed()
        request = pb.GenerateRequest(entity="cart", count=5000, seed=22)
        assert sum(c.record_count for c in stub.GenerateDataStream(request)) == 5000
        during = landed() - before
    finally:
        lambdas.invoke("api", http_event("DELETE", f"/v1/jobs/{submitted['job_id']}"))
    # The stream's 5 chunks each waited for at most the batch chunk being written (and the
    # one taken while the stream's next iteration started): ≈40 each when it took its chance.
    assert during < 40, during
