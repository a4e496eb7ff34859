"""The rag path through the public service: provenance, top-up, production-like distributions,
edge cases for every entity, learning, and every way the memory can fail."""

from __future__ import annotations

import itertools
import json
import shutil
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tda import wiring
from tda.adapters.lance_store import LanceStore
from tda.app.service import generate
from tda.domain.edge_cases import RULE_PREFIX, violations
from tda.domain.rules import compile_rules, referenced_paths
from tda.domain.schema.registry import get_entity
from tda.domain.validation import parse_temporal, validate_records
from tda.paths.retrieval.corpus import seed_corpus
from tda.ports.memory import Entry, ModelStamp
from tda_local.cli import main

from ..conftest import ENTITIES, make_request, printed_in_a_fresh_interpreter
from ..llm.scripted import Transport, chat_records
from ..silent_server import SilentServer
from .conftest import s3_environment


def served(**fields: Any) -> tuple[Any, list[dict[str, Any]]]:
    response = generate(make_request(output_format="JSON", **fields))
    return response.metadata, json.loads(response.data)


def served_at_once(requests: int, **fields: Any) -> list[tuple[Any, list[dict[str, Any]]]]:
    """``requests`` requests at once, each in a thread of its own; the answers that came
    within two minutes (a request that waited on a store gone wrong never came back)."""
    answers: list[Any] = []
    asking = [
        threading.Thread(target=lambda: answers.append(served(**fields)), daemon=True)
        for _ in range(requests)
    ]
    for thread in asking:
        thread.start()
    for thread in asking:
        thread.join(120)
    return answers


def test_more_records_than_examples_are_topped_up_and_none_repeated(seeded: Path) -> None:
    meta, records = served(entity="cart", count=20, learn_from_history=True)
    stored = sum(1 for e in seed_corpus().entries["patterns"] if e.entity == "cart")
    from_memory = [r["_source"] for r in records if r["_source"] != "traditional"]
    assert len(from_memory) == len(set(from_memory)) == stored
    assert meta.rag.records_from_memory == stored
    assert meta.rag.records_topped_up == 20 - stored
    assert any("topped up by traditional" in n for n in meta.rag.notes)
    assert validate_records(get_entity("cart"), records).valid


@pytest.mark.parametrize("seed", [-1, -(2**63), 2**63 - 1])
@pytest.mark.parametrize("mode", ["learn_from_history", "defect_triggering", "production_like"])
def test_any_seed_the_contract_takes_is_served_the_same_each_time(
    seeded: Path, seed: int, mode: str
) -> None:
    # Before: a negative seed was a 500 on the rag path (numpy takes no negative seed).
    first = served(entity="cart", count=3, seed=seed, **{mode: True})
    again = served(entity="cart", count=3, seed=seed, **{mode: True})
    assert first[0].generation_path == "rag" and first[0].seed == seed
    assert first[1] == again[1]


def stamp(spec: Any, name: str, record: dict[str, Any]) -> float:
    f = spec.find(name)
    assert f is not None
    seconds = parse_temporal(f, record[name])
    assert seconds is not None
    return seconds


def test_adapted_timestamps_keep_the_example_order_and_gaps(seeded: Path) -> None:
    _, records = served(entity="order", count=11, learn_from_history=True)
    spec = get_entity("order")
    examples = {e.id: json.loads(e.data)["record"] for e in seed_corpus().entries["patterns"]}
    fields = ("created_at", "updated_at", "completed_at")
    checked = 0
    for record in records:
        example = examples.get(record["_source"])
        if example is None:
            continue
        for a, b in itertools.pairwise(fields):
            if example.get(a) and example.get(b):
                gap = stamp(spec, b, example) - stamp(spec, a, example)
                assert stamp(spec, b, record) - stamp(spec, a, record) == pytest.approx(gap, abs=1)
                checked += 1
        assert record["status"] == example["status"]
        assert record["order_id"] != example["order_id"]
    assert checked >= 11


