"""The checks every validator shares: one message function per field type and constraint.

``detailed`` (every error of every record) and ``fast`` (one yes/no per batch) are both built
from these, so the two can never disagree on what a valid value is.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from tda.domain import regexes
from tda.domain.contract import FieldType
from tda.domain.schema.spec import MONEY_VALID_END, FieldSpec, is_id_pattern, pattern_to_regex

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE_RE = re.compile(r"\+?[0-9()\-. ]{7,25}")
META_PREFIX = "_"


# --------------------------------------------------------------------------- per type

MessageFn = Callable[[Any], str | None]


# Integers a record may hold: what JSON renderers (orjson), SQL's BIGINT and float() take. A
# model wrote 400 digits once; Python's int took it, and every one of those raised.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:  # an int of any size (its range is a constraint), a finite float
    return _is_int(v) or (isinstance(v, float) and math.isfinite(v))


def _string(spec: FieldSpec) -> MessageFn:
    return lambda v: None if isinstance(v, str) else "must be a string"


def _integer(spec: FieldSpec) -> MessageFn:
    return lambda v: None if _is_int(v) else "must be an integer"


def _float(spec: FieldSpec) -> MessageFn:
    if spec.is_money:
        return lambda v: (
            "must be a number"
            if not _is_number(v)
            else _MONEY_RANGE
            if not -MONEY_VALID_END < v < MONEY_VALID_END
            else None
            if whole_cents(v)
            else "must be whole cents"
        )
    return lambda v: None if _is_number(v) else "must be a number"


def whole_cents(v: float) -> bool:
    """``v`` is an amount in whole cents. Above ≈10^8, v * 100 is off by more than 1e-6 from
    the float the amount is (628451481188.56 * 100 = 62845148118856.01): then by its decimal
    rounding, exact at every magnitude money may have."""
    return abs(v * 100 - round(v * 100)) < 1e-6 or round(v, 2) == v


_MONEY_RANGE = f"must be between -{MONEY_VALID_END:,} and {MONEY_VALID_END:,}"


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


TYPE_CHECKS: dict[FieldType, Callable[[FieldSpec], MessageFn]] = {
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


def constraint_checks(spec: FieldSpec) -> list[MessageFn]:
    checks: list[MessageFn] = []
    lo, hi = spec.minimum, spec.maximum
    if (lo is not None or hi is not None) and spec.type in (FieldType.INTEGER, FieldType.FLOAT):
        checks.append(_bounds(lo, hi, _as_float))
    if spec.type in (FieldType.INTEGER, FieldType.FLOAT) and not (
        lo is not None and lo >= INT_MIN and hi is not None and hi <= INT_MAX
    ):  # the bounds say more, when they are inside these
        checks.append(_in_64_bits)
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


def _as_float(v: Any) -> float:
    try:
        return float(v)
    except OverflowError:  # an int past any float: it is past any bound a float can state
        return math.inf if v > 0 else -math.inf


def _in_64_bits(v: Any) -> str | None:
    if isinstance(v, int) and not INT_MIN <= v <= INT_MAX:
        return "must be between -2^63 and 2^63-1"
    return None


def _bounds(lo: float | None, hi: float | None, as_number: Callable[[Any], float]) -> MessageFn:
    def check(v: Any) -> str | None:
        x = as_number(v)
        if lo is not None and x < lo - 1e-9:
            return f"must be ≥ {lo:g}"
        if hi is not None and x > hi + 1e-9:
            return f"must be ≤ {hi:g}"
        return None

    return check
