"""Large requests through the job workflow: ``POST /v1/jobs`` (202, ``job_id``),
``GET /v1/jobs/{id}[?history=true]`` (status, progress, chunk links),
``GET /v1/jobs/{id}/chunks/{n}``, ``DELETE /v1/jobs/{id}[?purge=true]`` (cancel)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from tda.app import job_api
from tda.app.jobs import JOB_ID, MAX_CONCURRENCY, is_job_id
from tda.app.settings import settings
from tda.domain.text import is_whole_number
from tda.http.openapi import (
    CHUNK,
    JOB_ACCEPTED,
    JOB_CANCELLED,
    JOB_STATUS,
    documented,
    request_body,
)
from tda.http.responses import OrjsonResponse, answer_about, answer_body
from tda.ports.chunk_store import Readable

router = APIRouter(tags=["jobs"])

# A chunk download is sent this much at a time: what a connection holds of it (a 10K-order
# chunk is 11 MB; read whole, 40 downloads nobody read held 374 MB).
DOWNLOAD_PIECE_BYTES = 256 << 10

# Documented, not checked, by FastAPI: the job steps check them (tda.app.jobs), with their
# own messages, and a job submit answers every bad field of it at once.
JobId = Annotated[str, Path(json_schema_extra={"pattern": JOB_ID.pattern, "maxLength": 80})]
ChunkIndex = Annotated[int, Path(json_schema_extra={"minimum": 0})]  # beyond the job's: a 404
Concurrency = Annotated[
    str,
    Query(
        json_schema_extra={"type": "integer", "minimum": 1, "maximum": MAX_CONCURRENCY},
        description="chunks written at once",
    ),
]


def _label(job_id: str) -> str:
    """A job's id labels the answers about it (it is its request's id); a malformed one, which
    the answer refuses, does not."""
    return job_id if is_job_id(job_id) else ""


def caller_of(request: Request) -> str:
    """Who is asking: the IAM identity API Gateway's authorizer vouched for (Mangum hands the
    event over in the scope), or '' when there is none (``tda serve``: no caps there)."""
    event = request.scope.get("aws.event") or {}
    iam = event.get("requestContext", {}).get("authorizer", {}).get("iam", {})
    return str(iam.get("userArn") or iam.get("userId") or "")


@router.post(
    "/v1/jobs",
    status_code=202,
    responses=JOB_ACCEPTED | documented(409, 413, 415, 422, 429, 500, 501, 503, 507),
    openapi_extra=request_body(
        {"entity": "user", "count": 20000, "seed": 7, "output_format": "CSV"},
        settings.max_records,
    ),
)
async def submit_job(request: Request, max_concurrency: Concurrency = "4") -> Response:
    """A large request (up to MAX_RECORDS) as a job: 202 with its ``job_id``.
    ``?max_concurrency=N`` (1-40): chunks written at once."""

    caller = caller_of(request)

    def submit(body: Any) -> dict[str, Any]:
        # Checked with the body, so a bad value is a 422 like any other field.
        concurrency = int(max_concurrency) if is_whole_number(max_concurrency) else max_concurrency
        return job_api.submit(body, max_concurrency=concurrency, caller=caller)

    async def threaded(body: Any) -> dict[str, Any]:
        # Starting the execution and writing the job record are blocking I/O.
        return await asyncio.to_thread(submit, body)

    return await answer_body(request, threaded, status_code=202)


@router.get("/v1/jobs/{job_id}", responses=JOB_STATUS | documented(404, 422, 500, 503))
async def job_status(job_id: JobId, request: Request, history: bool = False) -> Response:
    """Status, progress and chunk links; ``?history=true`` adds the execution history."""

    async def found() -> Response:
        base = str(request.url_for("job_chunk", job_id=job_id, index=0)).rsplit("/", 1)[0]
        status = await asyncio.to_thread(job_api.status, job_id, base)
        if history:
            status["history"] = await asyncio.to_thread(job_api.history, job_id)
        return OrjsonResponse(status)

    return await answer_about(_label(job_id), found)


@router.delete("/v1/jobs/{job_id}", responses=JOB_CANCELLED | documented(404, 422, 500, 503))
async def cancel_job(job_id: JobId, purge: bool = False) -> Response:
    """Stop a running job (its chunks so far stay); a finished job is left as it is.
    ``?purge=true`` also deletes everything the job wrote."""

    async def cancelled() -> Response:
        action = job_api.remove if purge else job_api.cancel
        return OrjsonResponse(await asyncio.to_thread(action, job_id))

    return await answer_about(_label(job_id), cancelled)


@router.get(
    "/v1/jobs/{job_id}/chunks/{index}",
    name="job_chunk",
    responses=CHUNK | documented(307, 404, 422, 500, 503),
)
async def job_chunk(job_id: JobId, index: ChunkIndex) -> Response:
    """The chunk's bytes, or (S3) a 307 to a presigned URL: no Lambda response can carry a
    10K-record chunk (6 MB), and the client fetches it from S3 directly."""

    async def chunk() -> Response:
        source = await asyncio.to_thread(job_api.chunk_source, job_id, index)
        if isinstance(source, str):
            return RedirectResponse(source, status_code=307)
        return StreamingResponse(
            _pieces(source.handle),
            media_type=source.media_type,
            headers={"content-length": str(source.size)},
        )

    return await answer_about(_label(job_id), chunk)


async def _pieces(handle: Readable) -> AsyncIterator[bytes]:
    """The opened chunk, a piece at a time; each is read once the connection has taken the
    last (uvicorn's send waits while the connection's buffer is full)."""
    try:
        while piece := await asyncio.to_thread(handle.read, DOWNLOAD_PIECE_BYTES):
            yield piece
    finally:
        handle.close()
