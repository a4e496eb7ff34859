"""What the workflow tests ask of the local runtime."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tda_local import lambdas
from tda_local.apigw import http_event, json_body
from tda_local.workflows import LocalWorkflows

Invoke = Callable[[str, str], dict[str, Any]]  # (method, path) -> the api function's response


def api_call(method: str, path: str, body: Any = None, query: Any = None) -> dict[str, Any]:
    """The ``api`` function's response to a request, as API Gateway would pass it on."""
    response: dict[str, Any] = lambdas.invoke("api", http_event(method, path, body, query))
    return response


def settled(job_id: str, invoke: Invoke = api_call) -> dict[str, Any]:
    """The job's status once it is no longer RUNNING (a minute at most)."""
    for _ in range(600):
        status: dict[str, Any] = json_body(invoke("GET", f"/v1/jobs/{job_id}"))
        if status["status"] != "RUNNING":
            return status
        time.sleep(0.1)
    raise AssertionError(f"{job_id} still running")


def executions(workflows: LocalWorkflows, machine: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = workflows.client().list_executions(
        stateMachineArn=workflows.arns[machine]
    )["executions"]
    return listed


def latest_execution(workflows: LocalWorkflows, machine: str) -> str:
    newest = max(executions(workflows, machine), key=lambda e: e["startDate"])
    arn: str = newest["executionArn"]
    return arn


def writing_chunk(index: int) -> Callable[[dict[str, Any]], bool]:
    """Matches the traditional function's events that write job chunk ``index``."""
    return lambda event: event.get("store", {}).get("index") == index
