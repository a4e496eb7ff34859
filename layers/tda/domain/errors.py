"""Errors of the core library. Each adapter maps them to its transport (gRPC, HTTP, CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


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


class GeneratedInvalidRecordError(RuntimeError):
    """A generated record broke its schema: a bug in the generator, never returned to callers."""


class InvalidRequestError(ValueError):
    """The request cannot be served as asked; nothing was generated."""

    def __init__(self, issues: list[FieldIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(issue) for issue in issues))

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
    return FieldIssue(path or "request", message)


class SchemaDefinitionError(ValueError):
    """A registered entity data file is malformed (a bug in the shipped data, not user input)."""
