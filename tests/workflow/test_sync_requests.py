"""Synchronous requests as callers send them (router, HTTP API, gRPC shim) with the workflow
runtime up: traditional ones take the fast path, model-path ones run through the Express
workflow, and the response says which.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tda.adapters.aws_clients import forget_clients
from tda.app.sync_workflow import WorkflowFailedError
from tda.domain.errors import InvalidRequestError
from tda_local import lambdas
from tda_local.apigw import http_event, json_body
from tda_local.workflows import LocalWorkflows
from testdata.v1 import test_data_pb2 as pb
from testdata.v1 import test_data_pb2_grpc as pb_grpc

from ..shim import running_shim
from .runtime import executions

STORY = "carts for people training for their first marathon"


pytestmark = pytest.mark.usefixtures("fresh_calls")


def sync_executions(workflows: LocalWorkflows) -> list[dict[str, Any]]:
    return executions(workflows, "SyncStateMachine")


def router(request: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = lambdas.invoke("router", {"request": request})
    return result


def test_a_model_path_request_runs_through_the_workflow_and_says_so(
    workflows: LocalWorkflows,
) -> None:
    response = router({"entity": "cart", "count": 4, "seed": 9, "context": STORY})
    meta = response["metadata"]
    assert meta["served_via"] == "workflow"
    assert (meta["routed_path"], meta["generation_path"]) == ("llm", "llm")
    # No Anthropic key here: the router names the OpenAI-compatible server (the session's
    # scripted one) as the first provider, and its state serves with nothing failed on the way.
    assert meta["fallback_reason"] == ""
    assert [name for name, _ in workflows.calls] == ["RouterFunction", "LlmFunction"]
    history = workflows.history(meta["execution_arn"])
    assert history[-1]["type"] == "ExecutionSucceeded"
    assert sum(e["type"] == "TaskFailed" for e in history) == 0
    records = json.loads(response["data"])
    assert len(records) == 4 and response["record_count"] == 4
    assert meta["llm"]["provider"] == "openai" and meta["llm"]["calls"] >= 1
    # The model proposes, the core disposes: ids and dates are the traditional path's for the
    # same seed; the items are the model's.
    direct = lambdas.invoke("traditional", {"request": {"entity": "cart", "count": 4, "seed": 9}})
    traditional = json.loads(direct["data"])
    assert [r["cart_id"] for r in records] == [r["cart_id"] for r in traditional]
    assert [r["created_at"] for r in records] == [r["created_at"] for r in traditional]
    assert [r["items"] for r in records] != [r["items"] for r in traditional]


def test_a_traditional_request_never_starts_an_execution(workflows: LocalWorkflows) -> None:
    before = len(sync_executions(workflows))
    response = router({"entity": "cart", "count": 3})
    assert response["metadata"]["served_via"] == "fast_path"
    assert response["metadata"]["execution_arn"] == ""
    assert workflows.calls == [] and len(sync_executions(workflows)) == before


def test_the_http_api_serves_a_rag_request_through_the_workflow(workflows: LocalWorkflows) -> None:
    body: dict[str, Any] = {
        "request_id": "rag-1",
        "entity": "order",
        "count": 2,
        "learn_from_history": True,
    }
    response = lambdas.invoke("api", http_event("POST", "/v1/generate", body))
    assert response["statusCode"] == 200
    answer = json_body(response)
    assert answer["request_id"] == "rag-1" and answer["record_count"] == 2
    assert answer["metadata"]["served_via"] == "workflow"
    assert answer["metadata"]["fallback_reason"].startswith("rag failed (PathUnavailableError")


def test_a_response_over_the_state_size_cap_comes_back_through_the_chunk_store(
    workflows: LocalWorkflows, store: Path
) -> None:
    response = router({"entity": "review", "count": 1000, "seed": 5, "learn_from_history": True})
    assert response["metadata"]["served_via"] == "workflow"
    assert len(json.loads(response["data"])) == 1000
    size = len(json.dumps(response))
    assert size > 240_000
    # What went through Step Functions was a reference, and nothing is left behind.
    described = workflows.client().describe_execution(
        executionArn=response["metadata"]["execution_arn"]
    )
    output = json.loads(described["output"])
    assert output["offloaded"].startswith("responses/") and output["bytes"] > 240_000
    assert "data" not in output and len(described["output"]) < 1000
    assert list((store / "responses").iterdir()) == []


def test_an_offloaded_response_whose_removal_fails_is_still_the_callers(
    workflows: LocalWorkflows, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read back, then removed: a removal S3 throttled threw away a response already read (the
    # bucket's lifecycle rule removes what is left).
    from tda.adapters.chunk_stores import FileChunkStore
    from tda.ports.chunk_store import ChunkStoreUnavailableError

    def throttled(self: FileChunkStore, key: str) -> None:
        raise ChunkStoreUnavailableError(key, "SlowDown")

    monkeypatch.setattr(FileChunkStore, "delete", throttled)
    response = router({"entity": "review", "count": 1000, "seed": 5, "learn_from_history": True})
    assert response["metadata"]["served_via"] == "workflow"
    assert len(json.loads(response["data"])) == 1000
    left = list((store / "responses").iterdir())
    assert len(left) == 1  # left for the lifecycle rule
    left[0].unlink()  # the store is the module's: the next test counts what it leaves


def test_if_no_execution_can_start_traditional_serves_and_says_why(
    workflows: LocalWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = workflows.arns["SyncStateMachine"].replace("SyncStateMachine", "Gone")
    monkeypatch.setenv("SYNC_STATE_MACHINE_ARN", missing)
    response = router({"entity": "cart", "count": 2, "context": STORY})
    meta = response["metadata"]
    assert meta["served_via"] == "fast_path" and response["record_count"] == 2
    assert "could not start" in meta["fallback_reason"]
    assert "StateMachineDoesNotExist" in meta["fallback_reason"]
    assert workflows.calls == []


def test_a_routing_step_that_fails_falls_back_to_traditional_and_says_why(
    workflows: LocalWorkflows,
) -> None:
    # The router Lambda timing out or crashing in the workflow is not the last resort failing:
    # traditional generation serves, and the reason names the step that failed.
    workflows.inject("RouterFunction", "RouterCrashedError")
    response = router({"entity": "cart", "count": 3, "context": STORY})
    meta = response["metadata"]
    assert meta["served_via"] == "workflow" and response["record_count"] == 3
    assert meta["generation_path"] == "traditional"
    assert meta["fallback_reason"].startswith("route failed (RouterCrashedError")
    assert meta["fallback_reason"].endswith("served by traditional generation")
    assert [name for name, _ in workflows.calls] == ["RouterFunction", "TraditionalFunction"]


def test_an_execution_that_fails_outright_is_an_error_not_a_fallback(
    workflows: LocalWorkflows,
) -> None:
    # The last resort fails with an error no Retry names: the execution fails, and so does the
    # request (500 over HTTP), rather than being answered some other way.
    workflows.inject("TraditionalFunction", "DiskOnFireError")
    with pytest.raises(WorkflowFailedError, match="DiskOnFireError"):
        router({"entity": "cart", "count": 2, "learn_from_history": True})
    workflows.inject("TraditionalFunction", "DiskOnFireError")
    body: dict[str, Any] = {"request_id": "boom-1", "entity": "cart", "count": 2}
    body["learn_from_history"] = True
    response = lambdas.invoke("api", http_event("POST", "/v1/generate", body))
    assert response["statusCode"] == 500 and "boom-1" in json_body(response)["error"]


def test_bad_input_on_a_model_path_is_refused_before_any_execution(
    workflows: LocalWorkflows,
) -> None:
    before = len(sync_executions(workflows))
    with pytest.raises(InvalidRequestError) as caught:
        router({"entity": "cart", "count": 5000, "context": STORY})
    assert caught.value.issues[0].field == "count"
    with pytest.raises(InvalidRequestError) as caught:
        router({"entity": "cart", "count": 2, "context": STORY, "colour": "red"})
    assert caught.value.issues[0].field == "colour"
    assert workflows.calls == [] and len(sync_executions(workflows)) == before


def test_the_grpc_shim_serves_the_seed_review_example_through_the_workflow(
    workflows: LocalWorkflows,
) -> None:
    body: dict[str, Any] = {
        "domain": "ecommerce",
        "entity": "review",
        "count": 5,
        "hints": ["realistic", "varied sentiment"],
        "context": "Generate product reviews for wireless headphones with mixed opinions",
    }
    with running_shim() as target, grpc.insecure_channel(target) as channel:
        stub = pb_grpc.TestDataServiceStub(channel)
        response = stub.GenerateData(pb.GenerateRequest(**body))
    assert response.success and response.record_count == 5
    assert response.metadata.served_via == "workflow"
    assert response.metadata.execution_arn.startswith("arn:aws:states:")
    assert response.metadata.routed_path == "llm"
    assert "RouterFunction" in [name for name, _ in workflows.calls]


def _wide_schema(fields: int, description: str) -> dict[str, Any]:
    return {
        "fields": [
            {"name": f"f{i}", "type": "STRING", "description": description} for i in range(fields)
        ]
    }


def test_a_request_too_large_for_a_workflows_input_is_refused_before_it_starts(
    workflows: LocalWorkflows,
) -> None:
    """Step Functions takes at most 256 KB of input: a 300 KB request cannot start an
    execution in AWS, so it is a 422 naming the limit (it used to degrade without a word)."""
    before = len(sync_executions(workflows))
    body = {"entity": "wide", "count": 2, "context": STORY}
    body["schema"] = _wide_schema(480, "x" * 600)
    assert len(json.dumps(body)) > 256 * 1024
    response = lambdas.invoke("api", http_event("POST", "/v1/generate", body))
    assert response["statusCode"] == 422, json_body(response)
    detail = json_body(response)["details"][0]
    assert detail["field"] == "request" and "262,144" in detail["message"]
    job = lambdas.invoke("api", http_event("POST", "/v1/jobs", {**body, "count": 20_000}))
    assert job["statusCode"] == 422 and "262,144" in json_body(job)["error"]
    assert workflows.calls == [] and len(sync_executions(workflows)) == before
    fits = {**body, "schema": _wide_schema(40, "x" * 600)}  # well under: served
    assert lambdas.invoke("api", http_event("POST", "/v1/generate", fits))["statusCode"] == 200


@contextlib.contextmanager
def step_functions_calls() -> Iterator[list[str]]:
    """The names of the Step Functions API calls made while the context is open."""
    import boto3

    names: list[str] = []

    def count(model: Any, **_: Any) -> None:
        if model.service_model.service_name == "stepfunctions":
            names.append(model.name)

    session = boto3._get_default_session()
    session.events.register("before-call", count)
    forget_clients()  # a kept client was made before this handler: the next one has it
    try:
        yield names
    finally:
        session.events.unregister("before-call", count)
        forget_clients()


def test_a_sync_request_waiting_on_a_slow_step_makes_one_call_and_no_polls(
    workflows: LocalWorkflows,
) -> None:
    # StartSyncExecution locally as in AWS: one call, answered when the execution ends. It
    # used to start the execution and poll DescribeExecution (moto routes no sync call): a
    # boto3 + moto call holding the GIL each time, and up to a poll interval late.
    def slow_route(event: dict[str, Any]) -> bool:
        time.sleep(1.0)
        return False  # no fault: the step is only slow

    with step_functions_calls() as calls:
        workflows.inject("RouterFunction", "NeverRaised", when=slow_route)
        response = router({"entity": "cart", "count": 3, "context": STORY})
    assert response["metadata"]["served_via"] == "workflow"
    assert "RouterFunction" in [name for name, _ in workflows.calls]
    assert calls == ["StartSyncExecution"]
    history = workflows.history(response["metadata"]["execution_arn"])
    assert history[-1]["type"] == "ExecutionSucceeded"


def test_a_sync_execution_past_the_express_limit_is_stopped_and_the_request_fails(
    workflows: LocalWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tda_local import workflows as local_workflows

    monkeypatch.setattr(local_workflows, "SYNC_TIMEOUT_SECONDS", 0.3)

    def slow_route(event: dict[str, Any]) -> bool:
        time.sleep(1.5)
        return False

    before = {e["executionArn"] for e in sync_executions(workflows)}
    workflows.inject("RouterFunction", "NeverRaised", when=slow_route)
    with pytest.raises(WorkflowFailedError, match="TIMED_OUT"):
        router({"entity": "cart", "count": 3, "context": STORY})
    # It was stopped: it ends as soon as the slow step returns, ABORTED, not SUCCEEDED.
    for _ in range(100):
        ended = {e["status"] for e in sync_executions(workflows) if e["executionArn"] not in before}
        if "RUNNING" not in ended:
            break
        time.sleep(0.1)
    assert ended == {"ABORTED"}


def test_model_path_requests_share_one_step_functions_client(workflows: LocalWorkflows) -> None:
    # Making a boto3 client is ≈5 ms of CPU, and every model-path request made one, in the
    # router's Lambda as in `tda serve`: one per AWS environment now, made once and kept.
    import boto3

    made: list[str] = []

    def creating(**_: Any) -> None:
        made.append("stepfunctions")

    session = boto3._get_default_session()
    session.events.register("creating-client-class.stepfunctions", creating)
    try:
        for seed in (1, 2, 3):
            response = router({"entity": "cart", "count": 3, "seed": seed, "context": STORY})
            assert response["metadata"]["served_via"] == "workflow"
    finally:
        session.events.unregister("creating-client-class.stepfunctions", creating)
    assert len(made) <= 1


def test_a_sync_request_parses_no_json_path_it_has_parsed_before(
    workflows: LocalWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto parsed each JSONPath of each state it ran, and jsonpath_ng builds a new PLY lexer
    # and parser per parse: 13 parses and ≈10 ms of a RAG request through the workflow.
    from jsonpath_ng.parser import JsonPathParser

    built: list[str] = []
    init = JsonPathParser.__init__

    def counted(parser: Any, *args: Any, **kwargs: Any) -> None:
        built.append(type(parser).__name__)
        init(parser, *args, **kwargs)

    monkeypatch.setattr(JsonPathParser, "__init__", counted)
    router({"entity": "cart", "count": 3, "seed": 1, "context": STORY})  # every path seen once
    built.clear()
    response = router({"entity": "cart", "count": 3, "seed": 2, "context": STORY})
    assert response["metadata"]["served_via"] == "workflow"
    assert built == []


def test_a_sync_answer_waits_for_its_execution_to_be_whole(
    workflows: LocalWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto marks an execution SUCCEEDED and only then sets its output. Another execution
    ending in between woke the waiting StartSyncExecution, which answered SUCCEEDED with the
    output null: a 500 under load (test_slow_model, once). Here that window is held open."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    reflect = BaseExecutionWorkerCommunication._reflect_execution_status
    ended = workflows._executions_ended

    def status_then_output(comm: Any) -> None:
        if isinstance(comm.execution.exec_worker.env.program_state(), ProgramEnded):
            comm.execution.exec_status = ExecutionStatus.SUCCEEDED  # as moto: status first
            with ended:
                ended.notify_all()  # another execution ended just then
            time.sleep(0.2)
        reflect(comm)

    monkeypatch.setattr(
        BaseExecutionWorkerCommunication, "_reflect_execution_status", status_then_output
    )
    response = router({"entity": "cart", "count": 2, "seed": 3, "context": STORY})
    assert response["metadata"]["served_via"] == "workflow"
    assert len(json.loads(response["data"])) == 2
