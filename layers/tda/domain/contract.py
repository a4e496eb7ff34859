"""The request/response contract: every field of the seed proto's GenerateRequest/GenerateResponse.

Field names are the proto's (snake_case); proto3 JSON camelCase names are accepted too, so the
same model reads the seed README's grpcurl bodies and a protobuf ``MessageToJson`` alike.
Enums accept their proto names in any case (``"JSON"``, ``"json"``) or their numbers.
"""

# No ``from __future__ import annotations``: the validator is built from the annotations as
# objects (tda.domain.wire).
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Annotated, Any

from tda.domain.wire import Before, Range, Strict, WireModel

StrictBool = Annotated[bool, Strict()]


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


def _field_type(value: Any) -> Any:
    return _enum_by_name_or_number(FieldType, value)


def _output_format(value: Any) -> Any:
    return _enum_by_name_or_number(OutputFormat, value)


def _whole_number(value: Any) -> Any:
    # Numbers, or their decimal text (proto3 JSON writes 64-bit integers as strings); a
    # boolean is neither, though Python would count `true` as 1.
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true/false")
    return value


WholeNumber = Annotated[int, Before(_whole_number)]


@dataclass
class FieldDef(WireModel):
    """A field of a caller's schema; an OBJECT's or ARRAY's nested fields inside it."""

    # Absent is empty, as proto3 has it (the gRPC shim cannot tell them apart): refused as a
    # name, except for an ARRAY's one nested field, its item.
    name: str = ""
    type: Annotated[FieldType, Before(_field_type)] = FieldType.STRING
    required: StrictBool = False
    description: str = ""
    nested_fields: list["FieldDef"] = field(default_factory=list)


@dataclass
class SchemaDef(WireModel):
    """A caller's own fields, or the name of a registered entity."""

    fields: list[FieldDef] = field(default_factory=list)
    predefined_schema: str = ""


@dataclass
class FieldConstraint(WireModel):
    """Bounds, allowed values, a pattern, lengths or a format for one field."""

    min: float | None = None
    max: float | None = None
    enum_values: list[str] = field(default_factory=list)
    regex: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    format: str | None = None


@dataclass
class Constraints(WireModel):
    """Constraints by field path (``items.quantity``)."""

    field_constraints: dict[str, FieldConstraint] = field(default_factory=dict)


@dataclass
class Scenario(WireModel):
    """A named share of the records, with field overrides."""

    name: str
    count: int = 0
    overrides: dict[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass
class GenerateRequest(WireModel):
    """What a caller asks for: an entity or a schema, how many records, in what format."""

    request_id: str = ""
    domain: str = ""
    entity: str = ""
    schema: SchemaDef | None = None
    constraints: Constraints | None = None
    scenarios: list[Scenario] = field(default_factory=list)
    context: str = ""
    hints: list[str] = field(default_factory=list)
    output_format: Annotated[OutputFormat, Before(_output_format)] = OutputFormat.JSON
    count: WholeNumber = 0
    use_cache: StrictBool = False
    learn_from_history: StrictBool = False
    defect_triggering: StrictBool = False
    production_like: StrictBool = False
    # New in this service (new proto numbers): reproducibility and locale.
    # The proto's int64, so a seed means the same on both transports (and comes back whole in
    # the response's metadata).
    seed: Annotated[int, Range(ge=-(2**63), le=2**63 - 1), Before(_whole_number)] | None = None
    locale: str = "en_US"

    def to_payload(self) -> dict[str, Any]:
        """The seed's JSON request shape (proto field names; unset optionals left out)."""
        return self.model_dump(mode="json", exclude_none=True)


def stated_request_id(payload: Any) -> str:
    """The id a request payload gives itself (``request_id``, or proto3 JSON's ``requestId``),
    or '' when it gives none that is a string: what every answer to it, a refusal included,
    is labelled with."""
    if not isinstance(payload, dict):
        return ""
    request_id = payload.get("request_id") or payload.get("requestId")
    return request_id if isinstance(request_id, str) else ""


@dataclass
class CoherenceViolation(WireModel):
    """One business rule one record breaks."""

    index: int
    rule: str
    message: str


@dataclass
class LLMReport(WireModel):
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
    notes: list[str] = field(default_factory=list)


@dataclass
class RAGReport(WireModel):
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
    sources: list[str] = field(default_factory=list)
    learned: str = ""  # the pattern id stored back (learn_from_history)
    notes: list[str] = field(default_factory=list)


@dataclass
class GenerationMetadata(WireModel):
    """How the records were made: the path, the time, their coherence, the seed."""

    generation_path: str = "traditional"
    llm_tokens_used: int = 0
    generation_time_ms: float = 0.0
    coherence_score: float = 1.0
    scenario_counts: dict[str, int] = field(default_factory=dict)
    # New in this service: the routing decision, why another path served, reproducibility.
    routed_path: str = ""
    routing_reason: str = ""
    routing_confidence: float = 0.0
    fallback_reason: str = ""
    seed: int = 0
    coherence_violations: list[CoherenceViolation] = field(default_factory=list)
    records_validated: int = 0
    served_via: str = ""  # "fast_path" (the router itself) or "workflow" (Step Functions)
    execution_arn: str = ""
    llm: LLMReport | None = None
    rag: RAGReport | None = None


@dataclass
class GenerateResponse(WireModel):
    """The records, in the requested format, and how they were made."""

    request_id: str = ""
    success: bool = True
    data: str = ""
    record_count: int = 0
    metadata: GenerationMetadata = field(default_factory=GenerationMetadata)
    error: str = ""


@dataclass
class SchemaInfo(WireModel):
    """A registered entity, as GetSchemas lists it."""

    name: str
    domain: str
    description: str
    fields: list[str]
