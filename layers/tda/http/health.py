"""``GET /v1/schemas[?domain=]``, ``GET /health``, ``/health/live``, ``/health/ready``.

Readiness follows the serving process's own drain (``app.state.draining``, set by ``tda serve``
when it stops), never a process-wide flag."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tda.app import operations
from tda.domain.contract import SchemaInfo
from tda.http.openapi import documented
from tda.http.responses import OrjsonResponse

router = APIRouter(tags=["schemas and health"])


def _draining(request: Request) -> bool:
    return bool(request.app.state.draining())


@router.get("/v1/schemas", response_model=list[SchemaInfo], responses=documented(422))
async def schemas(domain: str | None = None) -> Response:
    return OrjsonResponse(operations.schemas(domain))


@router.get("/health")
async def health(request: Request) -> Response:
    return OrjsonResponse(operations.health(_draining(request)))


@router.get("/health/live")
async def live() -> Response:
    return OrjsonResponse({"status": "alive"})


@router.get("/health/ready", responses=documented(503))
async def ready(request: Request) -> Response:
    status = operations.health(_draining(request))["status"]
    return OrjsonResponse({"status": status}, status_code=200 if status == "healthy" else 503)
