"""Column batches: many records held as one numpy array per field path.

Generation, business rules and coherence checks all work column-wise (one numpy operation per
field per batch, not one Python call per value); records are assembled once, at the end.

Internal value forms (what rules see):
- money (FLOAT, format money): int64 cents; float64 with NaN where nullable
- INTEGER: int64 (float64 + NaN when nulls occur); FLOAT: float64
- DATE / DATETIME: float64 epoch seconds (NaN = null)
- BOOLEAN: bool (object when nulls occur); everything else: object arrays of str / None
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import numpy as np

from tda.models import FieldType
from tda.schema.spec import EntitySpec, FieldSpec


def offsets_of(lengths: np.ndarray) -> np.ndarray:
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


@dataclass
class ColumnBatch:
    """``n`` records: ``values[path]`` per scalar field, ``lengths[array path]`` per array."""

    n: int
    values: dict[str, np.ndarray] = field(default_factory=dict)
    lengths: dict[str, np.ndarray] = field(default_factory=dict)

    def rows_at(self, level: str, spec: EntitySpec) -> int:
        return self.n if not level else int(self.lengths[level].sum())

    def expand(self, mask: np.ndarray, level: str, spec: EntitySpec) -> np.ndarray:
        """A per-record array repeated down to the rows of ``level`` (each item gets its record's)."""
        if not level:
            return mask
        parent = spec.level_of[level]
        return np.repeat(self.expand(mask, parent, spec), self.lengths[level])

    def take(self, rows: np.ndarray, spec: EntitySpec) -> ColumnBatch:
        """The records at ``rows`` (in that order), with all their nested items."""
        index_at: dict[str, np.ndarray] = {"": rows}
        lengths: dict[str, np.ndarray] = {}
        for level in sorted(self.lengths, key=lambda p: p.count(".") + p.count("[]")):
            parent_rows = index_at[spec.level_of[level]]
            all_lengths = self.lengths[level]
            starts = offsets_of(all_lengths)[:-1][parent_rows]
            picked = all_lengths[parent_rows]
            lengths[level] = picked
            total = int(picked.sum())
            # Item i of the selection sits at starts[parent] + (i - first item of that parent).
            within = np.arange(total, dtype=np.int64) - np.repeat(offsets_of(picked)[:-1], picked)
            index_at[level] = np.repeat(starts, picked) + within
        values = {
            path: column[index_at[spec.level_of[path]]] for path, column in self.values.items()
        }
        return ColumnBatch(n=len(rows), values=values, lengths=lengths)

    @staticmethod
    def concat(batches: list[ColumnBatch]) -> ColumnBatch:
        if len(batches) == 1:
            return batches[0]
        first = batches[0]
        return ColumnBatch(
            n=sum(b.n for b in batches),
            values={p: _concat([b.values[p] for b in batches]) for p in first.values},
            lengths={p: np.concatenate([b.lengths[p] for b in batches]) for p in first.lengths},
        )


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    kinds = {p.dtype.kind for p in parts}
    if len(kinds) > 1:
        target = object if "O" in kinds else np.float64
        parts = [p.astype(target) for p in parts]
    return np.concatenate(parts)


# --------------------------------------------------------------------------- record assembly


def assemble(
    batch: ColumnBatch, spec: EntitySpec, meta: dict[str, list[Any]]
) -> list[dict[str, Any]]:
    """Build record dicts: ``meta`` columns (``_index``, ``_scenario``) first, then the schema's."""
    names = (*meta, *(f.name for f in spec.fields))
    columns = [*meta.values(), *(_field_output(f, batch, spec, batch.n) for f in spec.fields)]
    return row_builder(names)(columns)


def _level_output(
    fields: tuple[FieldSpec, ...], batch: ColumnBatch, spec: EntitySpec, rows: int
) -> list[Any]:
    if not fields:
        return [{} for _ in range(rows)]
    columns = [_field_output(f, batch, spec, rows) for f in fields]
    return row_builder(tuple(f.name for f in fields))(columns)


@cache
def row_builder(names: tuple[str, ...]) -> Callable[[list[list[Any]]], list[dict[str, Any]]]:
    """A compiled ``[{'a': v0, 'b': v1} for v0, v1 in zip(*columns)]`` for these keys.

    A dict display is about 4x faster than ``dict(zip(names, row))`` per record (bench/), and
    record assembly is the largest cost of bulk generation. Keys are embedded with ``repr``.
    """
    variables = [f"v{i}" for i in range(len(names))]
    body = ", ".join(f"{name!r}: {var}" for name, var in zip(names, variables, strict=True))
    source = f"lambda columns: [{{{body}}} for ({', '.join(variables)},) in zip(*columns)]"
    built: Callable[[list[list[Any]]], list[dict[str, Any]]] = eval(source, {"zip": zip})
    return built


def _field_output(f: FieldSpec, batch: ColumnBatch, spec: EntitySpec, rows: int) -> list[Any]:
    if f.is_object:
        return _level_output(f.children, batch, spec, rows)
    if f.is_array:
        assert f.item is not None
        lengths = batch.lengths[f.path]
        total = int(lengths.sum())
        flat = _field_output(f.item, batch, spec, total)
        bounds = offsets_of(lengths).tolist()
        return [flat[a:b] for a, b in itertools.pairwise(bounds)]
    return to_output(f, batch.values[f.path])


def to_output(f: FieldSpec, column: np.ndarray) -> list[Any]:
    """Internal column → JSON-ready Python values (cents → 19.99, epoch → ISO 8601, NaN → None)."""
    kind = column.dtype.kind
    if f.is_money:
        out = (column / 100).tolist()
        return _nan_to_none(out) if kind == "f" else out
    if f.type is FieldType.DATETIME or f.type is FieldType.DATE:
        return format_temporal(f, column)
    if f.type is FieldType.INTEGER and kind == "f":
        return [None if v != v else int(v) for v in column.tolist()]
    out = column.tolist()
    return _nan_to_none(out) if kind == "f" else out


def _nan_to_none(values: list[Any]) -> list[Any]:
    return [None if v != v else v for v in values]


def format_temporal(f: FieldSpec, column: np.ndarray) -> list[Any]:
    nulls = np.isnan(column)
    unit = "D" if f.type is FieldType.DATE else "s"
    fmt = f.format
    if fmt == "epoch":
        out: list[Any] = (
            column.astype(np.int64).tolist()
            if not nulls.any()
            else [
                None if n else int(v) for v, n in zip(column.tolist(), nulls.tolist(), strict=True)
            ]
        )
        return out
    stamps = np.where(nulls, 0, column).astype("datetime64[s]").astype(f"datetime64[{unit}]")
    if fmt and "%" in fmt:
        text = [
            datetime.fromtimestamp(int(v), UTC).strftime(fmt)
            for v in np.where(nulls, 0, column).tolist()
        ]
    elif unit == "D":
        text = np.datetime_as_string(stamps, unit="D").tolist()
    else:
        text = np.datetime_as_string(stamps, unit="s", timezone="UTC").tolist()
    if nulls.any():
        return [None if n else t for t, n in zip(text, nulls.tolist(), strict=True)]
    return text
