"""The workflow port: run the state machines (Step Functions in AWS, moto's interpreter locally).

The adapter is ``tda.adapters.stepfunctions``. Executions are described in Step Functions' own
shape (``status``, ``output``, ``error``, ``cause``, ``executionArn``), which the use cases read.
"""

from __future__ import annotations

from typing import Any, Protocol

from tda.domain.errors import TdaError

FINISHED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})  # an execution's end


class ExecutionExistsError(TdaError, RuntimeError):
    """An execution of that name already exists (a job submitted twice at once)."""


class WorkflowRunner(Protocol):
    def run_sync(self, state_machine: str, body: str) -> dict[str, Any]:
        """Run to its end and describe it (``StartSyncExecution``'s answer)."""
        ...

    def start(self, state_machine: str, name: str, body: str) -> str:
        """Start an execution; its ARN. ``ExecutionExistsError`` if ``name`` is taken."""
        ...

    def describe(self, execution_arn: str) -> dict[str, Any] | None:
        """The execution, or None when it no longer exists."""
        ...

    def stop(self, execution_arn: str, error: str, cause: str) -> None: ...

    def events(self, execution_arn: str) -> list[dict[str, Any]]:
        """Every event of its history, in order (the raw Step Functions shape)."""
        ...
