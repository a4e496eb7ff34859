"""The vector store on Weaviate (weaviate-client v4), for teams that run one:
``VECTOR_STORE_URL=weaviate://host:8080`` (``weaviates://`` for TLS; ``?grpc=50051`` for
another gRPC port; ``WEAVIATE_API_KEY`` if it wants one).

Vectors are ours (self-provided: the same offline MiniLM as LanceDB), so the two stores answer
alike. Exact-match metadata (domain, entity, scenario, severity) uses ``FIELD`` tokenization:
a word-tokenized ``entity`` would match "cart" inside "cart item". Weaviate's own ids are UUIDs,
so an entry's id is kept in ``entry_id`` and its UUID is derived from it (uuid5): an upsert by
id replaces.

No Weaviate server can run on the machines this is built on (its embedded mode downloads a
binary), so this adapter is tested by its translation to the client's queries and filters
(``tests/rag/test_weaviate_store.py``), not against a server; its waits, against endpoints that
never answer. Like LanceDB on S3 (store_waits), a read is given up on after two request
timeouts and a store that does not answer is taken as down for a while.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

import numpy as np

from tda.adapters.store_waits import WAIT_TIMEOUTS, StoreWaits
from tda.domain.errors import VectorStoreUnavailableError
from tda.ports.memory import (
    EmbeddingMismatchError,
    Entry,
    Filters,
    Hit,
    ModelStamp,
    refuse_other_model,
)

_CLASS = {"patterns": "TdaPatterns", "defects": "TdaDefects", "production": "TdaProduction"}
_STAMPS = "TdaStamps"
_EXACT = ("entry_id", "domain", "entity", "scenario", "severity")
_TEXT = ("text", "data", "created_at")
T = TypeVar("T")


def class_name(collection: str) -> str:
    return _CLASS.get(collection, "Tda" + collection.title().replace("_", ""))


def weaviate_filters(filters: Filters) -> Any:
    """``filters`` as a weaviate-client filter (None: no filter)."""
    from weaviate.classes.query import Filter

    parts = [
        Filter.by_property(name).equal(value)
        for name, value in (
            ("domain", filters.domain),
            ("entity", filters.entity),
            ("scenario", filters.scenario),
            ("severity", filters.severity),
        )
        if value is not None
    ]
    if filters.min_quality is not None:
        parts.append(Filter.by_property("quality_score").greater_or_equal(filters.min_quality))
    if not parts:
        return None
    return Filter.all_of(parts) if len(parts) > 1 else parts[0]


def connection_options(url: str) -> dict[str, Any]:
    """``weaviate://host:8080?grpc=50051`` as ``connect_to_custom``'s arguments."""
    parsed = urlparse(url)
    secure = parsed.scheme == "weaviates"
    grpc_port = int(parse_qs(parsed.query).get("grpc", ["50051"])[0])
    host = parsed.hostname or "localhost"
    return {
        "http_host": host,
        "http_port": parsed.port or (443 if secure else 8080),
        "http_secure": secure,
        "grpc_host": host,
        "grpc_port": grpc_port,
        "grpc_secure": secure,
    }


def waited_for(read: Callable[..., T]) -> Callable[..., T]:
    """A read given up on at the store's deadline (store_waits: the store is down then)."""

    @functools.wraps(read)
    def within_deadline(self: WeaviateStore, *args: Any, **kwargs: Any) -> T:
        return self._waits.within_deadline(lambda: read(self, *args, **kwargs))

    return within_deadline


