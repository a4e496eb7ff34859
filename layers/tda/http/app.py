"""The HTTP API: one FastAPI app, served by Mangum in Lambda and by uvicorn in ``tda serve``.

- ``POST /v1/generate``: the seed's request JSON (snake_case, or proto3 JSON camelCase) → the
  seed's GenerateResponse JSON. Bad input: 422 with one entry per field in ``details``.
- ``POST /v1/jobs`` (202, ``job_id``), ``GET /v1/jobs/{id}[?history=true]`` (status, progress,
  chunk links), ``GET /v1/jobs/{id}/chunks/{n}``, ``DELETE /v1/jobs/{id}`` (cancel): large
  requests through the job workflow.
- ``GET /v1/schemas[?domain=]``, ``GET /health``, ``/health/live``, ``/health/ready``.
- OpenAPI at ``/docs`` (and ``/openapi.json``).

Bodies above ``MAX_REQUEST_BYTES`` (default 1 MiB) get 413 before they are parsed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from tda.app import job_api, operations
from tda.app.heavy_work import run_heavy
from tda.app.settings import settings
from tda.domain.contract import GenerateRequest, GenerateResponse, SchemaInfo
from tda.domain.errors import FieldIssue, InvalidRequestError

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


def create_app(draining: Callable[[], bool] = lambda: False) -> FastAPI:
    app = FastAPI(
        title="Test Data Agent",
        version=operations.VERSION,
        description="Valid, coherent test data for e-commerce entities or any schema.",
        default_response_class=OrjsonResponse,
    )

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError) -> Response:
        """A bad path or query parameter: the documented ``{error, details}`` shape, not
        FastAPI's own ``{detail}``."""
        issues = [
            FieldIssue(".".join(str(p) for p in error["loc"][1:]) or "request", error["msg"])
            for error in exc.errors()
        ]
        return OrjsonResponse(error_body("", issues), status_code=422)

    @app.post(
        "/v1/generate",
        response_model=GenerateResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": GenerateRequest.model_json_schema(by_alias=False)
                    }
                },
            }
        },
    )
    async def generate(request: Request) -> Response:
        return await _answer(request, _serve)

    @app.post("/v1/jobs", status_code=202)
    async def submit_job(request: Request, max_concurrency: str = "4") -> Response:
        """A large request (up to MAX_RECORDS) as a job: 202 with its ``job_id``.
        ``?max_concurrency=N`` (1-40): chunks written at once."""

        def submit(body: Any) -> dict[str, Any]:
            # Checked with the body, so a bad value is a 422 like any other field.
            concurrency = int(max_concurrency) if max_concurrency.isdigit() else max_concurrency
            return job_api.submit(body, max_concurrency=concurrency)

        # In a thread: starting the execution and writing the job record are blocking I/O.
        return await _answer(request, _in_thread(submit), status_code=202)

    @app.get("/v1/jobs/{job_id}")
    async def job_status(job_id: str, request: Request, history: bool = False) -> Response:
        """Status, progress and chunk links; ``?history=true`` adds the execution history."""

        async def found() -> Response:
            base = str(request.url_for("job_chunk", job_id=job_id, index=0)).rsplit("/", 1)[0]
            status = await asyncio.to_thread(job_api.status, job_id, base)
            if history:
                status["history"] = await asyncio.to_thread(job_api.history, job_id)
            return OrjsonResponse(status)

        return await _about_job(job_id, found)

    @app.delete("/v1/jobs/{job_id}")
    async def cancel_job(job_id: str, purge: bool = False) -> Response:
        """Stop a running job (its chunks so far stay); a finished job is left as it is.
        ``?purge=true`` also deletes everything the job wrote."""

        async def cancelled() -> Response:
            action = job_api.remove if purge else job_api.cancel
            return OrjsonResponse(await asyncio.to_thread(action, job_id))

        return await _about_job(job_id, cancelled)

    @app.get("/v1/jobs/{job_id}/chunks/{index}", name="job_chunk")
    async def job_chunk(job_id: str, index: int) -> Response:
        async def chunk() -> Response:
            data, media_type = await asyncio.to_thread(job_api.chunk, job_id, index)
            return Response(data, media_type=media_type)

        return await _about_job(job_id, chunk)

    @app.get("/v1/schemas", response_model=list[SchemaInfo])
    async def schemas(domain: str | None = None) -> Response:
        return OrjsonResponse(operations.schemas(domain))

    @app.get("/health")
    async def health() -> Response:
        return OrjsonResponse(operations.health(draining()))

    @app.get("/health/live")
    async def live() -> Response:
        return OrjsonResponse({"status": "alive"})

    @app.get("/health/ready")
    async def ready() -> Response:
        status = operations.health(draining())["status"]
        return OrjsonResponse({"status": status}, status_code=200 if status == "healthy" else 503)

    return app


