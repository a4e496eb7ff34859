"""The bulk path renders text straight from columns; it must equal the record path.

``stream_records`` builds record dicts (what the sync response uses); ``stream_output`` never
builds them (JSON and NDJSON from the compiled renderer, CSV and SQL from the columns). The two are held to each other here on values that are hard
to encode: nulls of every type, hostile strings, odd field names, empty arrays, date formats.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tda.app.service import plan_request
from tda.domain.contract import GenerateRequest, OutputFormat
from tda.domain.output import renderer_for
from tda.domain.plan import BATCH_ROWS
from tda.domain.records import iso_texts
from tda.paths.traditional.bulk import stream_output, stream_records

from ..conftest import ENTITIES

HOSTILE = 'say "hi" \\ "," ","  {x} }}{{ \n\t\x01 é 😀 </script>'


def _both_paths(request: GenerateRequest) -> tuple[list[dict[str, Any]], list[Any], Any]:
    plan = plan_request(request)
    records = [r for batch in stream_records(plan) for r in batch.records]
    lines = b"".join(stream_output(plan, OutputFormat.NDJSON)).decode().splitlines()
    as_json = json.loads(b"".join(stream_output(plan, OutputFormat.JSON)))
    for table_format in (OutputFormat.CSV, OutputFormat.SQL):  # written from the columns
        from_records = renderer_for(table_format, plan.spec).render(records)
        assert b"".join(stream_output(plan, table_format)) == from_records, table_format
    return records, [json.loads(line) for line in lines], as_json


@pytest.mark.parametrize("entity", ENTITIES)
def test_every_entity_streams_the_records_the_record_path_builds(entity: str) -> None:
    count = BATCH_ROWS + 500  # across an engine batch boundary
    records, ndjson, as_json = _both_paths(GenerateRequest(entity=entity, count=count, seed=5))
    assert len(records) == count
    assert ndjson == records
    assert as_json == records


def test_nulls_hostile_strings_and_empty_arrays_survive_the_text_path() -> None:
    fields = [
        {"name": "label", "type": "STRING"},
        {"name": "amount", "type": "INTEGER", "required": False},
        {"name": "when", "type": "DATETIME", "required": False},
        {"name": "day", "type": "DATE"},
        {"name": "stamp", "type": "DATETIME"},
        {"name": "custom_day", "type": "DATE"},
        {"name": "ratio", "type": "FLOAT", "required": False},
        {"name": "flag", "type": "BOOLEAN", "required": False},
        {"name": "tags", "type": "ARRAY", "nested_fields": [{"name": "tag", "type": "STRING"}]},
        {
            "name": "lines",
            "type": "ARRAY",
            "nested_fields": [
                {"name": "qty", "type": "INTEGER"},
                {"name": "note", "type": "STRING", "required": False},
            ],
        },
        {
            "name": "box",
            "type": "OBJECT",
            "nested_fields": [{"name": "size", "type": "FLOAT"}],
        },
    ]
    constraints = {
        "tags": {"min_length": 0, "max_length": 3},
        "lines": {"min_length": 0, "max_length": 2},
        "stamp": {"format": "epoch"},
        "custom_day": {"format": "%d/%m/%Y"},
    }
    overrides = {
        "label": HOSTILE,
        "amount": "null",
        "when": "null",
        "ratio": "null",
        "flag": "null",
        "lines.note": HOSTILE,
    }
    request = GenerateRequest.model_validate(
        {
            "entity": "odd",
            "schema": {"fields": fields},
            "constraints": {"field_constraints": constraints},
            "count": 1200,
            "seed": 3,
            "scenarios": [
                {"name": 'hostile "one"', "count": 700, "overrides": overrides},
                {"name": "plain", "count": 500},
            ],
        }
    )
    records, ndjson, as_json = _both_paths(request)
    assert ndjson == records and as_json == records
    hostile = [r for r in records if r["_scenario"] == 'hostile "one"']
    assert len(hostile) == 700
    assert {r["label"] for r in hostile} == {HOSTILE}
    assert all(r["when"] is None and r["flag"] is None for r in hostile)
    assert any(r["tags"] == [] for r in records) and any(r["lines"] == [] for r in records)
    assert all(isinstance(r["stamp"], int) for r in records)
    assert any(note == HOSTILE for r in hostile for note in (i["note"] for i in r["lines"]))


def test_non_ascii_ids_and_values_without_escapes_survive_the_text_path() -> None:
    """Text needing no JSON escape is used as is (a length check); non-ASCII must not fool it."""
    fields = [
        {"name": "ref", "type": "STRING"},
        {"name": "city", "type": "ENUM"},
        {"name": "note", "type": "STRING"},
    ]
    request = GenerateRequest.model_validate(
        {
            "entity": "odd",
            "schema": {"fields": fields},
            "constraints": {
                "field_constraints": {
                    "ref": {"format": "Ré-{year}-{random:4}"},
                    "city": {"enum_values": ["Zürich", "Kraków", "東京", "Plain"]},
                }
            },
            "count": 300,
            "seed": 9,
            "scenarios": [
                {"name": "café", "count": 200, "overrides": {"note": "naïve 😀"}},
                {"name": "escaped", "count": 100, "overrides": {"note": 'a "b" \\ c'}},
            ],
        }
    )
    records, ndjson, as_json = _both_paths(request)
    assert ndjson == records and as_json == records
    assert all(r["ref"].startswith("Ré-") and len(r["ref"]) == len("Ré-2025-ABCD") for r in records)
    assert {r["note"] for r in records} == {"naïve 😀", 'a "b" \\ c'}
    assert {r["city"] for r in records} <= {"Zürich", "Kraków", "東京", "Plain"}


@given(st.lists(st.integers(-62135596800, 253402300799), min_size=1, max_size=50))
def test_iso_texts_match_numpy_for_any_date_in_years_1_to_9999(seconds: list[int]) -> None:
    stamps = np.array(seconds, dtype=np.int64)
    as_datetime = stamps.astype("datetime64[s]")
    assert (
        iso_texts(stamps, with_time=True)
        == np.datetime_as_string(as_datetime, unit="s", timezone="UTC").tolist()
    )
    assert (
        iso_texts(stamps, with_time=False)
        == np.datetime_as_string(as_datetime.astype("datetime64[D]"), unit="D").tolist()
    )