class WeaviateStore:
    def __init__(
        self,
        url: str,
        api_key: str = "",
        client: Any = None,
        request_timeout_seconds: float = 5.0,
    ) -> None:
        """``request_timeout_seconds``: the client's start-up checks; a read is waited for
        two of them (store_waits), and a write for the client's own 90 s."""
        self.url = url
        self._api_key = api_key
        self._client = client  # tests hand one in; otherwise made at first use
        self._lock = threading.Lock()
        self.request_timeout = request_timeout_seconds
        self._waits = StoreWaits(url, request_timeout_seconds)

    def _connect(self) -> Any:
        with self._lock:
            self._waits.refuse_while_down()
            if self._client is None:
                try:
                    self._client = self._opened()
                except Exception as exc:
                    unreachable = f"vector store {self.url} unreachable: {exc}"
                    self._waits.went_down(unreachable)
                    raise VectorStoreUnavailableError(unreachable) from exc
                self._waits.answered()
            return self._client

    def _opened(self) -> Any:
        import weaviate
        from weaviate.classes.init import AdditionalConfig, Auth, Timeout

        # The client's own query timeout is only a bound on the thread a read given up on
        # leaves behind: the read's deadline comes first, and calls the store down.
        timeout = Timeout(
            init=self.request_timeout, query=(WAIT_TIMEOUTS + 1) * self.request_timeout
        )
        return weaviate.connect_to_custom(
            **connection_options(self.url),
            auth_credentials=Auth.api_key(self._api_key) if self._api_key else None,
            additional_config=AdditionalConfig(timeout=timeout),
        )

    def _collection(self, collection: str, create_dimension: int | None = None) -> Any:
        client = self._connect()
        name = class_name(collection)
        try:
            if not client.collections.exists(name):
                if create_dimension is None:
                    return None
                self._create(client, name)
            return client.collections.get(name)
        except VectorStoreUnavailableError:
            raise
        except Exception as exc:
            raise VectorStoreUnavailableError(f"vector store {self.url}: {exc}") from exc

    @staticmethod
    def _create(client: Any, name: str) -> None:
        from weaviate.classes.config import Configure, DataType, Property, Tokenization

        properties = [
            *[
                Property(name=n, data_type=DataType.TEXT, tokenization=Tokenization.FIELD)
                for n in _EXACT
            ],
            Property(name="text", data_type=DataType.TEXT, tokenization=Tokenization.WORD),
            Property(
                name="data",
                data_type=DataType.TEXT,
                skip_vectorization=True,
                index_searchable=False,
            ),
            Property(name="created_at", data_type=DataType.TEXT),
            Property(name="quality_score", data_type=DataType.NUMBER),
            Property(name="usage_count", data_type=DataType.INT),
        ]
        client.collections.create(
            name, properties=properties, vector_config=Configure.Vectors.self_provided()
        )

    # ------------------------------------------------------------------ the port

    @waited_for
    def stamp(self, collection: str) -> ModelStamp | None:
        stamps = self._collection(_STAMPS)
        if stamps is None:
            return None
        from weaviate.classes.query import Filter

        found = _run(
            lambda: stamps.query.fetch_objects(
                filters=Filter.by_property("entry_id").equal(collection), limit=1
            )
        )
        if not found.objects:
            return None
        props = found.objects[0].properties
        return ModelStamp(str(props["text"]), int(props["usage_count"]))

    def upsert(
        self, collection: str, entries: Sequence[Entry], vectors: np.ndarray, stamp: ModelStamp
    ) -> None:
        if not entries:
            return
        held = self.stamp(collection)
        refuse_other_model(collection, self.url, held, stamp)
        from weaviate.classes.data import DataObject
        from weaviate.util import generate_uuid5

        target = self._collection(collection, create_dimension=stamp.dimension)
        objects = [
            DataObject(
                properties=properties_of(e),
                uuid=generate_uuid5(e.id),
                vector=np.asarray(v, dtype=np.float32).tolist(),
            )
            for e, v in zip(entries, vectors, strict=True)
        ]
        result = _run(lambda: target.data.insert_many(objects))
        if getattr(result, "has_errors", False):
            raise VectorStoreUnavailableError(f"vector store {self.url}: {result.errors}")
        if held is None:
            stamps = self._collection(_STAMPS, create_dimension=1)
            row = Entry(
                id=collection,
                domain="",
                entity="",
                text=stamp.model_id,
                data="",
                usage_count=stamp.dimension,
            )
            _run(
                lambda: stamps.data.insert_many(
                    [
                        DataObject(
                            properties=properties_of(row),
                            uuid=generate_uuid5(collection),
                            vector=[0.0],
                        )
                    ]
                )
            )

    @waited_for
    def search(self, collection: str, vector: np.ndarray, filters: Filters, k: int) -> list[Hit]:
        target = self._collection(collection)
        if target is None:
            return []
        from weaviate.classes.query import MetadataQuery

        found = _run(
            lambda: target.query.near_vector(
                near_vector=np.asarray(vector, dtype=np.float32).tolist(),
                limit=k,
                filters=weaviate_filters(filters),
                return_metadata=MetadataQuery(distance=True),
            )
        )
        return [
            Hit(entry_of(o.properties), 1.0 - float(o.metadata.distance or 0.0))
            for o in found.objects
        ]

    @waited_for
    def keyword(self, collection: str, text: str, filters: Filters, k: int) -> list[Hit]:
        target = self._collection(collection)
        if target is None or not text.strip():
            return []
        from weaviate.classes.query import MetadataQuery

        found = _run(
            lambda: target.query.bm25(
                query=text,
                query_properties=["text"],
                limit=k,
                filters=weaviate_filters(filters),
                return_metadata=MetadataQuery(score=True),
            )
        )
        return [Hit(entry_of(o.properties), float(o.metadata.score or 0.0)) for o in found.objects]

    @waited_for
    def hybrid(
        self, collection: str, text: str, vector: np.ndarray, filters: Filters, k: int
    ) -> list[Hit]:
        target = self._collection(collection)
        if target is None:
            return []
        from weaviate.classes.query import MetadataQuery

        found = _run(
            lambda: target.query.hybrid(
                query=text or None,
                vector=np.asarray(vector, dtype=np.float32).tolist(),
                alpha=0.5,
                query_properties=["text"],
                limit=k,
                filters=weaviate_filters(filters),
                return_metadata=MetadataQuery(score=True),
            )
        )
        return [Hit(entry_of(o.properties), float(o.metadata.score or 0.0)) for o in found.objects]

    @waited_for
    def count(self, collection: str, filters: Filters | None = None) -> int:
        target = self._collection(collection)
        if target is None:
            return 0
        where = weaviate_filters(filters) if filters is not None else None
        found = _run(lambda: target.aggregate.over_all(total_count=True, filters=where))
        return int(found.total_count or 0)

    @waited_for
    def get(self, collection: str, ids: Sequence[str]) -> list[Entry]:
        target = self._collection(collection)
        if target is None or not ids:
            return []
        from weaviate.classes.query import Filter

        found = _run(
            lambda: target.query.fetch_objects(
                filters=Filter.by_property("entry_id").contains_any(list(ids)), limit=len(ids)
            )
        )
        return [entry_of(o.properties) for o in found.objects]

    @waited_for
    def entries(self, collection: str) -> list[Entry]:
        target = self._collection(collection)
        if target is None:
            return []
        entries: list[Entry] = _run(lambda: [entry_of(o.properties) for o in target.iterator()])
        return entries

    def drop(self, collection: str) -> None:
        client = self._connect()
        stamps = self._collection(_STAMPS)
        from weaviate.util import generate_uuid5

        _run(lambda: client.collections.delete(class_name(collection)))
        if stamps is not None:
            _run(lambda: stamps.data.delete_by_id(generate_uuid5(collection)))

    def add_usage(self, collection: str, ids: Sequence[str]) -> None:
        target = self._collection(collection)
        if target is None:
            return
        from weaviate.util import generate_uuid5

        for entry in self.get(collection, sorted(set(ids))):
            _run(
                lambda e=entry: target.data.update(
                    uuid=generate_uuid5(e.id), properties={"usage_count": e.usage_count + 1}
                )
            )


