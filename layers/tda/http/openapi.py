"""What ``/openapi.json`` says beyond what FastAPI infers: the request's and the response's
models under the wire's names, the success bodies of the job routes, and every status a route
may answer with the error body's schema.

The routes read their body themselves (one parser and one error shape for every surface, the
gRPC shim's included), so FastAPI never sees the request's models: they are added to the
document's components here, their references pointing there (pydantic's own ``#/$defs/...``
would point nowhere inside an OpenAPI document).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode

from tda.app.job_api import MEDIA_TYPES
from tda.app.jobs import JOB_ID
from tda.app.settings import settings
from tda.domain.contract import GenerateRequest, GenerateResponse, OutputFormat
from tda.domain.schema.loader import ARRAY_ITEM_NAMES, FIELD_NAME_PATTERN, NESTING_TYPES
from tda.domain.schema.registry import entity_names
from tda.domain.schema.spec import MAX_STRING_LENGTH
from tda.domain.wire import WireModel, core_schema

COMPONENTS = "#/components/schemas/"


def request_body(example: dict[str, Any], max_count: int) -> dict[str, Any]:
    """The request body of ``POST /v1/generate`` and ``POST /v1/jobs``: required, the seed's
    request (snake_case is documented; proto3 JSON camelCase is accepted too), with the most
    records the route takes. The example is what /docs' "Try it out" fills in, and what a
    tool's example phase sends: one that works (the schema's own defaults name no entity, a
    422)."""
    schema = {
        "allOf": [
            {"$ref": f"{COMPONENTS}GenerateRequest"},
            {"properties": {"count": {"maximum": max_count}}},
        ]
    }
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema, "example": example}},
        }
    }


def _json_schema(model: type[WireModel], mode: JsonSchemaMode) -> dict[str, Any]:
    """pydantic's JSON Schema of the model's validator (``validation``: what it takes) or of
    what it is written as (``serialization``), under the Python names (the wire's)."""
    generator = GenerateJsonSchema(by_alias=False, ref_template=COMPONENTS + "{model}")
    return generator.generate(core_schema(model), mode=mode)


def request_schemas() -> dict[str, Any]:
    """The request's model and every model it holds, as OpenAPI components, with the count's
    range, which the service checks itself."""
    schema = _json_schema(GenerateRequest, "validation")
    held = schema.pop("$defs", {})
    properties = schema["properties"]
    # Required in effect: its proto default, 0, is refused.
    schema["required"] = sorted({*schema.get("required", []), "count"})
    properties["count"].pop("default", None)
    properties["count"] |= {
        "minimum": 1,
        "maximum": settings.max_records,
        "description": f"at most {settings.max_sync_records} for /v1/generate "
        f"(MAX_SYNC_RECORDS), {settings.max_records} for a job (MAX_RECORDS)",
    }
    held["FieldDef"] = _field_rules(held["FieldDef"])
    held["SchemaDef"]["properties"]["fields"]["items"] |= _NAMED
    scenario = held["Scenario"]
    scenario["properties"]["name"] |= {"pattern": r"\S"}  # not blank
    scenario["properties"]["count"].pop("default", None)  # 0, refused: required in effect
    # A scenario's count adds up with the others to the request's.
    scenario["properties"]["count"] |= {"minimum": 1, "maximum": settings.max_records}
    for length in ("min_length", "max_length"):  # never negative; a string's, an array's less
        held["FieldConstraint"]["properties"][length]["anyOf"][0] |= {
            "minimum": 0,
            "maximum": MAX_STRING_LENGTH,
        }
    scenario["required"] = sorted({*scenario.get("required", []), "count"})
    schema["anyOf"] = _what_to_make()
    return {**held, "GenerateRequest": schema}


def _what_to_make() -> list[dict[str, Any]]:
    """A request names what it asks for: fields of its own, or a registered entity (by
    ``entity`` or ``schema.predefined_schema``; the service takes any case and spaces around)."""
    entities = {"enum": entity_names()}

    def in_schema(name: str, rule: dict[str, Any]) -> dict[str, Any]:
        inner = {"type": "object", "required": [name], "properties": {name: rule}}
        return {"required": ["schema"], "properties": {"schema": inner}}

    return [
        in_schema("fields", {"minItems": 1}),
        in_schema("predefined_schema", entities),
        {"required": ["entity"], "properties": {"entity": entities}},
    ]


def _field_rules(field: dict[str, Any]) -> dict[str, Any]:
    """A schema field's rules that JSON Schema can say (checked by the service all the same):
    its name, and which types take nested_fields. An ARRAY's item may be nameless."""
    nesting = [t.value for t in NESTING_TYPES]
    # One pattern, a name or none (the item names other than '' are names): an anyOf of the
    # two threw schemathesis' coverage phase.
    items = " or ".join(repr(name) for name in sorted(ARRAY_ITEM_NAMES))
    field["properties"]["name"] |= {
        "pattern": f"^({FIELD_NAME_PATTERN.strip('^$')})?$",
        "description": "letters, digits and _, not starting with a digit; an ARRAY's one "
        f"nested field may be its nameless item ({items})",
    }
    typed = {"required": ["type"], "properties": {"type": {"const": "OBJECT"}}}
    nests = {"required": ["type"], "properties": {"type": {"enum": nesting}}}
    has_parts = {"required": ["type"], "properties": {"type": {"enum": ["OBJECT", "ADDRESS"]}}}
    several = {"required": ["nested_fields"], "properties": {"nested_fields": {"minItems": 2}}}
    named_parts = {"properties": {"nested_fields": {"items": _NAMED}}}
    return field | {
        "allOf": [
            # An OBJECT needs nested fields; a type other than these takes none.
            {"if": typed, "then": {"required": ["nested_fields"],
                                   "properties": {"nested_fields": {"minItems": 1}}}},
            {"if": {"not": nests}, "then": {"properties": {"nested_fields": {"maxItems": 0}}}},
            # Only an ARRAY's one nested field (its item) goes without a name.
            {"if": has_parts, "then": named_parts},
            {"if": several, "then": named_parts},
        ]
    }  # fmt: skip


_NAMED = {"required": ["name"], "properties": {"name": {"minLength": 1}}}


def _answer(description: str, schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """A route's 200 with this JSON body."""
    return {200: {"description": description, "content": {"application/json": {"schema": schema}}}}


def response_schemas() -> dict[str, Any]:
    """The response's model and the models it holds, under the wire's snake_case names: FastAPI
    would document a ``response_model`` under its camelCase aliases, which only requests may
    use (a client generated from those would read ``recordCount`` and find nothing)."""
    schema = _json_schema(GenerateResponse, "serialization")
    return {**schema.pop("$defs", {}), "GenerateResponse": schema}


# ``POST /v1/generate``'s 200, its schema among the components (``with_request_models``).
GENERATED = _answer(
    "the records (``data``, in the requested format) and how they were made",
    {"$ref": f"{COMPONENTS}GenerateResponse"},
)

_CHUNK_RECORDS = {"type": "array", "items": {"type": "object"}}

# ``GET /v1/jobs/{id}/chunks/{n}``'s 200: the chunk's bytes, in its job's format.
CHUNK: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the chunk, in the job's format",
        "content": {
            # A JSON chunk is an array of records; the other formats are text.
            media_type: {
                "schema": _CHUNK_RECORDS if fmt is OutputFormat.JSON else {"type": "string"}
            }
            for fmt, media_type in MEDIA_TYPES.items()
        },
    }
}


