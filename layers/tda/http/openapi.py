"""What ``/openapi.json`` says beyond what FastAPI infers: the request body's models, and every
status a route may answer with the error body's schema.

The routes read their body themselves (one parser and one error shape for every surface, the
gRPC shim's included), so FastAPI never sees the request's models: they are added to the
document's components here, their references pointing there (pydantic's own ``#/$defs/...``
would point nowhere inside an OpenAPI document).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tda.app.settings import settings
from tda.domain.contract import GenerateRequest

COMPONENTS = "#/components/schemas/"

# The request body of ``POST /v1/generate`` and ``POST /v1/jobs``: required, the seed's request
# (snake_case is documented; proto3 JSON camelCase is accepted too).
REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"{COMPONENTS}GenerateRequest"}}},
    }
}


def request_schemas() -> dict[str, Any]:
    """The request's model and every model it holds, as OpenAPI components: the wire's names
    (``schema``, not the model's ``schema_``) and the count's range, which the service checks
    itself."""
    schema = GenerateRequest.model_json_schema(by_alias=False, ref_template=COMPONENTS + "{model}")
    held = schema.pop("$defs", {})
    properties = schema["properties"]
    properties["schema"] = properties.pop("schema_")
    properties["count"] |= {
        "minimum": 1,
        "maximum": settings.max_records,
        "description": f"at most {settings.max_sync_records} for /v1/generate "
        f"(MAX_SYNC_RECORDS), {settings.max_records} for a job (MAX_RECORDS)",
    }
    return {**held, "GenerateRequest": schema}


def with_request_models(app: FastAPI) -> dict[str, Any]:
    """``app``'s OpenAPI document, the request's models among its components (made once)."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi  # here: FastAPI imports it when asked too

        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        document.setdefault("components", {}).setdefault("schemas", {}).update(request_schemas())
        app.openapi_schema = document
    return app.openapi_schema


# The error answers in OpenAPI (``responses=`` of a route), so a client generated from the
# spec, or a tool checking answers against it, knows every status a route may give.
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {
        "request_id": {"type": "string"},
        "success": {"type": "boolean", "enum": [False]},
        "error": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these statuses: the errors with the error body's schema."""
    described = {
        307: "the chunk in S3: a presigned URL in Location",
        404: "no such job, or no such chunk of it",
        409: "the request_id names a job with another body",
        413: "the body is larger than MAX_REQUEST_BYTES",
        422: "bad input, one entry per field in details",
        429: "busy (too much synchronous work, or the caller's running jobs): see Retry-After",
        500: "an unexpected failure, named by the request id",
        503: "not ready: the server is stopping (draining)",
    }
    answers: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        answer: dict[str, Any] = {"description": described[status]}
        if status == 307:
            answer["headers"] = {"Location": {"schema": {"type": "string", "format": "uri"}}}
        elif status == 503:
            answer["content"] = {"application/json": {"schema": {"type": "object"}}}
        else:
            answer["content"] = {"application/json": {"schema": _ERROR_SCHEMA}}
        if status == 429:
            answer["headers"] = {
                "Retry-After": {"description": "seconds", "schema": {"type": "integer"}}
            }
        answers[status] = answer
    return answers
