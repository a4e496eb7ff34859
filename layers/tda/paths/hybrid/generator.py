"""The hybrid path: patterns retrieved from the memory, a few different ones in each model
call's prompt (the LLM path's RAG template), the model writing new records in their manner;
the core disposes as on the LLM path (recomputed, validated, repaired or filled).

``defect_triggering`` is the exception: edge cases are the core's (their labels are
measurements a model cannot be trusted to keep), so such a request is the rag path's, and the
response says so. When the memory cannot serve, the model writes without examples (the llm
path); when the model cannot, the rag path serves; the response names what happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tda.domain.contract import RAGReport
from tda.domain.errors import LLMTimeoutError, TdaError
from tda.domain.plan import GenerationPlan
from tda.domain.routing import GenerationPath
from tda.paths.base import PathResult
from tda.paths.llm.generator import LLMGenerator
from tda.paths.llm.records_mode import FILLED_LABEL
from tda.paths.retrieval.generator import TRADITIONAL, RAGGenerator

EXAMPLES = 12  # retrieved per request; each model call sees 3 of them, rotating


class HybridGenerator:
    path = GenerationPath.HYBRID

    def __init__(
        self,
        rag: RAGGenerator,
        llm: Callable[[], LLMGenerator | None],
        until: float | None = None,
    ) -> None:
        self.rag = rag
        self.llm = llm
        self.until = until  # time.monotonic() by which the model must be done (a workflow's)

    def unavailable_reason(self) -> str | None:
        return None  # without a model the memory still serves (the rag path, said so)

    def limitation(self) -> str | None:
        """What this path cannot do here though it serves (for health checks), or None."""
        missing = self.rag.memory_missing()
        return None if missing is None else f"the model writes without examples ({missing})"

    def _memory_alone(self, plan: GenerationPlan, llm: LLMGenerator | None) -> str | None:
        """Why the memory serves this plan alone (the rag path), or None: the model writes in
        the manner of what it retrieved. What was asked of the memory is kept either way."""
        if plan.brief.defect_triggering:
            return "edge cases are made by the core so every label is measured: rag path"
        if llm is None:
            return "no model (this build has no llm path): served from the memory, rag path"
        missing = llm.unavailable_reason()
        if missing is not None:
            return f"no model (the llm path {missing}): served from the memory, rag path"
        nothing = llm.nothing_to_write(plan)
        return None if nothing is None else f"{nothing}: served from the memory, rag path"

    def with_llm(self, llm: LLMGenerator) -> HybridGenerator:
        """This path on one provider's generator (the workflow's per-provider states)."""
        return HybridGenerator(self.rag, lambda: llm, self.until)

    def with_deadline(self, seconds: float) -> HybridGenerator:
        """This path with at most ``seconds`` for a request (what is left of a workflow's
        budget): the model gets what retrieval leaves of it. Without it, the Hybrid state's
        calls ran on LLM_DEADLINE_SECONDS, past the state's TimeoutSeconds."""
        return HybridGenerator(self.rag, self.llm, time.monotonic() + seconds)

    def generate(self, plan: GenerationPlan, *, warm: bool) -> PathResult:
        llm = self.llm()
        alone = self._memory_alone(plan, llm)
        if alone is not None:
            served = self.rag.generate(plan, warm=False)
            return replace(_noted(served, alone), handed_over=f"hybrid: {alone}")
        assert llm is not None  # none: _memory_alone said so
        notes: list[str] = []
        try:
            found, query = self.rag.retrieve_patterns(plan, EXAMPLES)
        except TdaError as exc:
            found, query = [], ""
            notes.append(f"no examples retrieved ({exc}): the model wrote without them")
        examples = [_example(hit.data.get("record") or {}) for hit in found]
        if self.until is not None:
            left = self.until - time.monotonic()
            if left <= 0:
                raise LLMTimeoutError("no time left for a model: retrieval took the rest")
            llm = llm.with_deadline(left)
        made = llm.generate(plan, warm=False, examples=examples)
        records = [{**r, "_source": r.get("_source") or _source(r)} for r in made.records]
        store, model_id = self._where()
        memory = RAGReport(
            mode="hybrid",
            store=store,
            collection="patterns",
            embedding_model=model_id,
            query=query,
            retrieved=len(found),
            sources=[hit.entry.id for hit in found],
            notes=notes,
        )
        result = replace(
            made,
            served_by=self.path if found else made.served_by,
            records=records,
            memory=memory,
        )
        if plan.brief.learn_from_history:
            result = replace(result, memory=self.rag.learn_from(plan, result, memory))
        return result

    def _where(self) -> tuple[str, str]:
        """(the store's URL, the embedding model): a courtesy in the report, '' if unknown."""
        try:
            memory = self.rag.memory()
        except Exception:
            return "", ""
        return memory.store.url, memory.embedder.stamp.model_id


def _example(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _noted(result: PathResult, note: str) -> PathResult:
    report = result.memory or RAGReport()
    return replace(result, memory=report.model_copy(update={"notes": [*report.notes, note]}))


def _source(record: dict[str, Any]) -> str:
    """Who wrote a record the model was asked for: the model, or (its answers invalid or
    missing) traditional generation, as its ``_filled_by`` says."""
    return TRADITIONAL if record.get(FILLED_LABEL) else "model"
