"""``tda rag`` (seed, add, stats, search) and the memory underneath: idempotent seeding,
personal data masked or refused, the embedder's padding, the model stamp."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tda import wiring
from tda.adapters.embeddings import MiniLMEmbedder, model_files
from tda.adapters.lance_store import LanceStore, where_clause
from tda.app.service import generate
from tda.domain.pii import Masking, luhn_ok, mask
from tda.paths.retrieval.corpus import seed_corpus
from tda.ports.memory import EmbeddingMismatchError, Entry, Filters, ModelStamp
from tda_local.cli import main

from ..conftest import make_request


def test_seed_is_idempotent_and_stats_count_it(
    fresh_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = generate(make_request(entity="cart", count=2, learn_from_history=True))
    assert served.metadata.rag is not None
    used = served.metadata.rag.sources
    assert used and all(e.usage_count == 1 for e in wiring.memory().store.get("patterns", used))
    assert main(["rag", "seed"]) == 0  # a second time over the seeded copy
    kept = wiring.memory().store.get("patterns", used)
    assert len(kept) == len(used) and all(e.usage_count == 1 for e in kept)  # counts kept
    capsys.readouterr()
    assert main(["rag", "stats"]) == 0
    stats = json.loads(capsys.readouterr().out)
    corpus = seed_corpus().entries
    for collection, entries in corpus.items():
        assert stats[collection]["entries"] == len(entries)
        assert stats[collection]["embedding_model"].startswith("all-MiniLM-L6-v2")
    assert all(n >= 5 for n in stats["patterns"]["by_entity"].values())
    assert len(stats["patterns"]["by_entity"]) == 6 and stats["defects"]["entries"] >= 10


def test_search_finds_what_a_request_would_retrieve(
    fresh_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rag", "search", "yoga gym workout gear", "--entity", "cart", "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "PAT-CART-001" in lines[0]  # the fitness cart
    assert main(["rag", "search", "zero amount", "--collection", "defects", "--mode",
                 "keyword"]) == 0  # fmt: skip
    assert "DEF-005" in capsys.readouterr().out.splitlines()[0]
    assert main(["rag", "search", "x", "-k", "0"]) == 2


TEAM_PATTERN = {
    "entity": "payment",
    "scenario": "chargeback",
    "description": "chargeback on a card payment",
    "record": {
        "method": "credit_card", "amount": 120.5, "status": "refunded",
        "note": "card 4111 1111 1111 1111, call +1 (212) 555-7788, mail jane.doe@gmail.com",
        "contact": "ops@example.com",
    },
}  # fmt: skip


def test_add_masks_personal_data_then_serves_it(
    fresh_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "team.ndjson"
    file.write_text(json.dumps(TEAM_PATTERN) + "\n")
    assert main(["rag", "add", str(file)]) == 0
    err = capsys.readouterr().err
    assert "1 card_number" in err and "1 phone" in err and "1 email" in err
    hits = wiring.memory().search("patterns", "chargeback", Filters(entity="payment"), 1)
    stored = json.loads(hits[0].entry.data)["record"]
    assert "4111 1111" not in stored["note"] and "1111" in stored["note"]
    assert "jane.doe@example.com" in stored["note"] and "gmail" not in stored["note"]
    assert "555-7788" not in stored["note"]
    assert stored["contact"] == "ops@example.com"  # a reserved domain is no one's
    assert main(["rag", "add", str(file)]) == 0  # the same content again: the same entry
    assert wiring.memory().store.count("patterns", Filters(scenario="chargeback")) == 1


def test_add_refuses_personal_data_when_asked_and_bad_files_whole(
    fresh_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = wiring.memory().store.count("patterns")
    file = tmp_path / "team.json"
    file.write_text(json.dumps([TEAM_PATTERN]))
    assert main(["rag", "add", str(file), "--refuse-personal-data"]) == 2
    assert "personal data" in capsys.readouterr().err
    broken = tmp_path / "broken.ndjson"
    good = {"entity": "cart", "record": {"currency": "USD"}}
    broken.write_text(json.dumps(good) + "\n" + json.dumps({"entity": "cart"}) + "\n")
    assert main(["rag", "add", str(broken)]) == 2
    assert "[1]: record must be an object" in capsys.readouterr().err
    assert wiring.memory().store.count("patterns") == before  # nothing half-added


def test_masking_rules() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    masking = Masking()
    value = mask(
        {"a": "order 2026-03-08 12:00:00 ok", "b": 4111111111111111, "c": "1234567890123"},
        masking,
    )
    assert value["a"] == "order 2026-03-08 12:00:00 ok"  # a timestamp is not a phone
    assert value["b"] != 4111111111111111 and masking.counts == {"card_number": 1}


@pytest.mark.skipif(model_files() is None, reason="the embedding model is not installed")
def test_embeddings_without_fixed_padding_are_the_same_vectors() -> None:
    embedder = MiniLMEmbedder()
    short, long = "red shoes", "a much longer text about a marathon runner's shoes " * 4
    together = embedder.embed([short, long])
    alone = embedder.embed([short])
    assert together.shape == (2, 384) and np.allclose(np.linalg.norm(together, axis=1), 1)
    assert float(together[0] @ alone[0]) > 0.9999  # padding to the batch changes nothing
    near = embedder.embed(["running sneakers", "scented candle"])
    assert float(alone[0] @ near[0]) > float(alone[0] @ near[1])


def test_lance_store_refuses_another_model_and_escapes_filters(tmp_path: Path) -> None:
    store = LanceStore(str(tmp_path / "v"))
    entry = Entry(id="A", domain="e", entity="cart", text="t", data="{}")
    store.upsert("patterns", [entry], np.ones((1, 4), np.float32), ModelStamp("m1", 4))
    with pytest.raises(EmbeddingMismatchError):
        store.upsert("patterns", [entry], np.ones((1, 4), np.float32), ModelStamp("m2", 4))
    hostile = Filters(domain="x' OR '1'='1", min_quality=0.5)
    assert where_clause(hostile) == "domain = 'x'' OR ''1''=''1' AND quality_score >= 0.5"
    assert store.count("patterns", hostile) == 0 and store.count("patterns") == 1


def test_a_warm_store_finds_a_table_another_writer_dropped_and_made_again(tmp_path: Path) -> None:
    folder, stamp = str(tmp_path / "v"), ModelStamp("m1", 4)
    warm, other = LanceStore(folder), LanceStore(folder)
    first = Entry(id="OLD", domain="e", entity="cart", text="old", data="{}")
    warm.upsert("patterns", [first], np.ones((1, 4), np.float32), stamp)
    assert [h.entry.id for h in warm.search("patterns", np.ones(4), Filters(), 5)] == ["OLD"]
    other.drop("patterns")  # another process rebuilds the collection
    again = Entry(id="NEW", domain="e", entity="cart", text="new", data="{}")
    other.upsert("patterns", [again], np.ones((1, 4), np.float32), stamp)
    assert [h.entry.id for h in warm.search("patterns", np.ones(4), Filters(), 5)] == ["NEW"]
    assert warm.count("patterns") == 1
