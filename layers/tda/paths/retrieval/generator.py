"""The rag path behind the one protocol: data that remembers.

Three modes, by what the caller asked:
- ``defect_triggering`` (or an "edge_case" hint): edge cases, from the schema itself and from
  the retrieved defect patterns (``edge``); the only mode that needs no store;
- ``production_like``: the fields a stored production sample describes drawn from its
  statistics (``production``);
- otherwise (``learn_from_history``, "similar to"): retrieved patterns adapted into fresh
  records (``adapt``), each used once, topped up by traditional generation when fewer exist.
Every record says where it came from (``_source``); the response's ``metadata.rag`` says what
was retrieved and made. A generation the caller asked to learn from is stored back
(``learning``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tda.domain.coherence import score_records
from tda.domain.contract import RAGReport
from tda.domain.errors import PathUnavailableError, TdaError
from tda.domain.plan import GenerationPlan, stream_seed
from tda.domain.routing import GenerationPath
from tda.domain.validation import require_valid, validate_records
from tda.paths.base import PathResult
from tda.paths.retrieval import learning
from tda.paths.retrieval.adapt import adapt, fixed_paths
from tda.paths.retrieval.edge import edge_records
from tda.paths.retrieval.memory import Memory, Retrieved
from tda.paths.retrieval.production import production_spec
from tda.paths.traditional.bulk import stream_records
from tda.ports.memory import DEFECTS, PATTERNS, PRODUCTION, Filters

MAX_EXAMPLES = 200  # retrieved for one request: the rest is topped up
MAX_DEFECTS = 50
TRADITIONAL = "traditional"


@dataclass(frozen=True)
class RAGOptions:
    coherence_threshold: float = 0.85  # a generation at least this coherent may be learned
    min_quality: float = 0.0  # patterns below this quality score are not retrieved
    search_mode: str = "hybrid"


class RAGGenerator:
    path = GenerationPath.RAG

    def __init__(
        self,
        memory: Callable[[], Memory],
        options: RAGOptions | None = None,
        memory_missing: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.memory = memory  # made at first use: the embedder and store load then
        self.options = options or RAGOptions()
        self.memory_missing = memory_missing  # why no memory can be made here, cheaply

    def unavailable_reason(self) -> str | None:
        return None  # edge cases need no store; the other modes say why when they cannot

    def limitation(self) -> str | None:
        """What this path cannot do here though it serves (for health checks), or None."""
        missing = self.memory_missing()
        if missing is None:
            return None
        return f"only edge cases here, other requests fall back ({missing})"

    def generate(self, plan: GenerationPlan, *, warm: bool) -> PathResult:
        rng = np.random.default_rng(stream_seed(plan.seed, 0x4A6))
        if plan.brief.defect_triggering:
            # Labelled records: their violations are measured, the rest checked there.
            records, report = self._edge_cases(plan, _base_records(plan), rng)
        elif plan.brief.production_like:
            records, report = self._production_like(plan)
            require_valid(plan.spec, records)
        else:
            records, report = self._from_patterns(plan, _base_records(plan), rng)
            require_valid(plan.spec, records)
        coherence = score_records(plan.spec, records, plan.catalog)
        result = PathResult(self.path, plan, records, coherence, validated=True, memory=report)
        if plan.brief.learn_from_history and not plan.brief.defect_triggering:
            result = replace(result, memory=self.learn_from(plan, result, report))
        return result

    # ------------------------------------------------------------------ patterns

    def retrieve_patterns(self, plan: GenerationPlan, k: int) -> tuple[list[Retrieved], str]:
        """Up to ``k`` patterns for ``plan`` (raises PathUnavailableError with the reason when
        the store cannot serve), and the query they were retrieved by."""
        memory = self._memory()
        query = query_text(plan)
        filters = Filters(
            domain=None, entity=plan.spec.name, min_quality=self.options.min_quality or None
        )
        found = memory.retrieve(PATTERNS, query, filters, k, self.options.search_mode)
        return [r for r in found if isinstance(r.data, dict)], query

    def _from_patterns(
        self, plan: GenerationPlan, base: list[dict[str, Any]], rng: np.random.Generator
    ) -> tuple[list[dict[str, Any]], RAGReport]:
        found, query = self.retrieve_patterns(plan, min(plan.count, MAX_EXAMPLES))
        memory = self._memory()
        labels = plan.labels(0, len(found)).tolist()
        adapted = adapt(
            plan,
            base[: len(found)],
            [hit.data.get("record") or {} for hit in found],
            [fixed_paths(plan, label) for label in labels],
            rng,
        )
        unfit = validate_records(plan.spec, adapted).invalid_indices
        records: list[dict[str, Any]] = []
        used: list[str] = []
        for i, record in enumerate(base):
            if i < len(adapted) and i not in unfit:
                records.append({**adapted[i], "_source": found[i].entry.id})
                used.append(found[i].entry.id)
            else:
                records.append({**record, "_source": TRADITIONAL})
        memory.used(PATTERNS, used)
        topped = len(records) - len(used)
        notes = []
        if topped:
            notes.append(
                f"{len(found)} pattern(s) stored for {plan.spec.name}; {topped} record(s) "
                "topped up by traditional generation (an example serves one record: none is "
                "repeated to fill the count)"
            )
        if unfit:
            notes.append(f"{len(unfit)} retrieved example(s) did not fit this schema: not used")
        return records, _report(
            memory,
            PATTERNS,
            query,
            mode="patterns",
            retrieved=len(found),
            records_from_memory=len(used),
            records_topped_up=topped,
            sources=list(dict.fromkeys(used)),
            notes=notes,
        )

    # ------------------------------------------------------------------ production-like

    def _production_like(self, plan: GenerationPlan) -> tuple[list[dict[str, Any]], RAGReport]:
        memory = self._memory()
        query = query_text(plan)
        found = memory.retrieve(
            PRODUCTION, query, Filters(entity=plan.spec.name), 1, self.options.search_mode
        )
        sample = found[0] if found else None
        stats = sample.data.get("stats") if sample and isinstance(sample.data, dict) else None
        if sample is None or not isinstance(stats, dict):
            raise PathUnavailableError(f"found no production sample for {plan.spec.name}")
        spec, drawn, skipped = production_spec(plan.spec, stats)
        records = _base_records(replace(plan, spec=spec))
        for record in records:
            record["_source"] = sample.entry.id
        return records, _report(
            memory,
            PRODUCTION,
            query,
            mode="production",
            retrieved=len(found),
            records_from_memory=len(records),
            sources=[sample.entry.id],
            notes=[f"drawn from {sample.entry.id}'s statistics: {', '.join(drawn) or 'none'}"]
            + [f"skipped {s}" for s in skipped],
        )

    # ------------------------------------------------------------------ edge cases

    def _edge_cases(
        self, plan: GenerationPlan, base: list[dict[str, Any]], rng: np.random.Generator
    ) -> tuple[list[dict[str, Any]], RAGReport]:
        notes: list[str] = []
        defects: list[Retrieved] = []
        store, model, query = "", "", query_text(plan)
        try:
            memory = self._memory()
            store, model = memory.store.url, memory.embedder.stamp.model_id
            defects = memory.retrieve(
                DEFECTS,
                query,
                Filters(entity=plan.spec.name),
                min(MAX_DEFECTS, max(1, plan.count // 2)),
                self.options.search_mode,
            )
        except TdaError as exc:
            notes.append(f"no defect patterns ({exc}): edge cases from the schema alone")
        run = edge_records(plan, base, defects, rng)
        if run.distinct_cases and plan.count - run.from_defects > run.distinct_cases:
            notes.append(
                f"{run.distinct_cases} distinct schema edge cases, cycled over "
                f"{run.from_schema} records"
            )
        return run.records, RAGReport(
            mode="edge_cases",
            store=store,
            collection=DEFECTS,
            embedding_model=model,
            query=query,
            retrieved=len(defects),
            records_from_memory=run.from_defects,
            edge_cases_from_schema=run.from_schema,
            edge_cases_from_defects=run.from_defects,
            sources=list(dict.fromkeys(run.sources)),
            notes=notes,
        )

    # ------------------------------------------------------------------ learning

    def learn_from(self, plan: GenerationPlan, result: PathResult, report: RAGReport) -> RAGReport:
        """``report`` with what was learned from ``result`` (stored back as patterns)."""
        try:
            memory = self._memory()
        except TdaError as exc:
            return report.model_copy(update={"notes": [*report.notes, f"not learned: {exc}"]})
        outcome = learning.learn(
            memory, plan, result.records, result.coherence, self.options.coherence_threshold
        )
        return report.model_copy(
            update={"learned": outcome.summary, "notes": [*report.notes, *outcome.notes]}
        )

    def _memory(self) -> Memory:
        try:
            return self.memory()
        except TdaError:
            raise
        except Exception as exc:  # an adapter that cannot even be made: the store is down
            raise PathUnavailableError(f"could not open the memory: {exc}") from exc


def _report(memory: Memory, collection: str, query: str, **what: Any) -> RAGReport:
    """What was retrieved from ``collection`` of ``memory`` by ``query``, and made of it."""
    return RAGReport(
        store=memory.store.url,
        collection=collection,
        embedding_model=memory.embedder.stamp.model_id,
        query=query,
        **what,
    )


def _base_records(plan: GenerationPlan) -> list[dict[str, Any]]:
    """The traditional records of the same plan and seed: every adapted record's base."""
    records: list[dict[str, Any]] = []
    for batch in stream_records(replace(plan, window=None), score=False):
        records.extend(batch.records)
    return records


def query_text(plan: GenerationPlan) -> str:
    """What examples are retrieved by: domain, entity, context, scenarios."""
    scenarios = " ".join(
        f"{s.name.replace('_', ' ')} {s.description}".strip()
        for s in plan.scenarios
        if s.name != "default" or s.description
    )
    parts = [plan.spec.domain, plan.spec.name, plan.brief.context.strip(), scenarios]
    return " ".join(p for p in parts if p)[:2000]
