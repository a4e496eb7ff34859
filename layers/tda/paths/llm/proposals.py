"""The model proposes, the core disposes.

Which fields a model writes for an entity (``proposes`` in ``data/llm/llm.yaml``; a caller's
schema proposes its free text, enums, numbers and booleans), the JSON schema of its answer, and
how an answer becomes a record: laid over a record the traditional engine made for the same
plan and seed (ids, ``_index``, ``_scenario``, dates, everything not proposed), each value
checked against its field, then every derived field recomputed by the core's rules (line
totals, subtotal, tax, total...) and the few values that must agree with a proposal (an email
with its name, a SKU with its brand) mended. A scenario's overrides win over the model.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from tda.domain.catalog import Catalog, load_catalog
from tda.domain.contract import FieldType
from tda.domain.plan import GenerationPlan
from tda.domain.rederive import rederive
from tda.domain.schema.spec import EntitySpec, FieldSpec
from tda.domain.text import slug

_PROPOSABLE = frozenset(
    {FieldType.STRING, FieldType.INTEGER, FieldType.FLOAT, FieldType.BOOLEAN, FieldType.ENUM}
)


# An ENUM is listed in every call's prompt and again in its answer schema: past these it is
# left to traditional generation (a caller's 10,000 values were 260 KB a call, within budget).
MAX_ASKED_ENUM_VALUES = 200
MAX_ASKED_ENUM_CHARS = 4_000
# An integer range of at most this many values is asked for as the values themselves: a
# grammar-constrained server (llama.cpp, Ollama) keeps to an enum but not to minimum/maximum
# (SmolLM2 wrote ratings of 1983 and -10, each sent back, then filled).
MAX_ASKED_RANGE_VALUES = 20


@dataclass(frozen=True)
class Proposal:
    """What the model writes: top-level fields, and the fields of each array's object items;
    ``unlisted``: the ENUM fields it would write, but whose values are too many to list."""

    spec: EntitySpec
    fields: tuple[FieldSpec, ...]
    arrays: tuple[tuple[FieldSpec, tuple[FieldSpec, ...]], ...]
    unlisted: tuple[FieldSpec, ...] = ()

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(
            [f.path for f in self.fields] + [c.path for _, kids in self.arrays for c in kids]
        )


def proposal_for(spec: EntitySpec, listed: list[str] | None) -> Proposal:
    """The entity's listed paths, or (a caller's schema) every proposable field."""
    derived = spec.derived_paths

    def wanted(f: FieldSpec) -> bool:
        if listed is not None:
            return f.path in listed
        return (
            f.type in _PROPOSABLE
            and not f.unique
            and f.path not in derived
            and not f.format
            and f.regex is None
        )

    unlisted: list[FieldSpec] = []

    def asked(f: FieldSpec) -> bool:
        if not (f.is_scalar and wanted(f)):
            return False
        if _too_many(f):
            unlisted.append(f)
            return False
        return True

    fields = tuple(f for f in spec.fields if asked(f))
    arrays = []
    for f in spec.fields:
        if f.is_array and f.item is not None and f.item.is_object:
            kids = tuple(c for c in f.item.children if asked(c))
            if kids:
                arrays.append((f, kids))
    return Proposal(spec, fields, tuple(arrays), tuple(unlisted))


def _too_many(f: FieldSpec) -> bool:
    values = f.enum_values
    return len(values) > MAX_ASKED_ENUM_VALUES or sum(map(len, values)) > MAX_ASKED_ENUM_CHARS


def unlisted_note(f: FieldSpec) -> str:
    return (
        f"{f.path}: {len(f.enum_values):,} values, more than a prompt lists "
        f"({MAX_ASKED_ENUM_VALUES} or {MAX_ASKED_ENUM_CHARS:,} characters): drawn by "
        "traditional generation"
    )


# --------------------------------------------------------------------------- what to ask for


def _value_schema(f: FieldSpec) -> dict[str, Any]:
    if f.type is FieldType.ENUM or f.enum_values:
        schema: dict[str, Any] = {"type": "string", "enum": list(f.enum_values)}
    elif f.type is FieldType.INTEGER:
        schema = {"type": "integer"}
    elif f.type is FieldType.FLOAT:
        schema = {"type": "number"}
    elif f.type is FieldType.BOOLEAN:
        schema = {"type": "boolean"}
    else:
        schema = {"type": "string"}
        if f.max_length is not None:
            schema["maxLength"] = f.max_length
        # At least one character: a blank is sent back anyway (``_blank``); asked for so, a
        # grammar server cannot write one (a review body "" cost every record two more calls).
        schema["minLength"] = max(1, f.min_length or 0)
    if f.type in (FieldType.INTEGER, FieldType.FLOAT):
        if f.minimum is not None:
            schema["minimum"] = f.minimum
        if f.maximum is not None:
            schema["maximum"] = f.maximum
        if f.type is FieldType.INTEGER and "enum" not in schema:
            values = _small_range(f)
            if values:
                schema["enum"] = values
    if f.description:
        schema["description"] = f.description
    return schema


def _small_range(f: FieldSpec) -> list[int] | None:
    if f.minimum is None or f.maximum is None:
        return None
    low, high = math.ceil(f.minimum), math.floor(f.maximum)
    return list(range(low, high + 1)) if 0 < high - low + 1 <= MAX_ASKED_RANGE_VALUES else None


def strict_object(properties: dict[str, Any]) -> dict[str, Any]:
    # Every property required and no others: what OpenAI's strict json_schema demands.
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def record_schema(proposal: Proposal, meta_field: str | None) -> dict[str, Any]:
    properties: dict[str, Any] = {"_index": {"type": "integer"}, "_scenario": {"type": "string"}}
    if meta_field:
        properties[meta_field] = {"type": "string"}
    for f in proposal.fields:
        properties[f.name] = _value_schema(f)
    for array, kids in proposal.arrays:
        items: dict[str, Any] = {
            "type": "array",
            "items": strict_object({c.name: _value_schema(c) for c in kids}),
        }
        if array.min_length is not None:
            items["minItems"] = array.min_length
        if array.max_length is not None:
            items["maxItems"] = array.max_length
        properties[array.name] = items
    return strict_object(properties)


def answer_schema(proposal: Proposal, meta_field: str | None) -> dict[str, Any]:
    return strict_object(
        {"records": {"type": "array", "items": record_schema(proposal, meta_field)}}
    )


def describe_fields(proposal: Proposal) -> str:
    """The schema as the prompt shows it: one line a field, compact."""
    lines = [f"- {f.name}: {_describe(f)}" for f in proposal.fields]
    for array, kids in proposal.arrays:
        size = f"{array.min_length or 1}-{array.max_length or 'n'}"
        lines.append(f"- {array.name}: array of {size} objects, each:")
        lines += [f"  - {c.name}: {_describe(c)}" for c in kids]
    return "\n".join(lines)


def _describe(f: FieldSpec) -> str:
    kind = {
        FieldType.FLOAT: "number (dollars)" if f.is_money else "number",
    }.get(f.type, f.type.value.lower())
    if f.enum_values:
        # As JSON strings: joined by ", ", "Doe, John" and "Roe, Jane" ran together.
        kind = "one of " + json.dumps(list(f.enum_values), ensure_ascii=False)
    return f"{kind}{' — ' + f.description if f.description else ''}"


def describe_constraints(proposal: Proposal) -> str:
    lines = []
    for f in (*proposal.fields, *(c for _, kids in proposal.arrays for c in kids)):
        rules = []
        if f.minimum is not None:
            rules.append(f">= {f.minimum / 100 if f.is_money else f.minimum:g}")
        if f.maximum is not None:
            rules.append(f"<= {f.maximum / 100 if f.is_money else f.maximum:g}")
        if f.min_length is not None:
            rules.append(f"at least {f.min_length} characters")
        if f.max_length is not None:
            rules.append(f"at most {f.max_length} characters")
        if rules:
            lines.append(f"- {f.path}: {', '.join(rules)}")
    return "\n".join(lines) or "- none beyond the schema"


# --------------------------------------------------------------------------- laying answers over


def overlay(
    proposal: Proposal,
    base: dict[str, Any],
    answer: Any,
    fixed: frozenset[str],
    meta_field: str | None,
) -> tuple[dict[str, Any], list[str]]:
    """``base`` with the model's ``answer`` laid over it (paths in ``fixed``, a scenario's
    overrides, keep the base's value), and the ways its shape is wrong (not an object, an
    array of the wrong size): values themselves are checked once the record is whole."""
    if not isinstance(answer, dict):
        return base, ["$: must be an object"]
    record = dict(base)  # the arrays laid over are rebuilt below; nothing else is changed
    errors: list[str] = []
    # Values are laid over as written (coerced where harmless); the merged record is then
    # validated whole (``validate_records``), which names each broken field for the repair.
    for f in proposal.fields:
        if f.path not in fixed:
            record[f.name] = _coerced(f, answer.get(f.name))
            errors += _blank(f.name, record[f.name], base.get(f.name))
    for array, kids in proposal.arrays:
        errors += _overlay_items(array, kids, record, answer.get(array.name), fixed)
    if meta_field and isinstance(answer.get(meta_field), str):
        record[meta_field] = answer[meta_field][:200]
    return record, errors


def _overlay_items(
    array: FieldSpec,
    kids: tuple[FieldSpec, ...],
    record: dict[str, Any],
    items: Any,
    fixed: frozenset[str],
) -> list[str]:
    if not isinstance(items, list):
        return [f"{array.name}: must be an array"]
    lo = array.min_length if array.min_length is not None else 1
    hi = array.max_length if array.max_length is not None else len(items)
    if not lo <= len(items) <= hi:
        return [f"{array.name}: must have {lo} to {hi} items (got {len(items)})"]
    base_items = record.get(array.name) or [{}]
    made, errors = [], []
    for j, item in enumerate(items):
        target = dict(base_items[j % len(base_items)])
        if not isinstance(item, dict):
            errors.append(f"{array.name}[{j}]: must be an object")
            continue
        for c in kids:
            if c.path not in fixed:
                made_here = _coerced(c, item.get(c.name))
                errors += _blank(f"{array.name}[{j}].{c.name}", made_here, target.get(c.name))
                target[c.name] = made_here
        made.append(target)
    if not errors:
        record[array.name] = made
    return errors


def _blank(name: str, value: Any, base: Any) -> list[str]:
    """An empty string where the field has a value (a small model wrote first_name ""): valid
    by a schema with no least length, and no data anyone wants; sent back to be written."""
    if isinstance(value, str) and not value.strip() and isinstance(base, str) and base.strip():
        return [f"{name}: must not be empty"]
    return []


def _coerced(f: FieldSpec, value: Any) -> Any:
    """Harmless shapes a model writes: 3.0 for an integer, "19.99" for a number, money to cents."""
    # By the value's type first: most are strings of string fields (a call per item field).
    if isinstance(value, str):
        if f.type not in (FieldType.INTEGER, FieldType.FLOAT):
            return value
        try:
            number = float(value.strip().lstrip("$"))
        except ValueError:
            return value
        return int(number) if f.type is FieldType.INTEGER and number.is_integer() else number
    if isinstance(value, float):
        if f.type is FieldType.INTEGER and value.is_integer():
            return int(value)
    elif not isinstance(value, int) or isinstance(value, bool):
        return value
    if f.is_money:
        try:
            return round(float(value), 2)  # whole cents: the core's arithmetic is in cents
        except OverflowError:  # an integer of 400 digits: left for validation to name
            return value
    return value


# --------------------------------------------------------------------------- the core disposes


def recompute(
    plan: GenerationPlan,
    proposal: Proposal,
    records: list[dict[str, Any]],
    fixed_by_record: list[frozenset[str]],
    rng: np.random.Generator,
) -> None:
    """Derived fields and agreeing values, recomputed in place by the core's rules."""
    rederive(plan.spec, records, proposal.paths, fixed_by_record, rng)
    _mend_agreements(plan.spec, plan.catalog or load_catalog(), proposal, records, fixed_by_record)


