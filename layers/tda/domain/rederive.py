"""Derived fields recomputed after values changed: whatever changed a record's inputs (a model's
proposal, a retrieved example laid over, an edge case's one mutation), its line totals,
subtotal, tax, total... are the entity's rules' answer again, not a stale or invented number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tda.domain.bounded_cache import cached_by_size
from tda.domain.coherence import records_to_columns
from tda.domain.records import to_output
from tda.domain.rules import compile_rules, derive, referenced_paths
from tda.domain.schema.spec import EntitySpec, FieldSpec


# Asked per record and per edge case: the rule trees are walked once per question. Bounded:
# callers' schemas are keys, and a server lives long.
@cached_by_size(1024)
def affected_derivations(spec: EntitySpec, proposed: frozenset[str]) -> frozenset[str]:
    """Derived paths whose rule reads a proposed path, directly or through another derivation."""
    changed = set(proposed)
    affected = set()
    for compiled in compile_rules(spec):
        if compiled.target is None:
            continue
        if referenced_paths(compiled.tree) & changed:
            affected.add(compiled.target.path)
            changed.add(compiled.target.path)
    return frozenset(affected)


def rederive(
    spec: EntitySpec,
    records: list[dict[str, Any]],
    changed: frozenset[str],
    fixed_by_record: list[frozenset[str]],
    rng: np.random.Generator,
) -> None:
    """Every derived field that reads a ``changed`` path, recomputed in place by the entity's
    rules (paths in a record's ``fixed`` set keep their value: a scenario's overrides)."""
    affected = affected_derivations(spec, changed)
    if affected and records:
        batch = records_to_columns(spec, records)
        derive(batch, spec, rng, only=affected)
        # Items are copied before they change (an unproposed array is still the base record's):
        # once a record, not once for each derived field of its items.
        for array_name in {spec.level_of[path] for path in affected} - {""}:
            _own_items(records, array_name)
        for path in sorted(affected, key=list(spec.by_path).index):
            _write_back(spec, spec.by_path[path], batch, records, fixed_by_record)


def _own_items(records: list[dict[str, Any]], array_name: str) -> None:
    for record in records:
        items = record.get(array_name)
        if isinstance(items, list):  # what is not a list is no items (records_to_columns)
            record[array_name] = [dict(i) if isinstance(i, dict) else i for i in items]


def _write_back(
    spec: EntitySpec,
    f: FieldSpec,
    batch: Any,
    records: list[dict[str, Any]],
    fixed_by_record: list[frozenset[str]],
) -> None:
    values = to_output(f, batch.values[f.path])
    level = spec.level_of[f.path]
    if not level:
        if "." in f.path:
            return  # a derivation inside a nested object: none of the shipped entities has one
        for record, value, fixed in zip(records, values, fixed_by_record, strict=True):
            if f.path not in fixed:
                record[f.name] = value
        return
    at = 0
    for record, fixed in zip(records, fixed_by_record, strict=True):
        items = record.get(level)
        for item in items if isinstance(items, list) else ():  # its own copies (_own_items)
            if f.path not in fixed and isinstance(item, dict):
                item[f.name] = values[at]
            at += 1
