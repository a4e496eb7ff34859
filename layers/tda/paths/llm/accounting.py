"""What a request spent on models: calls, retries, repairs, tokens, and an estimated cost from
the versioned price table (``data/llm/prices.yaml``). Shared by a request's concurrent calls."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tda.domain.data_file import load_data_file
from tda.domain.errors import LLMBudgetExceededError
from tda.paths.llm.prompts import DATA_DIR
from tda.ports.model import Usage


@cache
def price_table() -> dict[str, Any]:
    loaded: dict[str, Any] = load_data_file(DATA_DIR / "prices.yaml")
    return loaded


def estimated_cost(model: str, usage: Usage) -> float:
    prices = price_table()["models"].get(model)
    if prices is None:
        return 0.0
    return (
        usage.input * prices["input"]
        + usage.output * prices["output"]
        + usage.cache_read * prices["cache_read"]
        + usage.cache_write * prices["cache_write"]
    ) / 1_000_000


@dataclass
class Spend:
    token_budget: int  # the most one request may spend; 0: no limit
    calls: int = 0
    cached_calls: int = 0
    repairs: int = 0
    regenerated: int = 0
    usage: Usage = field(default_factory=Usage)
    models: set[str] = field(default_factory=set)
    reserved: int = 0  # tokens the calls in flight may still spend
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve(self, estimate: int) -> None:
        """Room for a call that may spend ``estimate`` tokens (its prompt and its max_tokens),
        or LLMBudgetExceededError when what was spent, what calls in flight may spend and this
        call could pass the budget: no call starts that could overshoot it."""
        with self.lock:
            committed = self.usage.total + self.reserved
            if self.token_budget and committed + estimate > self.token_budget:
                raise LLMBudgetExceededError(
                    f"the request reached its budget of {self.token_budget:,} tokens "
                    f"(LLM_MAX_TOKENS_PER_REQUEST): {self.usage.total:,} spent"
                )
            self.reserved += estimate

    def release(self, estimate: int) -> None:
        with self.lock:
            self.reserved -= estimate

    def add_call(self, usage: Usage, model: str, cached: bool) -> None:
        with self.lock:
            if cached:
                self.cached_calls += 1
                return
            self.calls += 1
            self.usage = self.usage + usage
            self.models.add(model)

    def cost(self) -> float:
        """Estimated at the price of the model that answered (a run asks one model)."""
        return estimated_cost(min(self.models), self.usage) if self.models else 0.0
