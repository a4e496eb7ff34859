"""A retrieved example made into a fresh record of this request.

The example is laid over a record the traditional engine made for the same plan and seed: the
base keeps what must be new or is personal (ids and keys re-drawn, emails, phones, names,
addresses), the example brings what it teaches (its items, amounts, statuses, methods, text),
its timestamps are moved to the base's time keeping their order and gaps, a scenario's
overrides win, and every derived field is recomputed by the entity's rules. A defect's trigger
values are laid on last and kept exactly.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np

from tda.domain.contract import FieldType
from tda.domain.plan import GenerationPlan
from tda.domain.records import format_temporal
from tda.domain.rederive import rederive
from tda.domain.schema.spec import EntitySpec, FieldSpec, is_id_pattern
from tda.domain.validation import parse_temporal

_PERSONAL_TYPES = frozenset({FieldType.EMAIL, FieldType.PHONE, FieldType.ADDRESS})


@cache
def taught_fields(spec: EntitySpec) -> tuple[FieldSpec, ...]:
    """The top-level fields an example brings: not keys, not personal, not derived, not
    timestamps (moved instead), and arrays of objects whole (their derived items recomputed)."""
    derived = spec.derived_paths
    taught = []
    for f in spec.fields:
        if f.unique or f.path == spec.primary_key or is_id_pattern(f.format):
            continue
        if f.type in _PERSONAL_TYPES or (f.generator or "").startswith("person."):
            continue
        if f.path in derived or f.type is FieldType.DATETIME or f.is_object:
            continue
        if f.is_array and not (f.item is not None and f.item.is_object):
            continue
        taught.append(f)
    return tuple(taught)


@cache
def moved_fields(spec: EntitySpec) -> tuple[FieldSpec, ...]:
    return tuple(f for f in spec.fields if f.type is FieldType.DATETIME)


def fixed_paths(plan: GenerationPlan, scenario: int) -> frozenset[str]:
    return frozenset(o.path for o in plan.scenarios[scenario].overrides)


def adapt(
    plan: GenerationPlan,
    base: dict[str, Any],
    example: Mapping[str, Any],
    fixed: frozenset[str],
    rng: np.random.Generator,
) -> dict[str, Any]:
    """``example`` as this request's record ``base`` (see the module's story)."""
    spec = plan.spec
    record = copy.deepcopy(base)
    changed: set[str] = set()
    for f in taught_fields(spec):
        if f.name not in example or f.path in fixed:
            continue
        if f.is_array:
            record[f.name] = _items(f, example[f.name], base.get(f.name), fixed)
        else:
            record[f.name] = copy.deepcopy(example[f.name])
        changed.add(f.path)
        if f.is_array and f.item is not None:
            changed.update(c.path for c in f.item.children)
    rederive(spec, [record], frozenset(changed), [fixed], rng)
    _move_times(spec, record, example, base, fixed)
    return record


def _items(f: FieldSpec, items: Any, base_items: Any, fixed: frozenset[str]) -> Any:
    """The example's items, with a scenario's per-item overrides (the base's values) kept."""
    if not isinstance(items, list):
        return copy.deepcopy(items)
    made = copy.deepcopy(items)
    first = base_items[0] if isinstance(base_items, list) and base_items else {}
    assert f.item is not None
    for child in f.item.children:
        if child.path in fixed and isinstance(first, dict) and child.name in first:
            for item in made:
                if isinstance(item, dict):
                    item[child.name] = first[child.name]
    return made


def _move_times(
    spec: EntitySpec,
    record: dict[str, Any],
    example: Mapping[str, Any],
    base: dict[str, Any],
    fixed: frozenset[str],
) -> None:
    """The example's timestamps, shifted together so the earliest lands on the base's earliest:
    their order and gaps (created → updated → completed) are the example's."""
    fields = [f for f in moved_fields(spec) if f.path not in fixed and f.name in example]
    stamps = {f.name: _seconds(f, example.get(f.name)) for f in fields}
    known = [s for s in stamps.values() if s is not None]
    anchor = [s for f in moved_fields(spec) if (s := _seconds(f, base.get(f.name))) is not None]
    if not known or not anchor:
        return
    shift = min(anchor) - min(known)
    for f in fields:
        stamp = stamps[f.name]
        record[f.name] = None if stamp is None else _formatted(f, stamp + shift)


def _seconds(f: FieldSpec, value: Any) -> float | None:
    return None if value is None else parse_temporal(f, value)


def _formatted(f: FieldSpec, seconds: float) -> Any:
    return format_temporal(f, np.array([float(seconds)]))[0]


def lay_triggers(
    spec: EntitySpec,
    record: dict[str, Any],
    trigger: Mapping[str, Any],
    remove: list[str],
    rng: np.random.Generator,
) -> dict[str, Any]:
    """A defect's trigger values on ``record``, exactly: what derives from them recomputed (a
    far-future ``created_at`` moves ``updated_at`` after it), the triggers themselves kept."""
    from tda.domain.edge_cases import ABSENT, write

    changed = copy.deepcopy(record)
    paths = set()
    for where, value in trigger.items():
        path = _spec_path(where)
        write(changed, spec, path, value)
        paths.add(path)
    for where in remove:
        path = _spec_path(where)
        write(changed, spec, path, ABSENT)
        paths.add(path)
    fixed = frozenset(paths)
    rederive(spec, [changed], fixed, [fixed], rng)
    for where, value in trigger.items():
        write(changed, spec, _spec_path(where), value)  # exactly as stored
    return changed


def _spec_path(where: str) -> str:
    """``items[0].quantity`` → ``items.quantity`` (the first item is the one a trigger sets)."""
    return where.replace("[0]", "")
