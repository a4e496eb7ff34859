"""The workflow port on Step Functions (boto3); locally the same calls reach moto's interpreter.

moto has no ``StartSyncExecution``, so with ``TDA_SYNC_EXECUTION=poll`` (set by the local
runtime) a sync run starts the execution and polls it: the same definition, the same result,
the same history. boto3 is imported on first use: the fast path never needs it.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from tda.ports.workflow import FINISHED, ExecutionExistsError

SYNC_TIMEOUT_S = 300.0  # an Express workflow's own limit is 5 minutes
# The first poll soon (a traditional execution ends in tens of ms), then less and less often:
# every poll is a whole boto3 + moto call holding the GIL, and eight requests polling every
# 10 ms starved the executions they waited on (a Route step timed out).
FIRST_POLL_S = 0.01
POLL_GROWTH = 1.5
MAX_POLL_S = 0.1


class StepFunctionsRunner:
    """A client per call: the local runtime's moto patches whatever client exists at the time."""

    def _client(self) -> Any:
        import boto3

        return boto3.client("stepfunctions")

    def run_sync(self, state_machine: str, body: str) -> dict[str, Any]:
        client = self._client()
        if os.environ.get("TDA_SYNC_EXECUTION") == "poll":
            return _start_and_wait(client, state_machine, body)
        result: dict[str, Any] = client.start_sync_execution(
            stateMachineArn=state_machine, input=body
        )
        return result

    def start(self, state_machine: str, name: str, body: str) -> str:
        client = self._client()
        try:
            execution = client.start_execution(stateMachineArn=state_machine, name=name, input=body)
        except client.exceptions.ExecutionAlreadyExists as exc:
            raise ExecutionExistsError(name) from exc
        arn: str = execution["executionArn"]
        return arn

    def describe(self, execution_arn: str) -> dict[str, Any] | None:
        client = self._client()
        try:
            found: dict[str, Any] = client.describe_execution(executionArn=execution_arn)
        except client.exceptions.ExecutionDoesNotExist:
            return None
        return found

    def stop(self, execution_arn: str, error: str, cause: str) -> None:
        self._client().stop_execution(executionArn=execution_arn, error=error, cause=cause)

    def events(self, execution_arn: str) -> list[dict[str, Any]]:
        return execution_events(self._client(), execution_arn)


def execution_events(client: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of an execution's history, page after page (raw Step Functions shape)."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = client.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _start_and_wait(client: Any, arn: str, body: str) -> dict[str, Any]:
    started = client.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex, input=body)
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    pause = FIRST_POLL_S
    while True:
        described: dict[str, Any] = client.describe_execution(executionArn=started["executionArn"])
        if described["status"] in FINISHED:
            return described
        if time.monotonic() > deadline:
            client.stop_execution(executionArn=started["executionArn"], cause="sync timeout")
            return {**described, "status": "TIMED_OUT"}
        time.sleep(pause)
        pause = min(pause * POLL_GROWTH, MAX_POLL_S)
