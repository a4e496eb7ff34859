"""Typed models of every Lambda payload (the Powertools parser style), parsed at the edge.

The handlers parse their event here before anything runs; a malformed one is a field-level
``InvalidRequestError`` (``range.start: Input should be a valid integer``), never a KeyError
deep inside. The request itself stays raw: ``tda.app.requests.parse_request`` owns its
field-level errors, the same on every surface. Step Functions may add fields: they are ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter, ValidationError

from tda.domain.errors import InvalidRequestError


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Span(_Event):
    """Records ``[start, start + count)`` of a request."""

    start: StrictInt
    count: StrictInt


class ChunkTarget(_Event):
    """Where a job's chunk goes: the job's folder and the chunk's index."""

    job_id: Any = None  # checked by the job steps (tda.app.jobs.check_job_id)
    index: StrictInt


class RouterEvent(_Event):
    """``{"request": {...}}`` (direct invoke, the shim) or the workflow's routing step
    ``{"action": "route", "request": {...}}``."""

    action: Literal["route"] | None = None
    request: Any = None


class TraditionalEvent(_Event):
    """A whole request; a ``range`` of one in parts of ``part_size``; or a job chunk
    (``range`` + ``store``). ``fallbacks`` and ``max_inline_bytes`` come from the workflow."""

    request: Any = None
    range: Span | None = None
    part_size: Annotated[StrictInt, Field(ge=1)] | None = None
    store: ChunkTarget | None = None
    fallbacks: dict[str, Any] | None = None
    max_inline_bytes: Annotated[StrictInt, Field(ge=1)] | None = None


class JobOptions(_Event):
    max_concurrency: Any = None  # checked by plan_job, with the job's other limits


class PlanJobEvent(_Event):
    action: Literal["plan"]
    job_id: Any = None
    request: Any = None
    options: JobOptions | None = None


class FinalizeJobEvent(_Event):
    action: Literal["finalize"]
    job_id: Any = None
    plan: dict[str, Any]
    chunks: list[Any] | None = None
    error: dict[str, Any] | None = None


JobsEvent = Annotated[PlanJobEvent | FinalizeJobEvent, Field(discriminator="action")]
_JOBS_EVENT: TypeAdapter[PlanJobEvent | FinalizeJobEvent] = TypeAdapter(JobsEvent)

Model = TypeVar("Model", bound=_Event)


def parse(event: Any, model: type[Model]) -> Model:
    """``event`` as ``model``, or field-level errors naming what is wrong."""
    if not isinstance(event, dict):
        raise InvalidRequestError.single("event", "must be a JSON object")
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise InvalidRequestError.from_validation(exc) from None


def parse_jobs_event(event: Any) -> PlanJobEvent | FinalizeJobEvent:
    """The jobs function's event: ``action`` picks plan or finalize."""
    if not isinstance(event, dict):
        raise InvalidRequestError.single("event", "must be a JSON object")
    if event.get("action") not in (
        "plan",
        "finalize",
    ):  # named here: the union's error has no field
        raise InvalidRequestError.single("action", "must be 'plan' or 'finalize'")
    try:
        return _JOBS_EVENT.validate_python(event)
    except ValidationError as exc:
        raise InvalidRequestError.from_validation(exc) from None
