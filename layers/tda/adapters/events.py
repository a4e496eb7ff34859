"""Typed models of every Lambda payload (the Powertools parser style), parsed at the edge.

The handlers parse their event here before anything runs; a malformed one is a field-level
``InvalidRequestError`` (``range.start: Input should be a valid integer``), never a KeyError
deep inside. The request itself stays raw: ``tda.app.requests.parse_request`` owns its
field-level errors, the same on every surface. Step Functions may add fields: they are ignored.
"""

# No ``from __future__ import annotations``: pydantic would evaluate each field's annotation
# from its text when the model is built (tda/domain/contract.py).
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter, ValidationError

from tda.domain.errors import InvalidRequestError


class _Event(BaseModel):
    # Built at first use: a function parses one kind of event, not all of them (cold start).
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


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


class Routing(_Event):
    path: str
    reason: str = ""
    confidence: float = 0.0


class ModelPathEvent(_Event):
    """The workflow's Llm/LlmOpenAI/Hybrid/Rag states: the request, the routing decision, the
    failures of the paths tried before, and (llm) the one provider to use."""

    request: Any = None
    routing: Routing | None = None
    fallbacks: dict[str, Any] | None = None
    provider: Literal["anthropic", "openai"] | None = None
    execution_started: str | None = None  # $$.Execution.StartTime: the shared budget's start
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


@cache  # built by the jobs function's first event, not by every function's import
def _jobs_event() -> TypeAdapter[PlanJobEvent | FinalizeJobEvent]:
    return TypeAdapter(JobsEvent)


Model = TypeVar("Model", bound=_Event)
Parsed = TypeVar("Parsed")


def _validated(event: Any, validate: Callable[[Any], Parsed]) -> Parsed:
    if not isinstance(event, dict):
        raise InvalidRequestError.single("event", "must be a JSON object")
    try:
        return validate(event)
    except ValidationError as exc:
        raise InvalidRequestError.from_validation(exc) from None


def parse(event: Any, model: type[Model]) -> Model:
    """``event`` as ``model``, or field-level errors naming what is wrong."""
    return _validated(event, model.model_validate)


def parse_jobs_event(event: Any) -> PlanJobEvent | FinalizeJobEvent:
    """The jobs function's event: ``action`` picks plan or finalize."""
    # Named here: the union's own error for a missing or unknown tag has no field.
    if isinstance(event, dict) and event.get("action") not in ("plan", "finalize"):
        raise InvalidRequestError.single("action", "must be 'plan' or 'finalize'")
    return _validated(event, _jobs_event().validate_python)
