"""Batch generation: columns → overrides → derived fields → constraint repair → unique ids.

Records are made in fixed batches of ``BATCH_ROWS``; batch ``k`` draws from a random stream
seeded by ``(seed, k)`` alone, so the same request and seed give the same records however the
output is consumed (one response, a stream, a job chunk) and any batch can be made on its own.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from tda.domain.bounded_cache import cached_by_size
from tda.domain.catalog import load_catalog
from tda.domain.contract import FieldType
from tda.domain.errors import InvalidRequestError
from tda.domain.plan import (
    BATCH_ROWS,
    GenerationPlan,
    Override,
    ScenarioPlan,
    SlabWindow,
    stream_seed,
)
from tda.domain.records import ColumnBatch
from tda.domain.rules import Evaluator, Vec, compile_rules, derive, referenced_paths
from tda.domain.schema.spec import NUMERIC, TEMPORAL, EntitySpec, FieldSpec, is_id_pattern
from tda.paths.traditional.pools import pools_for
from tda.paths.traditional.providers import (
    ALPHANUM,
    DIGITS,
    ID_TOKEN,
    PROVIDERS,
    LevelContext,
    Provider,
    fill_pattern,
    occasions_for_baskets,
    record_years,
    resolve,
)

MAX_REPAIR_ROUNDS = 12
MAX_OVERSAMPLE = 64
_TOKEN_WIDTH = {"random": (ALPHANUM, 36), "digits": (DIGITS, 10)}


@dataclass
class GeneratedBatch:
    """A batch as the engine made it: its columns and each record's scenario label."""

    start: int
    columns: ColumnBatch
    labels: np.ndarray


@dataclass(frozen=True)
class SpecLayout:
    """What a generator needs to know of a schema, worked out once per schema, not per request."""

    unique_fields: list[FieldSpec]
    skip: frozenset[str]
    providers: dict[str, tuple[Provider, str]]
    bounded: list[FieldSpec]
    required_derived: list[FieldSpec]


@cached_by_size(256)  # registered entities, and the most recent callers' own schemas
def spec_layout(spec: EntitySpec) -> SpecLayout:
    # Root id patterns marked unique are made after the rows are final (a bijection of the
    # record index); UUIDs are unique by their randomness.
    unique_fields = [f for f in spec.fields if f.unique and f.type is not FieldType.UUID]
    rules = compile_rules(spec)
    self_referencing = {
        r.target.path
        for r in rules
        if r.target is not None and r.target.path in referenced_paths(r.tree)
    }
    # Derived fields are computed by their rule; only those whose rule reads their own base
    # value (``where(verified, order_id, null)``) need a drawn column first.
    skip = frozenset((spec.derived_paths - self_referencing) | {f.path for f in unique_fields})
    return SpecLayout(
        unique_fields=unique_fields,
        skip=skip,
        providers={f.path: resolve(f) for f in spec.walk() if f.is_scalar and f.path not in skip},
        bounded=[f for f in spec.walk() if f.is_scalar and _has_bounds(f)],
        required_derived=[
            f for f in spec.walk() if f.path in spec.derived_paths and f.required and f.is_scalar
        ],
    )


