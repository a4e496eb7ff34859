"""The vector store on LanceDB: embedded, in a local folder (the default, under ``TDA_HOME``) or
on ``s3://bucket/prefix`` (AWS: no server to run).

What was measured here and is heeded (DESIGN.md):
- a second connection never sees another writer's rows unless ``read_consistency_interval`` is
  set: it is 0 (every read checks for a newer version), so a warm process sees a ``tda rag add``
  at once;
- filters are applied before the vector search (``prefilter``), so a rare entity still gets k;
- the full-text index is built on the first write and folded in by ``optimize()`` after bulk
  writes (rows written after it are still found, unindexed);
- a connection is never used across ``fork`` (3 of 4 forked children segfaulted): one made in
  another process is dropped and remade.
Every failure to reach or read the store is ``VectorStoreUnavailableError``.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np

from tda.domain.errors import VectorStoreUnavailableError
from tda.ports.memory import EmbeddingMismatchError, Entry, Filters, Hit, ModelStamp

_STAMPS = "_stamps"
_TEXT_FIELDS = ("id", "domain", "entity", "text", "data", "scenario", "severity", "created_at")


def sql_text(value: str) -> str:
    """A string literal for LanceDB's SQL filter (quotes doubled: a caller's domain is free text)."""
    return "'" + value.replace("'", "''") + "'"


def where_clause(filters: Filters) -> str | None:
    """``filters`` as a LanceDB SQL predicate (None: no filter)."""
    parts = [
        f"{name} = {sql_text(value)}"
        for name, value in (
            ("domain", filters.domain),
            ("entity", filters.entity),
            ("scenario", filters.scenario),
            ("severity", filters.severity),
        )
        if value is not None
    ]
    if filters.min_quality is not None:
        parts.append(f"quality_score >= {float(filters.min_quality)!r}")
    return " AND ".join(parts) if parts else None


class LanceStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._db: Any = None
        self._pid = 0
        self._fts_ready: set[str] = set()

    # ------------------------------------------------------------------ connection

    def _connect(self) -> Any:
        with self._lock:
            if self._db is None or self._pid != os.getpid():
                try:
                    import lancedb

                    if "://" not in self.url:
                        os.makedirs(self.url, exist_ok=True)
                    self._db = lancedb.connect(
                        self.url, read_consistency_interval=timedelta(seconds=0)
                    )
                except Exception as exc:  # lancedb raises OSError, ValueError, its own errors
                    raise VectorStoreUnavailableError(
                        f"vector store {self.url} unreachable: {exc}"
                    ) from exc
                self._pid = os.getpid()
                self._fts_ready = set()
            return self._db

    def _table(self, collection: str) -> Any:
        db = self._connect()
        try:
            names = _table_names(db)
            return db.open_table(collection) if collection in names else None
        except Exception as exc:
            raise VectorStoreUnavailableError(f"vector store {self.url}: {exc}") from exc

    # ------------------------------------------------------------------ the port

    def stamp(self, collection: str) -> ModelStamp | None:
        table = self._table(_STAMPS)
        if table is None:
            return None
        rows = _run(lambda: table.search().where(f"collection = {sql_text(collection)}").to_list())
        if not rows:
            return None
        return ModelStamp(str(rows[0]["model_id"]), int(rows[0]["dimension"]))

    def upsert(
        self, collection: str, entries: Sequence[Entry], vectors: np.ndarray, stamp: ModelStamp
    ) -> None:
        if not entries:
            return
        held = self.stamp(collection)
        if held is not None and held != stamp:
            raise EmbeddingMismatchError(
                f"collection {collection!r} holds vectors of {held.model_id} ({held.dimension}-d);"
                f" these are {stamp.model_id} ({stamp.dimension}-d): re-embed the collection"
                " (tda rag seed --rebuild) or use the same model"
            )
        rows = [_row(e, v) for e, v in zip(entries, vectors, strict=True)]
        db = self._connect()

        def write() -> None:
            if collection not in _table_names(db):
                db.create_table(collection, schema=_schema(stamp.dimension), exist_ok=True)
            table = db.open_table(collection)
            table.merge_insert(
                "id"
            ).when_matched_update_all().when_not_matched_insert_all().execute(rows)
            if held is None:
                self._stamp(collection, stamp)

        _run(write)

    def refresh_indexes(self, collection: str) -> None:
        """(Re)build the keyword index and fold new rows into it (after bulk writes)."""
        table = self._table(collection)
        if table is None:
            return
        _run(lambda: _build_fts(table))
        self._fts_ready.add(collection)

    def search(self, collection: str, vector: np.ndarray, filters: Filters, k: int) -> list[Hit]:
        table = self._table(collection)
        if table is None:
            return []
        query = table.search(np.asarray(vector, dtype=np.float32), vector_column_name="vector")
        query = _filtered(query.distance_type("cosine"), filters).limit(k)
        return [Hit(_entry(r), 1.0 - float(r["_distance"])) for r in _run(query.to_list)]

    def keyword(self, collection: str, text: str, filters: Filters, k: int) -> list[Hit]:
        table = self._table(collection)
        if table is None or not text.strip():
            return []
        self._ensure_fts(collection, table)
        query = _filtered(table.search(text, query_type="fts"), filters).limit(k)
        return [Hit(_entry(r), float(r["_score"])) for r in _run(query.to_list)]

    def hybrid(
        self, collection: str, text: str, vector: np.ndarray, filters: Filters, k: int
    ) -> list[Hit]:
        table = self._table(collection)
        if table is None:
            return []
        if not text.strip():
            return self.search(collection, vector, filters, k)
        self._ensure_fts(collection, table)
        query = (
            table.search(query_type="hybrid")
            .vector(np.asarray(vector, dtype=np.float32))
            .text(text)
        )
        query = _filtered(query, filters).limit(k)
        return [Hit(_entry(r), float(r["_relevance_score"])) for r in _run(query.to_list)]

    def count(self, collection: str, filters: Filters | None = None) -> int:
        table = self._table(collection)
        if table is None:
            return 0
        where = where_clause(filters) if filters is not None else None
        return int(_run(lambda: table.count_rows(where) if where else table.count_rows()))

    def get(self, collection: str, ids: Sequence[str]) -> list[Entry]:
        table = self._table(collection)
        if table is None or not ids:
            return []
        where = "id IN (" + ", ".join(sql_text(i) for i in ids) + ")"
        rows = _run(lambda: table.search().where(where).limit(len(ids)).to_list())
        return [_entry(r) for r in rows]

    def add_usage(self, collection: str, ids: Sequence[str]) -> None:
        table = self._table(collection)
        if table is None or not ids:
            return
        where = "id IN (" + ", ".join(sql_text(i) for i in sorted(set(ids))) + ")"
        _run(lambda: table.update(where=where, values_sql={"usage_count": "usage_count + 1"}))

    # ------------------------------------------------------------------ helpers

    def _stamp(self, collection: str, stamp: ModelStamp) -> None:
        import pyarrow as pa

        db = self._connect()
        schema = pa.schema(
            [("collection", pa.string()), ("model_id", pa.string()), ("dimension", pa.int32())]
        )
        if _STAMPS not in _table_names(db):
            db.create_table(_STAMPS, schema=schema, exist_ok=True)
        table = db.open_table(_STAMPS)
        row = {"collection": collection, "model_id": stamp.model_id, "dimension": stamp.dimension}
        table.merge_insert(
            "collection"
        ).when_matched_update_all().when_not_matched_insert_all().execute([row])

    def _ensure_fts(self, collection: str, table: Any) -> None:
        if collection in self._fts_ready:
            return
        indices = _run(table.list_indices)
        if not any("text" in getattr(i, "columns", []) for i in indices):
            _run(lambda: _build_fts(table))
        self._fts_ready.add(collection)


def _table_names(db: Any) -> list[str]:
    listed = db.list_tables()
    return list(getattr(listed, "tables", listed))


def _build_fts(table: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_fts_index's deprecation: same index either way
        table.create_fts_index("text", replace=True)


def _filtered(query: Any, filters: Filters) -> Any:
    where = where_clause(filters)
    return query.where(where, prefilter=True) if where else query


def _run(call: Any) -> Any:
    try:
        return call()
    except EmbeddingMismatchError:
        raise
    except Exception as exc:  # an unreachable bucket, a corrupt folder: the store is down
        raise VectorStoreUnavailableError(f"vector store read/write failed: {exc}") from exc


def _schema(dimension: int) -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            *[(name, pa.string()) for name in _TEXT_FIELDS],
            ("quality_score", pa.float64()),
            ("usage_count", pa.int64()),
            ("vector", pa.list_(pa.float32(), dimension)),
        ]
    )


def _row(entry: Entry, vector: np.ndarray) -> dict[str, Any]:
    return {
        "id": entry.id,
        "domain": entry.domain,
        "entity": entry.entity,
        "text": entry.text,
        "data": entry.data,
        "scenario": entry.scenario,
        "severity": entry.severity,
        "created_at": entry.created_at,
        "quality_score": float(entry.quality_score),
        "usage_count": int(entry.usage_count),
        "vector": np.asarray(vector, dtype=np.float32).tolist(),
    }


def _entry(row: dict[str, Any]) -> Entry:
    return Entry(
        id=row["id"],
        domain=row["domain"],
        entity=row["entity"],
        text=row["text"],
        data=row["data"],
        scenario=row["scenario"] or "",
        severity=row["severity"] or "",
        quality_score=float(row["quality_score"] or 0.0),
        usage_count=int(row["usage_count"] or 0),
        created_at=row["created_at"] or "",
    )
