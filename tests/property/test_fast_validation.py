"""The compiled yes/no validator (validation_fast) is never looser than the detailed one.

``validate_records`` trusts a "yes" from the compiled check and skips the detailed validator,
so a record the detailed validator would fault must never get a "yes". Records are generated,
then broken one value at a time in every way a caller or a model could break them.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import orjson
import pytest

from tda.app.service import generate
from tda.domain.contract import GenerateRequest
from tda.domain.schema.registry import get_entity
from tda.domain.validation import compile_validator, validate_records
from tda.domain.validation.fast import compile_all_valid

ENTITIES = ["cart", "user", "order", "payment", "review", "product"]


class Text(str):
    """A str subclass: valid for the detailed validator, refused by the compiled check."""


HOSTILE: list[Any] = [
    None, "", " ", "x", "2024-13-45", "2024-02-29T10:00:00Z", "not-an-email", "+1 555",
    Text("USD"), -1, 0, 1, 10**30, -(10**30), 1.5, 0.001, -0.0, math.nan, math.inf, True,
    False, [], [None], [{}], {}, {"a": 1}, 12.345, 99999.99,
]  # fmt: skip


def made(entity: str) -> list[dict[str, Any]]:
    response = generate(GenerateRequest(entity=entity, count=20, seed=3, hints=["fast"]))
    records: list[dict[str, Any]] = orjson.loads(response.data)
    return records


RECORDS = {entity: made(entity) for entity in ENTITIES}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside a record: dict keys and list positions, depth first."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += paths(inner, (*prefix, i))
    return found


def mutate(record: dict[str, Any], path: tuple[Any, ...], how: str, value: Any) -> None:
    *parents, last = path
    holder: Any = record
    for step in parents:
        holder = holder[step]
    if how == "set":
        holder[last] = value
    elif how == "delete" and isinstance(holder, dict):
        del holder[last]
    elif how == "add" and isinstance(holder, dict):
        holder[f"extra_{last}"] = value
    elif how == "add_meta" and isinstance(holder, dict):
        holder["_note"] = value
    elif how == "add" and isinstance(holder, list):
        holder.append(value)


def detailed_errors(entity: str, record: Any) -> list[Any] | None:
    """The detailed validator's errors, or None if it raises on this record."""
    errors: list[Any] = []
    try:
        compile_validator(get_entity(entity))(record, "", errors)
    except Exception:
        return None
    return errors


@pytest.mark.parametrize("entity", ENTITIES)
def test_generated_records_pass_both(entity: str) -> None:
    spec = get_entity(entity)
    assert compile_all_valid(spec)(RECORDS[entity])
    assert all(detailed_errors(entity, r) == [] for r in RECORDS[entity])


@pytest.mark.parametrize("entity", ENTITIES)
def test_the_compiled_check_never_passes_what_the_detailed_validator_faults(entity: str) -> None:
    """Every place of two records, every hostile value, every kind of change: exhaustively."""
    spec = get_entity(entity)
    all_valid = compile_all_valid(spec)
    checked = 0
    for original in RECORDS[entity][:2]:
        for place in paths(original):
            changes = [("set", v) for v in HOSTILE] + [
                ("delete", None),
                ("add", 1),
                ("add_meta", 1),
            ]
            for how, value in changes:
                record = copy.deepcopy(original)
                mutate(record, place, how, copy.deepcopy(value))
                errors = detailed_errors(entity, record)
                if errors is None or errors:
                    assert not all_valid([record]), f"{place} {how} {value!r}: passed {errors}"
                    checked += 1
                if errors is not None:
                    assert validate_records(spec, [record]).valid == (errors == [])
    assert checked > 100  # the changes did break records


def test_a_faulty_batch_still_gets_every_error_reported() -> None:
    records = copy.deepcopy(RECORDS["cart"])
    records[3]["total"] = "a lot"
    records[7]["items"][0]["quantity"] = -2
    report = validate_records(get_entity("cart"), records)
    assert {(i.index, i.field) for i in report.issues} >= {
        (3, "total"),
        (7, "items[0].quantity"),
    }
