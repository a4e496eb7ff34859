"""Large jobs: a chunk plan, chunks written to the chunk store, and a manifest.

A job is one request of up to MAX_RECORDS records, cut into chunks of ``JOB_CHUNK_RECORDS``
(10K by default). The request's seed is fixed when the job is planned, and chunk ``i`` is
records ``[i·size, (i+1)·size)`` of that one seeded output: each chunk's content is a pure
function of (request, seed, range), so chunks can run in any order, in parallel, and be
retried. Concatenated, NDJSON and CSV chunks are byte-identical to generating the whole
request at once; a JSON chunk is an array of its own records; SQL chunks hold the same rows,
in INSERTs of one stream part (DEFAULT_BATCH_SIZE rows) each.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import orjson

from tda.app.ports_in_use import chunk_store
from tda.app.requests import parse_request, plan_range, with_seed
from tda.app.service import bulk_metadata, plan_request, route_here, with_model_catalog
from tda.app.settings import job_chunk_records, settings
from tda.domain.coherence import CoherenceReport
from tda.domain.contract import OutputFormat
from tda.domain.errors import InvalidRequestError, TdaError
from tda.domain.limits import record_bounds
from tda.paths.traditional.bulk import Part, render_parts
from tda.ports.chunk_store import ChunkStore, ChunkStoreUnavailableError

DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 40
# Why a job's catalog was not written, as its plan step keeps it (in the workflow's state).
MAX_FAILURE_CHARS = 500
JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
EXTENSIONS = {
    OutputFormat.JSON: "json",
    OutputFormat.NDJSON: "ndjson",
    OutputFormat.CSV: "csv",
    OutputFormat.SQL: "sql",
}


def check_concurrency(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise InvalidRequestError.single(
            "max_concurrency", f"must be an integer from 1 to {MAX_CONCURRENCY}"
        )
    return value


def is_job_id(job_id: Any) -> bool:
    # fullmatch: the pattern's ``$`` (kept for the OpenAPI document) lets ``match`` take an id
    # ending in a newline, which then named a chunk store key.
    return isinstance(job_id, str) and JOB_ID.fullmatch(job_id) is not None


def check_job_id(job_id: Any) -> str:
    if not is_job_id(job_id):
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


def planned_key(job_id: str) -> str:
    """Written by the workflow's PlanJob step: while it exists, the job's chunks are wanted."""
    return f"{job_id}/planned.json"


def plan_job(
    job_id: Any,
    payload: Any,
    max_concurrency: Any = DEFAULT_CONCURRENCY,
    write_catalog: bool = False,
) -> dict[str, Any]:
    """Check the request as a whole (count up to MAX_RECORDS) and cut it into chunks.

    ``max_concurrency``: chunks written at once (the Map's MaxConcurrencyPath). A job behind a
    stream uses 1: the caller reads chunks in order, so more in flight only costs memory.
    ``write_catalog``: the workflow's plan step has the model write a context's catalog; a
    submit does not (the caller waited on the model: 60 s with SmolLM2, past API Gateway's 30).
    """
    job_id = check_job_id(job_id)
    concurrency = check_concurrency(max_concurrency)
    if not isinstance(payload, dict):
        raise InvalidRequestError.single("request", "must be a JSON object")
    seeded = with_seed(payload)
    request = parse_request(seeded)
    plan = plan_request(request)
    # Catalog mode: the model writes the context's catalog here, once; every chunk reads it.
    # Why it could not is kept for the job's metadata (its chunks only find none stored).
    failure = with_model_catalog(plan, route_here(request))[2] if write_catalog else ""
    size = job_chunk_records()
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
        # A chunk's bytes at most (as JSON, the widest format): a store without room for one
        # is not given the job (job_api.submit).
        "chunk_bytes": record_bounds(plan.spec).bytes * min(size, plan.count),
        "chunks": chunks,
        "max_concurrency": concurrency,
        "planned_at": time.time(),
        "catalog_failure": failure[:MAX_FAILURE_CHARS],
    }


def parts_key(job_id: str, index: int) -> str:
    return f"{job_id}/chunk-{index:05d}.parts.json"


def entry_key(job_id: str, index: int) -> str:
    """A landed chunk's manifest entry, written last: the workflow keeps no chunk results in
    its state (256 KB would bound the number of chunks); Finalize reads these instead."""
    return f"{job_id}/chunk-{index:05d}.entry.json"


def write_chunk(
    job_id: Any, index: int, payload: Any, start: int, count: int, store: ChunkStore | None = None
) -> dict[str, Any]:
    """Generate one chunk and store it (replacing any earlier attempt); its entry for the manifest.

    Beside the chunk goes its part index: ``[offset, length, records]`` per stream-sized part
    (DEFAULT_BATCH_SIZE records), so a stream reads a landed chunk back as the same DataChunks
    a direct stream sends. The index is written last: it marks the chunk as complete.
    """
    job_id = check_job_id(job_id)
    store = store or chunk_store()
    planned = plan_range(payload, start, count)
    request, plan, stop = planned.request, planned.plan, planned.stop
    still_wanted = _CancelCheck(job_id, store)
    still_wanted()  # a chunk the Map starts after a cancel does no work
    reports: list[CoherenceReport] = []
    parts = render_parts(
        plan, request.output_format, start, stop, settings.default_batch_size, reports
    )
    pieces = _ChunkPieces(parts, request.output_format, still_wanted)
    key = chunk_key(job_id, index, request.output_format)
    store.put_pieces(key, pieces)  # written as rendered: the chunk is never whole in memory
    store.put(parts_key(job_id, index), orjson.dumps(pieces.spans))
    coherence = CoherenceReport.merge(reports)
    entry = {
        "index": index,
        "key": key,
        "start": start,
        "record_count": stop - start,
        "bytes": pieces.length,
        "sha256": pieces.sha256.hexdigest(),
        "coherence_score": round(coherence.score, 6),
    }
    store.put(entry_key(job_id, index), orjson.dumps(entry))
    try:
        still_wanted(now=True)
    except JobCancelledError:
        # Removed while these were being written (a stream's caller went away): the removal's
        # sweep may have listed the folder before they landed, so they are taken back here.
        for written in (key, parts_key(job_id, index), entry_key(job_id, index)):
            store.delete(written)
        raise
    return entry


class _ChunkPieces:
    """A chunk's bytes, piece by piece as its parts are rendered; once they have all gone by,
    where each part lies in it (``spans``: ``[offset, length, records]``), its length and hash.

    A JSON part is a whole array; the chunk is one array of all their records, and a part's
    span covers its records only (a reader puts the brackets back).
    """

    def __init__(
        self, parts: Iterable[Part], fmt: OutputFormat, still_wanted: Callable[[], None]
    ) -> None:
        self._parts = parts
        self._still_wanted = still_wanted
        self._json_array = fmt is OutputFormat.JSON
        self.spans: list[list[int]] = []
        self.length = 0
        import hashlib  # here: OpenSSL's hashlib is ≈4 ms of the traditional function's import

        self.sha256 = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes | memoryview]:
        if self._json_array:
            yield self._counted(b"[")
        for part in self._parts:
            self._still_wanted()
            body = memoryview(part.data)[1:-1] if self._json_array else part.data
            if self._json_array and self.spans:
                yield self._counted(b",")
            self.spans.append([self.length, len(body), part.records])
            yield self._counted(body)
        if self._json_array:
            yield self._counted(b"]")

    def _counted(self, piece: bytes | memoryview) -> bytes | memoryview:
        self.sha256.update(piece)
        self.length += len(piece)
        return piece


class JobCancelledError(TdaError, RuntimeError):
    """The job was cancelled while this chunk was being written: the write stops, nothing lands."""


class _CancelCheck:
    """Raises JobCancelledError once the job is cancelled or removed, reading it at most every
    ``EVERY_SECONDS``: Step Functions' StopExecution (and moto's) leaves a running Map
    iteration to finish, and a cancelled 1M-record job kept writing at 100% of a core."""

    EVERY_SECONDS = 0.25

    def __init__(self, job_id: str, store: ChunkStore) -> None:
        self.job_id = job_id
        self.store = store
        self.checked = -math.inf

    def __call__(self, now: bool = False) -> None:
        """``now``: look whatever the time since the last look (a chunk's last word)."""
        moment = time.monotonic()
        if not now and moment - self.checked < self.EVERY_SECONDS:
            return
        self.checked = moment
        try:
            removed = not self.store.exists(planned_key(self.job_id))  # `jobs rm`, a stream's end
            cancelled = removed or _cancelled(self.job_id, self.store) is not None
        except ChunkStoreUnavailableError:
            return  # not known now (S3 throttling): still wanted until a look says otherwise
        if cancelled:
            raise JobCancelledError(f"{self.job_id} was cancelled")


def part_data(chunk: bytes, span: Sequence[int], fmt: OutputFormat) -> bytes:
    """One stream-sized part of a chunk, complete in itself (a JSON part is a whole array)."""
    offset, length = span[0], span[1]
    body = chunk[offset : offset + length]
    return b"[" + body + b"]" if fmt is OutputFormat.JSON else body


def finalize(
    job_id: Any,
    plan: dict[str, Any],
    chunks: list[dict[str, Any]] | None,
    error: dict[str, Any] | None = None,
    store: ChunkStore | None = None,
) -> dict[str, Any]:
    """Write the manifest: the chunks in order with counts and checksums, and the job's status.

    ``chunks``: their entries, or None to read those that landed from the chunk store (the
    workflow's way: its state holds no chunk results)."""
    job_id = check_job_id(job_id)
    store = store or chunk_store()
    cancelled = _cancelled(job_id, store)
    if cancelled is not None:  # the caller's cancel stands: nothing finalizes over it
        return cancelled
    if chunks is None:
        chunks = landed_entries(job_id, [int(c["index"]) for c in plan["chunks"]], store)
    ordered = sorted(chunks, key=lambda c: int(c["index"]))
    records = sum(int(c["record_count"]) for c in ordered)
    complete = (
        error is None
        and [c["index"] for c in ordered] == [c["index"] for c in plan["chunks"]]
        and records == plan["record_count"]
    )
    manifest = {
        "job_id": job_id,
        "status": "SUCCEEDED" if complete else "FAILED",
        "metadata": _job_metadata(plan, ordered, _planned_failure(job_id, store))
        if complete
        else None,
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


LANDED_READERS = 16  # entries read at once (1,000 chunks: one S3 GET each)


def landed_entries(job_id: str, indices: list[int], store: ChunkStore) -> list[dict[str, Any]]:
    """The entries of the chunks among ``indices`` that landed (a missing one did not)."""

    def entry(index: int) -> dict[str, Any] | None:
        try:
            loaded: dict[str, Any] = orjson.loads(store.get(entry_key(job_id, index)))
        except KeyError:
            return None
        return loaded

    # Here, not at the top: the traditional function imports this module to write chunks and
    # never reads them back (concurrent.futures and logging: ≈5 ms of its cold start).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(LANDED_READERS) as pool:
        return [e for e in pool.map(entry, indices) if e is not None]


def read_manifest(job_id: str, store: ChunkStore) -> dict[str, Any] | None:
    """The job's manifest, or None while it has none (running, or never finalized)."""
    try:
        loaded: dict[str, Any] = orjson.loads(store.get(manifest_key(job_id)))
    except KeyError:
        return None
    return loaded


def _cancelled(job_id: str, store: ChunkStore) -> dict[str, Any] | None:
    manifest = read_manifest(job_id, store)
    if manifest is None or manifest.get("status") != "ABORTED":
        return None
    return {
        "job_id": job_id,
        "status": "ABORTED",
        "record_count": 0,
        "chunks": 0,
        "manifest": manifest_key(job_id),
    }


def _planned_failure(job_id: str, store: ChunkStore) -> str:
    """Why the plan step had no catalog written (its marker says), or ''."""
    try:
        marker = orjson.loads(store.get(planned_key(job_id)))
    except (KeyError, TdaError, orjson.JSONDecodeError):  # no marker, or none readable
        return ""
    found = marker.get("catalog_failure") if isinstance(marker, dict) else None
    return found if isinstance(found, str) else ""


def _job_metadata(
    plan: dict[str, Any], chunks: list[dict[str, Any]], planned_failure: str = ""
) -> dict[str, Any]:
    """The job's GenerationMetadata, as a whole response's would be (the stream's final chunk).
    ``planned_failure``: why the plan step had no catalog written, which the chunks after it
    only found missing ("found no catalog stored"): the reason the metadata gives."""
    request = parse_request(plan["request"])
    records = sum(int(c["record_count"]) for c in chunks) or 1
    score = sum(float(c["coherence_score"]) * int(c["record_count"]) for c in chunks) / records
    coherence = CoherenceReport(score=score, records=records, rules_checked=0)
    decision = route_here(request)
    whole, report, failure = with_model_catalog(plan_request(request), decision, write=False)
    failure = planned_failure if failure and planned_failure else failure
    metadata = bulk_metadata(whole, decision, coherence, time.perf_counter(), report, failure)
    metadata.generation_time_ms = round(
        (time.time() - plan.get("planned_at", time.time())) * 1e3, 3
    )
    metadata.served_via = "workflow"
    return metadata.model_dump(mode="json")


def plan_and_mark(job_id: Any, payload: Any, max_concurrency: Any = None) -> dict[str, Any]:
    """The workflow's PlanJob step: the plan, and the marker a running chunk writer checks for
    (a removed job's writers stop: ``JobCancelledError``)."""
    plan = plan_job(
        job_id,
        payload,
        DEFAULT_CONCURRENCY if max_concurrency is None else max_concurrency,
        write_catalog=True,
    )
    marker = {
        "job_id": plan["job_id"],
        "planned_at": plan["planned_at"],
        "catalog_failure": plan["catalog_failure"],
    }
    chunk_store().put(planned_key(plan["job_id"]), orjson.dumps(marker))
    return plan
