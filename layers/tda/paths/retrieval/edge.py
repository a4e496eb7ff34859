"""Edge-case records: schema-derived cases (``tda.domain.edge_cases``) mixed with retrieved
defect patterns, each laid on a valid traditional record of the same plan and seed.

The one place where invalid data is intended. Each record is labelled ``_edge_case_type`` (what
it tests), ``_edge_case_field`` (the path changed), ``_violates`` (what it breaks, measured by
the validator and the rules, ``[]`` for a case on the boundary inside) and ``_source``
("schema", or the defect pattern's id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tda.domain.edge_cases import ABSENT, EdgeCase, apply, cases_for, keeps_its_promise, violations
from tda.domain.plan import GenerationPlan
from tda.domain.rederive import rederive
from tda.paths.retrieval.adapt import fixed_paths, lay_triggers
from tda.paths.retrieval.memory import Retrieved

TRIAL_SLACK = 8  # cases tried beyond those needed: a few do not keep their promise


@dataclass(frozen=True)
class EdgeRun:
    records: list[dict[str, Any]]
    from_schema: int
    from_defects: int
    distinct_cases: int
    sources: list[str]


def edge_records(
    plan: GenerationPlan,
    base: list[dict[str, Any]],
    defects: Sequence[Retrieved],
    rng: np.random.Generator,
) -> EdgeRun:
    """``len(base)`` edge-case records: the retrieved defects first (each once, best first),
    then the schema's cases in a seeded order, cycled when the count is larger."""
    spec = plan.spec
    labels = plan.labels(0, len(base)).tolist()
    made: list[dict[str, Any]] = []
    sources: list[str] = []
    from_defects = 0
    for hit in defects:
        if len(made) >= len(base):
            break
        i = len(made)
        data = hit.data if isinstance(hit.data, dict) else {}
        record = lay_triggers(
            spec, base[i], data.get("trigger") or {}, list(data.get("remove") or []), rng
        )
        first_path = next(iter(data.get("trigger") or {}), None) or next(
            iter(data.get("remove") or []), ""
        )
        record["_edge_case_type"] = str(data.get("edge_case_type") or "defect")
        record["_edge_case_field"] = first_path
        record["_source"] = hit.entry.id
        made.append(record)
        sources.append(hit.entry.id)
        from_defects += 1
    cases = _kept_cases(plan, base, rng)
    followed: list[tuple[dict[str, Any], EdgeCase, frozenset[str]]] = []
    at = 0
    while len(made) < len(base) and cases:
        i = len(made)
        case = cases[at % len(cases)]
        at += 1
        fixed = fixed_paths(plan, labels[i])
        if case.path in fixed:
            if at > len(cases) * 2:
                break  # every case touches an overridden field: the rest stay plain
            continue
        record, where = apply(base[i], spec, case)
        followed.append((record, case, fixed))
        record["_edge_case_type"] = case.kind + (f":{case.rule}" if case.rule else "")
        record["_edge_case_field"] = where
        record["_source"] = case.source
        made.append(record)
    _follow(plan, followed, rng)
    from_schema = len(made) - from_defects
    while len(made) < len(base):  # no case fits (all overridden): the record as it was
        record = dict(base[len(made)])
        record.update(_edge_case_type="none", _edge_case_field="", _source="traditional")
        made.append(record)
    for record, broken in zip(made, violations(spec, made), strict=True):
        record["_violates"] = broken
    return EdgeRun(made, from_schema, from_defects, len(cases), sources)


def _follow(
    plan: GenerationPlan,
    followed: list[tuple[dict[str, Any], EdgeCase, frozenset[str]]],
    rng: np.random.Generator,
) -> None:
    """Derived fields recomputed from each case's value, so its one change is the one thing
    wrong (quantity 0: line total and totals follow). A missing value derives nothing: the
    fields that read it keep the values they had. Records changed at the same path are
    re-derived together (one pass of the rules per path, not per record)."""
    groups: dict[str, list[tuple[dict[str, Any], frozenset[str]]]] = {}
    for record, case, fixed in followed:
        if case.value is not None and case.value is not ABSENT:
            groups.setdefault(case.path, []).append((record, fixed | {case.path}))
    for path, members in groups.items():
        records = [record for record, _ in members]
        rederive(plan.spec, records, frozenset({path}), [fixed for _, fixed in members], rng)


def _kept_cases(
    plan: GenerationPlan, base: list[dict[str, Any]], rng: np.random.Generator
) -> list[EdgeCase]:
    """The schema's cases in a seeded order, those that, tried on the first record, do what
    their kind says. Only as many are tried as the records need (a wide schema has
    thousands of cases, each tried on a whole record): all of them when the count is larger."""
    if not base:
        return []
    spec = plan.spec
    cases = cases_for(spec, base[0])
    order = rng.permutation(len(cases)).tolist()
    kept: list[EdgeCase] = []
    at = 0
    while at < len(order) and len(kept) < len(base):
        chosen = [cases[i] for i in order[at : at + len(base) - len(kept) + TRIAL_SLACK]]
        at += len(chosen)
        trial = [apply(base[0], spec, case)[0] for case in chosen]
        _follow(plan, [(r, c, frozenset()) for r, c in zip(trial, chosen, strict=True)], rng)
        measured = violations(spec, trial)
        kept += [
            c for c, broken in zip(chosen, measured, strict=True) if keeps_its_promise(c, broken)
        ]
    return kept
