"""``tda rag`` (seed, add, stats, search) and the memory underneath: idempotent seeding,
personal data masked or refused, the embedder's padding, the model stamp."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tda import wiring
from tda.adapters.embedding_files import model_files
from tda.adapters.embeddings import MiniLMEmbedder
from tda.adapters.lance_store import LanceStore, where_clause
from tda.app.service import generate
from tda.domain.errors import VectorStoreUnavailableError
from tda.domain.pii import Masking, luhn_ok, mask
from tda.paths.retrieval import memory as memory_module
from tda.paths.retrieval.corpus import seed_corpus
from tda.paths.retrieval.memory import Memory
from tda.ports.memory import EmbeddingMismatchError, Entry, Filters, ModelStamp
from tda_local import rag_cli
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


def test_a_long_add_says_how_far_it_has_got(
    fresh_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(memory_module, "WRITE_BATCH", 3)
    monkeypatch.setattr(rag_cli, "PROGRESS_FROM", 10)
    file = tmp_path / "team.ndjson"
    file.write_text("".join(
        json.dumps({**TEAM_PATTERN, "scenario": f"s{i}", "record": {"n": i}}) + "\n"
        for i in range(20)
    ))  # fmt: skip
    assert main(["rag", "add", str(file)]) == 0
    said = [line for line in capsys.readouterr().err.splitlines() if "embedded" in line]
    assert said[0] == "patterns: 3/20 entries embedded" and said[-1].startswith("patterns: 18/")
    assert 5 <= len(said) <= 9  # about a line a tenth, not one a batch


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


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("deep.json", "[" * 100_000, "deep.json: not valid JSON (nested deeper than"),
        ("deep.ndjson", '{"a":' * 100_000, "deep.ndjson:1: not valid JSON (nested deeper than"),
        ("deep-item.json", "[" + '{"a":' * 100_000 + "]", "deep-item.json: not valid JSON"),
    ],
)
def test_a_file_nested_past_the_parser_is_refused_not_a_crash(
    fresh_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str,
    said: str,
) -> None:
    # json.loads raises RecursionError (not JSONDecodeError) on deep nesting: a traceback.
    file = tmp_path / name
    file.write_text(text)
    assert main(["rag", "add", str(file)]) == 2
    assert said in capsys.readouterr().err


DEFECT = (
    '{"collection": "defects", "domain": "ecommerce", "entity": "cart", "edge_case_type": '
    '"huge_quantity", "description": "quantity overflow", "trigger": {"items[0].quantity": %s}}'
)


@pytest.mark.parametrize(
    ("number", "said"),
    [
        ("1" + "0" * 400, "an integer past 64 bits"),
        ("9223372036854775808", "an integer past 64 bits"),
        ("1e999", "a number past any float"),
        ("NaN", "holds NaN, which is not a number JSON has"),
    ],
)
def test_a_number_no_record_can_hold_is_refused_with_its_file(
    fresh_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    number: str,
    said: str,
) -> None:
    # A defect whose trigger was a 400-digit quantity was stored, laid into records by
    # --defect-triggering, and the renderer raised on it (a traceback).
    file = tmp_path / "defects.ndjson"
    file.write_text(DEFECT % 1 + "\n" + DEFECT % number + "\n")
    assert main(["rag", "add", str(file)]) == 2
    err = capsys.readouterr().err
    assert f"defects.ndjson:2: holds {number[:24]}" in err and said in err
    file.write_text(DEFECT % "9223372036854775807" + "\n")
    assert main(["rag", "add", str(file)]) == 0  # the largest 64-bit integer is a number


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


def stored_at_random(store: LanceStore, rows: int, seed: int) -> tuple[np.ndarray, list[Entry]]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((rows, 8)).astype(np.float32)
    entries = [
        Entry(id=f"E{i}", domain="d", entity=("cart", "order", "user")[i % 3],
              text=("running shoes", "scented candle", "blue jeans")[i % 3] + f" {i}",
              data="{}", scenario=("", "happy")[i % 2], quality_score=(i % 10) / 10)
        for i in range(rows)
    ]  # fmt: skip
    store.upsert("patterns", entries, vectors, ModelStamp("m1", 8))
    return vectors, entries


def test_a_vector_search_is_exact_under_every_filter(tmp_path: Path) -> None:
    """The k nearest by cosine among the rows the filters keep, best first, as an exact
    search over the same vectors finds them."""
    store = LanceStore(str(tmp_path / "v"))
    vectors, entries = stored_at_random(store, 500, 1)
    rng = np.random.default_rng(2)
    for rewritten in (False, True):
        if rewritten:  # some rewritten: deleted where they were, written again at the end
            vectors[::7] = rng.standard_normal(vectors[::7].shape)
            store.upsert("patterns", entries[::7], vectors[::7], ModelStamp("m1", 8))
        assert_exact(store, vectors, entries, rng)


def assert_exact(
    store: LanceStore, vectors: np.ndarray, entries: list[Entry], rng: np.random.Generator
) -> None:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for filters in (Filters(), Filters(entity="order"), Filters(entity="cart", min_quality=0.7),
                    Filters(scenario="happy", domain="d"), Filters(entity="none")):  # fmt: skip
        kept = [
            i
            for i, e in enumerate(entries)
            if all(
                getattr(filters, n) in (None, getattr(e, n))
                for n in ("domain", "entity", "scenario")
            )
            and (filters.min_quality is None or e.quality_score >= filters.min_quality)
        ]
        for _ in range(5):
            query = rng.standard_normal(8).astype(np.float32)
            cosine = unit[kept] @ (query / np.linalg.norm(query))
            expected = [entries[kept[i]].id for i in np.argsort(-cosine)[:7]]
            hits = store.search("patterns", query, filters, 7)
            assert [h.entry.id for h in hits] == expected
            assert np.allclose([h.score for h in hits], np.sort(cosine)[::-1][:7], atol=1e-5)


def test_a_warm_store_searches_what_another_writer_added_at_once(tmp_path: Path) -> None:
    folder = str(tmp_path / "v")
    warm, other = LanceStore(folder), LanceStore(folder)
    vectors, _ = stored_at_random(warm, 50, 3)
    query = -vectors[0]
    assert warm.search("patterns", query, Filters(), 1)[0].entry.id != "FAR"
    far = Entry(id="FAR", domain="d", entity="cart", text="the opposite", data="{}")
    other.upsert("patterns", [far], query[None, :], ModelStamp("m1", 8))
    assert warm.search("patterns", query, Filters(), 1)[0].entry.id == "FAR"
    assert warm.hybrid("patterns", "opposite", query, Filters(), 1)[0].entry.id == "FAR"


def test_counting_reuses_leaves_the_entries_table_as_it_was(tmp_path: Path) -> None:
    """Every request that reads the memory counts its reuses: in a table of their own, so the
    entries' table (and the index kept of it) stays at its version; the counts still add up,
    from any number of writers, and a rewrite of an entry keeps its count."""
    folder = tmp_path / "v"
    warm, other = LanceStore(str(folder)), LanceStore(str(folder))
    vectors, entries = stored_at_random(warm, 20, 4)
    before = sorted(p.relative_to(folder) for p in (folder / "patterns.lance").rglob("*"))
    for store in (warm, other, warm):
        store.add_usage("patterns", ["E1", "E2", "E1"])  # one reuse each a request
    other.add_usage("patterns", ["E3"])
    after = sorted(p.relative_to(folder) for p in (folder / "patterns.lance").rglob("*"))
    assert after == before
    uses = {e.id: e.usage_count for e in warm.entries("patterns")}
    assert (uses["E1"], uses["E2"], uses["E3"], uses["E4"]) == (3, 3, 1, 0)
    assert {e.id: e.usage_count for e in other.get("patterns", ["E1", "E3"])} == {"E1": 3, "E3": 1}
    memory = Memory(warm, FixedEmbedder(vectors))
    memory.add("patterns", entries[:3])  # written again (a seed): counts kept, not doubled
    assert {e.id: e.usage_count for e in warm.get("patterns", ["E1", "E2"])} == {"E1": 3, "E2": 3}
    warm.drop("patterns")
    stored_at_random(warm, 20, 4)
    assert all(e.usage_count == 0 for e in warm.entries("patterns"))  # dropped with it


def test_a_long_add_is_written_in_batches_reported_and_safe_to_repeat_after_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: every entry embedded at once (a team's 20,000 examples: 1 GB, 87 s without a
    word). Now each batch is written and reported; a store that fails mid-way keeps the
    batches before, and adding the same entries again stores each once."""
    monkeypatch.setattr(memory_module, "WRITE_BATCH", 4)
    store = LanceStore(str(tmp_path / "v"))
    vectors, entries = stored_at_random(store, 10, 5)
    store.drop("patterns")
    reported: list[tuple[int, int]] = []
    memory = Memory(store, FixedEmbedder(vectors))
    assert memory.add("patterns", entries, progress=lambda *done: reported.append(done)) == 10
    assert reported == [(4, 10), (8, 10), (10, 10)]
    store.drop("patterns")

    class FailingOnEntry6(FixedEmbedder):
        def embed(self, texts: Sequence[str]) -> np.ndarray:
            if any(t.endswith(" 6") for t in texts):
                raise VectorStoreUnavailableError("the store went away")
            return super().embed(texts)

    with pytest.raises(VectorStoreUnavailableError):
        Memory(store, FailingOnEntry6(vectors)).add("patterns", entries)
    assert sorted(e.id for e in store.entries("patterns")) == ["E0", "E1", "E2", "E3"]
    memory.add("patterns", entries)
    assert sorted(e.id for e in store.entries("patterns")) == sorted(e.id for e in entries)


