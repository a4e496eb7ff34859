"""The proto contract and the core models describe the same messages, field for field."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor
from google.protobuf.json_format import MessageToDict, ParseDict

from tda.domain import contract as models
from tda.domain.wire import WireModel
from testdata.v1 import test_data_pb2 as pb

# proto message → core model (the model's Python field names are the proto's)
PAIRS: list[tuple[Descriptor, type[WireModel]]] = [
    (pb.GenerateRequest.DESCRIPTOR, models.GenerateRequest),
    (pb.Schema.DESCRIPTOR, models.SchemaDef),
    (pb.Field.DESCRIPTOR, models.FieldDef),
    (pb.Constraints.DESCRIPTOR, models.Constraints),
    (pb.FieldConstraint.DESCRIPTOR, models.FieldConstraint),
    (pb.Scenario.DESCRIPTOR, models.Scenario),
    (pb.GenerateResponse.DESCRIPTOR, models.GenerateResponse),
    (pb.GenerationMetadata.DESCRIPTOR, models.GenerationMetadata),
    (pb.CoherenceViolation.DESCRIPTOR, models.CoherenceViolation),
    (pb.SchemaInfo.DESCRIPTOR, models.SchemaInfo),
]

# The seed PRD's field numbers, which existing clients depend on.
SEED_NUMBERS = {
    "GenerateRequest": dict(
        request_id=1, domain=2, entity=3, schema=4, constraints=5, scenarios=6, context=7,
        hints=8, output_format=9, count=10, use_cache=11, learn_from_history=12,
        defect_triggering=13, production_like=14,
    ),
    "GenerateResponse": dict(request_id=1, success=2, data=3, record_count=4, metadata=5, error=6),
    "GenerationMetadata": dict(
        generation_path=1, llm_tokens_used=2, generation_time_ms=3, coherence_score=4,
        scenario_counts=5,
    ),
    "DataChunk": dict(request_id=1, data=2, chunk_index=3, is_final=4),
    "FieldConstraint": dict(min=1, max=2, enum_values=3, regex=4, min_length=5, max_length=6, format=7),
}  # fmt: skip


def _model_names(model: type[WireModel]) -> set[str]:
    return {field.name for field in fields(model)}  # type: ignore[arg-type]


@pytest.mark.parametrize(("descriptor", "model"), PAIRS, ids=lambda p: getattr(p, "name", ""))
def test_every_proto_field_is_a_model_field_and_back(
    descriptor: Descriptor, model: type[WireModel]
) -> None:
    assert {f.name for f in descriptor.fields} == _model_names(model)


def test_seed_field_numbers_and_enum_values_are_unchanged() -> None:
    for message, numbers in SEED_NUMBERS.items():
        fields = pb.DESCRIPTOR.message_types_by_name[message].fields_by_name
        assert {name: fields[name].number for name in numbers} == numbers
    proto_types = {v.name: v.number for v in pb.FieldType.DESCRIPTOR.values}
    assert proto_types == {t.value: t.number for t in models.FieldType}
    formats = {v.name: v.number for v in pb.OutputFormat.DESCRIPTOR.values}
    assert formats == {"JSON": 0, "CSV": 1, "SQL": 2, "NDJSON": 3}
    assert [f.value for f in models.OutputFormat] == list(formats)


FULL_REQUEST: dict[str, Any] = {
    "request_id": "r-1",
    "domain": "ecommerce",
    "entity": "thing",
    "schema": {
        "fields": [
            {
                "name": "box",
                "type": "OBJECT",
                "required": True,
                "description": "d",
                "nested_fields": [{"name": "size", "type": "FLOAT"}],
            }
        ],
        "predefined_schema": "cart",
    },
    "constraints": {
        "field_constraints": {
            "box.size": {"min": 1.5, "max": 9.0, "enum_values": ["a"], "regex": "x+",
                         "min_length": 1, "max_length": 3, "format": "money"}
        }
    },
    "scenarios": [{"name": "s", "count": 2, "overrides": {"box.size": "2.5"}, "description": "x"}],
    "context": "ctx",
    "hints": ["fast"],
    "output_format": "NDJSON",
    "count": 2,
    "use_cache": True,
    "learn_from_history": True,
    "defect_triggering": True,
    "production_like": True,
    "seed": 123456789012,
    "locale": "de_DE",
}  # fmt: skip


def test_a_full_request_round_trips_proto_to_model_to_proto() -> None:
    message = ParseDict(FULL_REQUEST, pb.GenerateRequest())
    as_json = MessageToDict(message, preserving_proto_field_name=True)
    model = models.GenerateRequest.model_validate(as_json)
    assert model.seed == 123456789012 and model.schema is not None
    assert model.output_format is models.OutputFormat.NDJSON
    assert ParseDict(model.to_payload(), pb.GenerateRequest()) == message


def test_a_response_with_every_metadata_field_parses_into_the_proto() -> None:
    response = models.GenerateResponse(
        request_id="r",
        data="[]",
        record_count=0,
        metadata=models.GenerationMetadata(
            scenario_counts={"a": 1},
            routed_path="rag",
            routing_reason="why",
            routing_confidence=0.5,
            fallback_reason="because",
            seed=2**40,
            coherence_violations=[models.CoherenceViolation(index=3, rule="r", message="m")],
            records_validated=1,
        ),
    )
    message = ParseDict(response.model_dump(mode="json"), pb.GenerateResponse())
    assert message.metadata.seed == 2**40
    assert message.metadata.coherence_violations[0].rule == "r"
    assert (
        models.GenerateResponse.model_validate(
            MessageToDict(message, preserving_proto_field_name=True)
        ).metadata.fallback_reason
        == "because"
    )