class BatchGenerator:
    """Makes the batches of one plan; compiled once, reused for every batch."""

    def __init__(self, plan: GenerationPlan) -> None:
        self.plan = plan
        self.spec = plan.spec
        self.pools = pools_for(plan.locale)
        if plan.catalog is not None and plan.catalog.first_names:  # a context's own people
            self.pools = replace(
                self.pools,
                first_names=np.array(plan.catalog.first_names, dtype=object),
                last_names=np.array(plan.catalog.last_names, dtype=object),
            )
        self.catalog = plan.catalog or load_catalog()
        layout = spec_layout(plan.spec)
        self.unique_fields = layout.unique_fields
        self.skip = layout.skip
        self.providers = layout.providers
        self.bounded = layout.bounded
        self.required_derived = layout.required_derived
        self._split_overrides()

    def _split_overrides(self) -> None:
        """Per scenario, overrides by when they apply: before rules, after rules, after ids."""
        unique_paths = {f.path for f in self.unique_fields}
        derived = self.spec.derived_paths
        self.base_overrides: list[list[Override]] = []
        self.derived_overrides: list[list[Override]] = []
        self.unique_overrides: list[list[Override]] = []
        for scenario in self.plan.scenarios:
            fixed = scenario.overrides
            self.unique_overrides.append([o for o in fixed if o.path in unique_paths])
            self.derived_overrides.append([o for o in fixed if o.path in derived - unique_paths])
            self.base_overrides.append(
                [o for o in fixed if o.path not in derived and o.path not in unique_paths]
            )

    # -- public

    def batches(self, first: int = 0, last: int | None = None) -> Iterator[GeneratedBatch]:
        stop = self.plan.batch_count if last is None else last
        for k in range(first, stop):
            yield self.batch(k)

    def batch(self, k: int) -> GeneratedBatch:
        if self.plan.window is not None:
            return self._window_batch(self.plan.window)
        start = k * BATCH_ROWS
        stop = min(start + BATCH_ROWS, self.plan.count)
        rng = np.random.default_rng(stream_seed(self.plan.seed, k))
        pyrandom = random.Random(int(rng.integers(0, 2**62)))
        labels = self.plan.labels(start, stop)
        columns = self._repaired(labels, rng, pyrandom)
        self._add_unique_ids(columns, start, rng)
        self._apply(columns, labels, self.unique_overrides)
        return GeneratedBatch(start=start, columns=columns, labels=labels)

    def _window_batch(self, window: SlabWindow) -> GeneratedBatch:
        """A slab seed's records: the whole slab made from its own seed, then the slice."""
        slab = slab_plan(self.plan, window.base, window.size)
        columns = BatchGenerator(slab).batch(0).columns
        rows = np.arange(window.offset, window.offset + self.plan.count)
        return GeneratedBatch(0, columns.take(rows, self.spec), np.zeros(len(rows), np.intp))

    # -- candidates

    def _candidates(
        self, labels: np.ndarray, rng: np.random.Generator, pyrandom: random.Random
    ) -> ColumnBatch:
        batch = ColumnBatch(n=len(labels))
        self._fill(self.spec.fields, len(labels), batch, rng, pyrandom, None)
        self._apply(batch, labels, self.base_overrides)
        derive(batch, self.spec, rng, catalog=self.catalog)
        self._apply(batch, labels, self.derived_overrides)
        return batch

    def _fill(
        self,
        fields: tuple[FieldSpec, ...],
        n: int,
        batch: ColumnBatch,
        rng: np.random.Generator,
        pyrandom: random.Random,
        basket_occasions: np.ndarray | None,
    ) -> None:
        ctx = LevelContext(
            rng, pyrandom, self.pools, self.catalog, n, basket_occasions=basket_occasions
        )
        ctx.draws["catalog_price_spec"] = next(
            (f for f in fields if f.generator == "catalog.price"), None
        )
        # Id patterns use the record's year, so they are drawn after the fields they read.
        ordered = sorted(
            fields, key=lambda f: self.providers.get(f.path, (None, ""))[0] is PROVIDERS["pattern"]
        )
        for f in ordered:
            if f.path in self.skip:
                continue
            if f.is_object:
                self._fill(f.children, n, batch, rng, pyrandom, None)
            elif f.is_array:
                self._fill_array(f, ctx, batch, rng, pyrandom)
            else:
                fn, arg = self.providers[f.path]
                column = fn(f, ctx, arg)
                if (
                    f.type is FieldType.STRING
                    and _free_text(f)
                    and (f.min_length is not None or f.max_length is not None)
                ):
                    column = fit_lengths(column, f, ctx)
                batch.values[f.path] = column
                ctx.siblings[f.name] = column

    def _fill_array(
        self,
        f: FieldSpec,
        ctx: LevelContext,
        batch: ColumnBatch,
        rng: np.random.Generator,
        pyrandom: random.Random,
    ) -> None:
        assert f.item is not None
        lo = f.min_length if f.min_length is not None else 1
        hi = f.max_length if f.max_length is not None else max(lo, 3)
        lengths = rng.integers(lo, hi + 1, ctx.n, dtype=np.int64)
        batch.lengths[f.path] = lengths
        occasions = None
        if f.generator == "catalog.basket" and f.item.is_object:
            price = next((c for c in f.item.children if c.generator == "catalog.price"), None)
            occasions = np.repeat(occasions_for_baskets(ctx, price), lengths)
        total = int(lengths.sum())
        if f.item.is_object:
            self._fill(f.item.children, total, batch, rng, pyrandom, occasions)
        else:
            self._fill((f.item,), total, batch, rng, pyrandom, occasions)

    # -- overrides

    def _apply(
        self, batch: ColumnBatch, labels: np.ndarray, overrides: list[list[Override]]
    ) -> None:
        for scenario, chosen in enumerate(overrides):
            if not chosen:
                continue
            rows = labels == scenario
            if not rows.any():
                continue
            for override in chosen:
                level = self.spec.level_of[override.path]
                mask = batch.expand(rows, level, self.spec)
                column = batch.values[override.path]
                value = override.value
                if value is None and column.dtype.kind in "iub":
                    column = column.astype(np.float64 if column.dtype.kind != "b" else object)
                elif isinstance(value, float) and column.dtype.kind in "iu" and value != int(value):
                    column = column.astype(np.float64)
                column[mask] = np.nan if value is None and column.dtype.kind == "f" else value
                batch.values[override.path] = column

    # -- repair: records breaking a bound (a derived total above a max, say) are redrawn

    def _repaired(
        self, labels: np.ndarray, rng: np.random.Generator, pyrandom: random.Random
    ) -> ColumnBatch:
        batch = self._candidates(labels, rng, pyrandom)
        ok, worst = self._valid(batch)
        if ok.all():
            return batch
        parts = [batch.take(np.flatnonzero(ok), self.spec)]
        positions = [np.flatnonzero(ok)]
        missing = np.flatnonzero(~ok)
        for _ in range(MAX_REPAIR_ROUNDS):
            rate = max(ok.mean(), 1 / MAX_OVERSAMPLE)
            factor = int(min(MAX_OVERSAMPLE, math.ceil(2 / rate)))
            candidates = self._candidates(np.repeat(labels[missing], factor), rng, pyrandom)
            ok, worst = self._valid(candidates)
            grid = ok.reshape(len(missing), factor)
            found = grid.any(axis=1)
            pick = np.flatnonzero(found) * factor + grid.argmax(axis=1)[found]
            parts.append(candidates.take(pick, self.spec))
            positions.append(missing[found])
            missing = missing[~found]
            if not len(missing):
                merged = ColumnBatch.concat(parts)
                return merged.take(np.argsort(np.concatenate(positions), kind="stable"), self.spec)
        raise InvalidRequestError.single(
            f"constraints.{worst}",
            f"cannot be met: generated records keep breaking the bounds of '{worst}' "
            "(is the range reachable from the other fields and rules?)",
        )

    def _valid(self, batch: ColumnBatch) -> tuple[np.ndarray, str]:
        ok = np.ones(batch.n, dtype=bool)
        worst, worst_count = "", 0
        for f in self.bounded:
            column = batch.values.get(f.path)
            if column is None or column.dtype.kind == "O":
                continue
            data = column.astype(np.float64)
            lo, hi = _internal_bounds(f)
            with np.errstate(invalid="ignore"):
                good = ((data >= lo) & (data <= hi)) | (np.isnan(data) & (not f.required))
            per_record = self._per_record(good, f.path, batch)
            bad = int((~per_record).sum())
            if bad > worst_count:
                worst, worst_count = f.path, bad
            ok &= per_record
        for f in self.required_derived:
            column = batch.values[f.path]
            if column.dtype.kind == "f":
                good = ~np.isnan(column)
            elif column.dtype.kind == "O":
                good = np.fromiter(
                    (v is not None for v in column.tolist()), dtype=bool, count=len(column)
                )
            else:
                continue
            ok &= self._per_record(good, f.path, batch)
        return ok, worst or (self.bounded[0].path if self.bounded else "")

    def _per_record(self, good: np.ndarray, path: str, batch: ColumnBatch) -> np.ndarray:
        """A per-value check folded to its records: a record passes when all its items do."""
        return Evaluator(batch, self.spec).fold_to_records(Vec(good, self.spec.level_of[path]))

    # -- unique ids: a bijection of the record index, so no two records of a request share one

    def _add_unique_ids(self, batch: ColumnBatch, start: int, rng: np.random.Generator) -> None:
        if not self.unique_fields:
            return
        ctx = LevelContext(rng, random.Random(0), self.pools, self.catalog, batch.n)
        created = batch.values.get("created_at")
        if created is not None:
            ctx.siblings["created_at"] = created
        years = record_years(ctx)
        indices = np.arange(start, start + batch.n, dtype=np.int64)
        for f in self.unique_fields:
            batch.values[f.path] = _object(
                fill_pattern(
                    f.format or "",
                    ctx,
                    years,
                    unique_first=unique_tokens(f, indices, self.plan.seed),
                )
            )


