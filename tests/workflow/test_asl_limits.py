"""The workflow under AWS's real limits, read from the ASL itself and run in moto's interpreter:
a timeout on every Task, backstops that fit the HTTP API's 30 s, per-state Retry lists with
jittered backoff for throttling, refusals never retried, and a Map whose output does not grow
with the number of chunks (a state's input and output are capped at 256 KB)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tda_local.workflows import LocalWorkflows

from ..unit.test_error_names import ASL

pytestmark = pytest.mark.usefixtures("fresh_calls")

HTTP_API_SECONDS = 30
MODEL_STATES = ("Hybrid", "Llm", "LlmOpenAI")
# Lambda's failures that come at once: the invoke was refused, the function never ran.
LAMBDA_FAST = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"}
LAMBDA_TRANSIENT = {*LAMBDA_FAST, "Lambda.ClientExecutionTimeoutException"}
SYNC_STATES = ("Route", *("Hybrid", "Llm", "LlmOpenAI"), "Rag", "Traditional")


def definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(Path(ASL).read_text())
    return loaded


def tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        if state["Type"] == "Map":
            yield from tasks(state["ItemProcessor"]["States"])


def retried(state: dict[str, Any]) -> set[str]:
    return {name for retry in state.get("Retry", []) for name in retry["ErrorEquals"]}


def worst_seconds(state: dict[str, Any]) -> float:
    """How long a state can take: every attempt its Retry allows, each to its TimeoutSeconds
    (an error may come at the last moment), and the longest wait before each retry. A
    throttled or refused invoke ends at once (the function never ran): its wait alone counts."""
    attempts, waits = 1, 0.0
    for retry in state.get("Retry", []):
        for n in range(retry["MaxAttempts"]):
            waits += min(
                retry["IntervalSeconds"] * retry["BackoffRate"] ** n, retry["MaxDelaySeconds"]
            )
        if not set(retry["ErrorEquals"]) <= {*LAMBDA_FAST, "Lambda.TooManyRequestsException"}:
            attempts += retry["MaxAttempts"]
    return float(attempts * state["TimeoutSeconds"] + waits)


def test_every_task_has_a_timeout() -> None:
    missing = [
        name for name, state in tasks(definition()["States"]) if "TimeoutSeconds" not in state
    ]
    assert not missing, f"Tasks without TimeoutSeconds (States.Timeout never fires): {missing}"


def test_the_sync_chains_end_within_the_http_apis_30_seconds() -> None:
    states = definition()["States"]
    route, traditional = worst_seconds(states["Route"]), worst_seconds(states["Traditional"])
    # The model states share one budget from the execution's start (SYNC_BUDGET_SECONDS, in
    # code): whichever runs first may take its whole backstop, those after it end at once.
    model = max(worst_seconds(states[name]) for name in MODEL_STATES)
    assert route + model + traditional < HTTP_API_SECONDS
    assert route + worst_seconds(states["Rag"]) + traditional < HTTP_API_SECONDS


def test_every_task_retries_lambdas_own_errors_and_throttling_with_jitter() -> None:
    for name, state in tasks(definition()["States"]):
        if name in MODEL_STATES:  # the next provider is their retry: a Catch of everything
            assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"], name
        elif name in SYNC_STATES:  # a timed-out invoke goes to the fallback, within 30 s
            assert retried(state) >= LAMBDA_FAST, name
            assert not retried(state) & {"States.Timeout", "Lambda.ClientExecutionTimeoutException"}
        else:
            assert retried(state) >= LAMBDA_TRANSIENT, name
        throttle = [
            r for r in state["Retry"] if "Lambda.TooManyRequestsException" in r["ErrorEquals"]
        ]
        assert throttle and throttle[0]["JitterStrategy"] == "FULL", name
        for retry in state["Retry"]:
            assert retry.get("MaxDelaySeconds"), f"{name}: backoff without a ceiling"


def test_each_state_retries_only_what_it_can_raise() -> None:
    states = dict(tasks(definition()["States"]))
    for name, state in states.items():
        names = retried(state)
        assert "ChunkStoreRefusedError" not in names, f"{name} retries a refusal"
        assert "TransientError" not in names, f"{name}: no function raises the base class"
        if name not in ("PlanJob",):  # catalog mode: the plan asks the model for its catalog
            assert not {n for n in names if n.startswith("LLM")}, f"{name} cannot raise LLM errors"
        assert "VectorStoreUnavailableError" not in names, f"{name}: the store down degrades"
    # The job's writers retry a failed write; the sync path's states never write a chunk.
    for name in ("WriteChunk", "Finalize", "RecordFailure", "PlanJob"):
        assert "ChunkWriteError" in retried(states[name]), name
    for name in ("Route", "Traditional", *MODEL_STATES, "Rag"):
        assert "ChunkWriteError" not in retried(states[name]), name
    # The states that read the store back retry a read S3 throttled; no other reads it.
    for name, state in states.items():
        reads = name in ("Finalize", "RecordFailure")
        assert ("ChunkStoreUnavailableError" in retried(state)) == reads, name
    # Throttling under a 40-wide Map: enough tries to outlast a burst.
    throttle = next(
        r
        for r in states["WriteChunk"]["Retry"]
        if r["ErrorEquals"] == ["Lambda.TooManyRequestsException"]
    )
    assert throttle["MaxAttempts"] >= 6


def _map_exit_bytes(workflows: LocalWorkflows, arn: str) -> int:
    exits = [e for e in workflows.history(arn) if e["type"] == "MapStateExited"]
    assert len(exits) == 1
    return len(exits[0]["stateExitedEventDetails"]["output"])


def _map_enter_bytes(workflows: LocalWorkflows, arn: str) -> int:
    enters = [e for e in workflows.history(arn) if e["type"] == "MapStateEntered"]
    return len(enters[0]["stateEnteredEventDetails"]["input"])


def test_the_maps_output_does_not_grow_with_its_chunks(
    workflows: LocalWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    grown = {}
    for chunks in (3, 60):
        monkeypatch.setenv("JOB_CHUNK_RECORDS", "10")
        job = {"mode": "job", "job_id": f"job-map-{chunks}",
               "request": {"entity": "user", "count": chunks * 10, "seed": 5}}  # fmt: skip
        done = workflows.run("JobStateMachine", job)
        assert done["status"] == "SUCCEEDED", done.get("cause")
        assert json.loads(done["output"])["chunks"] == chunks  # Finalize found every chunk
        arn = done["executionArn"]
        grown[chunks] = _map_exit_bytes(workflows, arn) - _map_enter_bytes(workflows, arn)
    assert grown == {3: 0, 60: 0}  # what leaves the Map is what entered it: no results


def test_a_refused_write_fails_the_job_at_once(
    workflows: LocalWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .runtime import writing_chunk

    monkeypatch.setenv("JOB_CHUNK_RECORDS", "100")
    workflows.inject(
        "TraditionalFunction", "ChunkStoreRefusedError", times=5, when=writing_chunk(1)
    )
    job = {"mode": "job", "job_id": "job-refused", "request": {"entity": "cart", "count": 300}}
    done = workflows.run("JobStateMachine", job)
    assert done["status"] == "FAILED"
    writes = [e["store"]["index"] for name, e in workflows.calls if "store" in e]
    assert writes.count(1) == 1  # not retried: access denied stays denied
