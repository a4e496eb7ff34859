"""The LLM path's limits and pacing, from settings (``tda.app.settings.model_settings``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LLMOptions:
    deadline_seconds: float = 60.0  # the whole request, retries included
    call_timeout_seconds: float = 45.0  # one model call
    token_budget: int = 200_000  # per request; 0: none
    max_llm_records: int = 500  # above this (or with a "bulk" hint): catalog mode
    start_concurrency: int = 4
    max_concurrency: int = 16
    temperature: float = 0.7
