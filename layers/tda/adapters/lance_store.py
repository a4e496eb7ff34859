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
Opened tables are kept (opening one lists the folder: ~2 ms a call, four calls a request); a
read that fails on a kept table reopens it once, so a table another process dropped and
re-created is found again. A collection's model stamp is re-read at most every
``STAMP_SECONDS``.
Every write is a new version of its table, and LanceDB keeps every version until told: counting
a reuse on every request grew a folder by 3 files (≈24 KB) a request. Every TIDY_EVERY_WRITES
writes to a table, this process folds it (compaction, index update) and removes the versions
replaced more than ``versions_kept_seconds`` ago (a reader in another process may still be
reading one: the default keeps a minute's).
A local folder's disk keeps its reserve (``MIN_FREE_DISK_BYTES``): no write goes past it.
A vector search is answered from an exact index kept in memory per table version
(``lance_index``); reuses are counted in a table of their own (``_usage``), so that version
moves only when the entries do.
Every failure to reach or read the store is ``VectorStoreUnavailableError``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from tda.adapters.disk_reserve import DiskReserve
from tda.adapters.lance_index import INDEXED_COLUMNS, ExactIndex, fused
from tda.adapters.lance_usage import (
    USAGE,
    fold,
    id_in,
    new_uses,
    sql_text,
    summed,
    usage_schema,
    usage_where,
    with_events,
)
from tda.adapters.s3_lease import LeaseBusyError, S3Leases
from tda.adapters.store_waits import StoreWaits, in_a_thread
from tda.deferred_models import built_at_first_use
from tda.domain.errors import VectorStoreUnavailableError
from tda.ports.memory import (
    EmbeddingMismatchError,
    Entry,
    Filters,
    Hit,
    ModelStamp,
    refuse_other_model,
)

logger = logging.getLogger("tda.memory")

_STAMPS = "_stamps"
STAMP_SECONDS = 5.0  # how stale a warm process's view of a collection's model may be
_TEXT_FIELDS = ("id", "domain", "entity", "text", "data", "scenario", "severity", "created_at")
_ENTRY_FIELDS = [*_TEXT_FIELDS, "quality_score", "usage_count"]


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


LOCKS_FOLDER = "_locks"  # beside the tables (LanceDB lists only *.lance folders as tables)
TIDY_EVERY_WRITES = 20  # LanceDB's own rule of thumb: optimize after about 20 modifications
# What a write may take at least (a new version's manifest, a deletion file, index files).
WRITE_FLOOR_BYTES = 64 << 10


class LanceStore:
    def __init__(
        self,
        url: str,
        versions_kept_seconds: float = 60.0,
        min_free_bytes: int | None = None,
        request_timeout_seconds: float = 5.0,
    ) -> None:
        """``versions_kept_seconds``: how long a replaced version of a table stays readable;
        ``min_free_bytes``: what a local folder's disk keeps free (None: DiskReserve's default);
        ``request_timeout_seconds``: an object store's (``s3://``) request.
        """
        self.url = url
        self.request_timeout = request_timeout_seconds
        self.versions_kept = timedelta(seconds=versions_kept_seconds)
        self.reserve = None if "://" in url else DiskReserve(Path(url), min_free_bytes)
        self.lock_dir = None if "://" in url else Path(url) / LOCKS_FOLDER
        self.leases = S3Leases(url) if url.startswith("s3://") else None
        self._writes: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._db: Any = None
        self._pid = 0
        self._fts_ready: set[str] = set()
        self._tables: dict[str, Any] = {}
        self._stamps: dict[str, tuple[float, ModelStamp]] = {}
        self._indexes: dict[str, ExactIndex] = {}
        self._seen: dict[str, int] = {}  # collection → the version last searched unindexed
        self._loading = threading.Lock()  # one load of an index at a time
        self._halves: ThreadPoolExecutor  # a hybrid search's keyword halves (_connect)
        self._usage_ready = False  # the _usage table is there, with its event column
        self._waits = StoreWaits(url, request_timeout_seconds)
        self._pending: tuple[Future[Any], int] | None = None  # an object store's connect, pid

    # ------------------------------------------------------------------ connection

    def _connect(self) -> Any:
        with self._lock:
            self._waits.refuse_while_down()
            if self._db is None or self._pid != os.getpid():
                try:
                    self._db = self._opened()
                except VectorStoreUnavailableError:
                    raise  # given up on at the deadline
                except Exception as exc:  # lancedb raises OSError, ValueError, its own errors
                    unreachable = f"vector store {self.url} unreachable: {exc}"
                    self._waits.went_down(unreachable)
                    raise VectorStoreUnavailableError(unreachable) from exc
                self._waits.answered()
                self._pid = os.getpid()
                self._fts_ready = set()
                self._tables = {}
                self._stamps = {}
                self._indexes = {}
                self._seen = {}
                self._usage_ready = False
                # A pool's threads do not survive a fork (LanceDB remakes its own runtime in a
                # forked child, as experimental): a new process makes its own pool.
                self._halves = ThreadPoolExecutor(4, thread_name_prefix="tda-hybrid")
            return self._db

    def _opened(self) -> Any:
        """A LanceDB connection. An object store's is waited for until the deadline
        (store_waits); its tries go on in a thread of their own, and a connection they make
        after all is the next request's (once the store is no longer taken as down)."""
        with built_at_first_use():  # its namespace client's models: ≈0.5 s
            import lancedb

        def connect() -> Any:
            return lancedb.connect(
                self.url,
                read_consistency_interval=timedelta(seconds=0),
                storage_options=object_store_options(self.url, self.request_timeout),
            )

        if "://" not in self.url:
            os.makedirs(self.url, exist_ok=True)
            return connect()
        pending = self._pending
        if pending is None or pending[1] != os.getpid() or _failed(pending[0]):
            self._pending = pending = (in_a_thread(connect, "tda-lance-connect"), os.getpid())
        return self._waits.waited(pending[0])

    def _table(self, collection: str) -> Any:
        db = self._connect()
        table = self._tables.get(collection)
        if table is not None:
            return table
        try:
            names = _table_names(db)
            if collection not in names:
                return None  # not kept: another process may create it
            table = self._tables[collection] = db.open_table(collection)
            return table
        except Exception as exc:
            raise VectorStoreUnavailableError(f"vector store {self.url}: {exc}") from exc

    def _read(self, collection: str, read: Any, empty: Any) -> Any:
        """``read(table)``, or ``empty`` when the collection does not exist; on an object
        store, within the deadline (store_waits)."""
        self._connect()  # waited for on its own, a try shared by the requests waiting for it
        return self._waits.within_deadline(lambda: self._read_now(collection, read, empty))

    def _read_now(self, collection: str, read: Any, empty: Any) -> Any:
        """A kept table that fails is reopened once (another process may have dropped and
        re-created it)."""
        for attempt in range(2):
            table = self._table(collection)
            if table is None:
                return empty
            try:
                return _run(lambda t=table: read(t))
            except VectorStoreUnavailableError:
                self._tables.pop(collection, None)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ the port

    def stamp(self, collection: str) -> ModelStamp | None:
        kept = self._stamps.get(collection)
        if kept is not None and time.monotonic() - kept[0] < STAMP_SECONDS:
            return kept[1]
        where = f"collection = {sql_text(collection)}"
        rows = self._read(_STAMPS, lambda t: t.search().where(where).to_list(), [])
        if not rows:
            return None
        stamp = ModelStamp(str(rows[0]["model_id"]), int(rows[0]["dimension"]))
        self._stamps[collection] = (time.monotonic(), stamp)
        return stamp

    def upsert(
        self, collection: str, entries: Sequence[Entry], vectors: np.ndarray, stamp: ModelStamp
    ) -> None:
        if not entries:
            return
        held = self.stamp(collection)
        refuse_other_model(collection, self.url, held, stamp)
        rows = [_row(e, v) for e, v in zip(entries, vectors, strict=True)]
        what = f"{len(rows)} entries" if len(rows) > 1 else "an entry"
        self._check_room(what, sum(_row_bytes(r) for r in rows))
        db = self._connect()

        def write() -> None:
            with self._writing(collection):
                if collection not in _table_names(db):
                    db.create_table(collection, schema=_schema(stamp.dimension), exist_ok=True)
                table = db.open_table(collection)
                for row, base in zip(rows, self._bases(collection, table, entries), strict=True):
                    row["usage_count"] = base
                table.merge_insert(
                    "id"
                ).when_matched_update_all().when_not_matched_insert_all().execute(rows)
                if held is None:
                    self._stamp(collection, stamp)
                    self._stamps[collection] = (time.monotonic(), stamp)
                self._wrote(collection, table)

        _run(write)

    def _bases(self, collection: str, table: Any, entries: Sequence[Entry]) -> list[int]:
        """The count each entry is written with, the reuses in _usage left out (they stay
        there: one counted meanwhile is not lost). An entry comes with its whole count
        (Memory.add keeps it), or with 0 from a learner that found it new while another
        request wrote it and a third reused it: the count already stored is kept then."""
        ids = [e.id for e in entries]
        counted = self._uses(collection, ids)
        where = id_in(ids)
        stored = {
            r["id"]: int(r["usage_count"] or 0)
            for r in table.search()
            .where(where)
            .select(["id", "usage_count"])
            .limit(len(ids))
            .to_list()
        }
        return [max(e.usage_count - counted.get(e.id, 0), stored.get(e.id, 0), 0) for e in entries]

    def refresh_indexes(self, collection: str) -> None:
        """(Re)build the keyword index and fold new rows into it (after bulk writes)."""
        table = self._table(collection)
        if table is None:
            return
        with self._writing(collection):
            _run(lambda: _build_fts(table))
            self._fts_ready.add(collection)
            self._tidy(table)

    # A hit's entry has the usage count it was written with: the reuses counted since are
    # added by get and entries (a lookup in the usage table: ≈5 ms a search for a number no
    # search uses).

    def search(self, collection: str, vector: np.ndarray, filters: Filters, k: int) -> list[Hit]:
        return self._nearest(collection, vector, filters, k)

    def keyword(self, collection: str, text: str, filters: Filters, k: int) -> list[Hit]:
        return self._by_keyword(collection, text, filters, k)

    def hybrid(
        self, collection: str, text: str, vector: np.ndarray, filters: Filters, k: int
    ) -> list[Hit]:
        """LanceDB's hybrid search, with the vector half from the exact index: the ``k``
        nearest and the ``k`` best by keyword (BM25), fused by reciprocal rank."""
        if not text.strip():
            return self.search(collection, vector, filters, k)
        # The keyword half runs in LanceDB's engine while the vector half multiplies here:
        # both let go of the GIL, so the search takes about the longer of the two.
        self._connect()  # this process's pool (a forked child's is made anew)
        keyword_half = self._halves.submit(self._by_keyword, collection, text, filters, k)
        nearest = self._nearest(collection, vector, filters, k)
        by_keyword = keyword_half.result()
        ranked = fused([[h.entry.id for h in nearest], [h.entry.id for h in by_keyword]], k)
        found = {h.entry.id: h.entry for h in (*nearest, *by_keyword)}
        return [Hit(found[id_], score) for id_, score in ranked]

    def _nearest(self, collection: str, vector: np.ndarray, filters: Filters, k: int) -> list[Hit]:
        """The ``k`` nearest (the usage counts they were written with): from the exact index
        once the table's version has been searched before, from LanceDB's own scan until then
        (a table written between every two searches, as learning on every request does, would
        be loaded again for each: 17 ms at 64 rows, where the scan takes ≈10 ms)."""

        def read(table: Any) -> list[Hit] | None:
            index = self._index(collection, table)
            if index is None:
                query = table.search(np.asarray(vector, np.float32), vector_column_name="vector")
                query = _filtered(query.distance_type("cosine"), filters).limit(k)
                return [Hit(_entry(r), 1.0 - float(r["_distance"])) for r in query.to_list()]
            picks = index.nearest(vector, filters, k)
            if not picks:
                return []
            at = table.take_offsets([position for position, _, _ in picks])
            rows = {r["id"]: r for r in at.select(_ENTRY_FIELDS).to_list()}
            if any(id_ not in rows for _, id_, _ in picks):
                return None  # not the table indexed: dropped and made again elsewhere
            return [Hit(_entry(rows[id_]), score) for _, id_, score in picks]

        for _ in range(2):
            hits: list[Hit] | None = self._read(collection, read, [])
            if hits is not None:
                return hits
            self._forget(collection)
        raise VectorStoreUnavailableError(
            f"vector store {self.url}: the {collection} table changed at every read"
        )

    def _by_keyword(self, collection: str, text: str, filters: Filters, k: int) -> list[Hit]:
        if not text.strip():
            return []

        def read(table: Any) -> list[Hit]:
            self._ensure_fts(collection, table)
            query = _filtered(table.search(text, query_type="fts"), filters).limit(k)
            return [Hit(_entry(r), float(r["_score"])) for r in query.to_list()]

        result: list[Hit] = self._read(collection, read, [])
        return result

    def _index(self, collection: str, table: Any) -> ExactIndex | None:
        """The table's exact index; None the first time a version is searched (see
        ``_nearest``), loaded the second."""
        version = table.version
        kept = self._indexes.get(collection)
        if kept is not None and kept.version == version:
            return kept
        if self._seen.get(collection) != version:
            self._seen[collection] = version
            return None
        with self._loading:
            kept = self._indexes.get(collection)
            if kept is None or kept.version != version:
                kept = ExactIndex.of(version, table.to_arrow().select(INDEXED_COLUMNS))
                self._indexes[collection] = kept
            return kept

    def _forget(self, collection: str) -> None:
        """Drop the kept table and its index: another process dropped the table and made it
        again, and its version may be the same number."""
        self._tables.pop(collection, None)
        self._indexes.pop(collection, None)
        self._seen.pop(collection, None)

    def count(self, collection: str, filters: Filters | None = None) -> int:
        where = where_clause(filters) if filters is not None else None
        return int(
            self._read(collection, lambda t: t.count_rows(where) if where else t.count_rows(), 0)
        )

    def get(self, collection: str, ids: Sequence[str]) -> list[Entry]:
        if not ids:
            return []
        where = id_in(ids)
        rows = self._read(
            collection, lambda t: t.search().where(where).limit(len(ids)).to_list(), []
        )
        return self._with_usage(collection, [_entry(r) for r in rows], ids)

    def entries(self, collection: str) -> list[Entry]:
        rows = self._read(collection, lambda t: t.to_arrow().select(_ENTRY_FIELDS).to_pylist(), [])
        return self._with_usage(collection, [_entry(r) for r in rows], None)

    def drop(self, collection: str) -> None:
        db = self._connect()

        def drop() -> None:
            with self._writing(collection):
                if collection in _table_names(db):
                    db.drop_table(collection)
                for kept in (_STAMPS, USAGE):
                    with self._writing(kept):
                        if kept in _table_names(db):
                            db.open_table(kept).delete(f"collection = {sql_text(collection)}")

        _run(drop)
        self._forget(collection)
        self._stamps.pop(collection, None)
        self._fts_ready.discard(collection)

    # ------------------------------------------------------------------ usage counts

    # A reuse is counted in a table of its own, added on read to the count an entry was
    # written with: counted in the entries' table, every request made a new version of it, and
    # the exact index would have been loaded again for each. Each reuse is a row appended
    # there, with no lock (lance_usage).

    def add_usage(self, collection: str, ids: Sequence[str]) -> None:
        unique = sorted(set(ids))
        if not unique:
            return
        self._check_room("a usage count", 0)
        db = self._connect()

        def count() -> None:
            table = self._usage_table(db)
            table.add(new_uses(collection, unique))
            self._writes[USAGE] += 1
            if self._writes[USAGE] % TIDY_EVERY_WRITES == 0:
                self._fold_usage(table)

        _run(count)

    def _usage_table(self, db: Any) -> Any:
        table = self._table(USAGE)
        # Checked once a connection: there as it should be, no lock (a lease on S3) to take.
        if table is None or not (self._usage_ready or "event" in table.schema.names):
            try:
                with self._writing(USAGE):
                    if USAGE not in _table_names(db):
                        db.create_table(USAGE, schema=usage_schema(), exist_ok=True)
                    self._tables.pop(USAGE, None)
                    table = with_events(self._table(USAGE))
            except LeaseBusyError:
                # Processes counting at once all found no table and lined up to make it; the
                # one that did folds as it counts, taking the lease again and again: the table
                # it made is as good (seen under load: the others' waits ran out).
                self._tables.pop(USAGE, None)
                table = self._table(USAGE)
                if table is None or "event" not in table.schema.names:
                    raise
        self._usage_ready = True
        return table

    def _fold_usage(self, table: Any) -> None:
        """Each entry's reuse rows summed into one, and the table tidied: housekeeping, put
        off (not waited for) while another process does it."""
        if self.lock_dir is None and self.leases is None:
            return  # no lock to fold under: the rows stay, summed on read
        try:
            with self._writing(USAGE, wait=0.0):
                try:
                    fold(table)
                except Exception as exc:  # a commit conflict: the rows are as they were
                    logger.warning(
                        "vector store %s: folding reuse counts put off: %s", self.url, exc
                    )
                self._tidy(table)
        except LeaseBusyError:
            return

    def _uses(self, collection: str, ids: Sequence[str] | None) -> dict[str, int]:
        where = usage_where(collection, ids)
        rows = self._read(USAGE, lambda t: t.search().where(where).limit(None).to_list(), [])
        return summed(rows)

    def _with_usage(
        self, collection: str, entries: list[Entry], ids: Sequence[str] | None
    ) -> list[Entry]:
        if not entries:
            return entries
        uses = self._uses(collection, ids)
        return [
            replace(e, usage_count=e.usage_count + uses[e.id]) if e.id in uses else e
            for e in entries
        ]

    # ------------------------------------------------------------------ housekeeping

    @contextmanager
    def _writing(self, table: str, wait: float | None = None) -> Iterator[None]:
        """Hold the table's write lock (a local folder's: a lock file per table, ``flock``; an
        ``s3://`` store's: a lease object, s3_lease): every process's and thread's writes to
        one table, its tidying included, one at a time. ``wait`` 0: LeaseBusyError at once if
        another holds it (None: wait as long as a write may).

        Without it, a table created twice lost rows, and a tidy preempted by another's
        write left its rewritten files behind, removed only a week later.
        """
        if self.leases is not None:
            with self.leases.held(table, wait):
                yield
            return
        if self.lock_dir is None:
            yield
            return
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        # A descriptor of its own per hold: flock excludes other descriptors, this process's
        # other threads' included.
        fd = os.open(self.lock_dir / f"{table}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if wait is None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise LeaseBusyError(
                        f"vector store {self.url}: {table} is being written"
                    ) from None
            yield
        finally:
            os.close(fd)  # and the lock with it

    def _check_room(self, what: str, nbytes: int) -> None:
        if self.reserve is not None and self.reserve.room() < max(nbytes, WRITE_FLOOR_BYTES):
            raise VectorStoreUnavailableError(
                f"{self.reserve.reached('the vector store')}: {what} not written; free some "
                "room, or set VECTOR_STORE_URL to a folder on a larger disk"
            )

    def _wrote(self, collection: str, table: Any) -> None:
        self._writes[collection] += 1
        if self._writes[collection] % TIDY_EVERY_WRITES == 0:
            self._tidy(table)

    def _tidy(self, table: Any) -> None:
        """Fold the table's small files and drop its versions replaced long enough ago.
        Housekeeping: when it fails, the table is as it was, and the next tidy tries again.
        Another process's commit in between is usual (two `tda serve` workers learning: 6 of
        ≈24 tidies); one more try at once gets past it."""
        for attempt in range(2):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "0 keeps no older version": as configured
                    table.optimize(cleanup_older_than=self.versions_kept)
                return
            except Exception as exc:  # lancedb's own errors (a commit conflict), OSError
                if attempt:
                    logger.warning(
                        "vector store %s: tidying %s put off for %d writes: %s",
                        *(self.url, table.name, TIDY_EVERY_WRITES, exc),
                    )

    # ------------------------------------------------------------------ helpers

    def _stamp(self, collection: str, stamp: ModelStamp) -> None:
        import pyarrow as pa

        db = self._connect()
        schema = pa.schema(
            [("collection", pa.string()), ("model_id", pa.string()), ("dimension", pa.int32())]
        )
        row = {"collection": collection, "model_id": stamp.model_id, "dimension": stamp.dimension}
        with self._writing(_STAMPS):
            if _STAMPS not in _table_names(db):
                db.create_table(_STAMPS, schema=schema, exist_ok=True)
            db.open_table(_STAMPS).merge_insert(
                "collection"
            ).when_matched_update_all().when_not_matched_insert_all().execute([row])

    def _ensure_fts(self, collection: str, table: Any) -> None:
        if collection in self._fts_ready:
            return
        indices = _run(table.list_indices)
        if not any("text" in getattr(i, "columns", []) for i in indices):
            with self._writing(collection):
                _run(lambda: _build_fts(table))
        self._fts_ready.add(collection)


def _failed(future: Future[Any]) -> bool:
    return future.done() and future.exception() is not None


def object_store_options(url: str, timeout_seconds: float) -> dict[str, str] | None:
    """An object store's requests bounded (None: a local folder). LanceDB's S3 client waits
    30 s a request and retries it ten times, and LanceDB tries a manifest's listing six times
    over: a store whose endpoint never answered held a request for minutes (still waiting
    after 400 s), where a store down is a fallback. One try a request (LanceDB's own six
    tries of a listing stay: ≈6 timeouts and 4 s of backoff, which no request waits for:
    store_waits)."""
    if "://" not in url:
        return None
    return {
        "timeout": f"{timeout_seconds}s",
        "connect_timeout": f"{min(timeout_seconds, 2.0)}s",
        "client_max_retries": "0",
    }


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


def _row_bytes(row: dict[str, Any]) -> int:
    """About what a row takes on disk: its text, its vector, and the columns' framing."""
    text = sum(len(v.encode()) for v in row.values() if isinstance(v, str))
    return text + 4 * len(row["vector"]) + 256


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
