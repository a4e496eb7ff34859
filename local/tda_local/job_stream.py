"""A large GenerateDataStream as a job: chunks streamed as they land (DESIGN.md: Large jobs).

The shim is a client of the same HTTP API a deployed stack serves, through the ``api`` handler:
``POST /v1/jobs`` submits, ``GET /v1/jobs/{id}`` watches, ``DELETE /v1/jobs/{id}`` cancels. Each
chunk is read back as its stream-sized parts (``job_api.landed_spans``, ``read_parts``: by
byte range, a few parts at a time), in order, as soon as its part index is written, so the caller sees the very DataChunks a direct stream sends while
the Map writes chunks out of order behind it. The final DataChunk waits for the manifest: it
carries the job's metadata. Memory is bounded by a few parts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.json_format import ParseDict

from tda.app import job_api
from tda.domain.contract import OutputFormat
from tda.domain.errors import FieldIssue, InvalidRequestError
from tda_local import chunk_turns, lambdas
from tda_local.apigw import http_event, json_body
from testdata.v1 import test_data_pb2 as pb

POLL_S = 0.02
# Parts read from the chunk store at once (one ranged read): about 1,000 records, so a stream
# holds well under a chunk (10,000) whatever the job's size.
PARTS_PER_READ = 20
STATUS_EVERY = 10  # polls of the chunk store per look at the execution's status
ENDED = frozenset({"FAILED", "ABORTED", "TIMED_OUT"})

Call = Callable[[grpc.aio.ServicerContext[Any, Any], str, str, dict[str, Any]], Awaitable[Any]]


# What a job could not be given, or died of, that is the server's room, not the call: the
# caller may retry later (gRPC RESOURCE_EXHAUSTED, as HTTP's 429 and 507).
NO_ROOM_STATUSES = frozenset({429, 507})
NOT_NOW_STATUSES = frozenset({503})  # a store that cannot be read for a moment
NO_ROOM_ERRORS = frozenset({"StorageFullError"})


class JobStreamError(RuntimeError):
    """The job behind a stream failed or was stopped, or could not start; the message names
    the job and why, ``code`` the gRPC status to end the call with."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.INTERNAL) -> None:
        super().__init__(message)
        self.code = code


async def follow(
    context: grpc.aio.ServicerContext[Any, Any],
    request_id: str,
    payload: dict[str, Any],
    call: Call,
) -> AsyncIterator[pb.DataChunk]:
    async def api(
        method: str, path: str, body: Any = None, query: dict[str, str] | None = None
    ) -> dict[str, Any]:
        event = http_event(method, path, body, query)
        response = await call(context, request_id, "api", event)
        answer: dict[str, Any] = json_body(response) or {}
        if response["statusCode"] == 422:
            issues = [FieldIssue(d["field"], d["message"]) for d in answer.get("details", [])]
            raise InvalidRequestError(issues)
        status = response["statusCode"]
        if status >= 300:
            code = (
                grpc.StatusCode.RESOURCE_EXHAUSTED
                if status in NO_ROOM_STATUSES
                else grpc.StatusCode.UNAVAILABLE
                if status in NOT_NOW_STATUSES
                else grpc.StatusCode.INTERNAL
            )
            # Named for a gRPC caller: the HTTP route behind it ("POST /v1/jobs") is not theirs.
            doing = "could not start" if method == "POST" else "could not be read"
            what_failed = f"the stream's job {doing}"
            raise JobStreamError(f"{what_failed}: {answer.get('error', status)}", code)
        return answer

    # One chunk written at a time: they are read in order, so more in flight would only hold
    # memory (and the GIL) while the stream waits for the one it needs.
    # Without its request_id: a request_id names one job (job_api.submit), and each stream
    # needs a job of its own, removed when it ends.
    job_request = {k: v for k, v in payload.items() if k not in ("request_id", "requestId")}
    submitted = await api("POST", "/v1/jobs", job_request, {"max_concurrency": "1"})
    job_id, total = submitted["job_id"], submitted["chunks_total"]
    fmt = OutputFormat(submitted["format"])
    chunk_turns.stream(job_id)  # its caller waits on each chunk: they are written first
    try:
        sent = 0
        held: pb.DataChunk | None = None  # the last part waits for the manifest's metadata
        for index in range(total):
            spans = await _landed(api, job_id, index, context)
            for group in range(0, len(spans), PARTS_PER_READ):
                parts = await asyncio.to_thread(
                    job_api.read_parts, job_id, index, fmt, spans[group : group + PARTS_PER_READ]
                )
                for data, records in parts:
                    if held is not None:
                        yield held
                    held = pb.DataChunk(
                        request_id=request_id,
                        data=data.decode("utf-8"),
                        chunk_index=sent,
                        record_count=records,
                    )
                    sent += 1
        status = await _finished(api, job_id, context)
        assert held is not None  # a job has at least one record
        held.is_final = True
        metadata = {**status["metadata"], "execution_arn": status["execution_arn"]}
        held.metadata.CopyFrom(ParseDict(metadata, pb.GenerationMetadata()))
        yield held
    finally:
        # Sent, or the caller went away (or the job failed): the job behind a stream is
        # temporary, so it is cancelled if it still runs and its chunks are deleted.
        chunk_turns.unstream(job_id)
        _remove_in_background(job_id)


async def _landed(
    api: Callable[..., Awaitable[dict[str, Any]]],
    job_id: str,
    index: int,
    context: grpc.aio.ServicerContext[Any, Any],
) -> list[Any]:
    polls = 0
    while True:
        if context.cancelled():
            raise asyncio.CancelledError
        spans = await asyncio.to_thread(job_api.landed_spans, job_id, index)
        if spans is not None:
            return spans
        polls += 1
        if polls % STATUS_EVERY == 0:
            _check(await api("GET", f"/v1/jobs/{job_id}"))
        await asyncio.sleep(POLL_S)


async def _finished(
    api: Callable[..., Awaitable[dict[str, Any]]],
    job_id: str,
    context: grpc.aio.ServicerContext[Any, Any],
) -> dict[str, Any]:
    while True:
        if context.cancelled():
            raise asyncio.CancelledError
        status = await api("GET", f"/v1/jobs/{job_id}")
        _check(status)
        if status["status"] == "SUCCEEDED" and status.get("metadata"):
            return status
        await asyncio.sleep(POLL_S)


def _check(status: dict[str, Any]) -> None:
    if status["status"] in ENDED:
        error = status.get("error") or {}
        raise JobStreamError(
            f"job {status['job_id']} {status['status']}"
            + (f": {error.get('error')} {error.get('cause') or ''}".rstrip() if error else ""),
            grpc.StatusCode.RESOURCE_EXHAUSTED
            if error.get("error") in NO_ROOM_ERRORS
            else grpc.StatusCode.INTERNAL,
        )


def _remove_in_background(job_id: str) -> None:
    # Not awaited: this runs while the handler's task may be being cancelled.
    loop = asyncio.get_running_loop()
    event = http_event("DELETE", f"/v1/jobs/{job_id}", query={"purge": "true"})
    loop.run_in_executor(None, lambdas.invoke, "api", event)