_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def _mend_agreements(
    spec: EntitySpec,
    catalog: Catalog,
    proposal: Proposal,
    records: list[dict[str, Any]],
    fixed_by_record: list[frozenset[str]],
) -> None:
    """Values tied to a proposed one: an email carries its person's name, a SKU its brand's
    code and the product its name names. Recomputed from the proposal, keeping the base's
    other parts."""
    checks = " ".join(rule.expr for rule in spec.rules if rule.derive is None)
    proposed = proposal.paths
    mend_email = "email_matches(email, first_name, last_name)" in checks and (
        {"first_name", "last_name"} & proposed
    )
    mend_sku = "sku_matches_brand(sku, brand)" in checks and "brand" in proposed
    # Items the model names whose SKU the catalog makes: the SKU follows the name (it came
    # from the traditional item the answer was laid over: another product's, or, past that
    # cart's items, one of its SKUs again).
    item_skus = [
        array.name
        for array, kids in proposal.arrays
        if any(c.name == "name" for c in kids)
        and array.item is not None
        and any(c.name == "sku" and c.generator == "catalog.sku" for c in array.item.children)
    ]
    for record, fixed in zip(records, fixed_by_record, strict=True):
        if mend_email and "email" not in fixed and isinstance(record.get("email"), str):
            local = ".".join(
                s
                for s in (
                    slug(str(record.get("first_name") or "")),
                    slug(str(record.get("last_name") or "")),
                )
                if s
            )
            domain = record["email"].partition("@")[2]
            if local and domain:
                record["email"] = f"{local}@{domain}"
        if mend_sku and "sku" not in fixed and isinstance(record.get("sku"), str):
            name = record.get("name") if "name" in proposed else None
            brand = str(record.get("brand") or "")
            record["sku"] = catalog.sku_for(
                name if isinstance(name, str) else brand, record["sku"], brand
            )
        for array in item_skus:
            if f"{array}.sku" in fixed or not isinstance(record.get(array), list):
                continue
            for item in record[array]:
                if isinstance(item.get("sku"), str) and isinstance(item.get("name"), str):
                    item["sku"] = catalog.sku_for(item["name"], item["sku"])
