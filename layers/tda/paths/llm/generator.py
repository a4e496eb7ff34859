"""The LLM path behind the one protocol: records mode (``records_mode``: a model writes up to
MAX_LLM_RECORDS records' content) and catalog mode (``catalog_mode``: the model writes a
vocabulary once, the traditional engine makes any count from it), on the configured providers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from tda.domain.contract import LLMReport
from tda.domain.errors import PathUnavailableError
from tda.domain.plan import GenerationPlan
from tda.domain.routing import GenerationPath
from tda.paths.base import Generator, PathResult
from tda.paths.llm.catalog_mode import catalog_for_plan, generate_from_catalog
from tda.paths.llm.options import LLMOptions
from tda.paths.llm.records_mode import generate_records, nothing_to_write
from tda.ports.cache import Cache
from tda.ports.model import ModelClient

NOT_CONFIGURED = (
    "is not configured (set ANTHROPIC_API_KEY, or LLM_BASE_URL for an OpenAI-compatible server)"
)


class LLMGenerator:
    path = GenerationPath.LLM

    def __init__(
        self,
        clients: dict[str, ModelClient],
        cache: Callable[[], Cache],
        traditional: Callable[[], Generator],
        options: LLMOptions | None = None,
    ) -> None:
        # provider → client, in fallback order; a client imports its SDK at its first call, and
        # the generators made from this one (with_provider, with_deadline) share it.
        self.clients = clients
        self.cache = cache
        self.traditional = traditional
        self.options = options or LLMOptions()

    def unavailable_reason(self) -> str | None:
        return None if self.clients else NOT_CONFIGURED

    def providers(self) -> tuple[str, ...]:
        """The providers configured, in the order they are tried (Anthropic first)."""
        return tuple(self.clients)

    def with_provider(self, provider: str) -> LLMGenerator:
        """This generator on one provider only (the workflow's Llm and LlmOpenAI states)."""
        if provider not in self.clients:
            raise PathUnavailableError(f"the llm path's {provider} provider {NOT_CONFIGURED}")
        return LLMGenerator(
            {provider: self.clients[provider]}, self.cache, self.traditional, self.options
        )

    def with_deadline(self, seconds: float) -> LLMGenerator:
        """This generator with at most ``seconds`` for a request (what is left of a workflow's
        budget)."""
        options = replace(
            self.options, deadline_seconds=min(self.options.deadline_seconds, seconds)
        )
        return LLMGenerator(self.clients, self.cache, self.traditional, options)

    def client(self) -> ModelClient:
        if not self.clients:
            raise PathUnavailableError(f"the llm path {NOT_CONFIGURED}")
        return next(iter(self.clients.values()))

    def catalog_plan(
        self, plan: GenerationPlan, write: bool = True
    ) -> tuple[GenerationPlan, LLMReport]:
        """``plan`` with its context's catalog (bulk: streams, ranges, job chunks). ``write``
        False: only a stored catalog will do (a job's chunks and a stream's later parts read
        the one its first step wrote, so all of it agrees), else PathUnavailableError."""
        made = catalog_for_plan(plan, self.client(), self.cache(), self.options, write)
        return made.plan, made.report

    def nothing_to_write(self, plan: GenerationPlan) -> str | None:
        """Why a model would have nothing to write for ``plan`` (None: it has, or its records
        come from a catalog)."""
        if self._from_catalog(plan):
            return None
        return nothing_to_write(plan)

    def _from_catalog(self, plan: GenerationPlan) -> bool:
        return plan.brief.bulk or plan.count > self.options.max_llm_records

    def generate(
        self, plan: GenerationPlan, *, warm: bool, examples: Sequence[Any] = ()
    ) -> PathResult:
        if self._from_catalog(plan):
            return generate_from_catalog(
                plan, self.client(), self.cache(), self.traditional(), self.options
            )
        nothing = nothing_to_write(plan)
        if nothing is not None:  # no call made for records it would not change
            served = self.traditional().generate(plan, warm=warm)
            return replace(served, handed_over=f"llm: {nothing}: traditional generation")
        return generate_records(plan, self.client(), self.cache(), self.options, examples)
