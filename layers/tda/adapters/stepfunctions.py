"""The workflow port on Step Functions (boto3); locally the same calls reach moto's interpreter
(``tda_local.workflows`` answers ``StartSyncExecution``, which moto does not route).

boto3 is imported on first use: the fast path never needs it. Its client is kept
(``tda.adapters.aws_clients``).
"""

from __future__ import annotations

from typing import Any

from tda.adapters import aws_clients
from tda.ports.workflow import ExecutionExistsError


class StepFunctionsRunner:
    """The workflow port's calls on the client of the current AWS environment."""

    def _client(self) -> Any:
        return aws_clients.client("stepfunctions")

    def run_sync(self, state_machine: str, body: str) -> dict[str, Any]:
        client = self._client()
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
