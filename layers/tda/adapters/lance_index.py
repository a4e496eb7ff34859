"""An exact vector index held in memory, one per LanceDB table version, and the fusion of a
vector and a keyword ranking.

LanceDB searches a table without a vector index by scanning it from disk: ≈10 ms at 64 rows,
75-90 ms at 100K (p99 133 ms), where a matrix product over the same vectors in memory takes
2-4 ms. An ANN index does not pay at these sizes here (IVF_HNSW_SQ: 60 s to build, 26 ms p50,
recall 0.8). So the store keeps each table's ids, filter columns and unit vectors in memory
for the version it was loaded from (the version is read at every search, ≈0.3 ms: a write by
any process is seen at once), and answers a vector search exactly, as LanceDB would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tda.ports.memory import Filters

INDEXED_COLUMNS = ("id", "domain", "entity", "scenario", "severity", "quality_score", "vector")
_FILTERED = ("domain", "entity", "scenario", "severity")
RRF_K = 60  # reciprocal rank fusion's constant, as LanceDB's own hybrid reranker has it


@dataclass(frozen=True)
class ExactIndex:
    """The rows grouped by entity (a search keeps to one entity almost always: its rows are
    one slice, multiplied without a copy), each filtered column as integer codes."""

    version: int
    positions: np.ndarray  # int64: each row's position in the table (for take_offsets)
    ids: np.ndarray  # object: each row's id
    unit_vectors: np.ndarray  # float32 (rows, dimension), each of length 1 (or all zeros)
    entity_rows: dict[str, tuple[int, int]]  # entity → its rows' slice
    codes: dict[str, tuple[dict[str, int], np.ndarray]]  # column → (value → code, codes)
    quality: np.ndarray  # float64

    @classmethod
    def of(cls, version: int, table: Any) -> ExactIndex:
        """From a pyarrow table with INDEXED_COLUMNS. At 100K rows of 384 dimensions:
        codes by Arrow's dictionary encoding (sorting the strings in numpy took 0.25 s), norms
        without a temporary matrix and the division in place (0.6 s with numpy's norm)."""
        import pyarrow.compute as pc

        codes: dict[str, tuple[dict[str, int], np.ndarray]] = {}
        for name in _FILTERED:
            encoded = pc.dictionary_encode(pc.fill_null(table.column(name), "")).combine_chunks()
            values = encoded.dictionary.to_pylist()
            codes[name] = (
                {str(v): i for i, v in enumerate(values)},
                encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64),
            )
        entities, entity_codes = codes["entity"]
        order = np.argsort(entity_codes, kind="stable")
        bounds = np.searchsorted(entity_codes[order], np.arange(len(entities) + 1))
        entity_rows = {e: (int(bounds[i]), int(bounds[i + 1])) for e, i in entities.items()}
        codes = {name: (known, coded[order]) for name, (known, coded) in codes.items()}
        vectors = table.column("vector").combine_chunks()
        rows = len(vectors)
        dimension = vectors.type.list_size if rows else 0
        flat = vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        unit = flat.reshape(rows, dimension)[order]  # a copy: ours to divide in place
        norms = np.sqrt(np.einsum("ij,ij->i", unit, unit))[:, None]
        np.divide(unit, norms, out=unit, where=norms > 0)
        quality = np.nan_to_num(
            table.column("quality_score").to_numpy(zero_copy_only=False).astype(np.float64)
        )[order]
        ids = table.column("id").to_numpy(zero_copy_only=False)[order]
        return cls(version, order, ids, unit, entity_rows, codes, quality)

    def nearest(self, vector: np.ndarray, filters: Filters, k: int) -> list[tuple[int, str, float]]:
        """The ``k`` rows nearest ``vector`` by cosine among those ``filters`` keep, best
        first: each row's position in the table, its id, and its cosine similarity (LanceDB's
        1 - cosine distance)."""
        start, stop = 0, len(self.ids)
        if filters.entity is not None:
            start, stop = self.entity_rows.get(filters.entity, (0, 0))
        keep = self._kept(filters, start, stop)
        kept = (stop - start) if keep is None else int(keep.sum())
        count = min(k, kept)
        if count <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32)
        length = float(np.linalg.norm(query))
        scores = self.unit_vectors[start:stop] @ (query / length if length else query)
        if keep is not None:
            scores = np.where(keep, scores, -np.inf)
        top = (
            np.argpartition(-scores, count - 1)[:count]
            if count < len(scores)
            else np.arange(len(scores))
        )
        top = top[np.argsort(-scores[top], kind="stable")]
        return [
            (int(self.positions[start + i]), str(self.ids[start + i]), float(scores[i]))
            for i in top
            if scores[i] > -np.inf
        ]

    def _kept(self, filters: Filters, start: int, stop: int) -> np.ndarray | None:
        """Which rows of the slice the filters other than the entity keep (None: all)."""
        keep: np.ndarray | None = None
        for name in _FILTERED:
            wanted = getattr(filters, name)
            if wanted is None or name == "entity":
                continue
            known, coded = self.codes[name]
            code = known.get(wanted, -1)
            match = coded[start:stop] == code
            keep = match if keep is None else keep & match
        if filters.min_quality is not None:
            match = self.quality[start:stop] >= float(filters.min_quality)
            keep = match if keep is None else keep & match
        return keep


def fused(rankings: list[list[str]], k: int) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of rankings (ids, best first): each id scores the sum of
    1 / (RRF_K + rank) over the rankings it is in; the ``k`` best, best first."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, id_ in enumerate(ranking):
            scores[id_] = scores.get(id_, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(scores.items(), key=lambda item: -item[1])[:k]
