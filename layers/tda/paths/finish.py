"""The tail every path shares: validate → repair → score → render → metadata.

Whatever made the records, nothing leaves that breaks its schema: a path that cannot repair
(traditional, whose records are valid by construction) fails loudly on a bad record as a bug;
the model paths bring a ``repair`` step that mends or drops, and says which.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from tda.domain.contract import GenerationMetadata, OutputFormat
from tda.domain.output import renderer_for
from tda.domain.routing import RoutingDecision
from tda.domain.validation import require_valid, validate_records
from tda.paths.base import PathResult

# Mends or drops the invalid records of a result (``invalid``: their indices); the model paths'.
Repair = Callable[[PathResult, set[int]], PathResult]


def finish(
    result: PathResult,
    output_format: OutputFormat,
    decision: RoutingDecision,
    started: float,
    fallback_reason: str = "",
    repair: Repair | None = None,
) -> tuple[bytes, GenerationMetadata]:
    """The rendered records and the metadata that names the path that served, from facts."""
    result = _valid(result, repair)
    memory = result.memory  # a memory path's records say where they came from
    edge_cases = memory is not None and memory.mode == "edge_cases"
    renderer = renderer_for(output_format, result.plan.spec, memory is not None, edge_cases)
    data = renderer.render(result.records)
    return data, metadata_for(result, decision, started, fallback_reason)


def _valid(result: PathResult, repair: Repair | None) -> PathResult:
    if result.validated:
        return result
    if repair is None:
        require_valid(result.plan.spec, result.records)  # a bug if not: raised, never served
        return replace(result, validated=True)
    report = validate_records(result.plan.spec, result.records)
    if not report.valid:
        result = repair(result, report.invalid_indices)
        require_valid(result.plan.spec, result.records)
    return replace(result, validated=True)


def metadata_for(
    result: PathResult, decision: RoutingDecision, started: float, fallback_reason: str = ""
) -> GenerationMetadata:
    plan, coherence = result.plan, result.coherence
    return GenerationMetadata(
        generation_path=result.served_by.value,
        generation_time_ms=round((time.perf_counter() - started) * 1000, 3),
        coherence_score=round(coherence.score, 6),
        scenario_counts={s.name: s.count for s in plan.scenarios},
        routed_path=decision.path.value,
        routing_reason=decision.reason,
        routing_confidence=decision.confidence,
        fallback_reason="; ".join(r for r in (fallback_reason, result.handed_over) if r),
        seed=plan.seed,
        coherence_violations=coherence.violations,
        records_validated=len(result.records) if result.validated else 0,
        llm_tokens_used=result.tokens,
        llm=result.report,
        rag=result.memory,
    )