@pytest.mark.skipif(model_files() is None, reason="the embedding model is not installed")
def test_the_embedding_model_keeps_and_sends_nothing_of_its_own(tmp_path: Path) -> None:
    # onnxruntime 1.32 on Linux keeps a device id and a queue of usage events under
    # $HOME/.cache and uploads them to Microsoft (mobile.events.data.microsoft.com), unless
    # ORT_DISABLE_TELEMETRY is set; CI environment variables also stop it, so none is passed.
    code = (
        "from tda.adapters.embeddings import MiniLMEmbedder\n"
        "print(MiniLMEmbedder().embed(['running shoes']).shape[1])"
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.split() == ["384"], done.stderr[-2000:]
    assert [p.relative_to(tmp_path) for p in tmp_path.rglob("*")] == []


class FixedEmbedder:
    """Each text's vector is the one it was stored with (found by the entry number in it)."""

    stamp = ModelStamp("m1", 8)

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.vectors[int(t.rsplit(" ", 1)[1])] for t in texts])


def test_stats_count_entries_of_callers_schemas_beside_the_registered_entities(
    fresh_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: 2 entries, and by entity only 'cart: 1': a caller's schema's were counted nowhere.
    file = tmp_path / "mixed.ndjson"
    rows = [
        {"entity": "cart", "record": {"currency": "USD"}},
        {"entity": "invoice", "record": {"invoice_no": "INV-1"}},
    ]
    file.write_text("".join(json.dumps(row) + "\n" for row in rows))

    def patterns() -> dict[str, Any]:
        capsys.readouterr()
        assert main(["rag", "stats"]) == 0
        found: dict[str, Any] = json.loads(capsys.readouterr().out)["patterns"]
        return found

    before = patterns()
    assert main(["rag", "add", str(file)]) == 0
    after = patterns()
    assert after["entries"] == before["entries"] + 2
    assert sum(after["by_entity"].values()) == after["entries"]
    assert after["by_entity"]["cart"] == before["by_entity"].get("cart", 0) + 1
    assert after["by_entity"]["other schemas"] == before["by_entity"].get("other schemas", 0) + 1


def test_add_reads_standard_input_for_a_dash(
    fresh_store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: `tda rag add -` was "cannot read -: No such file or directory".
    piped = (json.dumps(TEAM_PATTERN) + "\n").encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(piped)))
    assert main(["rag", "add", "-"]) == 0
    assert wiring.memory().store.count("patterns", Filters(scenario="chargeback")) == 1
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x")))
    assert main(["rag", "add", "-"]) == 2
    assert "tda: error: standard input:1: not valid JSON" in capsys.readouterr().err