def properties_of(entry: Entry) -> dict[str, Any]:
    return {
        "entry_id": entry.id,
        "domain": entry.domain,
        "entity": entry.entity,
        "scenario": entry.scenario,
        "severity": entry.severity,
        "text": entry.text,
        "data": entry.data,
        "created_at": entry.created_at,
        "quality_score": float(entry.quality_score),
        "usage_count": int(entry.usage_count),
    }


def entry_of(props: dict[str, Any]) -> Entry:
    return Entry(
        id=str(props.get("entry_id", "")),
        domain=str(props.get("domain") or ""),
        entity=str(props.get("entity") or ""),
        text=str(props.get("text") or ""),
        data=str(props.get("data") or "{}"),
        scenario=str(props.get("scenario") or ""),
        severity=str(props.get("severity") or ""),
        quality_score=float(props.get("quality_score") or 0.0),
        usage_count=int(props.get("usage_count") or 0),
        created_at=str(props.get("created_at") or ""),
    )


def _run(call: Any) -> Any:
    try:
        return call()
    except (VectorStoreUnavailableError, EmbeddingMismatchError):
        raise
    except Exception as exc:  # weaviate's connection, query and gRPC errors alike
        raise VectorStoreUnavailableError(f"vector store read/write failed: {exc}") from exc
