"""Typed models of every Lambda payload (the Powertools parser style), parsed at the edge; the
HTTP API's own is in ``tda.adapters.http_event``.

The handlers parse their event here before anything runs; a malformed one is a field-level
``InvalidRequestError`` (``range.start: Input should be a valid integer``), never a KeyError
deep inside. The request itself stays raw: ``tda.app.requests.parse_request`` owns its
field-level errors, the same on every surface. Step Functions may add fields: they are ignored.
"""

# No ``from __future__ import annotations``: the validators are built from the annotations as
# objects (tda.domain.wire).
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from tda.domain.errors import FieldIssue, InvalidRequestError
from tda.domain.wire import Range, Strict, WireModel

StrictInt = Annotated[int, Strict()]
PositiveInt = Annotated[int, Strict(), Range(ge=1)]


class _Event(WireModel):
    # Each validator is built at its first use: a function parses one kind of event, not all.
    camel_aliases: ClassVar[bool] = False
    extra: ClassVar[str] = "ignore"


@dataclass(frozen=True, kw_only=True)
class Span(_Event):
    """Records ``[start, start + count)`` of a request."""

    start: StrictInt
    count: StrictInt


@dataclass(frozen=True, kw_only=True)
class ChunkTarget(_Event):
    """Where a job's chunk goes: the job's folder and the chunk's index."""

    job_id: Any = None  # checked by the job steps (tda.app.jobs.check_job_id)
    index: StrictInt


@dataclass(frozen=True, kw_only=True)
class RouterEvent(_Event):
    """``{"request": {...}}`` (direct invoke, the shim) or the workflow's routing step
    ``{"action": "route", "request": {...}}``."""

    action: Literal["route"] | None = None
    request: Any = None


@dataclass(frozen=True, kw_only=True)
class TraditionalEvent(_Event):
    """A whole request; a ``range`` of one in parts of ``part_size``; or a job chunk
    (``range`` + ``store``). ``fallbacks`` and ``max_inline_bytes`` come from the workflow."""

    request: Any = None
    range: Span | None = None
    part_size: PositiveInt | None = None
    store: ChunkTarget | None = None
    fallbacks: dict[str, Any] | None = None
    max_inline_bytes: PositiveInt | None = None


@dataclass(frozen=True, kw_only=True)
class Routing(_Event):
    path: str
    reason: str = ""
    confidence: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ModelPathEvent(_Event):
    """The workflow's Llm/LlmOpenAI/Hybrid/Rag states: the request, the routing decision, the
    failures of the paths tried before, and (llm) the one provider to use."""

    request: Any = None
    routing: Routing | None = None
    fallbacks: dict[str, Any] | None = None
    provider: Literal["anthropic", "openai"] | None = None
    execution_started: str | None = None  # $$.Execution.StartTime: the shared budget's start
    max_inline_bytes: PositiveInt | None = None


@dataclass(frozen=True, kw_only=True)
class JobOptions(_Event):
    max_concurrency: Any = None  # checked by plan_job, with the job's other limits


@dataclass(frozen=True, kw_only=True)
class PlanJobEvent(_Event):
    action: Literal["plan"]
    job_id: Any = None
    request: Any = None
    options: JobOptions | None = None


@dataclass(frozen=True, kw_only=True)
class FinalizeJobEvent(_Event):
    action: Literal["finalize"]
    job_id: Any = None
    plan: dict[str, Any]
    chunks: list[Any] | None = None
    error: dict[str, Any] | None = None


Model = TypeVar("Model", bound=_Event)


def parse(event: Any, model: type[Model]) -> Model:
    """``event`` as ``model``, or field-level errors naming what is wrong."""
    if not isinstance(event, dict):
        raise InvalidRequestError.single("event", "must be a JSON object")
    return model.parse(event)


JOBS_EVENTS: dict[str, type[PlanJobEvent | FinalizeJobEvent]] = {
    "plan": PlanJobEvent,
    "finalize": FinalizeJobEvent,
}


def parse_jobs_event(event: Any) -> PlanJobEvent | FinalizeJobEvent:
    """The jobs function's event: ``action`` picks plan or finalize. A field's error is named
    under the action (``finalize.plan``), as a tagged union names it."""
    if not isinstance(event, dict):
        raise InvalidRequestError.single("event", "must be a JSON object")
    action = event.get("action")
    model = JOBS_EVENTS.get(action) if isinstance(action, str) else None
    if model is None:
        raise InvalidRequestError.single("action", "must be 'plan' or 'finalize'")
    try:
        return parse(event, model)
    except InvalidRequestError as exc:
        issues = [FieldIssue(f"{action}.{issue.field}", issue.message) for issue in exc.issues]
        raise InvalidRequestError(issues) from None
