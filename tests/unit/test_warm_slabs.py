"""Warm slabs (tda.paths.traditional.reservoir): the fast path's small unseeded requests, and their slab seeds.

Every response must be fresh (no record handed out twice), validated, scored on its own
records, and replayable: its reported seed, sent back, gives the same bytes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest

from tda.app.service import generate, plan_request
from tda.domain.coherence import ScoredBatch, records_to_columns, score_records
from tda.domain.contract import GenerateRequest, OutputFormat
from tda.domain.schema.registry import get_entity
from tda.paths.traditional.bulk import stream_output
from tda.paths.traditional.reservoir import MAX_TAKE
from tda.paths.traditional.slabs import SLAB_FLAG, slab_seed, slab_window
from tda_local.lambdas import invoke


def routed(body: dict[str, Any]) -> dict[str, Any]:
    """The router handler's answer, as every surface gets it."""
    response: dict[str, Any] = invoke("router", {"request": body})
    return response


def replayed(body: dict[str, Any], seed: int) -> dict[str, Any]:
    """The same request made from its seed alone, by the plain generator (no slabs)."""
    return generate(GenerateRequest.model_validate({**body, "seed": seed})).model_dump(mode="json")


@pytest.mark.parametrize("entity", ["cart", "user", "order", "payment", "review", "product"])
def test_an_unseeded_response_replays_byte_for_byte_from_its_reported_seed(entity: str) -> None:
    body = {"entity": entity, "count": 7, "hints": ["fast"]}
    for _ in range(12):  # across slab boundaries: slabs start at 64 records
        first = routed(body)
        seed = first["metadata"]["seed"]
        assert seed >= SLAB_FLAG, "served from a warm slab"
        again = replayed(body, seed)
        assert again["data"] == first["data"]
        assert again["metadata"]["coherence_score"] == first["metadata"]["coherence_score"]
        assert first["metadata"]["records_validated"] == 7


def test_no_record_is_handed_out_twice_even_under_concurrent_callers() -> None:
    body = {"entity": "cart", "count": 10}
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: routed(body), range(120)))
    ids = [r["cart_id"] for response in responses for r in orjson.loads(response["data"])]
    assert len(ids) == 1200 and len(set(ids)) == 1200
    seeds = {response["metadata"]["seed"] for response in responses}
    assert len(seeds) == 120
    for response in responses:
        records = orjson.loads(response["data"])
        assert [r["_index"] for r in records] == list(range(10))


def test_other_formats_are_the_same_records_as_json() -> None:
    served = routed({"entity": "order", "count": 5, "output_format": "CSV"})
    seed = served["metadata"]["seed"]
    as_json = orjson.loads(replayed({"entity": "order", "count": 5}, seed)["data"])
    lines = served["data"].splitlines()
    assert len(lines) == 6  # header + 5 rows
    for line, record in zip(lines[1:], as_json, strict=True):
        assert record["order_id"] in line


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"entity": "cart", "count": 5, "seed": 42}, id="seeded"),
        pytest.param(
            {"entity": "cart", "count": 5, "scenarios": [{"name": "big", "count": 5}]},
            id="scenarios",
        ),
        pytest.param({"entity": "user", "count": MAX_TAKE + 1}, id="above-max-take"),
    ],
)
def test_requests_a_slab_cannot_serve_are_made_from_their_own_seed(body: dict[str, Any]) -> None:
    served = routed(body)
    seed = served["metadata"]["seed"]
    assert seed < SLAB_FLAG
    assert replayed(body, seed)["data"] == served["data"]


def test_a_slab_seed_that_cannot_name_a_slice_is_an_ordinary_seed() -> None:
    seed = slab_seed(base=99, size=64, offset=60)  # 60 + 10 > 64
    assert slab_window(seed, 10) is None and slab_window(seed, 4) is not None
    body = {"entity": "cart", "count": 10, "seed": seed}
    first, second = routed(body), routed(body)
    assert first["data"] == second["data"] and first["metadata"]["seed"] == seed
    window = routed({**body, "count": 4})["data"]
    assert orjson.loads(window)[0]["cart_id"] != orjson.loads(first["data"])[0]["cart_id"]


def test_slab_seeds_reject_sizes_and_offsets_they_cannot_encode() -> None:
    for size, offset in ((100, 0), (32, 0), (2048, 0), (64, 64)):
        with pytest.raises(ValueError):
            slab_seed(1, size, offset)


def test_a_slice_is_scored_as_its_own_records_would_be() -> None:
    spec = get_entity("cart")
    made = orjson.loads(generate(GenerateRequest(entity="cart", count=30, seed=5)).data.encode())
    for record in made[10:20:3]:  # break the arithmetic of a few records
        record["total"] = round(record["total"] + 1.0, 2)
    columns = records_to_columns(spec, made)
    scored = ScoredBatch.of(spec, columns)
    for start, stop in ((0, 10), (8, 18), (20, 30), (12, 13)):
        alone = score_records(spec, made[start:stop])
        sliced = scored.report(start, stop)
        assert sliced.score == alone.score
        assert sliced.violations_by_rule == alone.violations_by_rule
        assert [v.model_dump() for v in sliced.violations] == [
            v.model_dump() for v in alone.violations
        ]
    assert scored.report(8, 18).score < 1.0 and scored.report(20, 30).score == 1.0


def test_a_slab_seed_gives_the_same_records_on_the_bulk_text_path() -> None:
    """The CLI and streams render through the compiled renderer: same slice, same records."""
    served = routed({"entity": "user", "count": 9})
    seed = served["metadata"]["seed"]
    request = GenerateRequest(entity="user", count=9, seed=seed, output_format=OutputFormat.NDJSON)
    text = b"".join(stream_output(plan_request(request), OutputFormat.NDJSON))
    assert [orjson.loads(line) for line in text.splitlines()] == orjson.loads(served["data"])
