"""The seed README's examples 3-5 through the gRPC shim (a client built from the proto), after
``tda rag seed``: rag from patterns, hybrid with the scripted model, edge cases labelled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.json_format import Parse

from tda.domain.edge_cases import violations
from tda.domain.schema.registry import get_entity
from tda.domain.validation import validate_records
from tda.paths.retrieval.corpus import seed_corpus
from testdata.v1 import test_data_pb2 as pb
from testdata.v1 import test_data_pb2_grpc as pb_grpc

from ..shim import running_shim

EXAMPLE_3 = '{"domain": "ecommerce", "entity": "cart", "count": 5, "learn_from_history": true}'
EXAMPLE_4 = (
    '{"domain": "ecommerce", "entity": "cart", "count": 3, "learn_from_history": true,'
    ' "hints": ["coherent", "realistic"], "context": "Generate tech enthusiast shopping carts'
    ' inspired by past successful patterns"}'
)
EXAMPLE_5 = '{"domain": "ecommerce", "entity": "order", "count": 5, "defect_triggering": true}'


@pytest.fixture
def stub(seeded: Path) -> Iterator[Any]:
    with running_shim() as target, grpc.insecure_channel(target) as channel:
        yield pb_grpc.TestDataServiceStub(channel)


def call(stub: Any, body: str) -> tuple[Any, list[dict[str, Any]]]:
    response = stub.GenerateData(Parse(body, pb.GenerateRequest()))
    assert response.success, response.error
    return response, json.loads(response.data)


def corpus_ids(collection: str) -> set[str]:
    return {e.id for e in seed_corpus().entries[collection]}


def test_example_3_learn_from_history_adapts_stored_patterns(stub: Any) -> None:
    response, records = call(stub, EXAMPLE_3)
    meta = response.metadata
    assert meta.generation_path == "rag" and meta.routed_path == "rag"
    patterns = {e.id: json.loads(e.data)["record"] for e in seed_corpus().entries["patterns"]}
    sources = [r["_source"] for r in records]
    assert set(sources) <= set(patterns) and len(set(sources)) == 5  # each example once
    assert meta.rag.mode == "patterns" and meta.rag.records_from_memory == 5
    assert sorted(meta.rag.sources) == sorted(sources)
    assert validate_records(get_entity("cart"), records).valid
    assert meta.coherence_score >= 0.95
    for record in records:
        example = patterns[record["_source"]]
        # What the example teaches is kept; keys are fresh; totals recomputed and exact.
        assert [i["sku"] for i in record["items"]] == [i["sku"] for i in example["items"]]
        assert record["cart_id"] != example["cart_id"]
        assert record["customer_id"] != example["customer_id"]
        assert record["total"] == example["total"] and record["subtotal"] == example["subtotal"]


def test_example_4_is_hybrid_with_examples_in_the_model_prompt(stub: Any) -> None:
    response, records = call(stub, EXAMPLE_4)
    meta = response.metadata
    assert meta.routed_path == "hybrid" and meta.generation_path == "hybrid"
    assert meta.rag.mode == "hybrid" and meta.rag.retrieved > 0
    assert meta.llm.template == "rag"  # the examples went into the RAG template
    assert meta.llm.calls >= 1 and meta.llm.records_filled == 0
    assert set(meta.rag.sources) <= corpus_ids("patterns")
    assert validate_records(get_entity("cart"), records).valid


def test_example_5_defect_triggering_labels_are_all_true(stub: Any) -> None:
    response, records = call(stub, EXAMPLE_5)
    meta = response.metadata
    assert meta.generation_path == "rag" and meta.rag.mode == "edge_cases"
    assert meta.rag.edge_cases_from_defects >= 1
    assert meta.rag.edge_cases_from_defects + meta.rag.edge_cases_from_schema == 5
    spec = get_entity("order")
    measured = violations(spec, records)
    defects = corpus_ids("defects")
    for record, broken in zip(records, measured, strict=True):
        assert record["_violates"] == broken  # every label true, nothing unlabelled broken
        assert record["_edge_case_type"] and record["_source"] in defects | {"schema"}
    assert {r["_source"] for r in records} & defects


def test_example_4_without_a_model_is_served_from_the_memory(no_model: None, stub: Any) -> None:
    response, records = call(stub, EXAMPLE_4)
    meta = response.metadata
    assert meta.routed_path == "hybrid" and meta.generation_path == "rag"
    assert "no model" in meta.fallback_reason and "not configured" in meta.fallback_reason
    assert meta.rag.mode == "patterns" and meta.rag.records_from_memory == 3
    assert {r["_source"] for r in records} <= corpus_ids("patterns")
    assert validate_records(get_entity("cart"), records).valid


def test_hybrid_with_nothing_for_a_model_to_write_is_served_from_the_memory(stub: Any) -> None:
    """Records of ids and dates: no model call for them, the memory serves (the rag path)."""
    body = json.dumps(
        {
            "entity": "cart",
            "count": 3,
            "learn_from_history": True,
            "hints": ["coherent"],
            "context": "carts like past successful ones",
            "schema": {
                "fields": [{"name": "id", "type": "UUID"}, {"name": "at", "type": "DATETIME"}]
            },
        }
    )
    response, records = call(stub, body)
    meta = response.metadata
    assert (meta.routed_path, meta.generation_path) == ("hybrid", "rag")
    assert "hybrid: nothing for a model to write" in meta.fallback_reason
    assert not meta.HasField("llm") and len(records) == 3
