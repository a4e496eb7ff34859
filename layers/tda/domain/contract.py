"""The request/response contract: every field of the seed proto's GenerateRequest/GenerateResponse.

Field names are the proto's (snake_case); proto3 JSON camelCase names are accepted too, so the
same model reads the seed README's grpcurl bodies and a protobuf ``MessageToJson`` alike.
Enums accept their proto names in any case (``"JSON"``, ``"json"``) or their numbers.
"""

# No ``from __future__ import annotations``: pydantic would evaluate each field's annotation
# from its text when the model is built, a compile per field at every cold start (≈3 ms here).
from enum import Enum, StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from pydantic.alias_generators import to_camel


class _Contract(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=False,
    )


class FieldType(StrEnum):
    """The seed proto's FieldType, numbered as there."""

    STRING = "STRING"
    INTEGER = "INTEGER"
    FLOAT = "FLOAT"
    BOOLEAN = "BOOLEAN"
    DATE = "DATE"
    DATETIME = "DATETIME"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    ADDRESS = "ADDRESS"
    UUID = "UUID"
    ENUM = "ENUM"
    OBJECT = "OBJECT"
    ARRAY = "ARRAY"

    @property
    def number(self) -> int:
        return list(FieldType).index(self)


class OutputFormat(StrEnum):
    """The seed proto's OutputFormat, plus NDJSON (new number 3)."""

    JSON = "JSON"
    CSV = "CSV"
    SQL = "SQL"
    NDJSON = "NDJSON"


def _enum_by_name_or_number(enum: type[Enum], value: Any) -> Any:
    members = list(enum)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and 0 <= value < len(members):
        return members[value]
    if isinstance(value, str):
        return value.strip().upper()
    return value


class FieldDef(_Contract):
    # Absent is empty, as proto3 has it (the gRPC shim cannot tell them apart): refused as a
    # name, except for an ARRAY's one nested field, its item.
    name: str = ""
    type: FieldType = FieldType.STRING
    required: StrictBool = False
    description: str = ""
    nested_fields: list["FieldDef"] = Field(default_factory=list)

    @field_validator("type", mode="before")
    @classmethod
    def _type_name(cls, value: Any) -> Any:
        return _enum_by_name_or_number(FieldType, value)


class SchemaDef(_Contract):
    fields: list[FieldDef] = Field(default_factory=list)
    predefined_schema: str = ""


class FieldConstraint(_Contract):
    min: float | None = None
    max: float | None = None
    enum_values: list[str] = Field(default_factory=list)
    regex: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    format: str | None = None


class Constraints(_Contract):
    field_constraints: dict[str, FieldConstraint] = Field(default_factory=dict)


class Scenario(_Contract):
    name: str
    count: int = 0
    overrides: dict[str, str] = Field(default_factory=dict)
    description: str = ""


class GenerateRequest(_Contract):
    request_id: str = ""
    domain: str = ""
    entity: str = ""
    # ``schema`` shadows a BaseModel attribute, hence the Python name ``schema_``.
    schema_: SchemaDef | None = Field(default=None, alias="schema")
    constraints: Constraints | None = None
    scenarios: list[Scenario] = Field(default_factory=list)
    context: str = ""
    hints: list[str] = Field(default_factory=list)
    output_format: OutputFormat = OutputFormat.JSON
    count: int = 0
    use_cache: StrictBool = False
    learn_from_history: StrictBool = False
    defect_triggering: StrictBool = False
    production_like: StrictBool = False
    # New in this service (new proto numbers): reproducibility and locale.
    # The proto's int64, so a seed means the same on both transports (and comes back whole in
    # the response's metadata).
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    locale: str = "en_US"

    @field_validator("output_format", mode="before")
    @classmethod
    def _format_name(cls, value: Any) -> Any:
        return _enum_by_name_or_number(OutputFormat, value)

    @field_validator("count", "seed", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        # Numbers, or their decimal text (proto3 JSON writes 64-bit integers as strings); a
        # boolean is neither, though Python would count `true` as 1.
        if isinstance(value, bool):
            raise ValueError("must be a whole number, not true/false")
        return value

    def to_payload(self) -> dict[str, Any]:
        """The seed's JSON request shape (proto field names; unset optionals left out)."""
        data = self.model_dump(mode="json", exclude_none=True)
        schema = data.pop("schema_", None)
        return data if schema is None else {**data, "schema": schema}


class CoherenceViolation(_Contract):
    """One business rule one record breaks."""

    index: int
    rule: str
    message: str


class LLMReport(_Contract):
    """What a model path did and spent (new in this service)."""

    mode: str = ""  # "records" (the model writes records) or "catalog" (it writes a vocabulary)
    provider: str = ""
    model: str = ""
    template: str = ""
    calls: int = 0  # model calls made (not counting answers replayed from the cache)
    cached_calls: int = 0  # answers replayed from the cache instead of a call
    cache_hit: bool = False  # every answer came from the cache: no call at all
    retries: int = 0
    repairs: int = 0  # records the model rewrote after being shown their errors
    regenerated: int = 0  # records asked for again after a failed repair
    records_from_model: int = 0
    records_filled: int = 0  # made by traditional generation instead (labelled _filled_by)
    unique_ratio: float = 1.0  # distinct model records / model records
    tokens_input: int = 0
    tokens_output: int = 0
    tokens_cache_read: int = 0
    tokens_cache_write: int = 0
    cost_usd: float = 0.0  # estimated from the price table named below
    price_table: str = ""
    notes: list[str] = Field(default_factory=list)


class RAGReport(_Contract):
    """What the memory paths (rag, hybrid) retrieved and made of it (new in this service)."""

    mode: str = ""  # "patterns", "production" or "edge_cases"
    store: str = ""
    collection: str = ""
    embedding_model: str = ""
    query: str = ""
    retrieved: int = 0
    records_from_memory: int = 0  # adapted from a retrieved entry (labelled _source)
    records_topped_up: int = 0  # made by traditional generation: fewer examples than records
    edge_cases_from_schema: int = 0
    edge_cases_from_defects: int = 0
    sources: list[str] = Field(default_factory=list)
    learned: str = ""  # the pattern id stored back (learn_from_history)
    notes: list[str] = Field(default_factory=list)


class GenerationMetadata(_Contract):
    generation_path: str = "traditional"
    llm_tokens_used: int = 0
    generation_time_ms: float = 0.0
    coherence_score: float = 1.0
    scenario_counts: dict[str, int] = Field(default_factory=dict)
    # New in this service: the routing decision, why another path served, reproducibility.
    routed_path: str = ""
    routing_reason: str = ""
    routing_confidence: float = 0.0
    fallback_reason: str = ""
    seed: int = 0
    coherence_violations: list[CoherenceViolation] = Field(default_factory=list)
    records_validated: int = 0
    served_via: str = ""  # "fast_path" (the router itself) or "workflow" (Step Functions)
    execution_arn: str = ""
    llm: LLMReport | None = None
    rag: RAGReport | None = None


class GenerateResponse(_Contract):
    request_id: str = ""
    success: bool = True
    data: str = ""
    record_count: int = 0
    metadata: GenerationMetadata = Field(default_factory=GenerationMetadata)
    error: str = ""


class SchemaInfo(_Contract):
    name: str
    domain: str
    description: str
    fields: list[str]
