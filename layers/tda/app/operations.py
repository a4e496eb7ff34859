"""What the handlers do, with no transport in sight: every surface calls these.

The Lambda handlers (``functions/*/app.py``), the HTTP API and the local gRPC shim all pass
plain JSON-shaped payloads (the seed's request shape) in and get JSON-shaped results out, so a
request means the same thing whichever way it arrives.
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tda.app import sync_workflow
from tda.app.requests import parse_request, plan_range
from tda.app.service import (
    bulk_metadata,
    generate,
    plan_request,
    resolve_spec,
    route_here,
)
from tda.app.settings import model_settings, settings
from tda.domain.coherence import CoherenceReport
from tda.domain.contract import GenerateRequest
from tda.domain.errors import (
    InvalidRequestError,
    LLMTimeoutError,
    PathUnavailableError,
    shown,
)
from tda.domain.limits import answer_bytes, inline, light, work_seconds
from tda.domain.routing import GenerationPath, RoutingDecision
from tda.domain.schema.registry import entity_names, list_schemas
from tda.paths import registry
from tda.paths.traditional.bulk import render_parts
from tda.paths.traditional.pools import LOCALE_BUILD_SECONDS, check_locale, pools_ready

VERSION = "0.1.0"


def generate_sync(payload: Any) -> dict[str, Any]:
    """A whole response from the traditional generator, for count ≤ MAX_SYNC_RECORDS."""
    # The traditional Lambda serves traditionally whatever the route (it is the workflow's last
    # fallback): no model is asked here.
    request = parse_request(payload)
    decision = route_here(request)
    tried = ""
    if decision.path is not GenerationPath.TRADITIONAL:
        tried = registry.fallback_reason(decision.path, "is not asked by this function")
    response = generate(request, decision, generator=registry.traditional(), tried=tried)
    return response.model_dump(mode="json")


def serve(payload: Any) -> dict[str, Any]:
    """A synchronous request as the router answers it (DESIGN.md: Shape).

    Routed to traditional: served here, the fast path. Routed to llm, rag or hybrid: through the
    sync workflow, which owns retries and fallbacks. If no execution can be started, the
    traditional generator serves it and ``fallback_reason`` says why. Bad input is refused
    before anything starts.
    """
    return serve_routed(payload, *parse_and_route(payload))


def parse_and_route(payload: Any) -> tuple[GenerateRequest, RoutingDecision]:
    request = parse_request(payload)
    return request, route_here(request)


def on_fast_path(decision: RoutingDecision) -> bool:
    """Served in-process in a few ms of CPU (no workflow execution to wait for)."""
    return decision.path is GenerationPath.TRADITIONAL


# Constraints a request may carry and still be answered on an event loop: each is laid over
# the entity and checked, and a regex is compiled twice (Python's parser, RE2).
_INLINE_CONSTRAINTS = 8


def answers_inline(request: GenerateRequest, decision: RoutingDecision) -> bool:
    """Whether a server answers this request on its event loop rather than a worker thread.

    Only a fast-path request known to be small before any work: a registered entity with a
    few constraints and no regex, whose records at their largest (``limits.inline``) cost less
    than the hop to a thread. A caller's schema, a regex or a large request goes to a thread,
    so it can never hold up the calls that share the loop. Bad input is refused at once.
    """
    if not on_fast_path(decision):
        return False
    if request.schema is not None and request.schema.fields:
        return False
    try:
        if not pools_ready(check_locale(request.locale)):
            return False  # its pools are built first: heavy work (``placement``)
    except InvalidRequestError:
        return True
    constraints = request.constraints.field_constraints if request.constraints else {}
    if len(constraints) > _INLINE_CONSTRAINTS or any(
        c.regex is not None for c in constraints.values()
    ):
        return False
    try:
        return inline(resolve_spec(request), request.count)
    except InvalidRequestError:
        return True


class Placement(NamedTuple):
    where: str  # light, heavy or model: a pool of tda.app.heavy_work
    seconds: float  # the CPU it may take there at most (limits.work_seconds); 0 for a model path
    answer_bytes: int = 0  # how large its answer may be (limits.answer_bytes)


def placement(request: GenerateRequest, decision: RoutingDecision) -> Placement:
    """Where a server makes a request it does not answer inline, once it is checked: ``light``
    (cheap: at once), ``heavy`` (behind other heavy generation) or ``model`` (waits on its
    workflow), with the CPU it may take, by which a server admits it. Checking is planning: bad
    input raises here, before it waits for anything."""
    plan = plan_request(request, max_count=settings.max_sync_records)
    size = answer_bytes(plan.spec, plan.count)
    if not on_fast_path(decision):
        return Placement("model", 0.0, size)
    seconds = work_seconds(plan.spec, plan.count)
    if not pools_ready(plan.locale):  # built for this request: part of what it costs
        return Placement("heavy", seconds + LOCALE_BUILD_SECONDS, size)
    where = "light" if light(plan.spec, plan.count) else "heavy"
    return Placement(where, seconds, size)


def serve_routed(
    payload: Any, request: GenerateRequest, decision: RoutingDecision
) -> dict[str, Any]:
    """``serve`` once the request is parsed and routed (the HTTP API picks a thread by route)."""
    degraded = ""
    if not on_fast_path(decision):
        plan_request(request, max_count=settings.max_sync_records)
        try:
            return sync_workflow.run(payload)
        except sync_workflow.WorkflowUnavailableError as exc:
            degraded = str(exc)
    response = generate(request, decision, warm=True).model_dump(mode="json")
    metadata = response["metadata"]
    metadata["served_via"] = "fast_path"
    if degraded:
        served = metadata["fallback_reason"] or (
            f"served in-process by the {metadata['generation_path']} path, without the "
            "workflow's fallbacks"
        )
        metadata["fallback_reason"] = (
            f"the {decision.path.value} path runs in the workflow, which could not start "
            f"({degraded}); {served}"
        )
    return response


def decide(payload: Any) -> dict[str, Any]:
    """The routing decision alone (the workflow's first step); the request is checked first."""
    request = parse_request(payload)
    plan_request(request)  # bad input fails here, before any path is tried
    decision = route_here(request)
    providers: tuple[str, ...] = getattr(
        registry.generator_for(GenerationPath.LLM), "providers", tuple
    )()
    return {
        "path": decision.path.value,
        "reason": decision.reason,
        "confidence": decision.confidence,
        # The workflow's first llm state: the first provider configured (a state whose
        # provider is not configured would fail at once, and its failure would be reported).
        "llm_provider": providers[0] if providers else "anthropic",
    }


def generate_range(payload: Any, start: int, count: int, part_size: int) -> dict[str, Any]:
    """Records ``[start, start + count)`` of a request, in parts of ``part_size`` records.

    One chunk of a stream or a job: the request is checked as a whole (count up to
    MAX_RECORDS), so every range of it agrees on the plan. Send a seed (``with_seed``) to get
    ranges of the same output from separate calls.
    """
    started = time.perf_counter()
    planned = plan_range(payload, start, count, first_step=start == 0)
    request, plan, stop = planned.request, planned.plan, planned.stop
    if part_size < 1:
        raise InvalidRequestError.single("part_size", f"must be at least 1 (got {part_size})")
    reports: list[CoherenceReport] = []
    parts = [
        {"data": part.data.decode("utf-8"), "start": part.start, "record_count": part.records}
        for part in render_parts(plan, request.output_format, start, stop, part_size, reports)
    ]
    coherence = CoherenceReport.merge(reports)
    metadata = bulk_metadata(
        plan, planned.decision, coherence, started, planned.report, planned.failure
    )
    return {
        "request_id": request.request_id,
        "parts": parts,
        "record_count": stop - start,
        "is_last": stop == plan.count,
        "metadata": {
            **metadata.model_dump(mode="json"),
            "served_via": "fast_path",  # the handler itself, no workflow in between
        },
    }


def model_path(
    payload: Any,
    path: str,
    routing: dict[str, Any] | None = None,
    provider: str | None = None,
    fallbacks: dict[str, Any] | None = None,
    max_inline_bytes: int | None = None,
    execution_started: str | None = None,
) -> dict[str, Any]:
    """A model path's workflow state (Llm, LlmOpenAI, Hybrid, Rag): the whole response from
    that path alone, or its error for the workflow's Retry and Catch (nothing falls back here:
    the workflow owns fallbacks). ``provider``: the llm path's one provider for this state."""
    request = parse_request(payload)
    started = _started_at(execution_started) if execution_started else None
    chosen = GenerationPath(path)
    decision = (
        RoutingDecision(
            GenerationPath(routing["path"]),
            str(routing.get("reason", "")),
            float(routing.get("confidence", 0.0)),
        )
        if routing
        else route_here(request)
    )
    generator = registry.generator_for(chosen)
    reason = registry.unavailable_reason(chosen)
    if generator is None or reason is not None:
        raise PathUnavailableError(f"the {path} path {reason}")
    if provider is not None:
        with_provider = getattr(generator, "with_provider", None)
        if with_provider is not None:
            generator = with_provider(provider)
    if started is not None:
        left = time_left(started)
        with_deadline = getattr(generator, "with_deadline", None)
        if with_deadline is not None:
            generator = with_deadline(left)
    tried = ""
    if fallbacks:
        served = f"{path} ({provider})" if provider else path
        tried = describe_fallbacks(fallbacks, served_by=served)
    response = generate(request, decision, generator=generator, tried=tried)
    result = response.model_dump(mode="json")
    result["metadata"]["served_via"] = "workflow"
    if max_inline_bytes is None:
        return result
    return sync_workflow.offload(result, max_inline_bytes)


def whole(
    payload: Any, fallbacks: dict[str, Any] | None = None, max_inline_bytes: int | None = None
) -> dict[str, Any]:
    """A whole response from the traditional generator (the workflow's last fallback, or a
    direct invoke). ``fallbacks`` (set by the workflow's Catch states) are the errors of the
    paths tried before; ``fallback_reason`` names them. With ``max_inline_bytes`` (the
    workflow's states cap at 256 KB), a larger response is put in the chunk store and a
    reference returned (``sync_workflow.offload``)."""
    response = generate_sync(payload)
    if fallbacks:
        response["metadata"]["fallback_reason"] = describe_fallbacks(fallbacks)
    if max_inline_bytes is None:
        return response
    return sync_workflow.offload(response, max_inline_bytes)


# Kept back from a model state's share of the budget for what comes after it (the traditional
# fallback, the offload, the response's way back).
FALLBACK_RESERVE_SECONDS = 3.0


def _started_at(execution_started: str) -> datetime:
    """``$$.Execution.StartTime`` as a time (UTC when it names no zone); a field-level error
    for another string, before any work."""
    try:
        started = datetime.fromisoformat(execution_started.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError.single(
            "execution_started", f"must be an ISO 8601 time (got {shown(execution_started)})"
        ) from None
    return started if started.tzinfo is not None else started.replace(tzinfo=UTC)


def time_left(started: datetime) -> float:
    """Seconds a model state may still spend: the sync budget from its execution's start, less
    the reserve for the fallback. None left: ``LLMTimeoutError`` at once (the workflow moves on)."""
    elapsed = (datetime.now(UTC) - started).total_seconds()
    left = model_settings().sync_budget_seconds - FALLBACK_RESERVE_SECONDS - max(elapsed, 0.0)
    if left <= 0:
        raise LLMTimeoutError(
            f"no time left for a model: {elapsed:.1f} s of the request's "
            f"{model_settings().sync_budget_seconds:.0f} s were spent before this step"
        )
    return left


def describe_fallbacks(fallbacks: dict[str, Any], served_by: str = "traditional generation") -> str:
    """``{"llm": {"Error": ..., "Cause": ...}}`` (Step Functions Catch output) as one sentence."""
    tried = []
    for path, failure in fallbacks.items():
        if not isinstance(failure, dict):
            continue
        error = failure.get("Error", "error")
        cause = failure.get("Cause", "")
        with contextlib.suppress(ValueError, AttributeError):  # a Lambda error's Cause is JSON
            cause = json.loads(cause).get("errorMessage", cause)
        tried.append(f"{path} failed ({error}: {cause})" if cause else f"{path} failed ({error})")
    return "; ".join(tried) + f"; served by {served_by}"


def schemas(domain: str | None = None) -> list[dict[str, Any]]:
    return [info.model_dump(mode="json") for info in list_schemas(domain)]


def health(draining: bool = False) -> dict[str, Any]:
    """Status and components (the seed's HealthCheckResponse): each path as the registry finds
    it here and now (``tda.paths.registry``), so a path that cannot serve says why.
    ``draining``: the server answering is stopping (a server's own state, not the process's)."""
    components = {"schemas": f"ok ({len(entity_names())} entities)"}
    for path, reason in registry.availability().items():
        if reason is not None:
            said = (
                f"unavailable: the {path.value} path {reason} (requests fall back to traditional)"
            )
        else:
            limited = registry.limitation(path)
            said = "ok" if limited is None else f"ok, but {limited}"
        components[path.value] = said
    components["limits"] = f"sync {settings.max_sync_records}, total {settings.max_records}"
    status = "draining" if draining else "healthy"
    return {"status": status, "components": components, "version": VERSION}
