"""Record validation against a schema and its constraints, reporting every error.

The schema is compiled once into one checking closure per field, so validating a batch costs a
few plain Python calls per value (it guards every LLM and RAG batch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tda.domain.bounded_cache import cached_by_size
from tda.domain.errors import GeneratedInvalidRecordError
from tda.domain.schema.spec import EntitySpec, FieldSpec
from tda.domain.validation.checks import META_PREFIX, TYPE_CHECKS, constraint_checks
from tda.domain.validation.fast import compile_all_valid


@dataclass(frozen=True)
class ValidationIssue:
    """One field of one record that breaks its schema."""

    index: int
    field: str
    message: str
    value: Any

    def __str__(self) -> str:
        return f"record {self.index}: {self.field}: {self.message} (got {self.value!r})"


@dataclass(frozen=True)
class ValidationReport:
    """Every issue found in a set of records."""

    records: int
    issues: list[ValidationIssue]

    @property
    def valid(self) -> bool:
        return not self.issues

    @property
    def invalid_indices(self) -> set[int]:
        return {issue.index for issue in self.issues}


Errors = list[tuple[str, str, Any]]
Checker = Callable[[Any, str, Errors], None]


def validate_records(spec: EntitySpec, records: Iterable[Any]) -> ValidationReport:
    """All errors of all records (field path, message, value), in record order."""

    records = records if isinstance(records, list) else list(records)
    if compile_all_valid(spec)(records):
        return ValidationReport(len(records), [])
    check_record = compile_validator(spec)
    issues: list[ValidationIssue] = []
    count = 0
    for index, record in enumerate(records):
        count += 1
        errors: Errors = []
        check_record(record, "", errors)
        issues.extend(
            ValidationIssue(index, path, message, value) for path, message, value in errors
        )
    return ValidationReport(count, issues)


def require_valid(spec: EntitySpec, records: list[Any]) -> None:
    """Generated records must all be valid: the first error otherwise, as a generator bug."""
    report = validate_records(spec, records)
    if not report.valid:
        raise GeneratedInvalidRecordError(str(report.issues[0]))


def validate_value(spec: FieldSpec, value: Any) -> list[str]:
    """Messages for one value of one field (used for overrides)."""
    errors: Errors = []
    _checker(spec)(value, spec.path, errors)
    return [message for _, message, _ in errors]


@cached_by_size(256)  # bounded by count and size: callers' schemas are keys
def compile_validator(spec: EntitySpec) -> Checker:
    return _object_checker(spec.fields, allow_meta=True)


@cached_by_size(4096)  # bounded by count and size: callers' schemas are keys
def _checker(spec: FieldSpec) -> Checker:
    checker = (
        _object_checker(spec.children, allow_meta=False) if spec.is_object else _value_checker(spec)
    )
    required = spec.required

    def check(value: Any, path: str, errors: Errors) -> None:
        if value is None:
            if required:
                errors.append((path, "is required", value))
            return
        checker(value, path, errors)

    return check


def _object_checker(fields: tuple[FieldSpec, ...], allow_meta: bool) -> Checker:
    checkers = [(f.name, f.required, _checker(f)) for f in fields]
    known = frozenset(f.name for f in fields)

    def check(value: Any, path: str, errors: Errors) -> None:
        if not isinstance(value, dict):
            errors.append((path or "$", "must be an object", value))
            return
        prefix = f"{path}." if path else ""
        for name, required, checker in checkers:
            if name in value:
                checker(value[name], prefix + name, errors)
            elif required:
                errors.append((prefix + name, "is required", None))
        if len(value) > len(checkers) or not known.issuperset(value):
            for key in value:
                if key not in known and not (
                    allow_meta and isinstance(key, str) and key.startswith(META_PREFIX)
                ):
                    errors.append((prefix + str(key), "is not in the schema", value[key]))

    return check


def _value_checker(spec: FieldSpec) -> Checker:
    if spec.is_array:
        return _array_checker(spec)
    type_check = TYPE_CHECKS[spec.type](spec)
    extras = constraint_checks(spec)

    def check(value: Any, path: str, errors: Errors) -> None:
        message = type_check(value)
        if message:
            errors.append((path, message, value))
            return
        for extra in extras:
            message = extra(value)
            if message:
                errors.append((path, message, value))

    return check


def _array_checker(spec: FieldSpec) -> Checker:
    assert spec.item is not None
    item = _checker(spec.item)
    lo, hi = spec.min_length, spec.max_length

    def check(value: Any, path: str, errors: Errors) -> None:
        if not isinstance(value, list):
            errors.append((path, "must be an array", value))
            return
        if lo is not None and len(value) < lo:
            errors.append((path, f"must hold at least {lo} items", len(value)))
        if hi is not None and len(value) > hi:
            errors.append((path, f"must hold at most {hi} items", len(value)))
        for i, element in enumerate(value):
            item(element, f"{path}[{i}]", errors)

    return check
