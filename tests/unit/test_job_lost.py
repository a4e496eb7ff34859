"""A job is declared lost (FAILED, ExecutionLost) only when its execution is really gone, on
in-memory ports: a runtime that once answers "does not exist" for a live execution (seen under
load) must not fail a healthy job for good."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tda.app import job_api, ports_in_use
from tda.ports.chunk_store import InMemoryChunkStore

from .runners import RunningRunner


class FlakyRunner(RunningRunner):
    """An execution that the runtime fails to find ``misses`` times, then finds running."""

    def __init__(self, misses: int) -> None:
        self.misses = misses
        self.looks = 0

    def describe(self, execution_arn: str) -> dict[str, Any] | None:
        self.looks += 1
        if self.looks <= self.misses:
            return None
        return super().describe(execution_arn)

    def stop(self, execution_arn: str, error: str, cause: str) -> None:
        raise NotImplementedError


@pytest.fixture
def on_ports(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemoryChunkStore]:
    monkeypatch.setenv("JOB_STATE_MACHINE_ARN", "arn:states:jobs")
    monkeypatch.setattr(job_api, "LOST_RECHECK_SECONDS", 0.0)
    store = InMemoryChunkStore()
    real = ports_in_use.installed()
    yield store
    ports_in_use.install(real)


def submit(store: InMemoryChunkStore, runner: FlakyRunner) -> str:
    ports_in_use.install(
        ports_in_use.PortsInUse(chunk_store=lambda: store, workflow=lambda: runner)
    )
    answer = job_api.submit({"entity": "cart", "count": 3000, "seed": 1})
    return str(answer["job_id"])


def test_one_miss_does_not_lose_a_running_job(on_ports: InMemoryChunkStore) -> None:
    runner = FlakyRunner(misses=1)
    job_id = submit(on_ports, runner)
    assert job_api.status(job_id)["status"] == "RUNNING"
    assert job_api.status(job_id)["status"] == "RUNNING"  # and nothing was recorded


def test_a_job_whose_execution_is_gone_fails_with_the_reason(on_ports: InMemoryChunkStore) -> None:
    runner = FlakyRunner(misses=10**6)
    job_id = submit(on_ports, runner)
    status = job_api.status(job_id)
    assert status["status"] == "FAILED" and status["error"]["error"] == "ExecutionLost"
    assert runner.looks == job_api.LOST_CONFIRMATIONS
