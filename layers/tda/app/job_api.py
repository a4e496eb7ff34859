"""Jobs as callers see them: submit, status (with progress and chunk links), history, chunks.

A job is an execution of the Standard state machine (``JOB_STATE_MACHINE_ARN``), named by its
job id. What outlives the execution lives in the chunk store beside the chunks: the submission
record (``job.json``) and, once finished, the manifest; so a finished job can be read after the
local runtime restarted (its execution history cannot).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import orjson

from tda.app.jobs import (
    DEFAULT_CONCURRENCY,
    check_job_id,
    chunk_key,
    manifest_key,
    part_data,
    parts_key,
    plan_job,
    planned_key,
    read_manifest,
    submission_key,
)
from tda.app.ports_in_use import chunk_store, workflow
from tda.app.settings import job_state_machine, max_running_jobs, max_running_jobs_per_caller
from tda.app.sync_workflow import check_input_size
from tda.domain.contract import OutputFormat, stated_request_id
from tda.domain.errors import TdaError
from tda.domain.limits import size_text
from tda.ports.chunk_store import FREE_SOME_ROOM, ChunkStore, Readable, StorageFullError
from tda.ports.workflow import FINISHED, ExecutionExistsError

logger = logging.getLogger("tda.jobs")


class JobNotFoundError(TdaError, LookupError):
    """No job of that id here (never submitted, removed, or expired)."""


def _state_machine() -> str:
    arn = job_state_machine()
    if not arn:
        raise RuntimeError("JOB_STATE_MACHINE_ARN is not set: no workflow to run jobs on")
    return arn


class JobConflictError(TdaError, ValueError):
    """A request_id already names a job submitted with a different request."""


class TooManyJobsError(TdaError, RuntimeError):
    """The caller has MAX_RUNNING_JOBS_PER_CALLER jobs running already, or the server its
    MAX_RUNNING_JOBS (HTTP 429, with when to try again)."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


# When to try again. A caller's own jobs end when they end (minutes, for the jobs a cap is
# reached with); any of a local server's may end or be cancelled at any moment, and asking it
# again is cheap (a full count is remembered for FULL_RECHECK_SECONDS).
CALLER_FULL_RETRY_SECONDS = 30
SERVER_FULL_RETRY_SECONDS = 5


def job_id_for(payload: Any) -> str:
    """The job a submission makes: named by its ``request_id`` when it has one, so submitting
    the same request twice (a retried call, a re-run pipeline) gives the same job."""
    request_id = stated_request_id(payload)
    if request_id:
        return f"job-{hashlib.sha256(request_id.encode()).hexdigest()[:20]}"
    return f"job-{uuid.uuid4().hex[:20]}"


