"""Shared helpers: build requests, run them through the public service, parse outputs back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tda import wiring
from tda.app.service import generate
from tda.domain.contract import GenerateRequest

wiring.install()  # as every handler and the local runtime do at start-up

ENTITIES = ["cart", "order", "payment", "user", "review", "product"]


def make_request(**fields: Any) -> GenerateRequest:
    fields.setdefault("seed", 1234)
    return GenerateRequest.model_validate(fields)


def generate_records(**fields: Any) -> list[dict[str, Any]]:
    """GIVEN request fields WHEN generated as JSON THEN the parsed records."""
    fields["output_format"] = "JSON"
    response = generate(make_request(**fields))
    assert response.success
    records: list[dict[str, Any]] = json.loads(response.data)
    assert len(records) == response.record_count
    return records


@pytest.fixture(params=ENTITIES)
def entity(request: pytest.FixtureRequest) -> str:
    return str(request.param)