def test_production_like_follows_the_stored_distributions(seeded: Path) -> None:
    meta, records = served(entity="payment", count=1000, production_like=True)
    assert meta.generation_path == "rag" and meta.rag.mode == "production"
    sample = next(e for e in seed_corpus().entries["production"] if e.entity == "payment")
    stats = json.loads(sample.data)["stats"]
    methods = Counter(r["method"] for r in records)
    for method, share in stats["categorical"]["method"].items():
        assert methods[method] / 1000 == pytest.approx(share, abs=0.05)
    quantiles = dict((p, v) for p, v in stats["numeric"]["amount"])
    amounts = np.array([r["amount"] for r in records])
    assert np.median(amounts) == pytest.approx(quantiles[0.5], rel=0.15)
    assert np.quantile(amounts, 0.9) == pytest.approx(quantiles[0.9], rel=0.2)
    assert all(r["_source"] == sample.id for r in records)
    assert validate_records(get_entity("payment"), records).valid
    assert meta.coherence_score == pytest.approx(1.0)  # card details follow the drawn method


def test_production_statistics_no_record_could_hold_are_left_out_not_a_failure(
    empty_store: Path, tmp_path: Path
) -> None:
    """A team's production sample whose statistics hold numbers as strings (``"nan"``,
    ``"inf"``: JSON has no such numbers, so ``tda rag add`` lets the strings in) or numbers past
    what a field can hold. Before: a NaN drawn into an integer was a ValueError (an HTTP 500),
    one drawn into a bounded float a 422 blaming the caller's constraints, and a price of 1e308
    past the cents a record holds."""
    samples = [
        {"collection": "production", "id": "PRD-WILD-PRODUCT", "entity": "product",
         "description": "a product export gone wrong", "records": [],
         "stats": {"numeric": {"stock": [[0, "nan"], [0.5, 3], [1, "inf"]],
                               "price": [[0, 1e300], [1, 1e308]]}}},
        {"collection": "production", "id": "PRD-WILD-CART", "entity": "cart",
         "description": "a cart export gone wrong", "records": [],
         "stats": {"numeric": {"tax_rate": [[0, "nan"], [1, "inf"]]},
                   "categorical": {"items.quantity": {"9" * 5000: 0.3, "9" * 400: 0.1, "²": 0.1, "2": 0.5}}}},
    ]  # fmt: skip
    added = tmp_path / "wild.ndjson"
    added.write_text("\n".join(json.dumps(s) for s in samples))
    assert main(["rag", "add", str(added)]) == 0
    for entity, skipped, drawn in (("product", "stock", "price"), ("cart", "tax_rate", None)):
        meta, records = served(entity=entity, count=50, production_like=True)
        assert meta.generation_path == "rag" and meta.rag.mode == "production", meta
        assert validate_records(get_entity(entity), records).valid
        assert any(skipped in note and "finite" in note for note in meta.rag.notes), meta.rag
        if drawn:
            assert any(drawn in note for note in meta.rag.notes if "drawn" in note), meta.rag
    # Each price the highest a money field holds, not 1e308; each quantity the one in range.
    _, products = served(entity="product", count=20, production_like=True)
    assert len({r["price"] for r in products}) == 1 and products[0]["price"] < 1e16
    _, carts = served(entity="cart", count=20, production_like=True)
    assert {i["quantity"] for c in carts for i in c["items"]} == {2}


