"""In-memory stand-ins for the workflow port, for tests of the job use cases."""

from __future__ import annotations

from typing import Any


class RunningRunner:
    """Every execution starts and stays RUNNING; nothing else is ever asked of it."""

    def start(self, state_machine: str, name: str, body: str) -> str:
        return f"arn:execution:{name}"

    def describe(self, execution_arn: str) -> dict[str, Any] | None:
        return {"executionArn": execution_arn, "status": "RUNNING"}

    def run_sync(self, state_machine: str, body: str) -> dict[str, Any]:
        raise NotImplementedError

    def stop(self, execution_arn: str, error: str, cause: str) -> None:
        return None

    def events(self, execution_arn: str) -> list[dict[str, Any]]:
        return []