def slab_plan(plan: GenerationPlan, seed: int, size: int) -> GenerationPlan:
    """The plan of a whole slab that ``plan``'s records are a slice of (one scenario, no window)."""
    (only,) = plan.scenarios
    return GenerationPlan(
        plan.spec, size, seed, plan.locale, (ScenarioPlan(only.name, size, only.overrides),)
    )


def fit_lengths(column: np.ndarray, f: FieldSpec, ctx: LevelContext) -> np.ndarray:
    """Free text cut or padded (with pool words) into [min_length, max_length].

    Regex and id-pattern values are made to measure and pass through unchanged.
    """
    lo = f.min_length or 0
    hi = f.max_length if f.max_length is not None else 10**9
    words = ctx.pools.words
    padding = words[ctx.rng.integers(0, len(words), (len(column), 8))].tolist()
    out = []
    for value, pad in zip(column.tolist(), padding, strict=True):
        text = str(value)
        unit = " ".join(pad).strip() or "lorem"
        while len(text) < lo:
            # The same text as appending " " + unit until long enough, in one concatenation:
            # appending in a loop copied the text each time (quadratic: 10^7 characters froze
            # a server for minutes).
            repeats = max(1, math.ceil((lo - len(text)) / (len(unit) + 1)))
            text = (text + f" {unit}" * repeats).strip()
        if len(text) > hi:
            text = text[:hi]
            if len(text.rstrip()) >= lo:
                text = text.rstrip()
        out.append(text)
    return _object(out)


