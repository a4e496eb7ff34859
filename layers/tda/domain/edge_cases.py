"""Edge cases derived from a schema itself: for every constraint and rule, the value on its
boundary (inside) and the value just outside, each as one mutation of a valid record.

A case names its kind (``max_length+1``), the field it changes and the value. Laid on a valid
record (``apply``), the record's derived fields are recomputed from the new value by the
entity's rules, so the one mutation is the one thing wrong; what is actually wrong is then read
back by the validator and the rules (``violations``): a record's labels are measurements, never
intentions. A case whose measured violations are not what its kind promises (an "inside" case
that breaks something, an "outside" one that breaks nothing) is not served.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tda.domain.coherence import records_to_columns
from tda.domain.contract import FieldType
from tda.domain.records import format_temporal
from tda.domain.rules import check, compile_rules
from tda.domain.schema.spec import NUMERIC, STRING_LIKE, TEMPORAL, EntitySpec, FieldSpec
from tda.domain.validation import parse_temporal, validate_records

ABSENT = object()  # a case that removes the field altogether
RULE_PREFIX = "rule: "
_DAY = 86_400
_FILLER = "Edge case filler text with unicode: café, naïve, 東京, emoji 🎉. "
# Moments that break date arithmetic: midnight UTC, the US spring-forward and fall-back hours,
# a leap day, the last second of a year.
BOUNDARY_MOMENTS = (
    ("midnight_utc", 1_772_928_000),  # 2026-03-08T00:00:00Z
    ("dst_spring_forward", 1_772_953_200),  # 2026-03-08T07:00:00Z: 02:00 EST does not exist
    ("dst_fall_back", 1_793_512_800),  # 2026-11-01T06:00:00Z: 01:00 EST happens twice
    ("leap_day", 1_835_395_200),  # 2028-02-29T00:00:00Z
    ("year_end_last_second", 1_798_761_599),  # 2026-12-31T23:59:59Z
)


@dataclass(frozen=True)
class EdgeCase:
    kind: str  # "min", "min-ε", "max_length+1", "unknown_enum", "broken_rule", ...
    path: str  # the spec path it changes ("items.quantity"; array items: the first item)
    value: Any  # the wire value laid on (ABSENT: the field removed)
    inside: bool  # on the boundary, still valid (labelled as violating nothing)
    rule: str = ""  # the rule a broken_rule case breaks
    source: str = "schema"  # "schema", or a defect pattern's id


def cases_for(spec: EntitySpec, base: dict[str, Any]) -> list[EdgeCase]:
    """Every schema-derived case for ``spec``, valued against one valid ``base`` record (a
    near-miss of an id's pattern starts from the id the base has)."""
    derived = spec.derived_paths
    cases: list[EdgeCase] = []
    for f in spec.walk():
        if f.path in derived or not _reachable(spec, f.path):
            continue
        current = read(base, spec, f.path)
        cases.extend(_field_cases(f, current))
    cases.extend(_rule_cases(spec, base))
    return cases


def _field_cases(f: FieldSpec, current: Any) -> Iterator[EdgeCase]:
    if f.required and f.is_scalar:
        yield EdgeCase("null_where_required", f.path, None, inside=False)
    if f.type in NUMERIC and not f.enum_values:
        step = 0.01 if f.is_money else (1 if f.type is FieldType.INTEGER else 0.0001)
        for bound, name, sign in ((f.minimum, "min", -1), (f.maximum, "max", 1)):
            if bound is None:
                continue
            value = int(bound) if f.type is FieldType.INTEGER else round(float(bound), 6)
            yield EdgeCase(name, f.path, value, inside=True)
            outside = value + sign * step
            yield EdgeCase(
                f"{name}{'-' if sign < 0 else '+'}ε",
                f.path,
                int(outside) if f.type is FieldType.INTEGER else round(outside, 6),
                inside=False,
            )
        if f.is_money:
            yield EdgeCase("sub_cent_precision", f.path, _plus_mill(current), inside=False)
    if f.type in TEMPORAL:
        yield from _temporal_cases(f)
    if f.type is FieldType.ENUM or f.enum_values:
        yield EdgeCase("unknown_enum", f.path, _unknown(f.enum_values), inside=False)
    elif f.type in STRING_LIKE and isinstance(current, str):
        yield from _string_cases(f, current)
    if f.type is FieldType.EMAIL and isinstance(current, str):
        yield EdgeCase("email_without_tld", f.path, current.rsplit(".", 1)[0], inside=False)
    if f.is_array and f.item is not None:
        yield from _array_cases(f, current)


def _string_cases(f: FieldSpec, current: str) -> Iterator[EdgeCase]:
    free_text = f.regex is None and not f.format and f.type is FieldType.STRING
    if free_text and f.max_length is not None:
        yield EdgeCase("max_length", f.path, _text_of(current, f.max_length), inside=True)
        yield EdgeCase("max_length+1", f.path, _text_of(current, f.max_length + 1), inside=False)
    if free_text and f.min_length:
        yield EdgeCase("min_length", f.path, _text_of(current, f.min_length), inside=True)
        yield EdgeCase("empty_string", f.path, "", inside=False)
    elif free_text:
        yield EdgeCase("empty_string", f.path, "", inside=True)
    if free_text:
        yield EdgeCase("unicode_and_emoji", f.path, _unicode(current, f.max_length), inside=True)
        yield EdgeCase(
            "sql_injection_text", f.path, _fit("x'); DROP TABLE records;--", f), inside=True
        )
    if f.regex is not None or f.format or f.type is FieldType.UUID:
        yield EdgeCase("regex_near_miss", f.path, current[:-1], inside=False)


def _temporal_cases(f: FieldSpec) -> Iterator[EdgeCase]:
    for name, seconds in BOUNDARY_MOMENTS:
        yield EdgeCase(name, f.path, _temporal(f, seconds), inside=True)
    yield EdgeCase("far_future", f.path, _temporal(f, 4_102_444_800 + 86_399), inside=True)
    for bound, name, sign in ((f.minimum, "min", -1), (f.maximum, "max", 1)):
        if bound is not None:
            yield EdgeCase(name, f.path, _temporal(f, int(bound)), inside=True)
            yield EdgeCase(
                f"{name}{'-' if sign < 0 else '+'}1day",
                f.path,
                _temporal(f, int(bound) + sign * _DAY),
                inside=False,
            )


def _array_cases(f: FieldSpec, current: Any) -> Iterator[EdgeCase]:
    items = current if isinstance(current, list) and current else None
    if items is None:
        return
    if f.max_length is not None:
        yield EdgeCase("max_items", f.path, _items(items, f.max_length), inside=True)
        yield EdgeCase("max_items+1", f.path, _items(items, f.max_length + 1), inside=False)
    if f.min_length:
        yield EdgeCase("min_items", f.path, _items(items, f.min_length), inside=True)
        yield EdgeCase("empty_array", f.path, [], inside=False)


def _rule_cases(spec: EntitySpec, base: dict[str, Any]) -> Iterator[EdgeCase]:
    """A derived number one unit off its rule (total ≠ subtotal + tax...), and an ordering check
    ("a <= b" over dates) turned around."""
    for compiled in compile_rules(spec):
        rule, target = compiled.rule, compiled.target
        if target is not None and target.type in NUMERIC and spec.level_of[target.path] == "":
            current = base.get(target.name)
            if isinstance(current, (int, float)) and not isinstance(current, bool):
                step = 0.01 if target.is_money else 1
                value = round(current + step, 2) if target.is_money else current + step
                yield EdgeCase("broken_rule", target.path, value, inside=False, rule=rule.name)
        elif target is None:
            order = re.match(r"^\s*(\w+)\s*<=\s*(\w+)", rule.expr)
            later = spec.find(order.group(2)) if order else None
            earlier = spec.find(order.group(1)) if order else None
            if later is not None and earlier is not None and later.type in TEMPORAL:
                moment = base.get(earlier.name)
                stamp = _seconds_of(earlier, moment)
                if stamp is not None:
                    yield EdgeCase(
                        "broken_rule",
                        later.path,
                        _temporal(later, stamp - _DAY),
                        inside=False,
                        rule=rule.name,
                    )


# --------------------------------------------------------------------------- laying a case on


def apply(record: dict[str, Any], spec: EntitySpec, case: EdgeCase) -> tuple[dict[str, Any], str]:
    """A copy of ``record`` with ``case`` laid on, and the concrete path changed
    (``items[0].quantity``). Only the top-level value the case writes into is copied deeply
    (a wide record is tried against thousands of cases)."""
    changed = dict(record)
    head = case.path.replace("[]", "").partition(".")[0]
    if head in changed:
        changed[head] = copy.deepcopy(changed[head])
    where = write(changed, spec, case.path, case.value)
    return changed, where


def _reachable(spec: EntitySpec, path: str) -> bool:
    """Top-level fields, fields of top-level objects, and fields of a top-level array's items."""
    parts = path.replace("[]", "").split(".")
    if len(parts) > 2:
        return False
    if len(parts) == 2:
        parent = spec.find(parts[0])
        return parent is not None and (parent.is_object or parent.is_array)
    return True


def _container(record: dict[str, Any], spec: EntitySpec, path: str) -> tuple[Any, Any, str]:
    """(the dict or list holding ``path``'s value, its key, the concrete path)."""
    if path.endswith("[]"):
        items = record.get(path[:-2])
        return items, 0, f"{path[:-2]}[0]"
    head, _, tail = path.partition(".")
    if not tail:
        return record, head, head
    parent = spec.find(head)
    value = record.get(head)
    if parent is not None and parent.is_array:
        first = value[0] if isinstance(value, list) and value else None
        return first, tail, f"{head}[0].{tail}"
    return value, tail, path


def read(record: dict[str, Any], spec: EntitySpec, path: str) -> Any:
    holder, key, _ = _container(record, spec, path)
    if isinstance(holder, dict):
        return holder.get(key)
    if isinstance(holder, list) and isinstance(key, int) and key < len(holder):
        return holder[key]
    return None


def write(record: dict[str, Any], spec: EntitySpec, path: str, value: Any) -> str:
    holder, key, where = _container(record, spec, path)
    if isinstance(holder, dict):
        if value is ABSENT:
            holder.pop(key, None)
        else:
            holder[key] = value
    elif isinstance(holder, list) and isinstance(key, int) and key < len(holder):
        holder[key] = value
    return where


# --------------------------------------------------------------------------- what is broken


def violations(spec: EntitySpec, records: Sequence[dict[str, Any]]) -> list[list[str]]:
    """What each record breaks, measured: the validator's ``path: message`` for each constraint,
    then ``rule: <name>`` for each business rule."""
    found: list[list[str]] = [[] for _ in records]
    for issue in validate_records(spec, list(records)).issues:
        found[issue.index].append(f"{issue.field}: {issue.message}")
    if records:
        clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in records]
        for outcome in check(records_to_columns(spec, clean), spec):
            for i in np.flatnonzero(~outcome.passed).tolist():
                found[i].append(f"{RULE_PREFIX}{outcome.rule.name}")
    return found


