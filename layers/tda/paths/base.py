"""What every generation path is to the rest of the service: one protocol, one result.

A path takes a checked plan (``tda.domain.plan``) and makes its records; the tail every path
shares (validate → repair → score → render → metadata) is ``tda.paths.finish``, and which path
serves a request is ``tda.paths.registry``'s answer, from what is available here and now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tda.domain.coherence import CoherenceReport
from tda.domain.contract import LLMReport, RAGReport
from tda.domain.plan import GenerationPlan
from tda.domain.routing import GenerationPath


@dataclass(frozen=True)
class PathResult:
    """What a path made: its records and what it knows of them."""

    served_by: GenerationPath
    plan: GenerationPlan  # as served: a warm slab's seed replaces a random one
    records: list[dict[str, Any]]
    coherence: CoherenceReport
    validated: bool = False  # already checked against the schema (a warm slab was, once)
    tokens: int = 0  # model tokens spent (the model paths)
    report: LLMReport | None = None  # what a model path did and spent
    memory: RAGReport | None = None  # what a memory path retrieved and made
    handed_over: str = ""  # why another path than the one asked served (hybrid without a model)


class Generator(Protocol):
    path: GenerationPath

    def unavailable_reason(self) -> str | None:
        """None when this path can serve here; otherwise why not, as a sentence's predicate
        (``"is not configured: no ANTHROPIC_API_KEY"``)."""
        ...

    def generate(self, plan: GenerationPlan, *, warm: bool) -> PathResult:
        """The plan's records. ``warm``: the caller sent no seed and no scenarios, so records
        kept warm from before may serve (they are reported with the seed that replays them)."""
        ...