def _fingerprint(payload: Any, max_concurrency: Any) -> str:
    canonical = orjson.dumps([payload, max_concurrency], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def submit(
    payload: Any,
    store: ChunkStore | None = None,
    max_concurrency: Any = DEFAULT_CONCURRENCY,
    caller: str = "",
) -> dict[str, Any]:
    """Check the request whole, then start the job's execution; nothing starts on bad input.

    A request with a ``request_id`` is submitted once: the same body again answers with the
    job it made (``existing: true``); a different body under the same id is a conflict.
    ``caller``: who asks (the API's IAM identity); one with MAX_RUNNING_JOBS_PER_CALLER jobs
    running gets TooManyJobsError instead of another.
    """
    store = store or chunk_store()
    job_id = job_id_for(payload)
    plan = plan_job(job_id, payload, max_concurrency)  # InvalidRequestError, field by field
    fingerprint = _fingerprint(payload, max_concurrency)
    answer = {
        "job_id": job_id,
        "status": "RUNNING",
        "chunks_total": len(plan["chunks"]),
        "format": plan["format"],
    }
    if store.exists(submission_key(job_id)):
        return _resubmitted(job_id, fingerprint, answer, store)
    callers = [c for c in (caller, EVERY_CALLER if max_running_jobs() else "") if c]
    for each in callers:
        _refuse_if_known_full(each)
    # Counted and marked under one lock: submits that arrive together (the job routes' threads)
    # each see the jobs the ones before them started, so a cap admits no more than itself.
    with _counting if callers else nullcontext():
        for each in callers:
            _check_running(each, store)
        _check_room(store, plan["chunk_bytes"])
        return _start(job_id, plan, fingerprint, answer, callers, store)


def _start(
    job_id: str,
    plan: dict[str, Any],
    fingerprint: str,
    answer: dict[str, Any],
    callers: list[str],
    store: ChunkStore,
) -> dict[str, Any]:
    """Start the job's execution, then write its record and its callers' marks."""
    job = {
        "mode": "job",
        "job_id": job_id,
        "request": plan["request"],
        "max_concurrency": plan["max_concurrency"],
    }
    body = orjson.dumps(job).decode()
    # The plan's state carries the request and a line per chunk (index, start, count).
    check_input_size(len(body) + CHUNK_LINE_BYTES * len(plan["chunks"]), "a job")
    try:
        execution_arn = workflow().start(_state_machine(), job_id, body)
    except ExecutionExistsError:  # the same request_id, at the same time
        return {**answer, "existing": True}
    record = {
        "job_id": job_id,
        "execution_arn": execution_arn,
        "request": plan["request"],
        "fingerprint": fingerprint,
        "format": plan["format"],
        "record_count": plan["record_count"],
        "chunk_records": plan["chunk_records"],
        "chunks": len(plan["chunks"]),
        "submitted_at": time.time(),
    }
    store.put(submission_key(job_id), orjson.dumps(record))
    for each in callers:
        store.put(f"{_caller_prefix(each)}{job_id}", b"")
    return answer


CALLERS_FOLDER = "callers"  # beside the jobs' folders: which jobs each caller has running


def _caller_prefix(caller: str) -> str:
    return f"{CALLERS_FOLDER}/{hashlib.sha256(caller.encode()).hexdigest()[:24]}/"


# Whose marks are every job's: the server's own cap (MAX_RUNNING_JOBS) counts them. No IAM
# identity is a bare "*".
EVERY_CALLER = "*"


# A caller found at its cap is refused without a recount for this long, unless a job is
# cancelled here meanwhile. A count reads every running job's state: ≈280 ms while
# 16 jobs take the CPU, and a burst of 300 refused submits held the job routes' threads 55 s.
FULL_RECHECK_SECONDS = 1.0
_full_until: dict[str, tuple[float, int]] = {}  # caller → (monotonic deadline, running)
# Exact within a process (the local runtime's one); AWS's Lambdas are many processes, where two
# submits at the same moment may both pass: there the cap guards against a runaway client.
_counting = threading.Lock()


def _refuse_if_known_full(caller: str) -> None:
    """TooManyJobsError at once, without waiting on the count, for a caller found full a
    moment ago."""
    until, running = _full_until.get(caller, (0.0, 0))
    if time.monotonic() < until:
        raise _too_many(running, caller == EVERY_CALLER)


def _check_running(caller: str, store: ChunkStore) -> None:
    """TooManyJobsError when ``caller`` has its cap of jobs running. A caller's running jobs
    are marks under ``callers/``, cleared here once their job has ended (read from the job
    itself, so a job that died unfinalized frees its place too)."""
    everyone = caller == EVERY_CALLER
    _refuse_if_known_full(caller)  # found full by the submit this one waited behind
    cap = max_running_jobs() if everyone else max_running_jobs_per_caller()
    running = 0
    for key in store.keys(_caller_prefix(caller), limit=cap + 50):
        job_id = key.rsplit("/", 1)[-1]
        try:
            state = _settled(job_id, _record(job_id, store), store)[0]
        except JobNotFoundError:
            state = "GONE"
        if state == "RUNNING":
            running += 1
        else:
            store.delete(key)
    if running >= cap:
        _full_until[caller] = (time.monotonic() + FULL_RECHECK_SECONDS, running)
        raise _too_many(running, everyone)


def _too_many(running: int, everyone: bool) -> TooManyJobsError:
    if everyone:
        return TooManyJobsError(
            f"{running} jobs are running, the most this server runs at once "
            f"(MAX_RUNNING_JOBS): retry when one has ended",
            SERVER_FULL_RETRY_SECONDS,
        )
    return TooManyJobsError(
        f"{running} of your jobs are running, the most one caller may run at once "
        f"(MAX_RUNNING_JOBS_PER_CALLER): wait for one to end, or cancel one",
        CALLER_FULL_RETRY_SECONDS,
    )


def _check_room(store: ChunkStore, chunk_bytes: int) -> None:
    """StorageFullError when the store cannot take one more chunk of this job (a local disk
    down to what it keeps free). Only the first chunk is asked for: a chunk's size is an upper
    estimate, 1.3-7x what the service's entities write, so the whole job's would refuse jobs
    that fit; one that does not fit fails at the reserve, saying so."""
    room = store.room()
    if room is None or room >= chunk_bytes:
        return
    left = f"has {size_text(room)} left" if room > 0 else "has nothing left"
    raise StorageFullError(
        f"the chunk store's disk {left} above the free space it keeps (MIN_FREE_DISK_BYTES), "
        f"and a chunk of this job can take up to {size_text(chunk_bytes)}: {FREE_SOME_ROOM}"
    )


def _resubmitted(
    job_id: str, fingerprint: str, answer: dict[str, Any], store: ChunkStore
) -> dict[str, Any]:
    record = _record(job_id, store)
    if record.get("fingerprint") != fingerprint:
        raise JobConflictError(
            f"request_id names job {job_id}, which was submitted with a different request; "
            "use a new request_id"
        )
    state, _, _ = _settled(job_id, record, store)
    return {**answer, "status": state, "existing": True}


def _record(job_id: str, store: ChunkStore) -> dict[str, Any]:
    check_job_id(job_id)
    try:
        loaded: dict[str, Any] = orjson.loads(store.get(submission_key(job_id)))
    except (KeyError, ValueError):
        raise JobNotFoundError(f"no job {job_id}") from None
    return loaded


CHUNK_LINE_BYTES = 64  # {"index":999,"start":9990000,"count":10000} and its comma, at most

# What a job whose execution is gone says: the local runtime keeps executions in memory, so a
# restart of `tda serve` loses the ones still running (a finished job keeps its manifest).
LOST_CONFIRMATIONS = 3
LOST_RECHECK_SECONDS = 0.2
LOST = {
    "error": "ExecutionLost",
    "cause": "the workflow runtime stopped before this job finished (tda serve restarted); "
    "its chunks so far stay",
}


def _describe_confirmed(execution_arn: str) -> dict[str, Any] | None:
    """The execution, or None once its absence is confirmed: "lost" is recorded for good, so
    one answer of "does not exist" (a runtime busy with many executions) is not enough."""
    for attempt in range(LOST_CONFIRMATIONS):
        execution = workflow().describe(execution_arn)
        if execution is not None:
            return execution
        if attempt + 1 < LOST_CONFIRMATIONS:
            time.sleep(LOST_RECHECK_SECONDS)
    return None


def _landed(job_id: str, record: dict[str, Any], store: ChunkStore) -> list[int]:
    """Chunks complete in the store (their part index is written last)."""
    return [i for i in range(record["chunks"]) if store.exists(parts_key(job_id, i))]


def _settled(
    job_id: str, record: dict[str, Any], store: ChunkStore
) -> tuple[str, dict[str, Any] | None, dict[str, Any]]:
    """(state, manifest, execution) as status and cancel both see them.

    The manifest wins once there is one: a cancel's ABORTED (moto's interpreter reports a Map
    stopped mid-way as FAILED, where Step Functions says ABORTED), a finished job's end, a lost
    job's FAILED. A job with no manifest whose execution is gone is lost: it is recorded FAILED
    with the reason, so it never reads UNKNOWN, and can be cancelled (a no-op) or removed.
    """
    manifest = read_manifest(job_id, store)
    if manifest is not None and manifest["status"] in FINISHED:
        return manifest["status"], manifest, {}
    execution = _describe_confirmed(record["execution_arn"])
    if execution is not None:
        return execution["status"], manifest, execution
    logger.warning(
        "job %s: its execution %s is gone; recorded FAILED", job_id, record["execution_arn"]
    )
    manifest = _end_manifest(record, "FAILED", LOST, _landed(job_id, record, store))
    store.put(manifest_key(job_id), orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return "FAILED", manifest, {}


def _end_manifest(
    record: dict[str, Any], state: str, error: dict[str, Any], landed: list[int]
) -> dict[str, Any]:
    """The manifest of a job that ended without finalizing (cancelled, lost): its error, and
    the chunks that landed before it ended."""
    return {
        "job_id": record["job_id"],
        "status": state,
        "format": record["format"],
        "record_count": 0,
        "expected_records": record["record_count"],
        "seed": record["request"].get("seed"),
        "chunk_records": record["chunk_records"],
        "chunks": [],
        "landed": landed,
        "error": error,
        "finished_at": time.time(),
    }


def status(job_id: str, chunk_url: str = "", store: ChunkStore | None = None) -> dict[str, Any]:
    """Status, progress (chunks done / total) and, per finished chunk, where to get it.

    ``chunk_url`` is the HTTP route prefix for chunks (``/v1/jobs/{id}/chunks``); each chunk
    also carries the store's own location (a key under the store locally, a presigned URL in
    S3).
    """
    store = store or chunk_store()
    record = _record(job_id, store)
    state, manifest, execution = _settled(job_id, record, store)
    fmt = OutputFormat(record["format"])
    entries = {c["index"]: c for c in manifest["chunks"]} if manifest else {}
    done = sorted(entries) if entries else _landed(job_id, record, store)
    chunks = [
        {
            "index": i,
            "url": f"{chunk_url}/{i}" if chunk_url else "",
            "location": store.location(chunk_key(job_id, i, fmt)),
            **{k: entries[i][k] for k in ("record_count", "bytes", "sha256") if i in entries},
        }
        for i in done
    ]
    result = {
        "job_id": job_id,
        "status": state,
        "progress": {"chunks_done": len(done), "chunks_total": record["chunks"]},
        "record_count": record["record_count"],
        "format": record["format"],
        "seed": record["request"].get("seed"),
        "chunks": chunks,
        "manifest": store.location(manifest_key(job_id)) if manifest else None,
        "execution_arn": record["execution_arn"],
    }
    if manifest is not None and manifest.get("metadata"):
        result["metadata"] = manifest["metadata"]
    if manifest is not None and manifest.get("error") and state != "SUCCEEDED":
        result["error"] = _as_told(manifest["error"])
    elif execution.get("status") == "FAILED":
        result["error"] = _as_told(
            {"error": execution.get("error"), "cause": execution.get("cause")}
        )
    return result


def _as_told(failure: dict[str, Any]) -> dict[str, Any]:
    """A failure as the status documents it, ``{error, cause}``. The workflow's Catch records
    ``{Error, Cause}``, and a Lambda's Cause is its error as JSON (errorType, errorMessage,
    stackTrace): the caller is told the message."""
    error = failure.get("error", failure.get("Error"))
    cause = failure.get("cause", failure.get("Cause"))
    try:
        lambda_error = orjson.loads(cause) if isinstance(cause, str) else None
    except orjson.JSONDecodeError:
        lambda_error = None
    if isinstance(lambda_error, dict) and "errorMessage" in lambda_error:
        cause = lambda_error["errorMessage"]
    return {"error": error, "cause": cause}


def cancel(job_id: str, store: ChunkStore | None = None) -> dict[str, Any]:
    """Stop a running job's execution (StopExecution) and record it as ABORTED.

    Its chunk writers stop within a fraction of a second (``jobs.JobCancelledError``); chunks
    already written stay. A job that already ended is left as it is (``cancelled: false``,
    its state as status reports it).
    """
    store = store or chunk_store()
    record = _record(job_id, store)
    state, _, _ = _settled(job_id, record, store)
    if state != "RUNNING":
        return {"job_id": job_id, "status": state, "cancelled": False}
    cancelled = {"error": "Cancelled", "cause": "cancelled by the caller"}
    # Recorded before the execution is stopped: the writers read it, and a Finalize racing
    # the stop leaves it as it is.
    manifest = _end_manifest(record, "ABORTED", cancelled, _landed(job_id, record, store))
    store.put(manifest_key(job_id), orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    workflow().stop(record["execution_arn"], **cancelled)
    _full_until.clear()  # a place is free: the next submit counts again
    return {"job_id": job_id, "status": "ABORTED", "cancelled": True}


def remove(job_id: str, store: ChunkStore | None = None) -> dict[str, Any]:
    """Cancel the job if it runs, then delete everything it wrote (chunks, manifest, record)."""
    store = store or chunk_store()
    stopped = cancel(job_id, store)
    # The marker goes first: a chunk writer that lands after the sweep below has listed the
    # folder then finds it gone and takes back what it wrote (``jobs.write_chunk``).
    store.delete(planned_key(job_id))
    store.delete_prefix(f"{job_id}/")
    return {**stopped, "removed": True}


def landed_spans(job_id: str, index: int, store: ChunkStore | None = None) -> list[Any] | None:
    """Where chunk ``index``'s stream-sized parts lie in it (``[offset, length, records]``), or
    None until it has landed. Called in a poll loop: the job's record is not read again."""
    store = store or chunk_store()
    try:
        spans: list[Any] = orjson.loads(store.get(parts_key(job_id, index)))
    except KeyError:
        return None
    return spans


def read_parts(
    job_id: str,
    index: int,
    fmt: OutputFormat,
    spans: Sequence[Sequence[int]],
    store: ChunkStore | None = None,
) -> list[tuple[bytes, int]]:
    """Consecutive parts of a landed chunk as ``(data, records)``, in one ranged read: a stream
    holds these parts, never the whole chunk."""
    store = store or chunk_store()
    start = spans[0][0]
    stop = spans[-1][0] + spans[-1][1]
    data = store.get_range(chunk_key(job_id, index, fmt), start, stop - start)
    return [
        (part_data(data, (offset - start, length), fmt), records)
        for offset, length, records in spans
    ]


def history(job_id: str, store: ChunkStore | None = None) -> list[dict[str, Any]]:
    """The execution's events, as the Step Functions console lists them."""
    record = _record(job_id, store or chunk_store())
    try:
        events = workflow().events(record["execution_arn"])
    except Exception as exc:
        raise JobNotFoundError(f"{job_id}: no execution history here ({exc})") from None
    return [_event(e) for e in events]


def _event(event: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
    stamp: Any = event.get("timestamp")
    return {
        "id": event.get("id"),
        "type": event.get("type"),
        "timestamp": stamp.isoformat() if hasattr(stamp, "isoformat") else stamp,
        "state": details.get("name"),
        "error": details.get("error"),
    }


@dataclass(frozen=True)
class OpenedChunk:
    """A chunk opened for reading: sent a piece at a time, never held whole; a download begun
    is not cut short by the job's removal, since the handle is open."""

    handle: Readable
    size: int
    media_type: str


def chunk_source(job_id: str, index: int, store: ChunkStore | None = None) -> str | OpenedChunk:
    """Chunk ``index`` of a job: where a client fetches it itself (a presigned S3 URL: a
    10K-record chunk is over a Lambda response's 6 MB), or, from a local folder, the chunk
    opened for the server to send. The job's record is read once for either."""
    store = store or chunk_store()
    key, media_type = _chunk_key(job_id, index, store)
    not_yet = JobNotFoundError(f"{job_id}: chunk {index} is not written yet")
    url = store.download_url(key, media_type)
    if url is not None:
        if not store.exists(key):
            raise not_yet
        return url
    try:
        handle, size = store.reader(key)
    except KeyError:
        raise not_yet from None
    return OpenedChunk(handle, size, media_type)


def _chunk_key(job_id: str, index: int, store: ChunkStore) -> tuple[str, str]:
    record = _record(job_id, store)
    if not 0 <= index < record["chunks"]:  # no such chunk, as no such job: a 404
        raise JobNotFoundError(
            f"{job_id}: no chunk {index} (its chunks: 0..{record['chunks'] - 1})"
        )
    fmt = OutputFormat(record["format"])
    return chunk_key(job_id, index, fmt), MEDIA_TYPES[fmt]


MEDIA_TYPES = {
    OutputFormat.JSON: "application/json",
    OutputFormat.NDJSON: "application/x-ndjson",
    OutputFormat.CSV: "text/csv",
    OutputFormat.SQL: "application/sql",
}
