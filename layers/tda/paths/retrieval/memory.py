"""The service's memory: what it retrieves from and learns into, over the vector store and
embedder ports. Every way it cannot serve is a sentence for the response: the store down
(``VectorStoreUnavailableError``), a collection empty, its vectors from another embedding
model (``EmbeddingMismatchError``), the embedding model not installed."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tda.domain.errors import PathUnavailableError, TdaError
from tda.domain.schema.registry import entity_names
from tda.ports.memory import (
    COLLECTIONS,
    Embedder,
    Entry,
    Filters,
    Hit,
    VectorStore,
    refuse_other_model,
)

WRITE_BATCH = 1000  # entries embedded and written at once
OTHER_SCHEMAS = "other schemas"  # stats: the entries of callers' own schemas, together


@dataclass(frozen=True)
class Retrieved:
    """One example retrieved: its entry, its parsed JSON, and how near it was."""

    entry: Entry
    data: Any
    score: float


class Memory:
    def __init__(self, store: VectorStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def check(self, collection: str) -> None:
        """Raise EmbeddingMismatchError unless ``collection`` is empty or holds this embedder's
        vectors (VectorStoreUnavailableError when the store cannot be read)."""
        held = self.store.stamp(collection)
        refuse_other_model(collection, self.store.url, held, self.embedder.stamp)

    def retrieve(
        self,
        collection: str,
        query: str,
        filters: Filters,
        k: int,
        mode: str = "hybrid",
    ) -> list[Retrieved]:
        """Up to ``k`` entries nearest ``query`` that satisfy ``filters``, best first; raises
        PathUnavailableError (why, in a sentence) when none can be: the store down, its vectors
        from another model, nothing stored for ``filters``."""
        self.check(collection)
        hits = self.search(collection, query, filters, k, mode)
        if not hits and self.store.count(collection, filters) == 0:
            what = f" for entity {filters.entity!r}" if filters.entity else ""
            raise PathUnavailableError(
                f"found the {collection} collection empty{what} at {self.store.url} "
                "(load the corpus: tda rag seed)"
            )
        if not hits:
            raise PathUnavailableError(
                f"found nothing in the {collection} collection matching the request ({mode} search)"
            )
        return [Retrieved(h.entry, json.loads(h.entry.data), h.score) for h in hits]

    def search(
        self, collection: str, query: str, filters: Filters, k: int, mode: str = "hybrid"
    ) -> list[Hit]:
        if mode == "keyword":
            return self.store.keyword(collection, query, filters, k)
        vector = self.embedder.embed([query])[0]
        if mode == "vector":
            return self.store.search(collection, vector, filters, k)
        return self.store.hybrid(collection, query, vector, filters, k)

    def add(
        self,
        collection: str,
        entries: Sequence[Entry],
        *,
        new: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Insert or replace ``entries`` by id, embedded here; returns how many. An entry
        already stored keeps its usage count (seeding again resets nothing); ``new`` says the
        caller knows none is stored, and spares the lookup.

        Written ``WRITE_BATCH`` at a time, each batch reported to ``progress(done, total)``: a
        team's 20,000 examples took 87 s and 1 GB embedded at once, with no word until the end.
        A failure leaves the batches before it stored; adding the same entries again is safe,
        as they are upserted by id."""
        for start in range(0, len(entries), WRITE_BATCH):
            self._add_batch(collection, entries[start : start + WRITE_BATCH], new)
            if progress is not None:
                progress(min(start + WRITE_BATCH, len(entries)), len(entries))
        return len(entries)

    def _add_batch(self, collection: str, entries: Sequence[Entry], new: bool) -> None:
        if not new:
            counts = {
                e.id: e.usage_count for e in self.store.get(collection, [e.id for e in entries])
            }
            entries = [
                replace(e, usage_count=max(e.usage_count, counts[e.id])) if e.id in counts else e
                for e in entries
            ]
        vectors = self.embedder.embed([e.text for e in entries])
        self.store.upsert(collection, entries, vectors, self.embedder.stamp)

    def rebuild(self, collection: str) -> int:
        """Every entry of ``collection`` re-embedded with this memory's model (the collection
        is dropped and written again: a store of another model's vectors made usable)."""
        entries = self.store.entries(collection)
        self.store.drop(collection)
        self.add(collection, entries, new=True)
        self.refresh(collection)
        return len(entries)

    def refresh(self, collection: str) -> None:
        refresh = getattr(self.store, "refresh_indexes", None)
        if refresh is not None:
            refresh(collection)

    def used(self, collection: str, ids: Sequence[str]) -> None:
        """Count a reuse of each entry; a store that cannot count now is not a failure."""
        try:
            self.store.add_usage(collection, ids)
        except TdaError:
            return

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per collection: entries, entries per entity, and the embedding model."""
        out: dict[str, dict[str, Any]] = {}
        for collection in COLLECTIONS:
            stamp = self.store.stamp(collection)
            total = self.store.count(collection)
            per_entity = {
                entity: n
                for entity in entity_names()
                if (n := self.store.count(collection, Filters(entity=entity)))
            }
            # A caller's schemas, whatever their names: the store counts by a filter, and
            # lists no names (before, their entries were counted in no entity).
            if others := total - sum(per_entity.values()):
                per_entity[OTHER_SCHEMAS] = others
            out[collection] = {
                "entries": total,
                "by_entity": per_entity,
                "embedding_model": f"{stamp.model_id} ({stamp.dimension}-d)" if stamp else "",
            }
        return out
