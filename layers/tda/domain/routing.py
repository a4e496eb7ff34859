"""The router: which generation path a request wants, and why (the seeds' rules, in order).

1. "fast" in hints → traditional (the caller asked for speed).
2. RAG signals: learn_from_history, defect_triggering, production_like, "similar to" hints.
3. LLM signals: context, "realistic"/"coherent" hints, text-heavy entities (review),
   scenario descriptions.
4. Both → hybrid; one → that path; neither → traditional.
Volume caps the LLM's records mode: above ``MAX_LLM_RECORDS`` a request with a context (or a
"bulk" hint) goes to the LLM's catalog mode (the model writes the context's vocabulary once,
the engine makes the records); with hints alone it goes traditional (and a hybrid one rag).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tda.domain.contract import GenerateRequest

MAX_LLM_RECORDS = 500
MIN_CONTEXT_CHARS = 10
TEXT_ENTITIES = frozenset({"review", "comment", "feedback"})
LLM_HINTS = frozenset({"realistic", "coherent", "intelligent", "varied sentiment"})
RAG_HINTS = ("similar to", "similar", "historical", "pattern")
CONTEXT_SIGNAL = "context given"


class GenerationPath(StrEnum):
    TRADITIONAL = "traditional"
    LLM = "llm"
    RAG = "rag"
    HYBRID = "hybrid"


@dataclass(frozen=True)
class RoutingDecision:
    """The path that serves a request, why, and how sure the router is."""

    path: GenerationPath
    reason: str
    confidence: float


def route(request: GenerateRequest) -> RoutingDecision:
    hints = {h.strip().lower() for h in request.hints}
    if "fast" in hints:
        return RoutingDecision(
            GenerationPath.TRADITIONAL, "'fast' hint: schema-driven generation", 0.95
        )
    rag = _rag_signals(request, hints)
    llm = _llm_signals(request, hints)
    too_many = request.count > MAX_LLM_RECORDS
    if rag and llm and not too_many:
        return RoutingDecision(
            GenerationPath.HYBRID, f"history ({', '.join(rag)}) and LLM ({', '.join(llm)})", 0.9
        )
    if rag:
        note = f"; {', '.join(llm)} ignored above {MAX_LLM_RECORDS} records" if llm else ""
        return RoutingDecision(GenerationPath.RAG, f"history wanted: {', '.join(rag)}{note}", 0.85)
    if llm and not too_many:
        return RoutingDecision(GenerationPath.LLM, f"needs an LLM: {', '.join(llm)}", 0.8)
    if llm and (CONTEXT_SIGNAL in llm or "bulk" in hints):
        return RoutingDecision(
            GenerationPath.LLM,
            f"needs an LLM ({', '.join(llm)}) for {request.count} records: catalog mode "
            "(the model writes the context's vocabulary once, the engine makes the records)",
            0.8,
        )
    if llm:
        return RoutingDecision(
            GenerationPath.TRADITIONAL,
            f"{request.count} records is above the LLM limit of {MAX_LLM_RECORDS} ({', '.join(llm)} noted)",
            0.9,
        )
    return RoutingDecision(
        GenerationPath.TRADITIONAL, "no context, hints or history: schema-driven generation", 0.95
    )


def _rag_signals(request: GenerateRequest, hints: set[str]) -> list[str]:
    signals = [
        name
        for name, on in (
            ("learn_from_history", request.learn_from_history),
            ("defect_triggering", request.defect_triggering),
            ("production_like", request.production_like),
        )
        if on
    ]
    signals += [f"'{h}' hint" for h in sorted(hints) if any(h.startswith(k) for k in RAG_HINTS)]
    return signals


def _llm_signals(request: GenerateRequest, hints: set[str]) -> list[str]:
    signals = []
    if len(request.context.strip()) >= MIN_CONTEXT_CHARS:
        signals.append(CONTEXT_SIGNAL)
    signals += [f"'{h}' hint" for h in sorted(hints & LLM_HINTS)]
    entity = (
        request.entity or (request.schema.predefined_schema if request.schema else "")
    ).lower()
    if entity in TEXT_ENTITIES:
        signals.append(f"text-heavy entity '{entity}'")
    if any(s.description.strip() for s in request.scenarios):
        signals.append("scenario descriptions")
    return signals