@pytest.mark.parametrize("entity", ENTITIES)
def test_edge_cases_without_any_store_are_labelled_exactly(
    entity: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("VECTOR_STORE_URL", str(tmp_path / "file" / "vectors"))  # unreachable
    meta, records = served(entity=entity, count=60, defect_triggering=True)
    assert meta.generation_path == "rag" and meta.rag.edge_cases_from_schema == 60
    assert any("from the schema alone" in n for n in meta.rag.notes)
    spec = get_entity(entity)
    kinds = Counter(r["_edge_case_type"] for r in records)
    assert len(kinds) >= 10  # varied: not one case repeated
    read_by_rules = set().union(*(referenced_paths(c.tree) for c in compile_rules(spec)))
    base = {r["_index"]: r for r in served(entity=entity, count=60, hints=["fast"])[1]}
    for record, broken in zip(records, violations(spec, records), strict=True):
        assert record["_violates"] == broken
        if record["_edge_case_type"].split(":")[0] in {"min", "max", "max_length", "midnight_utc"}:
            assert broken == []  # on the boundary, inside
        path = record["_edge_case_field"]
        plain = path.replace("[0]", "")
        if (
            broken
            and all(not b.startswith(RULE_PREFIX) for b in broken)
            and (plain not in read_by_rules and "." not in plain and "[" not in path)
        ):
            # Remove the labelled violation (the field as the traditional record has it): valid.
            restored = {**record, path: base[record["_index"]][path]}
            assert validate_records(spec, [restored]).valid, record


def test_learning_stores_new_coherent_records_once(fresh_store: Path) -> None:
    before = wiring.memory().store.count("patterns")
    meta, _ = served(entity="user", count=8, learn_from_history=True)
    assert meta.rag.records_topped_up == 3 and meta.rag.learned.startswith("3 pattern(s)")
    assert wiring.memory().store.count("patterns") == before + 3
    again, _ = served(entity="user", count=8, learn_from_history=True)
    # The learned patterns now serve too; what they teach is not stored a second time.
    assert again.rag.records_from_memory == 8
    assert wiring.memory().store.count("patterns") == before + 3
    used = wiring.memory().store.get("patterns", [s for s in again.rag.sources])
    assert all(e.usage_count >= 1 for e in used)
    more, _ = served(entity="user", count=13, learn_from_history=True)
    # 5 new records: a request learns at most 3 (each is embedded while the caller waits).
    assert more.rag.records_topped_up == 5 and more.rag.learned.startswith("3 pattern(s)")
    assert any("learned 3 of 5" in note for note in more.rag.notes)
    assert wiring.memory().store.count("patterns") == before + 6


def test_empty_store_falls_back_to_traditional_with_the_reason(empty_store: Path) -> None:
    meta, records = served(entity="cart", count=5, learn_from_history=True)
    assert meta.routed_path == "rag" and meta.generation_path == "traditional"
    assert "empty" in meta.fallback_reason and "tda rag seed" in meta.fallback_reason
    assert len(records) == 5


def test_store_down_falls_back_to_traditional_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("VECTOR_STORE_URL", str(tmp_path / "file" / "vectors"))
    meta, records = served(entity="payment", count=5, production_like=True)
    assert meta.generation_path == "traditional" and "unreachable" in meta.fallback_reason
    assert len(records) == 5


def test_an_s3_store_that_never_answers_falls_back_within_its_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """LanceDB's S3 client waited 30 s a request and retried ten times: a request on a store
    whose endpoint never answered was still waiting after 400 s. Each S3 request now has
    VECTOR_STORE_TIMEOUT_SECONDS and the connection is waited for two of them, then the store
    is down and traditional serves; for a while it is taken as down without trying again."""
    server = SilentServer()
    for name, value in {
        **s3_environment(server.url),
        "VECTOR_STORE_URL": "s3://silent/vectors",
        "VECTOR_STORE_TIMEOUT_SECONDS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    answers = served_at_once(3, entity="payment", count=5, production_like=True)
    assert len(answers) == 3, "no answer: a request waited on the store"
    for meta, records in answers:
        assert meta.generation_path == "traditional" and "vector store" in meta.fallback_reason
        # Given up on at 2 timeouts, not after LanceDB's six tries (≈10 timeouts).
        assert "unreachable: no answer in 2 s" in meta.fallback_reason
        assert len(records) == 5
    for connecting in threading.enumerate():  # the try given up on goes on to its end
        if connecting.name == "tda-lance-connect":
            connecting.join(120)
    server.close()
    # One try at the store for all three (LanceDB lists a manifest 6 times a try): requests
    # that came meanwhile had waited their turn to try again, each as long again.
    assert len(server.held) == 6


def test_store_of_another_embedding_model_is_refused_until_rebuilt(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "other-model"
    other = ModelStamp("some-other-model", 8)
    team = next(e for e in seed_corpus().entries["patterns"] if e.entity == "cart")
    entry = Entry(
        id="TEAM-CART-1", domain="ecommerce", entity="cart", text=team.text, data=team.data
    )
    LanceStore(str(folder)).upsert("patterns", [entry], np.ones((1, 8), np.float32), other)
    monkeypatch.setenv("VECTOR_STORE_URL", str(folder))
    meta, _ = served(entity="cart", count=3, learn_from_history=True)
    assert meta.generation_path == "traditional"
    assert "some-other-model" in meta.fallback_reason
    assert "tda rag seed --rebuild" in meta.fallback_reason  # the way out it names exists:
    assert main(["rag", "seed", "--rebuild"]) == 0
    meta, records = served(entity="cart", count=3, learn_from_history=True)
    assert meta.generation_path == "rag"
    assert wiring.memory().store.stamp("patterns") == wiring.memory().embedder.stamp
    assert wiring.memory().store.get("patterns", ["TEAM-CART-1"])  # re-embedded, not lost
    assert {r["_source"] for r in records} <= {e.id for e in seed_corpus().entries["patterns"]} | {
        "TEAM-CART-1"
    }


def test_edge_cases_as_csv_and_sql_keep_their_labels_and_load(seeded: Path) -> None:
    import csv
    import io
    import sqlite3

    ask = {"entity": "order", "count": 40, "defect_triggering": True}
    labelled = json.loads(generate(make_request(output_format="JSON", **ask)).data)
    rows = list(
        csv.DictReader(io.StringIO(generate(make_request(output_format="CSV", **ask)).data))
    )
    assert [(r["_source"], r["_edge_case_type"], json.loads(r["_violates"])) for r in rows] == [
        (r["_source"], r["_edge_case_type"], r["_violates"]) for r in labelled
    ]
    db = sqlite3.connect(":memory:")  # a required field left null is a row like the others
    db.executescript(generate(make_request(output_format="SQL", **ask)).data)
    loaded = db.execute('SELECT _source, _violates FROM "order" ORDER BY _index').fetchall()
    assert [(s, json.loads(v)) for s, v in loaded] == [(r["_source"], r["_violates"])
                      for r in labelled]  # fmt: skip
    assert any(r["_violates"] for r in labelled) and any(not r["_violates"] for r in labelled)


def test_records_too_large_to_store_are_not_learned(seeded: Path, tmp_path: Path) -> None:
    """A caller's schema whose records are ≈300 KB: they are served, not stored (the cap a
    team's entry has)."""
    schema = {"fields": [{"name": "code", "type": "STRING", "required": True},
                         {"name": "blob", "type": "ARRAY", "nested_fields": [{"name": "s", "type": "STRING"}]}]}  # fmt: skip
    constraints = {"field_constraints": {"blob": {"min_length": 60, "max_length": 60},
                                         "blob.s": {"min_length": 5000, "max_length": 5000}}}  # fmt: skip
    team = tmp_path / "big.ndjson"
    team.write_text(
        json.dumps({"entity": "big", "record": {"code": "A-1", "blob": [{"s": "x"}]}}) + "\n"
    )
    assert main(["rag", "add", str(team)]) == 0
    before = wiring.memory().store.count("patterns")
    meta, records = served(entity="big", count=4, learn_from_history=True, schema=schema,
                           constraints=constraints)  # fmt: skip
    assert meta.generation_path == "rag" and meta.rag.records_topped_up == 4
    assert "1 retrieved example(s) did not fit this schema: not used" in meta.rag.notes
    assert len(json.dumps(records[1])) > 256 * 1024
    assert not meta.rag.learned
    assert meta.rag.notes[-1] == "4 record(s) over 256 KiB: not learned"
    assert wiring.memory().store.count("patterns") == before


def files_in(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def test_the_stores_folder_stays_bounded_however_many_requests_write_to_it(
    seeded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every request that reads the memory counts its patterns' use, and each count was a new
    LanceDB version kept forever (3 files, ≈24 KB a request: 200 requests took the folder
    from 71 files to 680). Old versions are folded away every few writes."""
    monkeypatch.setenv("LANCEDB_VERSIONS_KEPT_SECONDS", "0")  # one process: none to keep
    used_before = sum(e.usage_count for e in wiring.memory().store.entries("patterns"))
    before = files_in(seeded)
    served_from_memory = 0
    for seed in range(60):
        meta, _ = served(entity="cart", count=2, seed=seed, learn_from_history=True)
        served_from_memory += meta.rag.records_from_memory
    assert files_in(seeded) < before + 60
    used_after = sum(e.usage_count for e in wiring.memory().store.entries("patterns"))
    assert used_after - used_before == served_from_memory > 0  # no count lost on the way


def test_a_disk_down_to_its_reserve_takes_nothing_more_into_the_memory(
    seeded: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The store's folder keeps the disk's MIN_FREE_DISK_BYTES free, as the chunk store does:
    nothing is learned or added past it, and the request is served all the same."""
    before = wiring.memory().store.count("patterns")
    # The whole disk kept free: no write fits, whatever another process frees meanwhile (free
    # space + 1 MiB was met once a parallel test's files were removed).
    monkeypatch.setenv("MIN_FREE_DISK_BYTES", str(shutil.disk_usage(seeded).total))
    meta, records = served(entity="user", count=8, learn_from_history=True)
    assert meta.generation_path == "rag" and len(records) == 8
    assert not meta.rag.learned
    assert any("not learned" in n and "MIN_FREE_DISK_BYTES" in n for n in meta.rag.notes)
    team = tmp_path / "team.ndjson"
    team.write_text(json.dumps({"entity": "cart", "record": {"currency": "USD"}}) + "\n")
    assert main(["rag", "add", str(team)]) == 1
    assert wiring.memory().store.count("patterns") == before


def test_opening_the_store_builds_none_of_lancedbs_namespace_client(tmp_path: Path) -> None:
    # LanceDB imports a remote catalog's generated client (hundreds of pydantic models, every
    # method validate_call-ed) that a folder or S3 table never uses: building them was ≈0.5 s of
    # the rag and hybrid functions' init. They wait for a first use that never comes; pydantic's
    # own default is put back, and the store still writes and finds.
    code = (
        "import json, sys, numpy as np\n"
        "from tda.adapters.lance_store import LanceStore\n"
        "from tda.ports.memory import Entry, ModelStamp\n"
        "store = LanceStore(sys.argv[1])\n"
        "entry = Entry(id='A', domain='ecommerce', entity='cart', text='a cart', data='{}')\n"
        "store.upsert('patterns', [entry], np.ones((1, 8), np.float32), ModelStamp('m', 8))\n"
        "found = store.get('patterns', ['A'])\n"
        "from lance_namespace_urllib3_client import models\n"
        "from pydantic._internal._config import config_defaults\n"
        "print(json.dumps([[e.id for e in found], models.CreateTableRequest.__pydantic_complete__,\n"
        "    models.QueryTableRequest.__pydantic_complete__, config_defaults['defer_build']]))\n"
    )
    printed = printed_in_a_fresh_interpreter(code, str(tmp_path / "vectors"))
    assert printed == [["A"], False, False, False]


def hybrid_running_carts() -> Any:
    """Three carts on the hybrid path (learning, a model signal), for a context of four words."""
    request = make_request(
        entity="cart",
        count=3,
        seed=5,
        learn_from_history=True,
        hints=["coherent"],
        context="carts of running gear",
    )
    return generate(request)


def test_a_hybrid_record_filled_by_traditional_generation_says_so_in_its_source(
    seeded: Path, openai_model: Transport
) -> None:
    # Every record of the hybrid path was labelled "_source": "model", those the model never
    # wrote validly too ("_filled_by": "traditional" beside it).
    def too_many(records: list[dict[str, Any]]) -> None:
        for r in records:
            if r.get("_index") == 1:
                r["items"][0]["quantity"] = 1000

    openai_model.then(*[chat_records(too_many)] * 3)  # answer, repair, asked afresh
    response = hybrid_running_carts()
    meta = response.metadata
    assert meta.generation_path == "hybrid" and meta.llm is not None
    assert meta.llm.records_filled == 1
    records = json.loads(response.data)
    assert [(r["_source"], r.get("_filled_by")) for r in records] == [
        ("model", None),
        ("traditional", "traditional"),
        ("model", None),
    ]


def test_model_records_whose_names_only_repeat_the_context_are_not_learned(
    seeded: Path, openai_model: Transport
) -> None:
    # SmolLM2 named a cart's items "Hands On" and "Fitness" from a context about hands-on
    # fitness classes: every rule kept (the catalog places no such item, so any price fits),
    # coherence 1.0, and they were stored as patterns, to be retrieved later as real products.
    def echoed(records: list[dict[str, Any]]) -> None:
        for r in records:
            if r.get("_index") != 1:
                for item in r["items"]:
                    item["name"] = "Running Gear"  # the context's own words, and nothing else

    openai_model.then(chat_records(echoed))
    before = wiring.memory().store.count("patterns")
    response = hybrid_running_carts()
    meta = response.metadata
    assert meta.generation_path == "hybrid" and meta.rag is not None
    assert "2 record(s) named only in the context's words: not learned" in meta.rag.notes
    learned = wiring.memory().store.count("patterns") - before
    assert learned == 1 and meta.rag.learned.startswith("1 pattern(s)")
    stored = wiring.memory().store.get("patterns", meta.rag.learned.split(": ")[1].split(", "))
    assert all("Running Gear" not in entry.data for entry in stored)
