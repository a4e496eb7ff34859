"""The HTTP API: one FastAPI app, served by Mangum in Lambda and by uvicorn in ``tda serve``.

One router per resource (``generate``, ``jobs``, ``health``: schemas and health); one map from
the service's errors to HTTP answers (``responses.ERROR_ANSWERS``). ``dependencies`` run before
every route: the place for auth and rate limits. OpenAPI at ``/docs`` (and ``/openapi.json``).
Bodies above ``MAX_REQUEST_BYTES`` (default 1 MiB) get 413 before they are parsed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from tda.app import operations
from tda.domain.errors import FieldIssue
from tda.http import docs, generate, health, jobs
from tda.http.head import HeadAsGet
from tda.http.openapi import with_request_models
from tda.http.responses import OrjsonResponse, error_body


def create_app(
    draining: Callable[[], bool] = lambda: False, dependencies: Sequence[Depends] = ()
) -> FastAPI:
    app = FastAPI(
        title="Test Data Agent",
        version=operations.VERSION,
        description="Valid, coherent test data for e-commerce entities or any schema.",
        default_response_class=OrjsonResponse,
        docs_url=None,  # tda.http.docs: its pages, their assets served from here
        redoc_url=None,
    )
    app.state.draining = draining
    app.add_exception_handler(RequestValidationError, _bad_parameter)
    app.add_exception_handler(HTTPException, _no_such_route)
    for resource in (generate, jobs, health):
        app.include_router(resource.router, dependencies=list(dependencies))
    app.include_router(docs.router)
    app.openapi = lambda: with_request_models(app)  # type: ignore[method-assign]
    app.add_middleware(HeadAsGet)
    return app


async def _no_such_route(request: Request, exc: Any) -> Response:
    """A path no route has (404), or a method its routes do not take (405): the documented
    ``{error}`` shape. A 405's ``Allow`` names every method the path takes, as the OpenAPI
    document lists them (Starlette named only its first route's: ``GET`` for a job, which
    ``DELETE`` also takes)."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = _methods_of(request.app, request.url.path)
        if allowed:
            headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
            headers["allow"] = ", ".join(allowed)
    body = {"request_id": "", "success": False, "error": str(exc.detail)}
    return OrjsonResponse(body, status_code=exc.status_code, headers=headers)


def _methods_of(app: FastAPI, path: str) -> list[str]:
    for template, item in app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), path):
            methods = {m.upper() for m in item}
            return sorted(methods | ({"HEAD"} if "GET" in methods else set()))
    return []


async def _bad_parameter(request: Request, exc: Any) -> Response:
    """A bad path or query parameter: the documented ``{error, details}`` shape, not FastAPI's
    own ``{detail}``."""
    assert isinstance(exc, RequestValidationError)
    issues = [
        FieldIssue(".".join(str(p) for p in error["loc"][1:]) or "request", error["msg"])
        for error in exc.errors()
    ]
    return OrjsonResponse(error_body("", issues), status_code=422)