async def _serve(body: Any) -> dict[str, Any]:
    request, decision = operations.parse_and_route(body)
    if operations.answers_inline(request, decision):
        # On the event loop: a small fast-path response costs less than a thread hop.
        return operations.serve_routed(body, request, decision)
    if operations.on_fast_path(decision):
        return await run_heavy(operations.serve_routed, body, request, decision)
    # A model path waits for its workflow execution: in a thread, so the loop keeps serving.
    return await asyncio.to_thread(operations.serve_routed, body, request, decision)


async def _about_job(job_id: str, answer: Callable[[], Awaitable[Response]]) -> Response:
    """``answer()`` about one job: 422 for a bad id or chunk number, 404 for a job (or chunk)
    that is not there, 500 (the trace in the log only) for anything else."""
    try:
        return await answer()
    except InvalidRequestError as exc:
        return OrjsonResponse(error_body("", exc.issues), status_code=422)
    except job_api.JobNotFoundError as exc:
        return _not_found(str(exc))
    except Exception:
        return _internal_error(job_id)


def _in_thread(call: Callable[[Any], dict[str, Any]]) -> Callable[[Any], Awaitable[dict[str, Any]]]:
    async def threaded(body: Any) -> dict[str, Any]:
        return await asyncio.to_thread(call, body)

    return threaded


async def _answer(
    request: Request,
    call: Callable[[Any], Awaitable[dict[str, Any]]],
    status_code: int = 200,
) -> Response:
    """``call`` on the request's JSON body: 413/422 for a bad body or bad input, 500 (with the
    request id, no stack trace) for anything else, ``status_code`` with the result."""
    body = await _read_limited(request)
    if isinstance(body, Response):
        return body
    request_id = str(body.get("request_id", "")) if isinstance(body, dict) else ""
    try:
        result = await call(body)
    except InvalidRequestError as exc:
        return OrjsonResponse(error_body(request_id, exc.issues), status_code=422)
    except job_api.JobConflictError as exc:
        issue = FieldIssue("request_id", str(exc))
        return OrjsonResponse(error_body(request_id, [issue]), status_code=409)
    except Exception:
        return _internal_error(request_id or str(uuid.uuid4()))
    return OrjsonResponse(result, status_code=status_code)


async def _read_limited(request: Request) -> Any:
    """The parsed JSON body, or the error response (413 too large, 422 not JSON)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > settings.max_request_bytes:
        return _too_large()
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > settings.max_request_bytes:
            return _too_large()
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        issue = FieldIssue("body", f"not valid JSON ({exc})")
        return OrjsonResponse(error_body("", [issue]), status_code=422)


def _not_found(message: str) -> Response:
    return OrjsonResponse({"success": False, "error": message}, status_code=404)


def _too_large() -> Response:
    issue = FieldIssue("body", f"larger than the limit of {settings.max_request_bytes} bytes")
    return OrjsonResponse(error_body("", [issue]), status_code=413)


def _internal_error(request_id: str) -> Response:
    # The stack trace goes to the log with the request id, never onto the wire.
    logger.exception("request %s failed", request_id)
    body = {
        "request_id": request_id,
        "success": False,
        "error": f"internal error (request {request_id})",
    }
    return OrjsonResponse(body, status_code=500)
