"""The model port: one call to a language model, whoever serves it (Anthropic, any
OpenAI-compatible server). Adapters: ``tda.adapters.model_clients``.

A call carries the system prompt (static, cached by providers that cache), the user prompt and
the JSON schema the answer must have; a reply is the parsed structured output when the provider
gave one natively (tool input, a strict ``json_schema`` answer), else the text, with usage and
whether the answer was cut off. Every failure is one of the domain's errors, so the workflow's
Retry and Catch see the same names whichever provider failed:

- ``LLMRateLimitedError`` (429, 529 / overloaded; ``retry_after`` seconds when the server said),
- ``LLMTimeoutError`` (no answer in time, connection lost),
- ``TransientError`` (5xx),
- ``LLMAuthError`` (401/403: never retried), ``LLMRequestError`` (other 4xx: never retried).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Usage:
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input + other.input,
            self.output + other.output,
            self.cache_read + other.cache_read,
            self.cache_write + other.cache_write,
        )

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write


@dataclass(frozen=True)
class ModelCall:
    system: str
    prompt: str
    schema: dict[str, Any]  # the answer's JSON schema: an object (tool input / response format)
    max_tokens: int
    temperature: float = 0.7
    seed: int | None = None  # passed where the provider takes one (OpenAI-compatible)


@dataclass(frozen=True)
class ModelReply:
    text: str  # the raw answer (for a tool answer, its input as JSON)
    data: Any | None  # the structured answer when the provider parsed it, else None
    usage: Usage
    truncated: bool  # stopped at max_tokens / length: the answer is incomplete
    model: str


class ModelClient(Protocol):
    provider: str  # "anthropic" or "openai"
    model: str

    def complete(self, call: ModelCall, timeout: float) -> ModelReply:
        """One call, no retries of its own (the caller's policy owns them), raising the
        domain's LLM errors; ``timeout`` seconds at most."""
        ...
