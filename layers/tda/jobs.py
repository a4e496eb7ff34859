"""Large jobs: a chunk plan, chunks written to the chunk store, and a manifest.

A job is one request of up to MAX_RECORDS records, cut into chunks of ``JOB_CHUNK_RECORDS``
(10K by default). The request's seed is fixed when the job is planned, and chunk ``i`` is
records ``[i·size, (i+1)·size)`` of that one seeded output: each chunk's content is a pure
function of (request, seed, range), so chunks can run in any order, in parallel, and be
retried, and the concatenation is byte-identical to generating the whole request at once.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from typing import Any

import orjson

from tda.chunks import ChunkStore, chunk_store
from tda.coherence import CoherenceReport
from tda.errors import InvalidRequestError
from tda.models import OutputFormat
from tda.operations import parse_request, plan_range, with_seed
from tda.service import plan_request, render_parts

JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
EXTENSIONS = {
    OutputFormat.JSON: "json",
    OutputFormat.NDJSON: "ndjson",
    OutputFormat.CSV: "csv",
    OutputFormat.SQL: "sql",
}


def chunk_records() -> int:
    return int(os.environ.get("JOB_CHUNK_RECORDS", "10000"))


def check_job_id(job_id: Any) -> str:
    if not isinstance(job_id, str) or not JOB_ID.match(job_id):
        raise InvalidRequestError.single(
            "job_id", "letters, digits, '-' and '_' only, at most 80 characters"
        )
    return job_id


def chunk_key(job_id: str, index: int, fmt: OutputFormat) -> str:
    return f"{job_id}/chunk-{index:05d}.{EXTENSIONS[fmt]}"


def manifest_key(job_id: str) -> str:
    return f"{job_id}/manifest.json"


def submission_key(job_id: str) -> str:
    return f"{job_id}/job.json"


def plan_job(job_id: Any, payload: Any) -> dict[str, Any]:
    """Check the request as a whole (count up to MAX_RECORDS) and cut it into chunks."""
    job_id = check_job_id(job_id)
    if not isinstance(payload, dict):
        raise InvalidRequestError.single("request", "must be a JSON object")
    seeded = with_seed(payload)
    request = parse_request(seeded)
    plan = plan_request(request)
    size = chunk_records()
    chunks = [
        {"index": i, "start": start, "count": min(size, plan.count - start)}
        for i, start in enumerate(range(0, plan.count, size))
    ]
    return {
        "job_id": job_id,
        "request": {**seeded, "seed": plan.seed},
        "format": request.output_format.value,
        "record_count": plan.count,
        "chunk_records": size,
        "chunks": chunks,
    }


def write_chunk(
    job_id: Any, index: int, payload: Any, start: int, count: int, store: ChunkStore | None = None
) -> dict[str, Any]:
    """Generate one chunk and store it (replacing any earlier attempt); its entry for the manifest."""
    job_id = check_job_id(job_id)
    store = store or chunk_store()
    request, plan, stop = plan_range(payload, start, count)
    reports: list[CoherenceReport] = []
    data = b"".join(
        part.data
        for part in render_parts(plan, request.output_format, start, stop, stop - start, reports)
    )
    key = chunk_key(job_id, index, request.output_format)
    store.put(key, data)
    coherence = CoherenceReport.merge(reports)
    return {
        "index": index,
        "key": key,
        "start": start,
        "record_count": stop - start,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "coherence_score": round(coherence.score, 6),
    }


def finalize(
    job_id: Any,
    plan: dict[str, Any],
    chunks: list[dict[str, Any]] | None,
    error: dict[str, Any] | None = None,
    store: ChunkStore | None = None,
) -> dict[str, Any]:
    """Write the manifest: the chunks in order with counts and checksums, and the job's status."""
    job_id = check_job_id(job_id)
    store = store or chunk_store()
    ordered = sorted(chunks or [], key=lambda c: int(c["index"]))
    records = sum(int(c["record_count"]) for c in ordered)
    complete = (
        error is None
        and [c["index"] for c in ordered] == [c["index"] for c in plan["chunks"]]
        and records == plan["record_count"]
    )
    manifest = {
        "job_id": job_id,
        "status": "SUCCEEDED" if complete else "FAILED",
        "format": plan["format"],
        "record_count": records,
        "expected_records": plan["record_count"],
        "seed": plan["request"].get("seed"),
        "chunk_records": plan["chunk_records"],
        "chunks": ordered,
        "error": error,
        "finished_at": time.time(),
    }
    store.put(manifest_key(job_id), orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return {
        "job_id": job_id,
        "status": manifest["status"],
        "record_count": records,
        "chunks": len(ordered),
        "manifest": manifest_key(job_id),
    }


def jobs_event(event: Any) -> dict[str, Any]:
    """The jobs function's event: ``{"action": "plan" | "finalize", ...}``."""
    if not isinstance(event, dict):
        raise InvalidRequestError.single("event", "must be a JSON object")
    action = event.get("action")
    if action == "plan":
        return plan_job(event.get("job_id"), event.get("request"))
    if action == "finalize":
        return finalize(event.get("job_id"), event["plan"], event.get("chunks"), event.get("error"))
    raise InvalidRequestError.single("action", "must be 'plan' or 'finalize'")
