"""The same request and seed give the same bytes, release after release.

Every entity × format, on the three ways records are made: the router's fast path (the Lambda
handler), a job's chunk (the traditional handler, which writes parts), and the CLI's stream to
a file (the bulk text path, compiled renderer and slabs). The sha256 of each output is recorded
in ``output_hashes.json``; a change of any byte fails here. When a change of bytes is meant
(a new provider, a fixed distribution), re-record and say so in the commit:

    TDA_RECORD_OUTPUT_HASHES=1 python -m pytest tests/functional/test_output_bytes.py
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tda_local.cli import main as tda_main
from tda_local.lambdas import invoke

HASHES = Path(__file__).with_name("output_hashes.json")
RECORDING = os.environ.get("TDA_RECORD_OUTPUT_HASHES") == "1"
ENTITIES = ["cart", "order", "payment", "user", "review", "product"]
FORMATS = ["JSON", "CSV", "SQL", "NDJSON"]
CUSTOM_SCHEMA = {
    "fields": [
        {"name": "invoice_id", "type": "STRING", "required": True},
        {"name": "amount", "type": "FLOAT", "required": True},
        {"name": "issued", "type": "DATE", "required": True},
        {"name": "email", "type": "EMAIL"},
        {"name": "status", "type": "ENUM", "required": True},
        {"name": "lines", "type": "ARRAY", "nested_fields": [{"name": "sku", "type": "STRING"}]},
    ]
}
CUSTOM_CONSTRAINTS = {
    "field_constraints": {
        "invoice_id": {"regex": "^INV-[0-9]{6}$"},
        "amount": {"min": 1, "max": 5000},
        "status": {"enum_values": ["open", "paid", "void"]},
    }
}

_recorded: dict[str, str] = json.loads(HASHES.read_text()) if HASHES.exists() else {}


def _check(key: str, data: bytes) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if RECORDING:
        _recorded[key] = digest
        HASHES.write_text(json.dumps(_recorded, indent=1, sort_keys=True) + "\n")
        return
    assert key in _recorded, f"no recorded hash for {key}: record with TDA_RECORD_OUTPUT_HASHES=1"
    assert digest == _recorded[key], f"{key}: the output bytes changed"


def _router(request: dict[str, Any]) -> bytes:
    response = invoke("router", {"request": request})
    assert response["success"], response
    return str(response["data"]).encode()


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("entity", ENTITIES)
def test_fast_path_bytes(entity: str, output_format: str) -> None:
    request = {"entity": entity, "count": 40, "seed": 20261203, "output_format": output_format}
    request["hints"] = ["fast"]  # the traditional path's bytes (a review would want the LLM)
    _check(f"fast/{entity}/{output_format}", _router(request))


@pytest.mark.parametrize("output_format", FORMATS)
def test_fast_path_bytes_with_scenarios_overrides_and_a_caller_schema(output_format: str) -> None:
    scenarios = {
        "entity": "order",
        "count": 30,
        "seed": 5,
        "output_format": output_format,
        "scenarios": [
            {"name": "happy", "count": 20},
            {"name": "refund", "count": 10, "overrides": {"status": "refunded"}},
        ],
    }
    _check(f"fast/order-scenarios/{output_format}", _router(scenarios))
    custom = {"entity": "invoice", "count": 30, "seed": 5, "output_format": output_format}
    custom.update(schema=CUSTOM_SCHEMA, constraints=CUSTOM_CONSTRAINTS)
    _check(f"fast/custom-schema/{output_format}", _router(custom))


@pytest.mark.parametrize("output_format", FORMATS)
@pytest.mark.parametrize("entity", ENTITIES)
def test_job_chunk_bytes(entity: str, output_format: str) -> None:
    event = {
        "request": {
            "entity": entity,
            "count": 3000,
            "seed": 77,
            "output_format": output_format,
        },
        "range": {"start": 1000, "count": 700},
        "part_size": 250,
    }
    result = invoke("traditional", event)
    parts = [(p["start"], p["record_count"], p["data"]) for p in result["parts"]]
    assert [p[0] for p in parts] == [1000, 1250, 1500]
    _check(f"chunk/{entity}/{output_format}", json.dumps(parts).encode())


@pytest.mark.parametrize("output_format", ["json", "csv", "sql", "ndjson"])
@pytest.mark.parametrize("entity", ENTITIES)
def test_bulk_stream_bytes(entity: str, output_format: str, tmp_path: Path) -> None:
    out = tmp_path / f"{entity}.{output_format}"
    argv = ["generate", entity, "--count", "3000", "--seed", "9", "-f", output_format]
    assert tda_main([*argv, "-o", str(out)]) == 0
    _check(f"bulk/{entity}/{output_format}", out.read_bytes())
