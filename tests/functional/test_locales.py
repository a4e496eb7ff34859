"""Every Faker locale × every entity: only records the validator accepts, on both paths.

13 locales once failed for ``user`` (phone numbers written with '/', letters, Bengali digits,
or not at all): 500s on the served path, and the bulk path (CLI, streams, jobs), which does
not validate record by record, wrote thousands of invalid records while reporting success.
Pools are now valid by construction (``pools._phones``); this sweep holds them to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import orjson
import pytest

from tda.app.service import generate, plan_request
from tda.domain.contract import GenerateRequest, OutputFormat
from tda.domain.validation import validate_records
from tda.paths.traditional.bulk import stream_output
from tda.paths.traditional.pools import POOL_DIR, build_pool_data, supported_locales

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


def _in_a_process(code: str, hash_seed: int) -> str:
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_seed_gives_the_same_it_IT_records_in_every_process() -> None:
    """Faker's it_IT cities are a list made from a set, in the order of the process's string
    hashes: ``--seed 7 --locale it_IT`` gave other cities in each run."""
    code = (
        "from tda.app.service import generate\n"
        "from tda.domain.contract import GenerateRequest\n"
        "answer = generate(GenerateRequest(entity='user', count=50, seed=7, locale='it_IT'))\n"
        "print(answer.data)\n"
    )
    assert _in_a_process(code, 1) == _in_a_process(code, 2)


def test_a_locale_built_from_faker_is_the_same_in_every_process() -> None:
    """What ``scripts/build_pools.py`` writes and a server builds for a non-shipped locale."""
    code = (
        "import hashlib, orjson\n"
        "from tda.paths.traditional.pools import build_pool_data\n"
        "print(hashlib.sha256(orjson.dumps(build_pool_data('it_IT'))).hexdigest())\n"
    )
    assert _in_a_process(code, 1) == _in_a_process(code, 2)


@pytest.mark.parametrize("locale", sorted(p.stem for p in POOL_DIR.glob("*.json")))
def test_a_shipped_locale_is_what_faker_builds(locale: str) -> None:
    """A shipped pool file is Faker's build for that locale, value for value: a Faker upgrade
    without ``scripts/build_pools.py`` would make a shipped locale and a built one disagree."""
    assert orjson.loads((POOL_DIR / f"{locale}.json").read_bytes()) == build_pool_data(locale)
