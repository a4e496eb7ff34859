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
# What else reads a hint: FAST here, BULK and EDGE_CASE the model's brief too
# (``tda.app.service``). Any other is read by nothing, and the decision says so.
FAST_HINT, BULK_HINT, EDGE_CASE_HINT = "fast", "bulk", "edge_case"
READ_HINTS = frozenset({FAST_HINT, BULK_HINT, EDGE_CASE_HINT}) | LLM_HINTS
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
    hints = {h.strip().lower() for h in request.hints} - {""}
    decision = _decide(request, hints)
    unread = sorted(h for h in hints if h not in READ_HINTS and not h.startswith(RAG_HINTS))
    if not unread:
        return decision
    *starts, last = sorted({h.split()[0] for h in RAG_HINTS})
    note = (
        f"; hints read by no rule: {', '.join(repr(h) for h in unread)} (the rules read "
        f"{', '.join(sorted(READ_HINTS))}, and hints starting {', '.join(starts)} or {last})"
    )
    return RoutingDecision(decision.path, decision.reason + note, decision.confidence)


def _decide(request: GenerateRequest, hints: set[str]) -> RoutingDecision:
    if FAST_HINT in hints:
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
    if llm and (CONTEXT_SIGNAL in llm or BULK_HINT in hints):
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
    return RoutingDecision(GenerationPath.TRADITIONAL, _nothing_read(request), 0.95)


def context_too_short(request: GenerateRequest) -> bool:
    """A context is given, but too short to send a model."""
    return 0 < len(request.context.strip()) < MIN_CONTEXT_CHARS


def _nothing_read(request: GenerateRequest) -> str:
    """Why nothing sent the request past the schema: a context too short to send is named
    (it was said to be none)."""
    context = request.context.strip()
    if not context_too_short(request):
        return "no context, routing hint or history: schema-driven generation"
    return (
        f"the context ({context!r}, {len(context)} characters) is shorter than the "
        f"{MIN_CONTEXT_CHARS} a model is sent for, and no routing hint or history: "
        "schema-driven generation"
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
