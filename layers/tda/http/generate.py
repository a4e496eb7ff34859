"""``POST /v1/generate``: the seed's request JSON (snake_case, or proto3 JSON camelCase) → the
seed's GenerateResponse JSON. Bad input: 422 with one entry per field in ``details``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tda.app import operations
from tda.app.heavy_work import run_admitted, run_on
from tda.app.settings import settings
from tda.http.openapi import GENERATED, documented, request_body
from tda.http.responses import answer_body

router = APIRouter(tags=["generate"])


@router.post(
    "/v1/generate",
    responses=GENERATED | documented(413, 415, 422, 429, 500, 501, 503),
    openapi_extra=request_body(
        {"entity": "cart", "count": 5, "seed": 7}, settings.max_sync_records
    ),
)
async def generate(request: Request) -> Response:
    return await answer_body(request, _serve)


async def _serve(body: Any) -> dict[str, Any]:
    request, decision = operations.parse_and_route(body)
    if operations.answers_inline(request, decision):
        # On the event loop: a small fast-path response costs less than a thread hop.
        return operations.serve_routed(body, request, decision)
    # Checked on the light pool: bad input is refused there, and a cheap request served there,
    # never behind heavy generation. A model path waits for its workflow execution on its own
    # pool, so the loop keeps serving and job calls never wait behind model calls. A pool with
    # as much as it takes answers 429 at once (``heavy_work.run_admitted``).
    placed = await run_on("light", operations.placement, request, decision)
    return await run_admitted(*placed, operations.serve_routed, body, request, decision)
