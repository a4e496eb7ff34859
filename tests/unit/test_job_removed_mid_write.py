"""A job removed while one of its chunks is being written leaves nothing behind, on in-memory
ports: the removal lands in the one window no periodic check can see (after the writer's last
look, before its final writes), as it did now and then when a stream's caller went away."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest

from tda.app import job_api, jobs, ports_in_use
from tda.ports.chunk_store import ChunkStoreUnavailableError, InMemoryChunkStore, Piece

from .runners import RunningRunner


class RemovedAsTheChunkLands(InMemoryChunkStore):
    """Removes the job (as a stream's end does) the moment a chunk's body is stored."""

    def __init__(self) -> None:
        super().__init__()
        self.job_id = ""

    def put_pieces(self, key: str, pieces: Iterable[Piece]) -> None:
        super().put_pieces(key, pieces)
        if "/chunk-" in key and self.job_id:
            job_id, self.job_id = self.job_id, ""
            job_api.remove(job_id, self)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[RemovedAsTheChunkLands]:
    monkeypatch.setenv("JOB_STATE_MACHINE_ARN", "arn:states:jobs")
    store = RemovedAsTheChunkLands()
    real = ports_in_use.installed()
    ports_in_use.install(
        ports_in_use.PortsInUse(chunk_store=lambda: store, workflow=lambda: RunningRunner())
    )
    yield store
    ports_in_use.install(real)


def test_a_chunk_written_as_its_job_is_removed_leaves_nothing(
    store: RemovedAsTheChunkLands,
) -> None:
    request = {"entity": "cart", "count": 3000, "seed": 1}
    job_id = str(job_api.submit(request)["job_id"])
    plan = jobs.plan_and_mark(job_id, request)
    chunk = plan["chunks"][0]
    store.job_id = job_id
    with pytest.raises(jobs.JobCancelledError):
        jobs.write_chunk(job_id, 0, plan["request"], chunk["start"], chunk["count"])
    assert store.keys(f"{job_id}/") == []


def test_a_chunk_of_a_job_still_wanted_lands_whole(store: RemovedAsTheChunkLands) -> None:
    request = {"entity": "cart", "count": 3000, "seed": 1}
    job_id = str(job_api.submit(request)["job_id"])
    plan = jobs.plan_and_mark(job_id, request)
    chunk = plan["chunks"][0]
    entry = jobs.write_chunk(job_id, 0, plan["request"], chunk["start"], chunk["count"])
    assert entry["record_count"] == chunk["count"]
    assert {jobs.parts_key(job_id, 0), jobs.entry_key(job_id, 0), entry["key"]} <= set(
        store.keys(f"{job_id}/")
    )


class ReadsFailingNowAndThen(InMemoryChunkStore):
    """Every other read or look fails as a throttled S3 does (SlowDown)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False
        self.failed = 0

    def _maybe_fail(self, key: str) -> None:
        if self.failing:
            self.failed += 1
            if self.failed % 2:
                raise ChunkStoreUnavailableError(key, "SlowDown")

    def exists(self, key: str) -> bool:
        self._maybe_fail(key)
        return super().exists(key)

    def get(self, key: str) -> bytes:
        self._maybe_fail(key)
        return super().get(key)


def test_a_store_that_cannot_be_read_for_a_moment_does_not_cancel_the_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The writer looks for its job's cancellation as it writes: a look that failed (S3
    # throttling) read as "the job was removed" and the chunk stopped, its job failed.
    monkeypatch.setenv("JOB_STATE_MACHINE_ARN", "arn:states:jobs")
    store = ReadsFailingNowAndThen()
    real = ports_in_use.installed()
    ports_in_use.install(
        ports_in_use.PortsInUse(chunk_store=lambda: store, workflow=lambda: RunningRunner())
    )
    try:
        request = {"entity": "cart", "count": 3000, "seed": 1}
        job_id = str(job_api.submit(request)["job_id"])
        plan = jobs.plan_and_mark(job_id, request)
        chunk = plan["chunks"][0]
        store.failing = True
        entry = jobs.write_chunk(job_id, 0, plan["request"], chunk["start"], chunk["count"])
    finally:
        ports_in_use.install(real)
    assert store.failed >= 2 and entry["record_count"] == chunk["count"]
    assert entry["key"] in store.keys(f"{job_id}/")
