"""A long-running ``tda serve`` does not keep what AWS would not: a finished Express (sync)
execution is forgotten once it is a minute old (Express executions cannot be described in AWS
either), and so are the interpreter's finished threads; job (Standard) executions stay, their
history is what ``tda jobs history`` reads."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest
from moto.stepfunctions.parser.utils import TMP_THREADS

from tda.adapters.caches import StoreCache
from tda.adapters.chunk_stores import FileChunkStore
from tda_local import lambdas
from tda_local.workflows import EXPRESS_KEPT_SECONDS, LocalWorkflows

from .runtime import executions

pytestmark = pytest.mark.usefixtures("fresh_calls")


def model_request() -> None:
    request = {"entity": "cart", "count": 2, "context": "carts for a family moving house"}
    answer = lambdas.invoke("router", {"request": request})
    assert answer["metadata"]["served_via"] == "workflow"


def test_finished_sync_executions_and_threads_are_forgotten_jobs_are_kept(
    workflows: LocalWorkflows,
) -> None:
    job = workflows.start_execution(
        "JobStateMachine",
        {"mode": "job", "job_id": "job-kept", "request": {"entity": "user", "count": 10}},
    )
    assert workflows.wait(job)["status"] == "SUCCEEDED"
    before = set(TMP_THREADS)
    for _ in range(5):
        model_request()
    assert len(executions(workflows, "SyncStateMachine")) >= 5
    # Weakly: once forgotten, nothing holds them (the runtime's own janitor, every 30 s, may
    # have dropped some already: what it leaves must go too).
    ended = [weakref.ref(t) for t in TMP_THREADS if t not in before and not t.is_alive()]
    assert ended

    workflows.forget_finished(older_than_seconds=60)  # none is a minute old yet
    assert len(executions(workflows, "SyncStateMachine")) >= 5

    # Every thread that had ended goes (one that ends meanwhile may stay until next time).
    dead = [t for t in TMP_THREADS if not t.is_alive()]
    jobs = [e["executionArn"] for e in executions(workflows, "JobStateMachine")]
    assert job in jobs
    workflows.forget_finished(older_than_seconds=0)
    assert executions(workflows, "SyncStateMachine") == []
    assert [e["executionArn"] for e in executions(workflows, "JobStateMachine")] == jobs
    assert not set(dead) & set(TMP_THREADS)
    gc.collect()
    assert [t() for t in ended if t() is not None] == []
    model_request()  # and the runtime serves as before


def test_the_runtime_forgets_on_its_own_while_it_runs(
    workflows: LocalWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    forgot = threading.Event()
    original = workflows.forget_finished

    def watched(older_than_seconds: float = EXPRESS_KEPT_SECONDS) -> None:
        original(older_than_seconds)
        forgot.set()

    monkeypatch.setattr(workflows, "forget_finished", watched)
    stop = workflows.start_janitor(every_seconds=0.05)
    try:
        assert forgot.wait(30)
    finally:
        stop.set()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_a_job_leaves_no_event_loop_open_behind_its_ended_threads(
    workflows: LocalWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The interpreter invokes each state's Lambda on a thread of its own, which gets an event
    # loop (as Lambda's one thread has): three descriptors (epoll, a socket pair). They were
    # kept open for the life of the process: 3 per chunk, and `tda serve` hit its descriptor
    # limit (EMFILE: no connection accepted) after ≈330 job chunks under the usual 1,024.
    monkeypatch.setenv("JOB_CHUNK_RECORDS", "100")

    def job(job_id: str) -> None:
        arn = workflows.start_execution(
            "JobStateMachine",
            {"mode": "job", "job_id": job_id, "request": {"entity": "user", "count": 3000}},
        )
        assert workflows.wait(arn)["status"] == "SUCCEEDED"

    job("job-loops-warm")  # the pools' threads and their loops are made once
    before = open_descriptors()
    job("job-loops-30-chunks")
    assert open_descriptors() - before < 15  # was ≈96: 3 for each of its 32 invocations


def test_a_runtime_not_asked_to_record_calls_keeps_no_event(
    workflows: LocalWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As `tda serve` makes it: every invocation's event was kept for the life of the process.
    monkeypatch.setattr(workflows, "record_calls", False)
    model_request()
    job = workflows.start_execution(
        "JobStateMachine",
        {"mode": "job", "job_id": "job-unrecorded", "request": {"entity": "user", "count": 10}},
    )
    assert workflows.wait(job)["status"] == "SUCCEEDED"
    assert workflows.calls == []


def test_a_jobs_execution_is_forgotten_once_nothing_of_the_job_is_left(
    workflows: LocalWorkflows, store: Path
) -> None:
    # A stream's job is removed once sent, a job purged or past its retention: its execution
    # (≈0.5 MB for 100 chunks) was kept for the life of the process all the same.
    def job(job_id: str) -> str:
        arn = workflows.start_execution(
            "JobStateMachine",
            {"mode": "job", "job_id": job_id, "request": {"entity": "user", "count": 10}},
        )
        assert workflows.wait(arn)["status"] == "SUCCEEDED"
        return arn

    removed, kept = job("job-removed"), job("job-still-there")
    shutil.rmtree(store / "job-removed")
    workflows.forget_finished(older_than_seconds=60)  # ended less than a minute ago: kept
    arns = [e["executionArn"] for e in executions(workflows, "JobStateMachine")]
    assert removed in arns and kept in arns
    workflows.forget_finished(older_than_seconds=0)
    arns = [e["executionArn"] for e in executions(workflows, "JobStateMachine")]
    assert removed not in arns and kept in arns


def test_expired_model_answers_are_swept_from_the_local_cache(tmp_path: Path) -> None:
    """The local cache (``TDA_HOME/cache``) keeps each answer until its time (an S3 lifecycle
    rule expires them in AWS); ``tda jobs gc``, and ``tda serve`` every hour, remove the ones
    past it, and leave the rest and any write in progress."""
    home = tmp_path / "home"
    folder = home / "cache"
    an_hour_ago = StoreCache(FileChunkStore(folder), clock=lambda: time.time() - 3600)
    an_hour_ago.put("llm/a/old", b"x" * 5000, ttl_seconds=60)  # expired 59 minutes ago
    an_hour_ago.put("llm/b/kept", b"y" * 10, ttl_seconds=7200)  # good for another hour
    (folder / "llm" / "b" / ".kept.tmp123").write_bytes(b"")  # a write in progress
    swept = subprocess.run(
        [sys.executable, "-m", "tda_local.cli", "jobs", "gc"],
        capture_output=True, text=True, timeout=60, env={
            **{k: v for k, v in os.environ.items() if k not in ("TDA_CACHE_STORE", "REDIS_URL")},
            "TDA_HOME": str(home),
        },
    )  # fmt: skip
    assert swept.returncode == 0, swept.stderr
    assert "removed 1 expired cache entries (0.0 MB)" in swept.stdout
    assert not (folder / "llm" / "a" / "old").exists()
    assert StoreCache(FileChunkStore(folder)).get("llm/b/kept") == b"y" * 10
    assert (folder / "llm" / "b" / ".kept.tmp123").exists()
