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
from typing import Any

import numpy as np

from tda.domain.bounded_cache import cached_by_size
from tda.domain.contract import FieldType
from tda.domain.plan import GenerationPlan
from tda.domain.records import format_temporal
from tda.domain.rederive import rederive
from tda.domain.schema.spec import EntitySpec, FieldSpec, is_id_pattern
from tda.domain.validation import parse_temporal

_PERSONAL_TYPES = frozenset({FieldType.EMAIL, FieldType.PHONE, FieldType.ADDRESS})


@cached_by_size(256)  # bounded by count and size: callers' schemas are keys
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


@cached_by_size(256)
def moved_fields(spec: EntitySpec) -> tuple[FieldSpec, ...]:
    return tuple(f for f in spec.fields if f.type is FieldType.DATETIME)


def fixed_paths(plan: GenerationPlan, scenario: int) -> frozenset[str]:
    return frozenset(o.path for o in plan.scenarios[scenario].overrides)


def adapt(
    plan: GenerationPlan,
    bases: list[dict[str, Any]],
    examples: list[Mapping[str, Any]],
    fixed: list[frozenset[str]],
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """Each of ``examples`` as this request's record of the same index in ``bases`` (see the
    module's story); ``fixed`` holds each record's overridden paths."""
    spec = plan.spec
    records: list[dict[str, Any]] = []
    # Records whose examples brought the same fields are re-derived together: one column batch
    # and one pass of the rules for the lot, not one per record.
    groups: dict[frozenset[str], list[int]] = {}
    for i, (base, example, kept) in enumerate(zip(bases, examples, fixed, strict=True)):
        record, changed = _laid(spec, base, example, kept)
        records.append(record)
        groups.setdefault(changed, []).append(i)
    for changed, chosen in groups.items():
        rederive(spec, [records[i] for i in chosen], changed, [fixed[i] for i in chosen], rng)
    _move_times(spec, records, examples, bases, fixed)
    return records


def _laid(
    spec: EntitySpec, base: dict[str, Any], example: Mapping[str, Any], fixed: frozenset[str]
) -> tuple[dict[str, Any], frozenset[str]]:
    """``base`` with the example's taught fields laid over, and the paths that changed. The
    base is copied one level deep: its nested values are replaced, never changed in place."""
    record = dict(base)
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
    return record, frozenset(changed)


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
    records: list[dict[str, Any]],
    examples: list[Mapping[str, Any]],
    bases: list[dict[str, Any]],
    fixed: list[frozenset[str]],
) -> None:
    """Each example's timestamps, shifted together so the earliest lands on its base's
    earliest: their order and gaps (created → updated → completed) are the example's. Each
    field is formatted once for all records."""
    moved = moved_fields(spec)
    shifted: dict[str, list[tuple[int, float | None]]] = {f.name: [] for f in moved}
    for i, (example, base, kept) in enumerate(zip(examples, bases, fixed, strict=True)):
        fields = [f for f in moved if f.path not in kept and f.name in example]
        stamps = {f.name: _seconds(f, example.get(f.name)) for f in fields}
        known = [s for s in stamps.values() if s is not None]
        anchor = [s for f in moved if (s := _seconds(f, base.get(f.name))) is not None]
        if not known or not anchor:
            continue
        shift = min(anchor) - min(known)
        for f in fields:
            stamp = stamps[f.name]
            shifted[f.name].append((i, None if stamp is None else stamp + shift))
    for f in moved:
        pending = shifted[f.name]
        if not pending:
            continue
        present = [(i, s) for i, s in pending if s is not None]
        texts = format_temporal(f, np.array([s for _, s in present], dtype=float))
        for (i, _), text in zip(present, texts, strict=True):
            records[i][f.name] = text
        for i, s in pending:
            if s is None:
                records[i][f.name] = None


def _seconds(f: FieldSpec, value: Any) -> float | None:
    return None if value is None else parse_temporal(f, value)


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
