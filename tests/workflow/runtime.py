"""What the workflow tests ask of the local runtime."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tda_local.workflows import LocalWorkflows


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
