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


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The shuffled order's seed, even under ``-q``: a failure that depends on order repeats
    with ``-p randomly --randomly-seed=N``."""
    seed = getattr(config.option, "randomly_seed", None)
    if seed is not None:
        terminalreporter.write_line(f"test order: -p randomly --randomly-seed={seed}")
