"""What every route answers with: JSON bodies, the ``{error, details}`` shape, and the one map
from the service's error classes to HTTP statuses."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from tda.app import job_api
from tda.app.busy import BusyError
from tda.app.settings import settings
from tda.domain.contract import stated_request_id
from tda.domain.errors import FieldIssue, InvalidRequestError, TdaError, shown
from tda.domain.text import is_whole_number
from tda.ports.chunk_store import ChunkStoreUnavailableError, StorageFullError

logger = logging.getLogger("tda.http")


class OrjsonResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_body(request_id: str, issues: list[FieldIssue]) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "success": False,
        "error": "; ".join(str(i) for i in issues),
        "details": [{"field": i.field, "message": i.message} for i in issues],
    }


def _field_errors(exc: TdaError, request_id: str) -> Response:
    assert isinstance(exc, InvalidRequestError)
    return OrjsonResponse(error_body(request_id, exc.issues), status_code=422)


def _conflict(exc: TdaError, request_id: str) -> Response:
    issues = [FieldIssue("request_id", str(exc))]
    return OrjsonResponse(error_body(request_id, issues), status_code=409)


def _too_many(exc: TdaError, request_id: str) -> Response:
    assert isinstance(exc, (job_api.TooManyJobsError, BusyError))
    body = {"request_id": request_id, "success": False, "error": str(exc)}
    retry_after = str(exc.retry_after_seconds)  # each says when trying again may succeed
    return OrjsonResponse(body, status_code=429, headers={"retry-after": retry_after})


def _no_room(exc: TdaError, request_id: str) -> Response:
    body = {"request_id": request_id, "success": False, "error": str(exc)}
    return OrjsonResponse(body, status_code=507)  # Insufficient Storage: free some, then retry


def _store_unavailable(exc: TdaError, request_id: str) -> Response:
    assert isinstance(exc, ChunkStoreUnavailableError)
    logger.warning("request %s: %s", shown(request_id), exc)
    body = {"request_id": request_id, "success": False, "error": exc.for_caller}
    return OrjsonResponse(body, status_code=503, headers={"retry-after": "5"})


def _not_found(exc: TdaError, request_id: str) -> Response:
    body = {"request_id": request_id, "success": False, "error": str(exc)}
    return OrjsonResponse(body, status_code=404)


# The service's errors as HTTP answers; anything else is a 500 with the request id only.
ERROR_ANSWERS: dict[type[TdaError], Callable[[TdaError, str], Response]] = {
    InvalidRequestError: _field_errors,
    job_api.JobConflictError: _conflict,
    job_api.JobNotFoundError: _not_found,
    job_api.TooManyJobsError: _too_many,
    BusyError: _too_many,
    StorageFullError: _no_room,
    ChunkStoreUnavailableError: _store_unavailable,
}


def error_response(exc: Exception, request_id: str) -> Response:
    for cls, answer in ERROR_ANSWERS.items():
        if isinstance(exc, cls):
            return answer(exc, request_id)
    return internal_error(request_id or str(uuid.uuid4()))


def internal_error(request_id: str) -> Response:
    # The stack trace goes to the log with the request id, never onto the wire.
    logger.exception("request %s failed", shown(request_id))
    body = {
        "request_id": request_id,
        "success": False,
        "error": f"internal error (request {request_id})",
    }
    return OrjsonResponse(body, status_code=500)


async def answer_about(request_id: str, answer: Callable[[], Awaitable[Response]]) -> Response:
    """``answer()``, or the error it raised as its HTTP answer."""
    try:
        return await answer()
    except Exception as exc:
        return error_response(exc, request_id)


async def answer_body(
    request: Request,
    call: Callable[[Any], Awaitable[dict[str, Any]]],
    status_code: int = 200,
) -> Response:
    """``call`` on the request's JSON body: 413/422 for a bad body, the error map for what
    ``call`` raises, ``status_code`` with the result."""
    body = await read_limited(request)
    if isinstance(body, Response):
        return body
    request_id = stated_request_id(body)
    try:
        result = await call(body)
    except Exception as exc:
        return error_response(exc, request_id)
    return OrjsonResponse(result, status_code=status_code)


async def read_limited(request: Request) -> Any:
    """The parsed JSON body, or the error response (413 too large, 415 compressed, 501 a
    transfer coding besides chunked, 422 not JSON, 400 when the client left before its body
    was whole: nobody reads that one, and nothing is logged)."""
    refused = coding_refusal(request.headers)
    if refused is not None:
        return refused
    declared = request.headers.get("content-length")
    if (
        declared is not None
        and is_whole_number(declared)
        and int(declared) > settings.max_request_bytes
    ):
        return _too_large()
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_request_bytes:
                return _too_large()
            chunks.append(chunk)
    except ClientDisconnect:
        # A client gone mid-body is its own business: once logged as a 66-line traceback
        # per connection ("Exception in ASGI application").
        issue = FieldIssue("body", "the client went away before the body was whole")
        return OrjsonResponse(error_body("", [issue]), status_code=400)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        issue = FieldIssue("body", f"not valid JSON ({exc})")
        return OrjsonResponse(error_body("", [issue]), status_code=422)


def coding_refusal(headers: Mapping[str, str]) -> Response | None:
    """415 for a compressed body, 501 for a transfer coding besides chunked, both unread; None
    for a body as it is. (A worker's relay asks too: it drops the transfer-encoding header, a
    hop's own, as it forwards.)"""
    encoding = headers.get("content-encoding", "").strip()
    if encoding.lower() not in ("", "identity"):
        # A gzipped body was read as it came and refused as "not valid JSON (str is not valid
        # UTF-8 ...)", and one labelled gzip that was not was served.
        issue = FieldIssue(
            "content-encoding", f"{encoding!r} is not taken: send the body uncompressed"
        )
        return OrjsonResponse(error_body("", [issue]), status_code=415)
    transfer = headers.get("transfer-encoding", "").strip()
    if any(c.strip().lower() not in ("chunked", "identity", "") for c in transfer.split(",")):
        # The server undid the chunks and none of the rest (gzip, chunked): 501, as RFC 9112
        # has it for a transfer coding a server does not take.
        issue = FieldIssue("transfer-encoding", f"{transfer!r}: only chunked is taken")
        return OrjsonResponse(error_body("", [issue]), status_code=501)
    return None


def _too_large() -> Response:
    issue = FieldIssue("body", f"larger than the limit of {settings.max_request_bytes} bytes")
    return OrjsonResponse(error_body("", [issue]), status_code=413)
