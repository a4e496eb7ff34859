"""The Weaviate adapter, tested by its translation: no Weaviate server can run here (its
embedded mode downloads a binary). Filters are checked down to the gRPC message the real
weaviate-client would send; queries against a recording stand-in for a collection."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("weaviate")

from weaviate.collections.filters import _FilterToGRPC

from tda.adapters.weaviate_store import (
    WeaviateStore,
    class_name,
    connection_options,
    weaviate_filters,
)
from tda.domain.errors import VectorStoreUnavailableError
from tda.ports.memory import Entry, Filters, ModelStamp

from ..silent_server import SilentServer
from .test_rag_path import served, served_at_once


def test_filters_become_exact_matches_and_a_quality_floor() -> None:
    wire = _FilterToGRPC.convert(weaviate_filters(Filters(entity="cart", min_quality=0.8)))
    assert wire is not None
    assert wire.operator == wire.OPERATOR_AND
    equal, floor = wire.filters
    assert (equal.target.property, equal.value_text) == ("entity", "cart")
    assert equal.operator == wire.OPERATOR_EQUAL
    assert (floor.target.property, floor.value_number) == ("quality_score", 0.8)
    assert floor.operator == wire.OPERATOR_GREATER_THAN_EQUAL
    single = _FilterToGRPC.convert(weaviate_filters(Filters(severity="critical")))
    assert single is not None and single.value_text == "critical"
    assert weaviate_filters(Filters()) is None


def test_urls_and_class_names() -> None:
    assert connection_options("weaviate://vec.internal:8081?grpc=50052") == {
        "http_host": "vec.internal", "http_port": 8081, "http_secure": False,
        "grpc_host": "vec.internal", "grpc_port": 50052, "grpc_secure": False,
    }  # fmt: skip
    assert connection_options("weaviates://w.example.com")["http_port"] == 443
    assert class_name("patterns") == "TdaPatterns"


class Recorder:
    """A stand-in for a weaviate-client collection that records the calls made on it."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        answer = SimpleNamespace(
            objects=[
                SimpleNamespace(properties=p, metadata=SimpleNamespace(distance=0.25, score=2.0))
                for p in objects
            ]
        )
        record = self._record
        self.query = SimpleNamespace(
            near_vector=lambda **kw: record("near_vector", kw, answer),
            bm25=lambda **kw: record("bm25", kw, answer),
            hybrid=lambda **kw: record("hybrid", kw, answer),
            fetch_objects=lambda **kw: record("fetch_objects", kw, SimpleNamespace(objects=[])),
        )
        self.aggregate = SimpleNamespace(
            over_all=lambda **kw: record("over_all", kw, SimpleNamespace(total_count=7))
        )
        self.iterator = lambda: iter(answer.objects)
        self.data = SimpleNamespace(
            delete_by_id=lambda uuid: record("delete_by_id", {"uuid": uuid}, None)
        )

    def _record(self, name: str, kwargs: dict[str, Any], answer: Any) -> Any:
        self.calls.append((name, kwargs))
        return answer


def store_with(collection: Recorder, exists: bool = True) -> WeaviateStore:
    collections = SimpleNamespace(
        exists=lambda name: exists,
        get=lambda name: collection,
        delete=lambda name: collection.calls.append(("delete", {"name": name})),
    )
    return WeaviateStore("weaviate://localhost:8080", client=SimpleNamespace(
        collections=collections))  # fmt: skip


STORED = {"entry_id": "PAT-CART-001", "entity": "cart", "domain": "ecommerce", "text": "t",
          "data": "{}", "quality_score": 0.9, "usage_count": 2}  # fmt: skip


def test_queries_carry_our_vectors_filters_and_limits() -> None:
    collection = Recorder([STORED])
    store = store_with(collection)
    vector = np.full(384, 0.5, dtype=np.float32)
    hits = store.search("patterns", vector, Filters(entity="cart"), 3)
    assert hits[0].entry.id == "PAT-CART-001" and hits[0].score == pytest.approx(0.75)
    name, kw = collection.calls[-1]
    assert name == "near_vector" and kw["limit"] == 3 and len(kw["near_vector"]) == 384
    assert _FilterToGRPC.convert(kw["filters"]).value_text == "cart"
    store.hybrid("patterns", "running shoes", vector, Filters(entity="cart"), 5)
    name, kw = collection.calls[-1]
    assert name == "hybrid" and kw["query"] == "running shoes" and kw["alpha"] == 0.5
    assert kw["query_properties"] == ["text"] and len(kw["vector"]) == 384
    store.keyword("patterns", "zero amount", Filters(), 2)
    assert collection.calls[-1][0] == "bm25" and collection.calls[-1][1]["filters"] is None
    assert store.count("patterns", Filters(entity="cart")) == 7


