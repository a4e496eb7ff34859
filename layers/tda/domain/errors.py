"""Errors of the core library, one tree under ``TdaError``. Each edge maps them to its transport
(gRPC status, HTTP status, CLI exit code).

Lambda reports a raised exception by its class's own name (``errorType``), and the workflow's
Retry and Catch match those names, so every name in the ASL's ``ErrorEquals`` is a class here or
below (a test reads the ASL). ``TransientError`` and its subclasses are the ones worth retrying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic_core import ValidationError


@dataclass(frozen=True)
class FieldIssue:
    """One problem with one field of a request: ``field`` is a dotted path such as ``count``."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


SHOWN_CHARACTERS = 60


def shown(value: object) -> str:
    """A caller's value as an error message quotes it: its repr, cut to a few dozen characters
    (a 5,000-character override echoed whole overflowed gRPC's 8 KB of error metadata)."""
    text = repr(value)
    if len(text) <= SHOWN_CHARACTERS:
        return text
    return f"{text[: SHOWN_CHARACTERS - 1]}… ({len(str(value)):,} characters)"


class TdaError(Exception):
    """The root of every error this service raises on purpose."""


class TransientError(TdaError, RuntimeError):
    """Worth retrying: the workflow's Retry names this and each subclass."""


class LLMRateLimitedError(TransientError):
    """The model provider refused for rate or quota (HTTP 429/529); retried, then falls back."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, when the provider said


class LLMTimeoutError(TransientError):
    """The model provider did not answer in time; retried, then falls back."""


class LLMAuthError(TdaError, RuntimeError):
    """The model provider refused the credentials (401/403): never retried; the workflow falls
    back to the next provider."""


class LLMRequestError(TdaError, RuntimeError):
    """The model provider refused the call itself (a 4xx other than auth and rate), or answered
    nothing usable after our retries: not retried by the workflow either."""


class LLMBudgetExceededError(TdaError, RuntimeError):
    """A request reached its token budget (``LLM_MAX_TOKENS_PER_REQUEST``) and stopped."""


class VectorStoreUnavailableError(TransientError):
    """The vector store could not be reached or read; retried, then the RAG path falls back."""


class PathUnavailableError(TdaError, RuntimeError):
    """A generation path that cannot serve here (not built, not configured); the workflow
    catches it and falls back, and the response names it."""


class GeneratedInvalidRecordError(TdaError, RuntimeError):
    """A generated record broke its schema: a bug in the generator, never returned to callers."""


class ConfigurationError(TdaError):
    """A setting in the environment the service cannot run with (``tda.app.environment``):
    the operator's to mend, not the caller's. ``problems``: one sentence per bad setting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class InvalidRequestError(TdaError, ValueError):
    """The request cannot be served as asked; nothing was generated."""

    def __init__(self, issues: list[FieldIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(issue) for issue in issues))

    def summary(self, max_issues: int = 20, max_chars: int = 300) -> str:
        """The first issues, each cut to ``max_chars``, and a count of the rest: one line a
        person reads, small enough for a gRPC status (trailers are capped at 8 KB)."""
        shown = "; ".join(str(issue)[:max_chars] for issue in self.issues[:max_issues])
        hidden = len(self.issues) - max_issues
        return f"{shown}; and {hidden} more" if hidden > 0 else shown

    @classmethod
    def single(cls, field: str, message: str) -> InvalidRequestError:
        return cls([FieldIssue(field, message)])

    @classmethod
    def from_validation(cls, exc: ValidationError) -> InvalidRequestError:
        """Pydantic's errors as field issues, paths written as elsewhere (``scenarios[0].count``)."""
        return cls([_issue(error) for error in exc.errors()])


def _issue(error: Any) -> FieldIssue:
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
    if error["type"] == "value_error":  # a rule of ours, in its own words (pydantic's prefix off)
        message = str(error.get("ctx", {}).get("error", "")) or message
    return FieldIssue(path or "request", message)


class SchemaDefinitionError(TdaError, ValueError):
    """A registered entity data file is malformed (a bug in the shipped data, not user input)."""
