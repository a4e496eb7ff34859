"""Every Faker locale × every entity: only records the validator accepts, on both paths.

13 locales once failed for ``user`` (phone numbers written with '/', letters, Bengali digits,
or not at all): 500s on the served path, and the bulk path (CLI, streams, jobs), which does
not validate record by record, wrote thousands of invalid records while reporting success.
Pools are now valid by construction (``pools._phones``); this sweep holds them to it.
"""

from __future__ import annotations

import json

import pytest

from tda.app.service import generate, plan_request
from tda.domain.contract import GenerateRequest, OutputFormat
from tda.domain.validation import validate_records
from tda.paths.traditional.bulk import stream_output
from tda.paths.traditional.pools import supported_locales

from ..conftest import ENTITIES


@pytest.mark.parametrize("locale", supported_locales())
def test_every_entity_of_every_locale_is_valid_on_both_paths(locale: str) -> None:
    for entity in ENTITIES:
        served = generate(GenerateRequest(entity=entity, count=100, seed=11, locale=locale))
        assert served.metadata.records_validated == 100  # generate raises on an invalid record
    plan = plan_request(GenerateRequest(entity="user", count=4000, seed=12, locale=locale))
    bulk = b"".join(stream_output(plan, OutputFormat.NDJSON))
    report = validate_records(plan.spec, [json.loads(line) for line in bulk.splitlines()])
    assert report.valid, report.issues[:3]