def test_a_missing_collection_is_empty_and_errors_mean_unavailable() -> None:
    assert store_with(Recorder([]), exists=False).count("patterns") == 0

    def refuse(name: str) -> bool:
        raise ConnectionError("connection refused")

    down = WeaviateStore("weaviate://localhost:8080", client=SimpleNamespace(
        collections=SimpleNamespace(exists=refuse)))  # fmt: skip
    with pytest.raises(VectorStoreUnavailableError, match="connection refused"):
        down.upsert("patterns", [Entry("a", "d", "cart", "t", "{}")], np.ones((1, 4)),
                    ModelStamp("m", 4))  # fmt: skip


def test_a_rebuild_reads_every_entry_then_drops_the_class_and_its_stamp() -> None:
    from weaviate.util import generate_uuid5

    collection = Recorder([STORED])
    store = store_with(collection)
    assert [e.id for e in store.entries("patterns")] == ["PAT-CART-001"]
    assert store.entries("patterns")[0].usage_count == 2
    store.drop("patterns")
    assert ("delete", {"name": "TdaPatterns"}) in collection.calls
    assert ("delete_by_id", {"uuid": generate_uuid5("patterns")}) in collection.calls


def test_a_weaviate_that_never_answers_falls_back_then_is_taken_as_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real client against endpoints (HTTP and gRPC) that keep every connection and
    answer nothing. Before: each request took the connection lock in turn and tried again,
    one client start-up timeout after the other, and every later request did too."""
    http, grpc = SilentServer(), SilentServer()
    http_port, grpc_port = (s.url.rsplit(":", 1)[1] for s in (http, grpc))
    monkeypatch.setenv("VECTOR_STORE_URL", f"weaviate://127.0.0.1:{http_port}?grpc={grpc_port}")
    monkeypatch.setenv("VECTOR_STORE_TIMEOUT_SECONDS", "1")
    answers = served_at_once(3, entity="user", count=8, learn_from_history=True)
    assert len(answers) == 3
    for meta, records in answers:
        assert meta.generation_path == "traditional" and len(records) == 8
        assert "unreachable" in meta.fallback_reason
    tried = len(http.held) + len(grpc.held)
    meta, records = served(entity="user", count=8, learn_from_history=True)
    assert meta.generation_path == "traditional" and len(records) == 8
    assert "tried again 30 s after" in meta.fallback_reason
    assert len(http.held) + len(grpc.held) == tried, "a store taken as down was tried"
    http.close()
    grpc.close()


def test_a_read_that_never_answers_is_given_up_on_and_the_store_taken_as_down() -> None:
    """A store that answered the client's start-up, then nothing: every read waits two
    request timeouts at most (the client's own query timeout is 30 s), then none is tried."""
    answering = threading.Event()
    asked: list[str] = []

    def exists(name: str) -> bool:
        asked.append(name)
        answering.wait(30)
        return True

    silent = WeaviateStore(
        "weaviate://localhost:8080",
        client=SimpleNamespace(collections=SimpleNamespace(exists=exists)),
        request_timeout_seconds=0.2,
    )
    failures: list[str] = []

    def count() -> None:
        try:
            silent.count("patterns")
        except VectorStoreUnavailableError as exc:
            failures.append(str(exc))

    counting = [threading.Thread(target=count) for _ in range(3)]
    for thread in counting:
        thread.start()
    for thread in counting:
        thread.join(10)
    assert len(failures) == 3
    assert all("unreachable: no answer in 0.4 s" in f for f in failures)
    with pytest.raises(VectorStoreUnavailableError, match="tried again 30 s after"):
        silent.search("patterns", np.ones(4, np.float32), Filters(), 3)
    assert len(asked) == 3
    answering.set()
