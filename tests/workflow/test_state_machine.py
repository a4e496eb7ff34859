"""The workflow's ASL, run by moto's Step Functions interpreter against the real handlers.

Every path of ``statemachines/workflow.asl.json``: the routed path and its fallbacks, Retry on
transient errors, Catch once retries are exhausted, no retry for an unknown error, and a
25-chunk job whose chunks land exactly once although one fails on its first attempt.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tda import wiring
from tda.app.service import plan_request
from tda.domain.contract import GenerateRequest, OutputFormat
from tda.paths.traditional.bulk import stream_output
from tda_local import lambdas
from tda_local.workflows import LocalWorkflows

from ..llm.scripted import Transport, status
from .runtime import writing_chunk

TRANSIENT_ATTEMPTS = 4  # MaxAttempts 3: the first try and three retries


pytestmark = pytest.mark.usefixtures("fresh_calls")


def sync(workflows: LocalWorkflows, request: dict[str, Any]) -> dict[str, Any]:
    return workflows.run("SyncStateMachine", {"mode": "sync", "request": request})


def called(workflows: LocalWorkflows) -> list[str]:
    return [name for name, _ in workflows.calls]


def tasks_scheduled(workflows: LocalWorkflows, execution_arn: str) -> int:
    return sum(e["type"] == "TaskScheduled" for e in workflows.history(execution_arn))


def test_a_traditional_request_is_served_by_the_traditional_task(
    workflows: LocalWorkflows,
) -> None:
    done = sync(workflows, {"entity": "cart", "count": 5, "seed": 3})
    assert done["status"] == "SUCCEEDED"
    response = json.loads(done["output"])
    assert response["record_count"] == 5 and len(json.loads(response["data"])) == 5
    assert response["metadata"]["routed_path"] == "traditional"
    assert response["metadata"]["fallback_reason"] == ""
    assert called(workflows) == ["RouterFunction", "TraditionalFunction"]


@pytest.mark.parametrize(
    ("request_fields", "routed", "chain", "served"),
    [
        (
            {"learn_from_history": True},
            "rag",
            ["RagFunction", "TraditionalFunction"],
            "traditional generation",
        ),
    ],
)
def test_each_model_path_falls_back_in_order_and_says_why(
    workflows: LocalWorkflows,
    request_fields: dict[str, Any],
    routed: str,
    chain: list[str],
    served: str,
) -> None:
    done = sync(workflows, {"entity": "cart", "count": 4, **request_fields})
    assert done["status"] == "SUCCEEDED"
    metadata = json.loads(done["output"])["metadata"]
    assert metadata["routed_path"] == routed
    assert metadata["generation_path"] == ("llm" if served.startswith("llm") else "traditional")
    # PathUnavailableError is not transient: caught at once, never retried
    assert called(workflows) == ["RouterFunction", *chain]
    assert "PathUnavailableError" in metadata["fallback_reason"]
    assert metadata["fallback_reason"].startswith(f"{routed} failed")
    assert metadata["fallback_reason"].endswith(f"served by {served}")


def test_with_only_an_openai_compatible_server_its_state_is_the_first_one_run(
    workflows: LocalWorkflows,
) -> None:
    # No Anthropic key (the session's scripted server is the OpenAI-compatible one): the Llm
    # state failed at once on every request, and every response said "llm failed
    # (PathUnavailableError: ... anthropic provider is not configured)".
    done = sync(workflows, {"entity": "cart", "count": 4, "context": "a long and detailed story"})
    assert done["status"] == "SUCCEEDED"
    metadata = json.loads(done["output"])["metadata"]
    assert (metadata["routed_path"], metadata["generation_path"]) == ("llm", "llm")
    assert metadata["fallback_reason"] == "" and metadata["llm"]["provider"] == "openai"
    assert [(name, event.get("provider")) for name, event in workflows.calls] == [
        ("RouterFunction", None),
        ("LlmFunction", "openai"),
    ]


def test_a_hybrid_request_is_served_by_its_own_state(workflows: LocalWorkflows) -> None:
    # The test's store is empty: the hybrid state's model writes without examples, and says so.
    fields = {"learn_from_history": True, "context": "a long and detailed story"}
    done = sync(workflows, {"entity": "cart", "count": 4, **fields})
    metadata = json.loads(done["output"])["metadata"]
    assert metadata["routed_path"] == "hybrid" and metadata["generation_path"] == "llm"
    assert called(workflows) == ["RouterFunction", "HybridFunction"]
    assert any("no examples retrieved" in n for n in metadata["rag"]["notes"])


def test_with_no_model_a_request_for_the_llm_is_routed_traditional(
    workflows: LocalWorkflows, no_model: None
) -> None:
    done = sync(workflows, {"entity": "cart", "count": 4, "context": "a long and detailed story"})
    metadata = json.loads(done["output"])["metadata"]
    assert metadata["routed_path"] == "traditional" and metadata["fallback_reason"] == ""
    assert "llm not configured" in metadata["routing_reason"]
    assert called(workflows) == ["RouterFunction", "TraditionalFunction"]


def test_a_transient_error_is_retried_then_succeeds(workflows: LocalWorkflows) -> None:
    workflows.inject("TraditionalFunction", "Lambda.ServiceException", times=1)
    done = sync(workflows, {"entity": "order", "count": 3})
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"])["record_count"] == 3
    assert called(workflows) == ["RouterFunction", "TraditionalFunction", "TraditionalFunction"]
    assert tasks_scheduled(workflows, done["executionArn"]) == 3


def test_a_failed_model_state_moves_on_to_the_next_provider_without_a_workflow_retry(
    workflows: LocalWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The llm Lambda retried its provider itself, within its deadline (tda.paths.llm.policy);
    # the workflow asking again would only spend the HTTP API's 30 s twice.
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")  # both providers: Llm, then LlmOpenAI
    wiring.install()
    workflows.inject("LlmFunction", "LLMRateLimitedError", times=2)
    try:
        done = sync(workflows, {"entity": "review", "count": 2, "context": "angry about shipping"})
    finally:
        monkeypatch.undo()
        wiring.install()
    assert done["status"] == "SUCCEEDED"
    metadata = json.loads(done["output"])["metadata"]
    assert called(workflows) == [
        "RouterFunction",
        "LlmFunction",
        "LlmFunction",
        "TraditionalFunction",
    ]
    assert "llm failed (LLMRateLimitedError" in metadata["fallback_reason"]
    assert "llm_openai failed (LLMRateLimitedError" in metadata["fallback_reason"]


def test_the_sync_chain_fits_the_http_apis_30_seconds() -> None:
    import yaml

    root = Path(__file__).resolve().parents[2]
    states = json.loads((root / "statemachines" / "workflow.asl.json").read_text())["States"]
    sync = ["Route", "Hybrid", "Llm", "LlmOpenAI", "Rag", "Traditional"]
    # Every Task has a backstop under the HTTP API's 30 s ...
    assert all(0 < states[name]["TimeoutSeconds"] < 30 for name in sync)
    # ... and the model states share one budget from the execution's start (time_left).
    for name in ("Hybrid", "Llm", "LlmOpenAI", "Rag"):
        payload = states[name]["Parameters"]["Payload"]
        assert payload["execution_started.$"] == "$$.Execution.StartTime"
    from tda.app.settings import model_settings

    assert model_settings().sync_budget_seconds < 30  # counted from the start: Route included
    loader = yaml.SafeLoader
    loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((root / "template.yaml").read_text(), Loader=loader)
    llm = template["Resources"]["LlmFunction"]["Properties"]
    assert states["Llm"]["TimeoutSeconds"] <= llm["Timeout"]


def test_a_model_state_started_late_gives_up_at_once(workflows: LocalWorkflows) -> None:
    from datetime import UTC, datetime, timedelta

    from tda.app import operations
    from tda.domain.errors import LLMTimeoutError

    late = (datetime.now(UTC) - timedelta(seconds=25)).isoformat()
    request = {"entity": "review", "count": 2, "context": "reviews of kettles"}
    with pytest.raises(LLMTimeoutError, match="no time left"):
        operations.model_path(request, "llm", provider="openai", execution_started=late)
    early = datetime.now(UTC).isoformat()
    served = operations.model_path(request, "llm", provider="openai", execution_started=early)
    assert served["metadata"]["generation_path"] == "llm"


def test_an_unknown_error_is_never_retried(workflows: LocalWorkflows) -> None:
    workflows.inject("TraditionalFunction", "SomethingUnexpectedError", times=1)
    done = sync(workflows, {"entity": "cart", "count": 2})
    assert done["status"] == "FAILED"
    assert done["error"] == "SomethingUnexpectedError"
    assert called(workflows) == ["RouterFunction", "TraditionalFunction"]


def test_bad_input_fails_at_the_route_step_with_the_field(workflows: LocalWorkflows) -> None:
    done = sync(workflows, {"entity": "cart", "count": 0})
    assert done["status"] == "FAILED" and done["error"] == "InvalidRequestError"
    assert "count" in done["cause"]
    assert called(workflows) == ["RouterFunction"]


def _job(workflows: LocalWorkflows, job_id: str, request: dict[str, Any]) -> dict[str, Any]:
    return workflows.run("JobStateMachine", {"mode": "job", "job_id": job_id, "request": request})


def _store_root() -> Path:
    return Path(os.environ["TDA_CHUNK_STORE"].removeprefix("file://"))


def test_a_25_chunk_job_lands_every_chunk_exactly_once_despite_a_failed_write(
    workflows: LocalWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOB_CHUNK_RECORDS", "100")
    workflows.inject("TraditionalFunction", "ChunkWriteError", times=1, when=writing_chunk(7))
    request = {"entity": "cart", "count": 2500, "seed": 41, "output_format": "NDJSON"}
    done = _job(workflows, "job-25", request)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    assert json.loads(done["output"])["chunks"] == 25

    writes = [e["store"]["index"] for name, e in workflows.calls if "store" in e]
    assert sorted(writes) == sorted([*range(25), 7])  # chunk 7 twice (retried), others once

    root = _store_root() / "job-25"
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["status"] == "SUCCEEDED" and manifest["record_count"] == 2500
    assert [c["index"] for c in manifest["chunks"]] == list(range(25))
    files = sorted(p.name for p in root.glob("chunk-*.ndjson"))
    assert files == [f"chunk-{i:05d}.ndjson" for i in range(25)]
    for entry in manifest["chunks"]:
        data = (root / Path(entry["key"]).name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert data.count(b"\n") == entry["record_count"] == 100

    # The chunks, in order, are the whole seeded output: nothing lost, nothing twice.
    whole = b"".join(
        stream_output(plan_request(GenerateRequest.model_validate(request)), OutputFormat.NDJSON)
    )
    assert b"".join((root / name).read_bytes() for name in files) == whole


def test_a_finalize_whose_reads_s3_throttled_is_tried_again(
    workflows: LocalWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Finalize reads every chunk's entry back (1,000 GETs for 1,000 chunks): a throttled read
    # failed the job as a botocore ClientError, which nothing retried.
    monkeypatch.setenv("JOB_CHUNK_RECORDS", "500")

    def finalizing(event: dict[str, Any]) -> bool:
        return event.get("action") == "finalize"

    workflows.inject("JobsFunction", "ChunkStoreUnavailableError", times=2, when=finalizing)
    done = _job(workflows, "job-throttled", {"entity": "user", "count": 1500, "seed": 2})
    assert done["status"] == "SUCCEEDED", done.get("cause")
    finals = [name for name, e in workflows.calls if e.get("action") == "finalize"]
    assert len(finals) == 3  # twice refused, then written
    manifest = json.loads((_store_root() / "job-throttled" / "manifest.json").read_text())
    assert manifest["status"] == "SUCCEEDED" and manifest["record_count"] == 1500


def test_a_chunk_failing_past_its_retries_fails_the_job_and_the_manifest_says_so(
    workflows: LocalWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOB_CHUNK_RECORDS", "500")
    workflows.inject(
        "TraditionalFunction", "ChunkWriteError", times=TRANSIENT_ATTEMPTS, when=writing_chunk(1)
    )
    done = _job(workflows, "job-broken", {"entity": "user", "count": 1500, "seed": 2})
    assert done["status"] == "FAILED" and done["error"] == "JobFailed"
    manifest = json.loads((_store_root() / "job-broken" / "manifest.json").read_text())
    assert manifest["status"] == "FAILED"
    assert manifest["error"]["Error"] == "ChunkWriteError"


def test_locally_a_jobs_chunks_take_turns_leaving_the_process_to_its_requests(
    workflows: LocalWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Map asks for four chunks at once (a job's default); in AWS each is a Lambda of its own.
    # Locally they share the process that serves synchronous requests, which runs one thread's
    # Python at a time: four at once wrote no faster than one and took four shares from those
    # requests. Each write here holds on for 50 ms, so any two let run together would overlap.
    monkeypatch.setenv("JOB_CHUNK_RECORDS", "100")
    real = lambdas.invoke
    lock = threading.Lock()
    running: list[int] = []
    most = 0

    def counted(name: str, event: dict[str, Any]) -> Any:
        nonlocal most
        if "store" not in event:
            return real(name, event)
        with lock:
            running.append(event["store"]["index"])
            most = max(most, len(running))
        try:
            time.sleep(0.05)
            return real(name, event)
        finally:
            with lock:
                running.remove(event["store"]["index"])

    monkeypatch.setattr(lambdas, "invoke", counted)
    done = _job(workflows, "job-turns", {"entity": "cart", "count": 800, "seed": 3})
    assert done["status"] == "SUCCEEDED", done.get("cause")
    assert json.loads(done["output"])["chunks"] == 8
    assert most == 1


def test_a_job_with_bad_input_fails_at_planning(workflows: LocalWorkflows) -> None:
    done = _job(workflows, "job-bad", {"entity": "cart", "count": 2_000_000})
    assert done["status"] == "FAILED" and done["error"] == "InvalidRequestError"
    assert "count" in done["cause"]
    assert called(workflows) == ["JobsFunction"]


def test_a_jobs_metadata_names_why_the_model_wrote_no_catalog(
    workflows: LocalWorkflows, openai_model: Transport
) -> None:
    # With the model server down, a context job's plan step failed to have its catalog
    # written, and the manifest said only "found no catalog stored for this context" (what its
    # last step found), not why: the plan step's failure was dropped.
    openai_model.then(*[status(401)] * 4)  # a refused key: no retry, every attempt
    request = {"entity": "cart", "count": 1500, "seed": 2, "context": "carts for a ski trip"}
    done = _job(workflows, "job-no-catalog", request)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    manifest = json.loads((_store_root() / "job-no-catalog" / "manifest.json").read_bytes())
    meta = manifest["metadata"]
    assert meta["routed_path"] == "llm" and meta["generation_path"] == "traditional"
    assert "401" in meta["fallback_reason"], meta["fallback_reason"]
    assert "found no catalog" not in meta["fallback_reason"]