def keeps_its_promise(case: EdgeCase, broken: list[str]) -> bool:
    """An inside case breaks nothing; an outside one breaks something, and a broken_rule case
    breaks its rule."""
    if case.inside:
        return not broken
    if case.rule:
        return f"{RULE_PREFIX}{case.rule}" in broken
    return bool(broken)


# --------------------------------------------------------------------------- values


def _unknown(values: Sequence[str]) -> str:
    """A value that is almost a member: its upper-case twin (what a legacy client sends), else
    a suffixed one."""
    first = values[0] if values else "value"
    shouted = first.upper()
    return shouted if shouted not in values else f"{first}_legacy"


def _plus_mill(current: Any) -> float:
    base = float(current) if isinstance(current, (int, float)) else 10.0
    return round(base + 0.001, 3)


def _text_of(current: str, length: int) -> str:
    seed = (current or "") + " " + _FILLER
    text = (seed * (length // max(len(seed), 1) + 1))[:length]
    return text if text[-1:] != " " else text[:-1] + "."


def _unicode(current: str, max_length: int | None) -> str:
    text = f"Zoë 🎉 Ñandú — {current}"
    return text[:max_length] if max_length is not None else text


def _fit(text: str, f: FieldSpec) -> str:
    return text[: f.max_length] if f.max_length is not None else text


def _items(items: list[Any], n: int) -> list[Any]:
    return [copy.deepcopy(items[i % len(items)]) for i in range(n)]


def _temporal(f: FieldSpec, seconds: int) -> Any:
    return format_temporal(f, np.array([float(seconds)]))[0]


def _seconds_of(f: FieldSpec, value: Any) -> int | None:
    stamp = parse_temporal(f, value) if value is not None else None
    return None if stamp is None else int(stamp)
