"""The memory ports: a vector store of stored examples and the embedder that makes their vectors.

Three collections, as the seeds name them: ``patterns`` (good examples per domain, entity and
scenario, with a quality score and a usage count), ``defects`` (data that triggered real bugs,
with a description and a severity) and ``production`` (anonymised records with distribution
statistics). Adapters: LanceDB in a folder or on ``s3://`` (``tda.adapters.lance_store``) and
Weaviate (``tda.adapters.weaviate_store``), chosen by ``VECTOR_STORE_URL``.

Each collection records the embedding model its vectors came from: a query embedded by another
model is refused (``EmbeddingMismatchError``), never answered with meaningless neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tda.domain.errors import TdaError

PATTERNS = "patterns"
DEFECTS = "defects"
PRODUCTION = "production"
COLLECTIONS = (PATTERNS, DEFECTS, PRODUCTION)


class EmbeddingMismatchError(TdaError, RuntimeError):
    """A collection's vectors came from another embedding model (or dimension) than the one
    asking: searching it would compare unrelated spaces."""


def refuse_other_model(
    collection: str, where: str, held: ModelStamp | None, ours: ModelStamp
) -> None:
    """EmbeddingMismatchError when ``collection`` (at ``where``) holds vectors of another model
    than ``ours``; an empty collection (``held`` None) takes any. Every store and the memory
    refuse the same way, naming the way out."""
    if held is not None and held != ours:
        raise EmbeddingMismatchError(
            f"the {collection} collection at {where} holds {held.model_id} vectors "
            f"({held.dimension}-d), not {ours.model_id} ({ours.dimension}-d): re-embed it with "
            "this model (tda rag seed --rebuild)"
        )


@dataclass(frozen=True)
class Filters:
    """Exact-match metadata a search keeps to (None: any)."""

    domain: str | None = None
    entity: str | None = None
    scenario: str | None = None
    severity: str | None = None
    min_quality: float | None = None


@dataclass(frozen=True)
class Entry:
    """One stored example. ``text`` is what is embedded and keyword-searched; ``data`` is its
    JSON (a pattern's record, a defect's trigger, a production sample's records and stats)."""

    id: str
    domain: str
    entity: str
    text: str
    data: str
    scenario: str = ""
    severity: str = ""
    quality_score: float = 0.0
    usage_count: int = 0
    created_at: str = ""  # ISO 8601


@dataclass(frozen=True)
class Hit:
    """A search's find. Its entry's ``usage_count`` may leave out the reuses counted since
    the entry was written (``get`` and ``entries`` count them all)."""

    entry: Entry
    score: float  # higher is nearer; comparable within one search only


@dataclass(frozen=True)
class ModelStamp:
    """The embedding model a collection's vectors came from."""

    model_id: str
    dimension: int


class Embedder(Protocol):
    stamp: ModelStamp

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length float32 row per text."""
        ...


class VectorStore(Protocol):
    url: str

    def stamp(self, collection: str) -> ModelStamp | None:
        """The model the collection's vectors came from; None if the collection is empty."""
        ...

    def upsert(
        self, collection: str, entries: Sequence[Entry], vectors: np.ndarray, stamp: ModelStamp
    ) -> None:
        """Insert or replace by id (raises EmbeddingMismatchError for another model's vectors)."""
        ...

    def search(
        self, collection: str, vector: np.ndarray, filters: Filters, k: int
    ) -> list[Hit]: ...

    def keyword(self, collection: str, text: str, filters: Filters, k: int) -> list[Hit]:
        """BM25 over ``text``."""
        ...

    def hybrid(
        self, collection: str, text: str, vector: np.ndarray, filters: Filters, k: int
    ) -> list[Hit]:
        """Vector and keyword results fused by rank."""
        ...

    def count(self, collection: str, filters: Filters | None = None) -> int: ...

    def get(self, collection: str, ids: Sequence[str]) -> list[Entry]: ...

    def entries(self, collection: str) -> list[Entry]:
        """Every entry of ``collection`` (to re-embed it with another model)."""
        ...

    def drop(self, collection: str) -> None:
        """Remove ``collection``, its vectors and its model stamp."""
        ...

    def add_usage(self, collection: str, ids: Sequence[str]) -> None:
        """Count one more use of each entry (patterns served again)."""
        ...
