"""Warm slabs: the fast path's small unseeded requests served from one pre-made batch.

A 10-record request spends about 2 ms in the fixed cost of a batch (hundreds of numpy calls on
tiny arrays) and 3 µs per record on the records themselves. A long-lived process (the gRPC shim,
a warm Lambda container) therefore makes a *slab* per request shape, 64 records at first and
doubling up to 256 while the shape keeps being asked for, generates, validates and scores it
once, and hands out consecutive slices of it. Every slice:

- is a set of records no other response got (each slice is handed out once);
- was validated like any synchronous response, and is scored on its own records;
- carries a slab seed (``generation/slabs.py``): sending that seed back makes the slab again and
  returns the same records, byte for byte, so unseeded responses stay replayable.

Only requests with neither a seed (a seeded request must be made from its seed) nor scenarios,
and of at most ``MAX_TAKE`` records, are served here. Nothing depends on the wall clock, so a
slab does not go stale; memory is bounded by ``MAX_SHAPES`` slabs of ``MAX_SLAB_BYTES``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from tda.domain.coherence import CoherenceReport, ScoredBatch
from tda.domain.limits import record_bounds
from tda.domain.plan import GenerationPlan, fresh_seed
from tda.domain.records import assemble
from tda.domain.schema.spec import EntitySpec
from tda.domain.validation import require_valid
from tda.paths.traditional.engine import BatchGenerator, fits_uniquely, slab_plan
from tda.paths.traditional.slabs import BASE_BITS, MIN_SLAB_LOG2, slab_seed

MAX_TAKE = 64  # a bigger request would get only a few slices out of a slab: made on its own
# A slab is made in one go while its takers wait (~30 µs a record): 256 records keep that wait
# under 10 ms, and the ~2 ms fixed cost of a batch is then already spread over 4-25 requests.
MAX_SLAB = 256
MAX_SHAPES = 32  # request shapes (schema + locale) kept warm, least recently used dropped
# What one shape may keep: a full slab's JSON at its largest (every registered entity's fits:
# an order is at most 3.8 KB), and a schema of this many characters. A caller's records may be
# a MiB each: asked for 10 at a time they were made 64 at a time and kept, 64 MB a shape (2 GB
# for 32); a schema of a MiB of enum values kept 4 MB. Those are made for their request alone.
MAX_SLAB_BYTES = 1 << 20
MAX_SHAPE_CHARS = 1 << 16


@dataclass
class _Slab:
    base: int
    size: int
    records: list[dict[str, Any]]  # without the _index/_scenario columns, added per slice
    scored: ScoredBatch
    taken: int = 0


@dataclass(frozen=True)
class Slice:
    records: list[dict[str, Any]]
    coherence: CoherenceReport
    seed: int  # the slab seed that makes exactly these records again


class _Shape:
    """One request shape's current slab, and the lock its takers queue on."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.slab: _Slab | None = None


class Reservoir:
    def __init__(self) -> None:
        self._shapes: OrderedDict[tuple[EntitySpec, str], _Shape] = OrderedDict()
        self._lock = threading.Lock()  # guards _shapes only

    def take(self, plan: GenerationPlan) -> Slice | None:
        """``plan.count`` fresh records of ``plan``'s shape, or None if it is not served here.

        ``plan`` must be an unseeded plan without scenarios (the caller knows the request).
        """
        (scenario,) = plan.scenarios
        if plan.count > MAX_TAKE or plan.window is not None or not _small(plan.spec):
            return None
        key = (plan.spec, plan.locale)
        with self._lock:
            shape = self._shapes.get(key)
            if shape is None:
                shape = self._shapes[key] = _Shape()
            self._shapes.move_to_end(key)
            while len(self._shapes) > MAX_SHAPES:
                self._shapes.popitem(last=False)
        # Takers of a used-up slab wait for the one refill rather than each making a slab of
        # their own (under 50 concurrent callers, that stampede cost 6 slabs per refill).
        with shape.lock:
            slab = shape.slab
            if slab is None or slab.taken + plan.count > slab.size:
                size = _next_size(slab.size if slab is not None else 0, plan.count)
                if not fits_uniquely(plan.spec, size):
                    return None
                slab = shape.slab = _make(plan, size)
            return _cut(slab, plan.count, scenario.name)


def _small(spec: EntitySpec) -> bool:
    """Whether a shape is small enough to keep warm (``MAX_SLAB_BYTES``, ``MAX_SHAPE_CHARS``)."""
    return (
        spec.footprint <= MAX_SHAPE_CHARS and record_bounds(spec).bytes * MAX_SLAB <= MAX_SLAB_BYTES
    )


def _cut(slab: _Slab, count: int, scenario: str) -> Slice:
    """The next ``count`` records of ``slab`` (called under its shape's lock)."""
    start = slab.taken
    slab.taken += count
    records = [
        {"_index": i, "_scenario": scenario, **record}
        for i, record in enumerate(slab.records[start : start + count])
    ]
    return Slice(
        records,
        slab.scored.report(start, start + count),
        slab_seed(slab.base, slab.size, start),
    )


def _next_size(previous: int, count: int) -> int:
    """Double while the shape keeps being asked for; at least 4 requests' worth of records."""
    wanted = max(previous * 2, 4 * count, 1 << MIN_SLAB_LOG2)
    return min(1 << (wanted - 1).bit_length(), MAX_SLAB)


def _make(plan: GenerationPlan, size: int) -> _Slab:
    base = fresh_seed(BASE_BITS)
    # The very batch a slab seed's replay makes (engine.BatchGenerator._window_batch).
    columns = BatchGenerator(slab_plan(plan, base, size)).batch(0).columns
    records = assemble(columns, plan.spec, {})
    require_valid(plan.spec, records)
    return _Slab(base, size, records, ScoredBatch.of(plan.spec, columns))
