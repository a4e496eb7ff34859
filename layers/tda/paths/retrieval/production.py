"""Production-like records: the entity's spec with the distributions a production sample's
statistics describe laid into it, then made by the traditional engine, so every rule still
holds by construction (a payment drawn as a card payment gets its card brand and last four).

Statistics (``stats`` of a production sample)::

    {"categorical": {"method": {"credit_card": 0.35, "apple_pay": 0.3, ...},
                     "is_active": {"true": 0.97, "false": 0.03}},
     "numeric": {"amount": [[0.0, 1.5], [0.5, 64.0], [0.9, 240.0], [1.0, 1800.0]]}}

categorical: an enum's weights, a boolean's odds, or an integer's values; numeric: (cumulative
probability, value) pairs, an inverse CDF the engine samples through evenly spaced quantiles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from tda.domain.contract import FieldType
from tda.domain.schema.loader import bound_limit
from tda.domain.schema.spec import EntitySpec, FieldSpec
from tda.domain.text import is_whole_number

QUANTILE_POINTS = 512  # numeric draws: the inverse CDF at (i + ½) / 512
_TRUE = frozenset({"true", "1", "yes"})


def production_spec(
    spec: EntitySpec, stats: Mapping[str, Any]
) -> tuple[EntitySpec, list[str], list[str]]:
    """``spec`` drawing from ``stats``, the paths it now draws, and why any were skipped."""
    changes: dict[str, FieldSpec] = {}
    skipped: list[str] = []
    derived = spec.derived_paths
    for path, freqs in (stats.get("categorical") or {}).items():
        f = spec.find(path)
        if f is None or path in derived or not isinstance(freqs, dict) or not freqs:
            skipped.append(f"{path}: not a field this entity draws")
            continue
        changed = _categorical(f, freqs)
        if changed is None:
            skipped.append(f"{path}: no value the schema allows")
        else:
            changes[path] = changed
    for path, pairs in (stats.get("numeric") or {}).items():
        f = spec.find(path)
        numeric = f is not None and f.type in (FieldType.INTEGER, FieldType.FLOAT)
        if f is None or path in derived or not numeric or not isinstance(pairs, list):
            skipped.append(f"{path}: not a numeric field this entity draws")
            continue
        changed = _numeric(f, pairs)
        if changed is None:
            skipped.append(
                f"{path}: needs at least two (probability, value) pairs of finite numbers"
            )
        else:
            changes[path] = changed
    return _with_fields(spec, changes), sorted(changes), skipped


def _categorical(f: FieldSpec, freqs: Mapping[str, Any]) -> FieldSpec | None:
    weights = {str(k): float(v) for k, v in freqs.items() if isinstance(v, (int, float)) and v > 0}
    if f.type is FieldType.BOOLEAN:
        total = sum(weights.values())
        if total <= 0:
            return None
        p = sum(w for k, w in weights.items() if k.lower() in _TRUE) / total
        return replace(f, generator=f"bool:{p:.6f}")
    if f.enum_values:
        aligned = tuple(weights.get(v, 0.0) for v in f.enum_values)
        return replace(f, enum_weights=aligned) if sum(aligned) > 0 else None
    if f.type is FieldType.INTEGER:
        # Keys of ASCII digits ("²" is a digit int() refuses), no longer than an int64's (past
        # 4,300 digits int() raises).
        pairs = [(int(k), w) for k, w in weights.items() if _integer_key(k)]
        lo, hi = _range(f)
        pairs = [(v, w) for v, w in pairs if lo <= v <= hi]
        if not pairs:
            return None
        total = sum(w for _, w in pairs)
        cumulative = np.cumsum([w / total for _, w in pairs])
        points = (np.arange(QUANTILE_POINTS) + 0.5) / QUANTILE_POINTS
        picks = np.searchsorted(cumulative, points, side="right").clip(0, len(pairs) - 1)
        return replace(f, generator=None, choices=tuple(pairs[i][0] for i in picks.tolist()))
    return None


def _numeric(f: FieldSpec, pairs: list[Any]) -> FieldSpec | None:
    points = sorted(p for p in map(_finite_pair, pairs) if p is not None)
    if len(points) < 2:
        return None
    grid = (np.arange(QUANTILE_POINTS) + 0.5) / QUANTILE_POINTS
    values = np.clip(np.interp(grid, [p for p, _ in points], [v for _, v in points]), *_range(f))
    if f.type is FieldType.INTEGER:
        drawn: tuple[float | str, ...] = tuple(round(v) for v in values.tolist())
    elif f.is_money:
        drawn = tuple(round(v, 2) for v in values.tolist())
    else:
        drawn = tuple(float(v) for v in values.tolist())
    return replace(f, generator=None, choices=drawn)


def _integer_key(key: str) -> bool:
    digits = key.removeprefix("-")
    return len(digits) <= 19 and is_whole_number(digits)


def _finite_pair(pair: Any) -> tuple[float, float] | None:
    """A (cumulative probability, value) pair of finite numbers, or None. A sample added by a
    team may hold ``"nan"`` or ``"inf"`` as strings (JSON has no such numbers), which float()
    reads: a NaN drawn into an integer field was a ValueError."""
    try:
        p, v = (float(x) for x in pair)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int past any float
        return None
    return (p, v) if math.isfinite(v) and 0.0 <= p <= 1.0 else None


def _range(f: FieldSpec) -> tuple[float, float]:
    """What ``f``'s values may be: its bounds, within what a record holds for its kind
    (integers exact in a float, money in int64 cents: a price of 1e308 overflowed)."""
    limit = bound_limit(f)
    end = math.inf if limit is None else float(limit)
    lo = -end if f.minimum is None else max(-end, f.minimum)
    hi = end if f.maximum is None else min(end, f.maximum)
    return lo, hi


def _with_fields(spec: EntitySpec, changes: Mapping[str, FieldSpec]) -> EntitySpec:
    if not changes:
        return spec

    def rebuilt(f: FieldSpec) -> FieldSpec:
        f = changes.get(f.path, f)
        if f.children:
            f = replace(f, children=tuple(rebuilt(c) for c in f.children))
        if f.item is not None:
            f = replace(f, item=rebuilt(f.item))
        return f

    return replace(spec, fields=tuple(rebuilt(f) for f in spec.fields))
