"""A request as every use case first sees it: parsed, seeded, planned.

Shared by the operations (``tda.app.operations``) and the job steps (``tda.app.jobs``), which
build on them both.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tda.app.service import plan_request, route_here, with_model_catalog
from tda.domain.contract import GenerateRequest, LLMReport
from tda.domain.errors import InvalidRequestError
from tda.domain.plan import SEED_BITS, GenerationPlan, fresh_seed
from tda.domain.routing import RoutingDecision


def parse_request(payload: Any) -> GenerateRequest:
    """The request in ``payload`` (snake_case or proto3 JSON camelCase); field-level errors."""
    if not isinstance(payload, dict):
        raise InvalidRequestError.single("request", "must be a JSON object")
    request = GenerateRequest.parse(payload)
    if not request.request_id:  # every response names its request, for logs and support
        request.request_id = f"req-{uuid.uuid4().hex[:20]}"
    return request


def with_seed(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with a seed fixed, so separately generated ranges belong to one output."""
    if payload.get("seed") is None:
        return {**payload, "seed": fresh_seed(SEED_BITS)}
    return payload


@dataclass(frozen=True)
class RangePlan:
    """A range of a request: the request, its whole plan (with a model-written catalog when
    routed to the llm path's catalog mode), where the range stops, and what served it."""

    request: GenerateRequest
    plan: GenerationPlan
    stop: int
    decision: RoutingDecision
    report: LLMReport | None
    failure: str


def plan_range(payload: Any, start: int, count: int, first_step: bool = False) -> RangePlan:
    """``[start, start + count)`` of a request. ``first_step``: this step may have the model
    write the context's catalog (the others read it)."""
    request = parse_request(payload)
    plan = plan_request(request)
    if start < 0 or start >= plan.count or count < 1:
        raise InvalidRequestError.single(
            "range", f"[{start}, {start + count}) is not inside [0, {plan.count})"
        )
    decision = route_here(request)
    plan, report, failure = with_model_catalog(plan, decision, write=first_step)
    return RangePlan(request, plan, min(start + count, plan.count), decision, report, failure)
