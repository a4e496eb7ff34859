"""The traditional path behind the one protocol (``tda.paths.base.Generator``).

Vectorized, seeded generation with the rules laid on by construction. A long-lived process
(the shim's server, a warm Lambda container) keeps warm slabs (``reservoir``): a small request
with neither seed nor scenarios is a slice of one, reported with the seed that replays it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tda.domain.coherence import CoherenceReport
from tda.domain.plan import GenerationPlan
from tda.domain.routing import GenerationPath
from tda.paths.base import PathResult
from tda.paths.traditional.bulk import stream_records
from tda.paths.traditional.reservoir import Reservoir


class TraditionalGenerator:
    path = GenerationPath.TRADITIONAL

    def __init__(self) -> None:
        self.warm_slabs = Reservoir()  # this process's, for as long as it lives

    def unavailable_reason(self) -> str | None:
        return None  # pure Python and numpy: it serves wherever the service runs

    def generate(self, plan: GenerationPlan, *, warm: bool) -> PathResult:
        slab = self.warm_slabs.take(plan) if warm else None
        if slab is not None:
            served = replace(plan, seed=slab.seed)
            return PathResult(self.path, served, slab.records, slab.coherence, validated=True)
        records: list[dict[str, Any]] = []
        reports = []
        for batch in stream_records(plan):
            records.extend(batch.records)
            reports.append(batch.coherence)
        return PathResult(self.path, plan, records, CoherenceReport.merge(reports))