def fits_uniquely(spec: EntitySpec, count: int) -> bool:
    """Whether ``count`` records can all have distinct values in every unique id field."""
    return all(
        count <= unique_capacity(f)
        for f in spec.fields
        if f.unique and f.type is not FieldType.UUID
    )


def unique_capacity(f: FieldSpec) -> int:
    match = next(m for m in ID_TOKEN.finditer(f.format or "") if m.group(1) != "year")
    width = int(match.group(2) or 7)
    return int(_TOKEN_WIDTH[match.group(1)][1] ** width)


def unique_tokens(f: FieldSpec, indices: np.ndarray, seed: int) -> np.ndarray:
    """Distinct tokens (rows of ASCII codes) for distinct indices: an affine permutation of
    [0, capacity)."""
    match = next(m for m in ID_TOKEN.finditer(f.format or "") if m.group(1) != "year")
    alphabet, base = _TOKEN_WIDTH[match.group(1)]
    width = int(match.group(2) or 7)
    space = base**width
    mix = random.Random(seed ^ zlib.crc32(f.path.encode()))  # str hash() is salted per process
    # The multiplier must be coprime with the space (a power of 2·3·… of the base): pick one
    # that is not divisible by 2, 3 or 5, and small enough that a·i never overflows int64.
    multiplier = next(
        m for m in iter(lambda: mix.randrange(1, 2**31), None) if m % 2 and m % 3 and m % 5
    )
    offset = mix.randrange(space) if space < 2**62 else mix.randrange(2**62)
    digits = np.empty((len(indices), width), dtype=np.uint8)
    if space >= 2**62:  # too wide for int64 arithmetic: Python ints, digit by digit
        for row, i in enumerate(indices.tolist()):
            v = multiplier * int(i) + offset
            digits[row] = [alphabet[(v // base**p) % base] for p in reversed(range(width))]
        return digits
    mapped = (indices * multiplier % space + offset) % space
    for p in range(width - 1, -1, -1):
        digits[:, p] = alphabet[mapped % base]
        mapped //= base
    return digits


def _object(values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _free_text(f: FieldSpec) -> bool:
    return f.regex is None and not is_id_pattern(f.format)


def _has_bounds(f: FieldSpec) -> bool:
    return (f.type in NUMERIC or f.type in TEMPORAL) and (
        f.minimum is not None or f.maximum is not None
    )


def _internal_bounds(f: FieldSpec) -> tuple[float, float]:
    lo = f.minimum if f.minimum is not None else -math.inf
    hi = f.maximum if f.maximum is not None else math.inf
    if f.is_money:
        return math.ceil(round(lo * 100, 6)) if lo != -math.inf else lo, math.floor(
            round(hi * 100, 6)
        ) if hi != math.inf else hi
    return lo, hi
