"""Coherence scoring: how well records keep their entity's business rules (0.0-1.0).

The rules are the entity's own (``schema/entities/*.yaml``): derivations recomputed and compared,
plus checks (date order, category affinity, card details for card methods...). A record's score
is the weight of the rules it keeps over the weight of all its rules; a batch's is the mean.
Records from anywhere (an LLM, a file) are read into columns and run through the same engine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tda.domain.catalog import Catalog
from tda.domain.contract import CoherenceViolation, FieldType
from tda.domain.records import ColumnBatch
from tda.domain.rules import RuleOutcome, check
from tda.domain.schema.spec import EntitySpec, FieldSpec
from tda.domain.validation import parse_temporal

MAX_LISTED_VIOLATIONS = 50


@dataclass
class CoherenceReport:
    """How well a batch keeps its entity's business rules: a score, the checks made, the breaches."""

    score: float
    records: int
    rules_checked: int
    violations_by_rule: dict[str, int] = field(default_factory=dict)
    violations: list[CoherenceViolation] = field(default_factory=list)
    record_scores: np.ndarray = field(default_factory=lambda: np.ones(0))

    @classmethod
    def merge(cls, reports: Sequence[CoherenceReport]) -> CoherenceReport:
        total = sum(r.records for r in reports)
        if not total:
            return cls(1.0, 0, reports[0].rules_checked if reports else 0)
        by_rule: Counter[str] = Counter()
        listed: list[CoherenceViolation] = []
        for r in reports:
            by_rule.update(r.violations_by_rule)
            listed.extend(r.violations[: MAX_LISTED_VIOLATIONS - len(listed)])
        return cls(
            score=sum(r.score * r.records for r in reports) / total,
            records=total,
            rules_checked=max(r.rules_checked for r in reports),
            violations_by_rule=dict(by_rule),
            violations=listed,
        )


def score_columns(
    spec: EntitySpec, batch: ColumnBatch, first_index: int = 0, catalog: Catalog | None = None
) -> CoherenceReport:
    outcomes = check(batch, spec, catalog)
    return _report(outcomes, batch.n, first_index)


def score_records(
    spec: EntitySpec, records: Sequence[dict[str, Any]], catalog: Catalog | None = None
) -> CoherenceReport:
    """Score records from any source; values that cannot be read count as breaking their rules."""
    return score_columns(spec, records_to_columns(spec, records), catalog=catalog)


@dataclass
class ScoredBatch:
    """A batch's rule outcomes, kept so that any slice of its records can be reported alone.

    Rules are per record, so a slice's report is exactly what scoring those records on their
    own gives (``score_columns``), without running the rules again.
    """

    outcomes: list[RuleOutcome]
    record_scores: np.ndarray
    broken_before: np.ndarray  # broken_before[i]: records before i breaking any rule

    @classmethod
    def of(cls, spec: EntitySpec, batch: ColumnBatch) -> ScoredBatch:
        outcomes = check(batch, spec)
        whole = _report(outcomes, batch.n, 0)
        broken = np.zeros(batch.n, dtype=np.int64)
        for o in outcomes:
            broken += ~o.passed
        return cls(outcomes, whole.record_scores, np.concatenate(([0], np.cumsum(broken > 0))))

    def report(self, start: int, stop: int) -> CoherenceReport:
        scores = self.record_scores[start:stop]
        if self.broken_before[stop] == self.broken_before[start]:  # the usual case: all kept
            return CoherenceReport(
                float(scores.mean()) if self.outcomes else 1.0,
                stop - start,
                len(self.outcomes),
                record_scores=scores,
            )
        sliced = [RuleOutcome(o.rule, o.passed[start:stop]) for o in self.outcomes]
        return _report(sliced, stop - start, 0)


def _report(outcomes: list[RuleOutcome], n: int, first_index: int) -> CoherenceReport:
    if not outcomes or n == 0:
        return CoherenceReport(1.0, n, len(outcomes), record_scores=np.ones(n))
    weights = np.array([o.rule.weight for o in outcomes])
    passed = np.vstack([o.passed for o in outcomes])
    # One less the weight broken, not the weight kept: a record keeping every rule scores 1.0
    # exactly, whatever the weights sum to (0.1 + 0.2 + ... kept is 0.9999999999999999 of 1.2).
    record_scores = 1.0 - (weights[:, None] * ~passed).sum(axis=0) / weights.sum()
    by_rule = {o.rule.name: int((~o.passed).sum()) for o in outcomes if not o.passed.all()}
    listed: list[CoherenceViolation] = []
    for o in outcomes:
        for i in np.flatnonzero(~o.passed)[: MAX_LISTED_VIOLATIONS - len(listed)].tolist():
            listed.append(
                CoherenceViolation(
                    index=first_index + i, rule=o.rule.name, message=o.rule.message or o.rule.expr
                )
            )
    return CoherenceReport(
        score=float(record_scores.mean()),
        records=n,
        rules_checked=len(outcomes),
        violations_by_rule=by_rule,
        violations=listed,
        record_scores=record_scores,
    )


# --------------------------------------------------------------------------- records → columns


def records_to_columns(spec: EntitySpec, records: Sequence[dict[str, Any]]) -> ColumnBatch:
    batch = ColumnBatch(n=len(records))
    _read_level(spec.fields, [r if isinstance(r, dict) else {} for r in records], batch)
    return batch


def _read_level(
    fields: tuple[FieldSpec, ...], rows: list[dict[str, Any]], batch: ColumnBatch
) -> None:
    for f in fields:
        values = [row.get(f.name) for row in rows]
        if f.is_object:
            _read_level(f.children, [v if isinstance(v, dict) else {} for v in values], batch)
        elif f.is_array:
            assert f.item is not None
            lists = [v if isinstance(v, list) else [] for v in values]
            batch.lengths[f.path] = np.array([len(v) for v in lists], dtype=np.int64)
            flat = [element for items in lists for element in items]
            if f.item.is_object:
                _read_level(
                    f.item.children, [e if isinstance(e, dict) else {} for e in flat], batch
                )
            else:
                batch.values[f.item.path] = _internal(f.item, flat)
        else:
            batch.values[f.path] = _internal(f, values)


def _internal(f: FieldSpec, values: list[Any]) -> np.ndarray:
    if f.is_money:  # rounded as one array: np.rint a value at a time was ≈1 µs each
        return np.rint(np.array([_number(v) for v in values], dtype=np.float64) * 100)
    if f.type in (FieldType.INTEGER, FieldType.FLOAT):
        return np.array([_number(v) for v in values], dtype=np.float64)
    if f.type in (FieldType.DATE, FieldType.DATETIME):
        return np.array([_stamp(f, v) for v in values], dtype=np.float64)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _number(v: Any) -> float:
    if isinstance(v, float):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return float(v) if -_FLOAT_INT < v < _FLOAT_INT else np.nan  # 400 digits: no float
    return np.nan


_FLOAT_INT = 2**1023  # past it, float() of an int raises OverflowError


def _stamp(f: FieldSpec, v: Any) -> float:
    parsed = parse_temporal(f, v) if v is not None else None
    return np.nan if parsed is None else parsed