def with_request_models(app: FastAPI) -> dict[str, Any]:
    """``app``'s OpenAPI document, the request's and the response's models among its
    components (made once)."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi  # here: FastAPI imports it when asked too

        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components.update(request_schemas() | response_schemas())
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
        415: "the body is compressed (Content-Encoding): send it uncompressed",
        422: "bad input, one entry per field in details",
        429: "busy (too much synchronous work, or running jobs: the caller's, or the "
        "server's): see Retry-After",
        500: "an unexpected failure, named by the request id",
        501: "a transfer coding besides chunked (Transfer-Encoding: gzip, chunked)",
        503: "not ready: the server is stopping (draining); or the job store cannot be read "
        "now (S3 throttling): see Retry-After",
        507: "a local chunk store's disk is down to the free space it keeps (MIN_FREE_DISK_BYTES)",
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
        if status in (429, 503):
            answer["headers"] = {
                "Retry-After": {"description": "seconds", "schema": {"type": "integer"}}
            }
        answers[status] = answer
    return answers


def _operation_ref(route: str, method: str) -> str:
    """An OpenAPI operationRef: a JSON pointer into ``paths`` (``/`` escaped as ``~1``)."""
    return f"#/paths/{route.replace('~', '~0').replace('/', '~1')}/{method}"


_JOB_ID_FROM_ANSWER = {"job_id": "$response.body#/job_id"}

# ``POST /v1/jobs``'s 202: the answer's shape, and links to the routes its job_id opens, so
# a client (or a stateful tester such as schemathesis) can follow a job from its submit.
JOB_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "the job started (or, for a request_id sent again with the same "
        "body, the job it started: existing)",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["job_id", "status", "chunks_total", "format"],
                    "properties": {
                        "job_id": {"type": "string", "pattern": JOB_ID.pattern},
                        "status": {"type": "string", "description": "RUNNING when new"},
                        "chunks_total": {"type": "integer", "minimum": 1},
                        "format": {"type": "string", "enum": [f.value for f in OutputFormat]},
                        "existing": {"type": "boolean"},
                    },
                }
            }
        },
        "links": {
            "status": {
                "operationRef": _operation_ref("/v1/jobs/{job_id}", "get"),
                "parameters": _JOB_ID_FROM_ANSWER,
                "description": "the job's status, progress and chunk links",
            },
            "cancel": {
                "operationRef": _operation_ref("/v1/jobs/{job_id}", "delete"),
                "parameters": _JOB_ID_FROM_ANSWER,
                "description": "stop the job",
            },
        },
    }
}


_STATE = {"type": "string", "description": "RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED"}
_COUNT = {"type": "integer", "minimum": 0}
_TEXT_OR_NONE = {"type": ["string", "null"]}

# ``GET /v1/jobs/{id}``'s 200 (``job_api.status``).
JOB_STATUS = _answer(
    "the job's state, progress and finished chunks",
    {
        "type": "object",
        "required": ["job_id", "status", "progress", "record_count", "format", "chunks"],
        "properties": {
            "job_id": {"type": "string"},
            "status": _STATE,
            "progress": {
                "type": "object",
                "required": ["chunks_done", "chunks_total"],
                "properties": {"chunks_done": _COUNT, "chunks_total": _COUNT},
            },
            "record_count": _COUNT,
            "format": {"type": "string", "enum": [f.value for f in OutputFormat]},
            "seed": {"type": ["integer", "null"]},
            "chunks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "url", "location"],
                    "properties": {
                        "index": _COUNT,
                        "url": {"type": "string", "description": "this API's chunk route"},
                        "location": {
                            "type": "string",
                            "description": "the chunk store's key, or a presigned S3 URL",
                        },
                        "record_count": _COUNT,
                        "bytes": _COUNT,
                        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    },
                },
            },
            "manifest": _TEXT_OR_NONE,
            "execution_arn": {"type": "string"},
            "metadata": {"$ref": f"{COMPONENTS}GenerationMetadata"},
            "error": {
                "type": "object",
                "properties": {"error": _TEXT_OR_NONE, "cause": _TEXT_OR_NONE},
            },
            "history": {
                "type": "array",
                "description": "with ?history=true: the execution's events",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": ["integer", "null"]},
                        "type": _TEXT_OR_NONE,
                        "timestamp": _TEXT_OR_NONE,
                        "state": _TEXT_OR_NONE,
                        "error": _TEXT_OR_NONE,
                    },
                },
            },
        },
    },
)

# ``DELETE /v1/jobs/{id}``'s 200 (``job_api.cancel``, ``job_api.remove``).
JOB_CANCELLED = _answer(
    "the job's state after the cancel (cancelled: false for a job that had already ended)",
    {
        "type": "object",
        "required": ["job_id", "status", "cancelled"],
        "properties": {
            "job_id": {"type": "string"},
            "status": _STATE,
            "cancelled": {"type": "boolean"},
            "removed": {"type": "boolean", "description": "with ?purge=true"},
        },
    },
)
