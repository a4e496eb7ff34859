"""Record validation against a schema and its constraints, reporting every error.

The schema is compiled once into one checking closure per field, so validating a batch costs a
few plain Python calls per value (it guards every LLM and RAG batch).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from tda import regexes
from tda.errors import GeneratedInvalidRecordError
from tda.models import FieldType
from tda.schema.spec import EntitySpec, FieldSpec, is_id_pattern, pattern_to_regex

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE_RE = re.compile(r"\+?[0-9()\-. ]{7,25}")
META_PREFIX = "_"


@dataclass(frozen=True)
class ValidationIssue:
    index: int
    field: str
    message: str
    value: Any

    def __str__(self) -> str:
        return f"record {self.index}: {self.field}: {self.message} (got {self.value!r})"


@dataclass(frozen=True)
class ValidationReport:
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
    from tda.validation_fast import compile_all_valid  # it builds on this module's checks

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


@lru_cache(maxsize=256)  # bounded: callers' schemas are keys, and a server lives long
def compile_validator(spec: EntitySpec) -> Checker:
    return _object_checker(spec.fields, allow_meta=True)


@lru_cache(maxsize=4096)  # bounded: callers' schemas are keys, and a server lives long
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
    type_check = _TYPE_CHECKS[spec.type](spec)
    extras = _constraint_checks(spec)

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


# --------------------------------------------------------------------------- per type

MessageFn = Callable[[Any], str | None]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _string(spec: FieldSpec) -> MessageFn:
    return lambda v: None if isinstance(v, str) else "must be a string"


def _integer(spec: FieldSpec) -> MessageFn:
    return lambda v: None if _is_int(v) else "must be an integer"


def _float(spec: FieldSpec) -> MessageFn:
    if spec.is_money:
        return lambda v: (
            "must be a number"
            if not _is_number(v)
            else None
            if abs(v * 100 - round(v * 100)) < 1e-6
            else "must be whole cents"
        )
    return lambda v: None if _is_number(v) else "must be a number"


def _boolean(spec: FieldSpec) -> MessageFn:
    return lambda v: None if isinstance(v, bool) else "must be true or false"


def _temporal(spec: FieldSpec) -> MessageFn:
    def check(v: Any) -> str | None:
        return (
            None
            if parse_temporal(spec, v) is not None
            else f"must be a {spec.type.value.lower()} ({spec.format or 'ISO 8601'})"
        )

    return check


def _email(spec: FieldSpec) -> MessageFn:
    return lambda v: (
        None if isinstance(v, str) and EMAIL_RE.fullmatch(v) else "must be an email address"
    )


def is_phone(v: Any) -> bool:
    """A phone number as PHONE fields take it: digits, spaces, ``+().-``, seven digits at least."""
    return isinstance(v, str) and bool(PHONE_RE.fullmatch(v)) and sum(c.isdigit() for c in v) >= 7


def _phone(spec: FieldSpec) -> MessageFn:
    def check(v: Any) -> str | None:
        return None if is_phone(v) else "must be a phone number"

    return check


def _uuid(spec: FieldSpec) -> MessageFn:
    def check(v: Any) -> str | None:
        try:
            return (
                None if isinstance(v, str) and str(uuid.UUID(v)) == v.lower() else "must be a UUID"
            )
        except ValueError:
            return "must be a UUID"

    return check


def _enum(spec: FieldSpec) -> MessageFn:
    allowed = frozenset(spec.enum_values)
    shown = ", ".join(spec.enum_values)
    return lambda v: None if v in allowed else f"must be one of: {shown}"


def _address_line(spec: FieldSpec) -> MessageFn:
    return lambda v: None if isinstance(v, str) and v.strip() else "must be an address"


_TYPE_CHECKS: dict[FieldType, Callable[[FieldSpec], MessageFn]] = {
    FieldType.STRING: _string,
    FieldType.INTEGER: _integer,
    FieldType.FLOAT: _float,
    FieldType.BOOLEAN: _boolean,
    FieldType.DATE: _temporal,
    FieldType.DATETIME: _temporal,
    FieldType.EMAIL: _email,
    FieldType.PHONE: _phone,
    FieldType.UUID: _uuid,
    FieldType.ENUM: _enum,
    FieldType.ADDRESS: _address_line,
    FieldType.OBJECT: _string,  # objects never reach here
}


def parse_temporal(spec: FieldSpec, value: Any) -> float | None:
    """Epoch seconds of a DATE/DATETIME value in the field's format, or None if it is not one."""
    fmt = spec.format
    try:
        if fmt == "epoch":
            return float(value) if _is_number(value) else None
        if not isinstance(value, str):
            return None
        if fmt and "%" in fmt:
            parsed = datetime.strptime(value, fmt)
        elif spec.type is FieldType.DATE:
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _constraint_checks(spec: FieldSpec) -> list[MessageFn]:
    checks: list[MessageFn] = []
    lo, hi = spec.minimum, spec.maximum
    if (lo is not None or hi is not None) and spec.type in (FieldType.INTEGER, FieldType.FLOAT):
        checks.append(_bounds(lo, hi, lambda v: float(v)))
    if (lo is not None or hi is not None) and spec.type in (FieldType.DATE, FieldType.DATETIME):
        checks.append(_bounds(lo, hi, lambda v: parse_temporal(spec, v) or 0.0))
    if spec.type is FieldType.STRING:
        if spec.min_length is not None:
            n = spec.min_length
            checks.append(lambda v: None if len(v) >= n else f"must be at least {n} characters")
        if spec.max_length is not None:
            m = spec.max_length
            checks.append(lambda v: None if len(v) <= m else f"must be at most {m} characters")
        if is_id_pattern(spec.format):
            fmt = re.compile(pattern_to_regex(spec.format or ""))
            shown = spec.format
            checks.append(lambda v: None if fmt.fullmatch(v) else f"must match the format {shown}")
    if spec.regex is not None and spec.type in (FieldType.STRING, FieldType.EMAIL, FieldType.PHONE):
        rx = regexes.matcher(spec.regex)  # linear time: the value may be a caller's
        shown_rx = spec.regex
        checks.append(lambda v: None if rx(v) else f"must match /{shown_rx}/")
    return checks


def _bounds(lo: float | None, hi: float | None, as_number: Callable[[Any], float]) -> MessageFn:
    def check(v: Any) -> str | None:
        x = as_number(v)
        if lo is not None and x < lo - 1e-9:
            return f"must be ≥ {lo:g}"
        if hi is not None and x > hi + 1e-9:
            return f"must be ≤ {hi:g}"
        return None

    return check
